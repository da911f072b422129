"""Nothing lost, nothing twice: `voicebot run` killed, stopped, starved of its database, and
served by a faulty Bot API, with real speech through the sandbox."""
import sqlite3
import threading
import time

import pytest

from voicebot.adapters.storage import Storage
from voicebot.core.replies import Wording
from voicebot.sandbox import SandboxUser

from botprocess import TOKEN, RunningBot, replies_to, wait_final, write_config
from helpers import normalized
from mailbox import wait_until
from media import audio_file

pytestmark = pytest.mark.e2e

ENGLISH_WORDING = Wording()   # what the bot says in English
ANNA, BORIS, CARL = SandboxUser(701, "Anna"), SandboxUser(702, "Boris"), SandboxUser(703, "Carl")


@pytest.fixture
def database(tmp_path):
    return tmp_path / "bot.db"


@pytest.fixture
def config(tmp_path, sandbox, database):
    return write_config(tmp_path / "config.toml", sandbox, database, """
[whisper]
workers = 1
[limits]
rate_limit_seconds = 0
[shutdown]
grace_seconds = 60
""")


@pytest.fixture(scope="module")
def long_clip(speech_file, tmp_path_factory):
    """About 40 s of speech: long enough to be caught in the middle of its transcription."""
    source, words, seconds = speech_file
    repeats = max(2, 40 // seconds)
    return audio_file(source, "ogg", tmp_path_factory.mktemp("long"), repeat=repeats), seconds * repeats, words


def stored_state(database) -> tuple[list, dict[int, list[str]]]:
    """(unfinished jobs, statuses of the usage rows per user) as the database holds them."""
    storage = Storage(f"sqlite:///{database}")
    storage.open()
    try:
        unfinished = storage.unfinished_jobs()
        usages = {user.id: [row.status for row in storage.usages(user.id)] for user in (ANNA, BORIS, CARL)}
        return unfinished, usages
    finally:
        storage.close()


def started(sandbox, chat_id: int, message_id: int) -> bool:
    return any(m.text == ENGLISH_WORDING.PROCESSING or ENGLISH_WORDING.PROCESSING in m.edits
               for m in replies_to(sandbox, chat_id, message_id))


def test_killed_mid_transcription_and_restarted_each_voice_gets_exactly_one_transcript(
        sandbox, config, tmp_path, database, long_clip, speech):
    clip, seconds, words = long_clip
    bot = RunningBot(config, tmp_path)
    running = sandbox.send_voice(ANNA, clip, seconds)
    waiting = sandbox.send_voice(BORIS, speech.voice_note, speech.duration)
    assert sandbox.wait_for(lambda: started(sandbox, ANNA.id, running), 120)
    time.sleep(1.0)
    bot.process.kill()   # SIGKILL: no chance to clean up
    bot.process.wait(30)
    assert ENGLISH_WORDING.is_status(replies_to(sandbox, ANNA.id, running)[0].text)   # no answer before the kill

    bot = RunningBot(config, tmp_path)
    try:
        first = wait_final(sandbox, ANNA.id, running, timeout=240)
        second = wait_final(sandbox, BORIS.id, waiting)
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr
    assert normalized(first.text).count(words) >= 2 and speech.words in normalized(second.text)
    assert len(replies_to(sandbox, ANNA.id, running)) == 1 and len(replies_to(sandbox, BORIS.id, waiting)) == 1
    unfinished, usages = stored_state(database)
    assert unfinished == [] and usages[ANNA.id] == ["done"] and usages[BORIS.id] == ["done"]


def test_sigterm_lets_the_running_transcription_finish_and_keeps_the_waiting_one(
        sandbox, config, tmp_path, database, speech):
    bot = RunningBot(config, tmp_path)
    running = sandbox.send_voice(ANNA, speech.voice_note, speech.duration)
    waiting = sandbox.send_voice(BORIS, speech.voice_note, speech.duration)
    assert sandbox.wait_for(lambda: started(sandbox, ANNA.id, running), 120)
    returncode, stderr = bot.stop()
    assert returncode == 0, stderr
    assert speech.words in normalized(wait_final(sandbox, ANNA.id, running, timeout=1).text)  # finished before exit
    [status] = replies_to(sandbox, BORIS.id, waiting)
    assert status.text.startswith("Received. #1 in queue")
    unfinished, _ = stored_state(database)
    assert [job.incoming.job.key.message_id for job in unfinished] == [waiting]

    bot = RunningBot(config, tmp_path)
    try:
        assert speech.words in normalized(wait_final(sandbox, BORIS.id, waiting).text)
    finally:
        bot.stop()
    assert len(replies_to(sandbox, BORIS.id, waiting)) == 1   # the old status became the transcript


def test_under_bot_api_faults_every_voice_gets_exactly_one_transcript_and_the_token_stays_secret(
        sandbox, config, tmp_path, speech):
    for method, fault in [("sendMessage", dict(status=429, retry_after=1)), ("sendMessage", dict(status=500)),
                          ("sendMessage", dict(drop=True)), ("editMessageText", dict(status=502, times=2)),
                          ("editMessageText", dict(status=200, delay=1.5)), ("getFile", dict(status=500)),
                          ("file", dict(drop=True)), ("getUpdates", dict(status=502)),
                          ("getUpdates", dict(drop=True)), ("getFile", dict(status=429, retry_after=1))]:
        sandbox.inject_fault(method, **fault)
    bot = RunningBot(config, tmp_path)
    try:
        sent = [(user, sandbox.send_voice(user, speech.voice_note, speech.duration))
                for user in (ANNA, BORIS, CARL, ANNA, BORIS, CARL)]
        finals = [wait_final(sandbox, user.id, message_id, timeout=300) for user, message_id in sent]
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0
    assert all(speech.words in normalized(final.text) for final in finals)
    assert all(len(replies_to(sandbox, user.id, message_id)) == 1 for user, message_id in sent)
    assert "retrying" in stderr and "Traceback" not in stderr
    assert TOKEN.split(":")[1] not in stderr


def test_a_locked_database_delays_the_bot_but_loses_nothing(sandbox, config, tmp_path, database, speech):
    bot = RunningBot(config, tmp_path)
    try:
        warm_up = sandbox.send_voice(CARL, speech.voice_note, speech.duration)
        wait_final(sandbox, CARL.id, warm_up)
        assert wait_until(lambda: stored_state(database)[1][CARL.id] == ["done"], timeout=30)
        released = threading.Event()
        locker = threading.Thread(target=_hold_write_lock, args=(database, 9.0, released))
        locker.start()
        time.sleep(0.5)
        during = sandbox.send_voice(ANNA, speech.voice_note, speech.duration)
        question = sandbox.send_text(BORIS, "/help")
        locker.join()
        assert speech.words in normalized(wait_final(sandbox, ANNA.id, during).text)
        assert wait_final(sandbox, BORIS.id, question).text.startswith("I turn voice messages into text")
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr
    assert "could not store updates (database is locked)" in stderr, stderr   # one line each time
    unfinished, usages = stored_state(database)
    assert unfinished == [] and usages == {ANNA.id: ["done"], BORIS.id: [], CARL.id: ["done"]}


def _hold_write_lock(database, seconds: float, released: threading.Event) -> None:
    """Another process's long write transaction: the bot's writes wait, then fail, then retry."""
    connection = sqlite3.connect(database, timeout=30)
    connection.execute("BEGIN EXCLUSIVE")
    time.sleep(seconds)
    connection.rollback()
    connection.close()
    released.set()
