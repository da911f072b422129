"""A forwarded voice is answered from memory: `voicebot run` against the sandbox, with the bundled model. Alice
sends a recording; Bob forwards it to the bot (the sandbox keeps its file_id and file_unique_id, as Telegram
does), and gets Alice's transcript at once, without a download or the model, and without being charged; after
Alice's /forget a forward is transcribed afresh. Killed while answering from memory, the bot answers once after
its restart. Times are measured in one run and compared as a ratio, never against a fixed figure."""
import re
import time
import urllib.request

import pytest

from voicebot.sandbox import BotApiSandbox, SandboxUser

from botprocess import (
    ENGLISH_WORDING,
    RunningBot,
    assert_one_transcript,
    replies_to,
    reply_to,
    stored,
    wait_final,
    write_config,
)
from helpers import free_port, normalized
from mailbox import wait_until

pytestmark = pytest.mark.e2e

ALICE, BOB = SandboxUser(1101, "Alice"), SandboxUser(1102, "Bob")


@pytest.fixture
def listen() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def config(tmp_path, sandbox, database, listen):
    # No rate window: Bob forwards the same voice twice in a few seconds.
    return write_config(tmp_path / "config.toml", sandbox, database,
                        f'[whisper]\nworkers = 1\n[limits]\nrate_limit_seconds = 0\n[metrics]\nlisten = "{listen}"\n')


def ready(sandbox: BotApiSandbox) -> None:
    """Waits until the bot answers /start: models loaded, polling, so that no time measured is start-up time."""
    start = sandbox.send_text(ALICE, "/start")
    assert sandbox.wait_for(lambda: reply_to(sandbox, ALICE.id, start) is not None, 180), "the bot did not start"


def transcribed(sandbox: BotApiSandbox, database: str, speech) -> tuple[int, str, float]:
    """Alice sends the voice note: (its message id, her transcript, seconds from sending to the transcript), once
    its usage row is stored, which is what a copy is answered from."""
    sent = time.monotonic()
    voice = sandbox.send_voice(ALICE, speech.voice_note, speech.duration)
    answer = wait_final(sandbox, ALICE.id, voice)
    seconds = time.monotonic() - sent
    assert speech.words in normalized(answer.text)
    assert wait_until(lambda: [status for status, _ in usages(database, ALICE.id)] == ["done"], 30)
    return voice, answer.text, seconds


def usages(database: str, user_id: int) -> list[tuple[str, float]]:
    """(status, seconds charged) of each of the user's usage rows, oldest first."""
    with stored(database) as storage:
        return [(row.status, row.charged_seconds) for row in storage.usages(user_id)]


def downloads(sandbox: BotApiSandbox) -> int:
    """getFile calls: one for each time a recording was fetched for the model."""
    return len(sandbox.calls("getFile"))


def memory_answers(listen: str) -> float:
    with urllib.request.urlopen(f"http://{listen}/metrics", timeout=5) as answer:
        found = re.search(r"^voicebot_memory_answers_total (\S+)$", answer.read().decode(), re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def labels(message) -> list[str]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


def test_a_forwarded_voice_is_answered_from_memory_at_once_free_and_afresh_after_forget(
        sandbox, config, tmp_path, database, listen, speech):
    bot = RunningBot(config, tmp_path)
    try:
        ready(sandbox)
        voice, text, first_seconds = transcribed(sandbox, database, speech)
        fetched = downloads(sandbox)

        sent = time.monotonic()
        copy = sandbox.forward_message(BOB, voice, from_chat_id=ALICE.id)
        answer = wait_final(sandbox, BOB.id, copy)
        repeat_seconds = time.monotonic() - sent
        print(f"first transcription {first_seconds:.2f} s, forwarded copy {repeat_seconds:.3f} s "
              f"({repeat_seconds / first_seconds:.1%})")
        assert answer.text == text
        assert repeat_seconds < first_seconds / 10
        assert downloads(sandbox) == fetched   # no download, so no model
        assert labels(answer) == labels(reply_to(sandbox, ALICE.id, voice)) != []   # the same buttons
        assert wait_until(lambda: usages(database, BOB.id) == [("done", 0.0)], 10), usages(database, BOB.id)
        usage = sandbox.send_text(BOB, "/usage")
        assert sandbox.wait_for(lambda: reply_to(sandbox, BOB.id, usage) is not None, 30)
        assert "used 0 s" in reply_to(sandbox, BOB.id, usage).text
        assert memory_answers(listen) == 1

        forget = sandbox.send_text(ALICE, "/forget")
        assert sandbox.wait_for(lambda: reply_to(sandbox, ALICE.id, forget) is not None, 30)
        again = sandbox.forward_message(BOB, voice, from_chat_id=ALICE.id)
        assert speech.words in normalized(wait_final(sandbox, BOB.id, again).text)
        assert downloads(sandbox) == fetched + 1   # fetched and transcribed afresh: nothing of Alice's was reused
        assert memory_answers(listen) == 1
        assert wait_until(lambda: len(usages(database, BOB.id)) == 2, 10)
        [(_, free), (status, charged)] = usages(database, BOB.id)
        assert (free, status) == (0.0, "done") and charged > speech.duration - 2
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"job {BOB.id}/{copy} user {BOB.id}: recording transcribed before; answered from memory" in stderr


def answering(sandbox: BotApiSandbox, database: str, copy: int) -> bool:
    """Bob's copy has its status posted and stored, and is not answered: its answer is on its way."""
    status = reply_to(sandbox, BOB.id, copy)
    if status is None or not ENGLISH_WORDING.is_status(status.text):
        return False
    with stored(database) as storage:
        return any(pending.incoming.job.key.message_id == copy and pending.status_message_id == status.message_id
                   for pending in storage.unfinished_jobs() if pending.incoming.job.user_id == BOB.id)


def test_killed_while_answering_from_memory_the_bot_answers_once_after_its_restart(
        sandbox, config, tmp_path, database, speech):
    bot = RunningBot(config, tmp_path)
    try:
        ready(sandbox)
        voice, text, _ = transcribed(sandbox, database, speech)
        fetched = downloads(sandbox)
        # The edit that carries Bob's answer hangs on its way, and the bot is SIGKILLed meanwhile.
        sandbox.inject_fault("editMessageText", delay=60, drop=True, chat_id=BOB.id)
        copy = sandbox.forward_message(BOB, voice, from_chat_id=ALICE.id)
        assert wait_until(lambda: answering(sandbox, database, copy), 60)
    finally:
        bot.process.kill()   # SIGKILL: no chance to clean up
        bot.process.wait(30)
    [status] = replies_to(sandbox, BOB.id, copy)
    assert status.text == ENGLISH_WORDING.PROCESSING   # not answered before the kill

    bot = RunningBot(config, tmp_path)
    try:
        wait_final(sandbox, BOB.id, copy)
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr
    assert_one_transcript(sandbox, BOB, copy, speech.words)
    assert [answer.text for answer in replies_to(sandbox, BOB.id, copy)] == [text]
    assert downloads(sandbox) == fetched   # answered from memory after the restart too
    assert usages(database, BOB.id) == [("done", 0.0)]
    with stored(database) as storage:
        assert storage.unfinished_jobs() == []
