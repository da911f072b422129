"""`voicebot run` as a real process, against the Bot API sandbox, with the bundled model."""
import re

import pytest

from voicebot.core.replies import Wording
from voicebot.sandbox import SandboxUser

from botprocess import TOKEN, RunningBot, environment, reply_to, voicebot, wait_final, write_config
from helpers import normalized

pytestmark = pytest.mark.e2e

ENGLISH_WORDING = Wording()   # what the bot says in English
ALICE = SandboxUser(501, "Alice")


@pytest.fixture
def config(tmp_path, sandbox):
    return write_config(tmp_path / "config.toml", sandbox, tmp_path / "bot.db", "[whisper]\nworkers = 1\n")


def test_a_voice_note_comes_back_as_its_transcript(sandbox, config, speech, tmp_path):
    bot = RunningBot(config, tmp_path)
    try:
        start = sandbox.send_text(ALICE, "/start")
        voice = sandbox.send_voice(ALICE, speech.voice_note, speech.duration)
        answer = wait_final(sandbox, ALICE.id, voice)
        assert speech.words in normalized(answer.text)
        assert answer.edits[-1] == ENGLISH_WORDING.PROCESSING  # the status message became the transcript
        assert "voice message" in reply_to(sandbox, ALICE.id, start).text
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr
    assert "Traceback" not in stderr
    assert TOKEN.split(":")[1] not in stderr
    assert re.search(rf"job {ALICE.id}/{voice} user {ALICE.id}: done, [0-9.]+ s of en audio in [0-9.]+ s", stderr)


def test_without_a_token_it_stops_at_once_with_one_line(tmp_path, config):
    bot = voicebot("run", "--config", str(config), env=environment(), cwd=tmp_path)
    stdout, stderr = bot.communicate(timeout=30)
    assert bot.returncode != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "TELEGRAM_BOT_TOKEN" in lines[0]


def test_a_token_the_bot_api_refuses_is_one_line_without_the_token(tmp_path, config):
    wrong = "999:not-the-right-token"
    bot = voicebot("run", "--config", str(config), env=environment(TELEGRAM_BOT_TOKEN=wrong), cwd=tmp_path)
    _, stderr = bot.communicate(timeout=60)
    assert bot.returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "check TELEGRAM_BOT_TOKEN" in lines[0] and wrong not in stderr


def test_a_config_mistake_names_the_key(tmp_path, config):
    config.write_text(config.read_text() + "\n[queue]\nmax_pendings = 5\n")
    bot = voicebot("run", "--config", str(config), env=environment(TELEGRAM_BOT_TOKEN=TOKEN), cwd=tmp_path)
    _, stderr = bot.communicate(timeout=30)
    assert bot.returncode == 2
    assert stderr.strip().splitlines() == [
        "voicebot: configuration: unknown config key queue.max_pendings; known keys in [queue]: max_pending"]


def test_the_demo_prints_a_conversation_with_transcripts_offline(tmp_path):
    demo = voicebot("demo", env=environment(VOICEBOT_WHISPER_WORKERS="2"), cwd=tmp_path)
    stdout, stderr = demo.communicate(timeout=300)
    assert demo.returncode == 0, stderr
    assert "Alice → /start" in stdout and "bot → Alice: I turn voice messages into text." in stdout
    assert "milk and bread" in normalized(stdout) and "lovely dinner" in normalized(stdout)
    assert stdout.count("transcript after") == 3 and "missing" not in stdout


def test_a_user_out_of_quota_is_still_refused_after_a_restart(sandbox, config, speech, tmp_path):
    config.write_text(config.read_text() + f"\n[quota]\ndaily_seconds = {speech.duration + 2}\n"
                                           "[limits]\nrate_limit_seconds = 0\n")

    def run_once() -> str:
        bot = RunningBot(config, tmp_path)
        try:
            return wait_final(sandbox, ALICE.id, sandbox.send_voice(ALICE, speech.voice_note, speech.duration)).text
        finally:
            returncode, stderr = bot.stop()
            assert returncode == 0, stderr

    assert speech.words in normalized(run_once())
    refusal = run_once()   # a new process: what it knows of Alice came from the database
    assert refusal.startswith("You have 2 s of your daily") and "resets at 00:00" in refusal
    usage_id = sandbox.send_text(ALICE, "/usage")
    bot = RunningBot(config, tmp_path)
    try:
        assert sandbox.wait_for(lambda: reply_to(sandbox, ALICE.id, usage_id) is not None, timeout=120)
    finally:
        bot.stop()
    assert "In all: 1 transcription," in reply_to(sandbox, ALICE.id, usage_id).text
