"""A bot node and `voicebot worker` nodes as real processes, joined by a real broker (RabbitMQ and
Redis on this machine) and a PostgreSQL database, with real speech through the sandbox."""
import re
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

from voicebot.adapters.broker import BrokerLink
from voicebot.core.domain import FailureReason
from voicebot.core.replies import Wording
from voicebot.sandbox import SandboxUser

from botprocess import assert_one_transcript, is_final, replies_to, statuses_recorded, wait_final, write_config
from helpers import free_port, normalized, send_http
from mailbox import wait_until
from nodes import LoggedProcess

pytest_plugins = ["databases"]
pytestmark = pytest.mark.e2e

ENGLISH_WORDING = Wording()   # what the bot says in English
BROKERS = {"rabbitmq": "amqp://guest:guest@127.0.0.1:5672/", "redis": "redis://127.0.0.1:6379/0"}
USERS = [SandboxUser(801 + number, name) for number, name in enumerate(("Ada", "Ben", "Cleo"))]
STARTED = r"job (-?\d+)/(\d+) started on"
# Redis notices a dead worker only after broker.REDIS_DEAD_WORKER_MS of silence: allow for it.
WAIT_SECONDS = 120


@pytest.fixture(params=list(BROKERS))
def broker_url(request):
    url = BROKERS[request.param]
    address = urlsplit(url)
    try:
        socket.create_connection((address.hostname, address.port), timeout=3).close()
    except OSError as error:
        pytest.skip(f"no {request.param} at {address.hostname}:{address.port} ({error}); .ci/run starts it")
    return url


@pytest.fixture
def cluster(tmp_path, sandbox, broker_url, postgres_url):
    """Starts nodes sharing one config; stops whatever is left at the end."""
    started: list[LoggedProcess] = []

    def config(max_attempts: int = 3):
        return write_config(tmp_path / "config.toml", sandbox, postgres_url, f"""
[broker]
url = "{broker_url}"
max_attempts = {max_attempts}
[whisper]
workers = 1
cpu_threads = 1
beam_size = 1
[limits]
rate_limit_seconds = 0
[shutdown]
grace_seconds = 10
""")

    def start(command: str, max_attempts: int = 3, **settings: str) -> LoggedProcess:
        node = LoggedProcess(command, "--config", str(config(max_attempts)), cwd=tmp_path, **settings)
        started.append(node)
        ready = "voicebot is running" if command == "run" else "is taking jobs"
        node.wait_for_line(ready, WAIT_SECONDS)
        return node

    yield start
    for number, node in enumerate(started):
        node.stop()
        print(f"--- node {number}: voicebot {node.process.args[3]}\n{node.log}")   # shown if the test failed


def dead_letters(broker_url: str) -> int:
    link = BrokerLink(broker_url)
    try:
        return link.dead_letters()
    finally:
        link.close()


def test_workers_transcribe_a_batch_and_a_job_of_a_killed_worker_runs_again_once(cluster, sandbox, speech):
    bot = cluster("run")
    metrics = f"127.0.0.1:{free_port()}"
    first, second = cluster("worker"), cluster("worker", VOICEBOT_METRICS_LISTEN=metrics)
    assert send_http(f"http://{metrics}/healthz", method="GET")[0] == 200   # its WhisperActor is ready
    assert "worker nodes through" in bot.log and "model loaded" not in bot.log   # the bot node loads no model
    voices = [(user, sandbox.send_voice(user, speech.voice_note, speech.duration))
              for user in USERS for _ in range(2)]
    killed_job = first.wait_for_line(STARTED, WAIT_SECONDS)
    first.kill()   # SIGKILL, in the middle of that job
    killed_at = time.monotonic()
    for user, message_id in voices:
        wait_final(sandbox, user.id, message_id, timeout=WAIT_SECONDS)
    all_answered = time.monotonic()
    for user, message_id in voices:
        assert_one_transcript(sandbox, user, message_id, speech.words)
    chat_id, message_id = map(int, killed_job.groups())
    assert (chat_id, message_id) in {(user.id, message_id) for user, message_id in voices}
    again = rf"job {chat_id}/{message_id} started on"
    second.wait_for_line(again, 5)   # it ran again, on the other worker
    print(f"killed mid-job {chat_id}/{message_id}; it started again on the other worker "
          f"{second.arrival(again) - killed_at:.1f} s later; all {len(voices)} voices answered once, "
          f"{all_answered - killed_at:.1f} s after the kill")
    exposed = requests.get(f"http://{metrics}/metrics", timeout=10).text
    transcribed = re.search(r"^voicebot_transcription_seconds_count (\S+)$", exposed, re.MULTILINE)
    assert float(transcribed.group(1)) >= 1   # the worker node measures its own work
    assert bot.stop() == 0 and second.stop() == 0
    assert "Traceback" not in bot.log + second.log


