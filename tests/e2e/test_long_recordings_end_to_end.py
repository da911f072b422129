"""A long recording on an idle bot is split at its pauses over every idle WhisperActor, and stays one job:
in order, answered once, charged once, resumed whole after a SIGKILL."""
import difflib
import time

import pytest

from voicebot.adapters.audio import to_voice_note
from voicebot.adapters.speech import synthesize
from voicebot.core.replies import Wording
from voicebot.sandbox import SandboxUser

from botprocess import TOKEN, replies_to, wait_final, write_config
from helpers import normalized
from media import long_passage
from nodes import LoggedProcess

pytestmark = pytest.mark.e2e

ENGLISH_WORDING = Wording()   # what the bot says in English
SPLIT = r"split at pauses into 2 pieces"


@pytest.fixture(scope="module")
def passage():
    """About three minutes of espeak-ng speech with a known text, as a voice note."""
    text = long_passage(2300)
    note, seconds = to_voice_note(synthesize(text, words_per_minute=150))
    assert seconds > 120
    return text, note, seconds


def start_bot(folder, sandbox) -> LoggedProcess:
    config = write_config(folder / "config.toml", sandbox, folder / "bot.db", """
[whisper]
workers = 2
cpu_threads = 1
beam_size = 1
[limits]
rate_limit_seconds = 0
""")
    bot = LoggedProcess("run", "--config", str(config), cwd=folder)
    bot.wait_for_line("voicebot is running", 120)
    return bot


def agreement(expected: str, got: str) -> float:
    return difflib.SequenceMatcher(None, normalized(expected).split(), normalized(got).split(), autojunk=False).ratio()


def test_a_long_recording_on_an_idle_bot_is_split_over_both_workers_and_joined_in_order(tmp_path, sandbox,
                                                                                        passage):
    text, note, seconds = passage
    bot = start_bot(tmp_path, sandbox)
    try:
        user = SandboxUser(1801, "Ida")
        sent = sandbox.send_voice(user, note, seconds)
        answer = wait_final(sandbox, user.id, sent, timeout=300)
        bot.wait_for_line(SPLIT, 5)
        assert agreement(text, answer.text) > 0.9, answer.text
        # In order: the pieces' texts joined as spoken (the agreement above compares the words in sequence).
        assert normalized(answer.text).startswith(normalized(text.split(".")[0]))
        assert normalized(answer.text).endswith("during the holidays")
        assert all(ENGLISH_WORDING.is_status(edit) for edit in answer.edits)   # no other transcript before it
    finally:
        assert bot.stop() == 0


def test_a_split_job_killed_midway_is_answered_once_after_the_restart(tmp_path, sandbox, passage):
    text, note, seconds = passage
    user = SandboxUser(1802, "Jo")
    bot = start_bot(tmp_path, sandbox)
    sent = sandbox.send_voice(user, note, seconds)
    bot.wait_for_line(SPLIT, 120)
    bot.kill()
    bot = start_bot(tmp_path, sandbox)
    try:
        answer = wait_final(sandbox, user.id, sent, timeout=300)
        assert agreement(text, answer.text) > 0.9, answer.text
        assert len(replies_to(sandbox, user.id, sent)) == 1
        # Its usage row may wait for the database (busy while the bot restarted): asked until it is there.
        summary = ""
        for _ in range(10):
            usage = sandbox.send_text(user, "/usage")
            assert sandbox.wait_for(lambda asked=usage: replies_to(sandbox, user.id, asked), 30)
            summary = replies_to(sandbox, user.id, usage)[0].text
            if "In all:" in summary:
                break
            time.sleep(2)
        assert "In all: 1 transcription" in summary, summary   # charged once
    finally:
        assert bot.stop() == 0
    assert TOKEN not in bot.log
