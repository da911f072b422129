"""Hostile input while ordinary users talk to the bot: a bot node and a `voicebot worker` node on PostgreSQL and
RabbitMQ, with real speech through the sandbox. Users whose Telegram app sends a 16-letter language tag, audio
"documents" in FFmpeg's concat format naming other files and a FIFO, an event with NaN put on the broker
as a worker would, and recordings that report 1 s but last 11 s sent side by side to overspend the day: each
gets one plain answer (or none, for the forged event), and every ordinary voice is answered exactly once."""
import os
import socket
import time

import pytest

from actors.messages import TranscriptReady
from actors.wire import event_to_wire
from voicebot.adapters.broker import BrokerLink
from voicebot.core.domain import FailureReason, Job, JobKey, Media, MediaKind, Transcript
from voicebot.core.replies import Wording
from voicebot.sandbox import SandboxUser

from botprocess import assert_one_transcript, replies_to, stored, wait_final, write_config
from helpers import normalized
from nodes import LoggedProcess

pytest_plugins = ["databases"]
pytestmark = pytest.mark.e2e

ENGLISH_WORDING = Wording()
BROKER = "amqp://guest:guest@127.0.0.1:5672/"
ORDINARY = [SandboxUser(811 + number, name) for number, name in enumerate(("Ada", "Ben", "Cleo"))]
LONG_TAG = SandboxUser(821, "Lan", language_code="classiczhcnhansx")   # 16 letters, past the column's 8
PRANKSTERS = SandboxUser(822, "Pat"), SandboxUser(824, "Quinn")
SPENDER = SandboxUser(823, "Sam")
DAILY_SECONDS = 30
WAIT_SECONDS = 240


@pytest.fixture
def nodes(tmp_path, sandbox, postgres_url):
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=3).close()
    except OSError as error:
        pytest.skip(f"no RabbitMQ at 127.0.0.1:5672 ({error}); .ci/run starts it")
    config = write_config(tmp_path / "config.toml", sandbox, postgres_url, f"""
[broker]
url = "{BROKER}"
[whisper]
workers = 2
cpu_threads = 1
beam_size = 1
[quota]
daily_seconds = {DAILY_SECONDS}
[limits]
rate_limit_seconds = 0
[shutdown]
grace_seconds = 10
""")
    started = []
    for command, ready in (("run", "voicebot is running"), ("worker", "is taking jobs")):
        node = LoggedProcess(command, "--config", str(config), cwd=tmp_path)
        started.append(node)
        node.wait_for_line(ready, WAIT_SECONDS)
    yield started
    for node in started:
        node.stop()
        print(f"--- voicebot {node.process.args[3]}\n{node.log}")


def test_hostile_input_gets_its_own_answer_while_every_ordinary_voice_is_answered_once(
        nodes, sandbox, speech, tmp_path, postgres_url):
    bot, worker = nodes
    fifo = tmp_path / "never-written.fifo"
    os.mkfifo(fifo)
    ordinary = [(user, sandbox.send_voice(user, speech.voice_note, speech.duration)) for user in ORDINARY]
    long_tag = sandbox.send_voice(LONG_TAG, speech.voice_note, speech.duration)
    concat = sandbox.send_document(PRANKSTERS[0], b"ffconcat version 1.0\nfile 'voice.ogg'\nfile '/etc/hostname'\n",
                                   "list.ogg", "audio/ogg")
    fifo_list = sandbox.send_document(PRANKSTERS[1], f"ffconcat version 1.0\nfile '{fifo}'\n".encode(),
                                      "pipe.ogg", "audio/ogg")
    _put_nan_on_the_wire(*ordinary[0])
    overspend = [sandbox.send_voice(SPENDER, speech.voice_note, 1) for _ in range(8)]   # each says 1 s, lasts 11
    ordinary += [(user, sandbox.send_voice(user, speech.voice_note, speech.duration)) for user in ORDINARY]

    for user, message_id in ordinary:
        wait_final(sandbox, user.id, message_id, timeout=WAIT_SECONDS)
        assert_one_transcript(sandbox, user, message_id, speech.words)
    got = {"16-letter language tag": wait_final(sandbox, LONG_TAG.id, long_tag, timeout=WAIT_SECONDS).text,
           "concat document": wait_final(sandbox, PRANKSTERS[0].id, concat, timeout=WAIT_SECONDS).text,
           "concat naming a FIFO": wait_final(sandbox, PRANKSTERS[1].id, fifo_list, timeout=WAIT_SECONDS).text}
    spent = [wait_final(sandbox, SPENDER.id, message_id, timeout=WAIT_SECONDS).text for message_id in overspend]
    time.sleep(3)   # anything sent twice would show by now
    for name, text in got.items():
        print(f"{name}: {text!r}")
    print("overspend: " + "; ".join(repr(text[:60]) for text in spent))

    assert speech.words in normalized(got["16-letter language tag"])   # answered, in English
    unreadable = ENGLISH_WORDING.failure(FailureReason.UNREADABLE_AUDIO, 300, 20)
    assert got["concat document"] == got["concat naming a FIFO"] == unreadable
    for chat, message_id in [(LONG_TAG.id, long_tag), (PRANKSTERS[0].id, concat), (PRANKSTERS[1].id, fifo_list),
                             *((SPENDER.id, message_id) for message_id in overspend)]:
        assert len(replies_to(sandbox, chat, message_id)) == 1
    assert "does not decode" in bot.log   # the NaN event was refused, and the real outcome answered
    with stored(postgres_url) as storage:
        assert storage.unfinished_jobs() == []
        charged = sum(row.charged_seconds for row in storage.usages(SPENDER.id))
    print(f"overspend: {charged:.1f} s charged against a day of {DAILY_SECONDS} s")
    over_quota = ENGLISH_WORDING.failure(FailureReason.OVER_QUOTA, 300, 20)
    refused = f"of your daily {ENGLISH_WORDING.duration(DAILY_SECONDS)} left"   # nothing left to share at admission
    assert all(text == over_quota or refused in text or speech.words in normalized(text) for text in spent), spent
    assert over_quota in spent and charged <= DAILY_SECONDS
    assert "Traceback" not in bot.log + worker.log


def _put_nan_on_the_wire(user: SandboxUser, message_id: int) -> None:
    """What a broken or hostile worker could put on the broker: an outcome for a real job with NaN seconds."""
    job = Job(JobKey(user.id, message_id), user.id, Media(MediaKind.VOICE, "forged"))
    link = BrokerLink(BROKER)
    try:
        link.send_event(event_to_wire(TranscriptReady(job, Transcript("forged", "en", 1.0, float("nan"), 0.0))))
    finally:
        link.close()
