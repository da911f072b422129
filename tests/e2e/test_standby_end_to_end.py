"""Two `voicebot run` processes on one PostgreSQL database: one leads, the other stands by and takes over
when the leader stops, is killed, or is cut off from the database."""
import re
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from voicebot.sandbox import SandboxUser

from botprocess import assert_one_transcript, is_final, reply_to, statuses_recorded, stored, wait_final, write_config
from cutproxy import CuttableProxy
from helpers import free_port
from mailbox import wait_until
from nodes import LoggedProcess

pytest_plugins = ["databases"]
pytestmark = pytest.mark.e2e

USERS = [SandboxUser(901 + number, name) for number, name in enumerate(("Ida", "Jon", "Kai"))]
LEADS = "this node leads now"
WAIT_SECONDS = 120


class BotNode:
    """`voicebot run` with its own folder, metrics port and (optionally) database URL."""

    def __init__(self, tmp_path, sandbox, database_url: str, name: str):
        folder = tmp_path / name
        folder.mkdir()
        self.listen = f"127.0.0.1:{free_port()}"
        config = write_config(folder / "config.toml", sandbox, database_url, """
[whisper]
workers = 1
cpu_threads = 1
beam_size = 1
[limits]
rate_limit_seconds = 0
[shutdown]
grace_seconds = 5
""")
        self.name = name
        self.node = LoggedProcess("run", "--config", str(config), cwd=folder, VOICEBOT_METRICS_LISTEN=self.listen)

    def health(self) -> tuple[int, str]:
        answer = requests.get(f"http://{self.listen}/healthz", timeout=5)
        return answer.status_code, answer.text.strip()

    def leader_gauge(self) -> float:
        exposed = requests.get(f"http://{self.listen}/metrics", timeout=5).text
        return float(re.search(r"^voicebot_leader (\S+)$", exposed, re.MULTILINE).group(1))


@pytest.fixture
def bot_nodes(tmp_path, sandbox, postgres_url):
    started: list[BotNode] = []

    def start(name: str, database_url: str = postgres_url, ready: str = "voicebot is running") -> BotNode:
        node = BotNode(tmp_path, sandbox, database_url, name)
        started.append(node)
        node.node.wait_for_line(ready, WAIT_SECONDS)
        return node

    yield start
    for node in started:
        if node.node.process.poll() is None:
            node.node.stop()
        print(f"--- {node.name}\n{node.node.log}")   # shown if the test failed


def assert_answered_once(sandbox, voices, words):
    """Each voice got one reply, edited into one transcript, and no transcript went out twice."""
    for user, message_id in voices:
        wait_final(sandbox, user.id, message_id, timeout=WAIT_SECONDS)
    for user, message_id in voices:
        assert_one_transcript(sandbox, user, message_id, words)


def charges(database_url: str, user: SandboxUser) -> list[str]:
    with stored(database_url) as storage:
        return [usage.status for usage in storage.usages(user.id)]


def send_voices(sandbox, speech, count: int = 1):
    return [(user, sandbox.send_voice(user, speech.voice_note, speech.duration)) for user in USERS[:count]]


def test_a_standby_waits_ready_and_leads_once_the_leader_stops(bot_nodes, sandbox, speech):
    first = bot_nodes("first")
    second = bot_nodes("second", ready="models loaded")   # standing by, its model loaded ahead
    assert "standing by: another bot node leads" in second.node.log
    assert (first.health(), second.health()) == ((200, "leader"), (200, "standby"))
    assert (first.leader_gauge(), second.leader_gauge()) == (1, 0)

    voices = send_voices(sandbox, speech)
    assert_answered_once(sandbox, voices, speech.words)
    assert first.node.stop() == 0
    second.node.wait_for_line(LEADS, 30)
    second.node.wait_for_line("voicebot is running", 30)
    assert "the leader's database session ended" in second.node.log
    assert second.health() == (200, "leader") and second.leader_gauge() == 1
    voices = send_voices(sandbox, speech)
    assert_answered_once(sandbox, voices, speech.words)
    assert second.node.stop() == 0
    assert "Traceback" not in first.node.log + second.node.log


def test_the_leader_killed_mid_stream_the_standby_answers_every_voice_once(bot_nodes, sandbox, speech,
                                                                         postgres_url):
    leader = bot_nodes("leader")
    standby = bot_nodes("standby", ready="models loaded")
    before = send_voices(sandbox, speech, 3)
    leader.node.wait_for_line(r"job \S+ user \S+: done", WAIT_SECONDS)   # the first is answered, the rest wait
    assert wait_until(lambda: statuses_recorded(postgres_url), timeout=30)
    killed_at = time.monotonic()
    leader.node.kill()
    after = send_voices(sandbox, speech, 3)
    standby.node.wait_for_line(LEADS, 30)
    assert sandbox.wait_for(lambda: any(is_final(reply_to(sandbox, u.id, m)) for u, m in after), WAIT_SECONDS)
    answered_at = time.monotonic()
    assert_answered_once(sandbox, before + after, speech.words)
    print(f"took the lead {standby.node.arrival(LEADS) - killed_at:.1f} s after the kill, "
          f"first transcript of a voice sent after the kill {answered_at - killed_at:.1f} s after it")
    assert all(charges(postgres_url, user) == ["done", "done"] for user in USERS)
    assert standby.node.stop() == 0


def test_a_leader_cut_off_from_the_database_steps_down_and_acts_no_more(bot_nodes, sandbox, speech, postgres_url):
    address = urlsplit(postgres_url)
    proxy = CuttableProxy((address.hostname, address.port))
    through_proxy = urlunsplit(address._replace(netloc=f"{address.username}@127.0.0.1:{proxy.port}"))
    try:
        leader = bot_nodes("leader", through_proxy)
        standby = bot_nodes("standby", ready="models loaded")
        assert_answered_once(sandbox, send_voices(sandbox, speech), speech.words)
        proxy.cut()   # the leader lives on, but its database hears nothing more from it
        cut_at = time.monotonic()
        after = send_voices(sandbox, speech, 3)
        leader.node.wait_for_line("this node no longer leads", 30)
        standby.node.wait_for_line(LEADS, 30)
        assert standby.node.arrival(LEADS) > leader.node.arrival("this node no longer leads"), (
            "the deposed leader stepped down before the standby took over")
        assert_answered_once(sandbox, after, speech.words)
        print(f"cut off: stepped down {leader.node.arrival('no longer leads') - cut_at:.1f} s after the cut, "
              f"the standby led {standby.node.arrival(LEADS) - cut_at:.1f} s after it")
        assert leader.node.process.wait(timeout=60) == 1   # for a service manager to start it again
        assert charges(postgres_url, USERS[0]) == ["done", "done"]
        assert all(charges(postgres_url, user) == ["done"] for user in USERS[1:])
        assert standby.node.stop() == 0
    finally:
        proxy.close()