def test_a_job_that_kills_every_worker_is_dead_lettered_and_its_user_told(cluster, sandbox, speech, broker_url):
    dead_before = dead_letters(broker_url)
    # Nodes start in any order: a worker first, on an empty database, migrates it.
    assert cluster("worker", max_attempts=2).stop() == 0
    bot = cluster("run", max_attempts=2)
    user = USERS[0]
    message_id = sandbox.send_voice(user, speech.voice_note, speech.duration)
    # No worker is up: the bot node does not block; the user is told and the job waits.
    assert sandbox.wait_for(lambda: any("service is busy" in (m.text or "")
                                        for m in replies_to(sandbox, user.id, message_id)), 30)
    start = sandbox.send_text(user, "/start")
    assert sandbox.wait_for(lambda: replies_to(sandbox, user.id, start), 10)
    for _ in range(2):   # each worker that takes it dies
        worker = cluster("worker", max_attempts=2)
        worker.wait_for_line(rf"job {user.id}/{message_id} started on", WAIT_SECONDS)
        worker.kill()
    last = cluster("worker", max_attempts=2)
    answer = wait_final(sandbox, user.id, message_id, timeout=WAIT_SECONDS)
    print(f"dead-lettered after 2 killed workers: {answer.text!r}")
    assert answer.text == ENGLISH_WORDING.failure(FailureReason.WORKER_CRASHED, 300, 20)
    assert len(replies_to(sandbox, user.id, message_id)) == 1
    last.wait_for_line("dead-lettered", 5)
    assert dead_letters(broker_url) == dead_before + 1
    # The failure is not charged, and the worker left takes new work.
    again = sandbox.send_voice(user, speech.voice_note, speech.duration)
    assert is_final(wait_final(sandbox, user.id, again, timeout=WAIT_SECONDS))
    assert_one_transcript(sandbox, user, again, speech.words)
    assert bot.stop() == 0 and last.stop() == 0


def test_a_bot_node_killed_mid_batch_and_restarted_answers_every_voice_once(cluster, sandbox, speech,
                                                                            postgres_url):
    bot = cluster("run")
    worker = cluster("worker")
    voices = [(user, sandbox.send_voice(user, speech.voice_note, speech.duration)) for user in USERS]
    worker.wait_for_line(STARTED, WAIT_SECONDS)
    assert wait_until(lambda: statuses_recorded(postgres_url), timeout=30)
    bot.kill()   # SIGKILL while jobs are out on the broker: their outcomes come back to nobody
    restarted = cluster("run")
    for user, message_id in voices:
        wait_final(sandbox, user.id, message_id, timeout=WAIT_SECONDS)
        assert_one_transcript(sandbox, user, message_id, speech.words)
    assert "resuming" in restarted.log


def test_sigterm_on_the_bot_node_waits_for_the_job_out_on_a_worker_and_delivers_it(cluster, sandbox, speech):
    bot = cluster("run")
    worker = cluster("worker")
    user = USERS[0]
    message_id = sandbox.send_voice(user, speech.voice_note, speech.duration)
    worker.wait_for_line(STARTED, WAIT_SECONDS)
    assert bot.stop() == 0
    [answer] = replies_to(sandbox, user.id, message_id)   # delivered before the bot node exited
    assert speech.words in normalized(answer.text)
