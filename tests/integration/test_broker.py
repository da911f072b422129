"""RemoteWorkers on a real broker (Redis, in a database of its own, so that no other test's nodes share the
queues): an event a bot node that no longer leads takes off the queue goes back on it for the leader."""
import os

import pytest
import redis

from actors.messages import TranscriptReady
from actors.remote import RemoteWorkers
from actors.wire import event_to_wire
from voicebot.adapters.broker import BrokerLink
from voicebot.core.domain import Transcript

from helpers import make_job
from mailbox import RecordingMailbox, wait_until

REDIS_URL = os.environ.get("VOICEBOT_TEST_REDIS", "redis://127.0.0.1:6379/9")


class Fence:
    def __init__(self, leads: bool):
        self.leads = leads
        self.term = 1

    def holds(self) -> bool:
        return self.leads


@pytest.fixture
def broker_url():
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.flushdb()
    except redis.RedisError as error:
        pytest.skip(f"no Redis at {REDIS_URL}: {error}")
    yield REDIS_URL
    client.flushdb()


def bot_node(url: str, leads: bool) -> tuple[RecordingMailbox, BrokerLink]:
    link, dispatcher = BrokerLink(url), RecordingMailbox("dispatcher")
    RemoteWorkers.start(link=link, dispatcher=dispatcher, sender=RecordingMailbox("sender"), job_seconds=240,
                        fence=Fence(leads))
    return dispatcher, link


def test_an_outcome_a_deposed_leader_takes_off_the_queue_reaches_the_new_leader(broker_url):
    links = []
    try:
        deposed, deposed_link = bot_node(broker_url, leads=False)   # still stopping; another node leads now
        links.append(deposed_link)
        worker_link = BrokerLink(broker_url)
        links.append(worker_link)
        done = TranscriptReady(make_job(), Transcript("for the new leader", "en", 0.9, 5.0, 1.0), "w/1")
        worker_link.send_event(event_to_wire(done))
        wait_until(lambda: deposed.messages, timeout=3)   # the deposed node's consumer is the only one yet
        leader, leader_link = bot_node(broker_url, leads=True)
        links.append(leader_link)
        assert wait_until(lambda: leader.messages == [done], timeout=30), "the new leader never got its outcome"
        assert deposed.messages == []
    finally:
        for link in links:
            link.close()
