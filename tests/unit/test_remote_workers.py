import pykka
import pytest

from actors.messages import (
    CheckNodes,
    JobFailed,
    NodeStatus,
    ShowProgress,
    Transcribe,
    TranscriptReady,
    WorkerGone,
    WorkerReady,
)
from actors.remote import MAX_SLOTS_PER_NODE, NODE_TIMEOUT_SECONDS, RemoteWorkers
from actors.wire import event_to_wire, job_from_wire
from voicebot.core.domain import FailureReason, Transcript

from fakebroker import FakeLink
from helpers import make_job
from mailbox import RecordingMailbox, deliver, wait_until


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def start(link=None, clock=None):
    link = link or FakeLink()
    dispatcher, sender = RecordingMailbox("dispatcher"), RecordingMailbox("sender")
    remote = RemoteWorkers.start(link=link, dispatcher=dispatcher, sender=sender, clock=clock or Clock())
    return remote, link, dispatcher, sender


def test_heartbeats_become_worker_slots_and_a_node_that_stops_or_falls_silent_takes_them_away():
    clock = Clock()
    remote, link, dispatcher, _ = start(clock=clock)
    deliver(remote, NodeStatus("a", 2), NodeStatus("b", 1), NodeStatus("a", 2))
    assert dispatcher.messages == [WorkerReady("a/1"), WorkerReady("a/2"), WorkerReady("b/1")]
    deliver(remote, NodeStatus("b", 0))          # b stops taking jobs
    clock.now += NODE_TIMEOUT_SECONDS + 1
    deliver(remote, CheckNodes())                 # a went silent
    assert dispatcher.messages[3:] == [WorkerGone("b/1"), WorkerGone("a/1"), WorkerGone("a/2")]


def test_jobs_go_to_the_broker_in_order_and_wait_while_it_is_down():
    remote, link, _, _ = start(FakeLink(down=True))
    jobs = [make_job(message_id=n) for n in (1, 2)]
    deliver(remote, *(Transcribe(job) for job in jobs))
    assert link.jobs == []
    link.down = False
    assert wait_until(lambda: len(link.jobs) == 2, timeout=10)   # retried on its own
    assert [job_from_wire(payload) for payload in link.jobs] == jobs


def test_events_from_the_broker_reach_the_dispatcher_and_the_sender_and_garbage_is_dropped():
    remote, link, dispatcher, sender = start()
    assert wait_until(lambda: link.consuming)
    job = make_job()
    done = TranscriptReady(job, Transcript("hello", "en", 0.9, 5.0, 1.0), "whisper-1")
    failed = JobFailed(make_job(message_id=2), FailureReason.NO_SPEECH, "whisper-2")
    progress = ShowProgress(job.key, "hel")
    link.event_handler({"type": "gossip"})
    for event in (progress, done, failed):
        link.event_handler(event_to_wire(event))
    deliver(remote)
    assert dispatcher.messages == [done, failed] and sender.messages == [progress]
    remote.stop()
    assert not link.consuming


def test_on_stop_it_waits_for_the_outcomes_of_jobs_out_so_they_are_delivered():
    link = FakeLink()
    dispatcher, sender = RecordingMailbox("dispatcher"), RecordingMailbox("sender")
    remote = RemoteWorkers.start(link=link, dispatcher=dispatcher, sender=sender, grace_seconds=30)
    job = make_job()
    deliver(remote, Transcribe(job))
    stopped = remote.stop(block=False)
    done = TranscriptReady(job, Transcript("in time", "en", 0.9, 5.0, 1.0), "whisper-1")
    with pytest.raises(pykka.Timeout):
        stopped.get(timeout=0.3)                # still waiting for the job's outcome
    link.event_handler(event_to_wire(done))   # arrives while it is stopping
    stopped.get(timeout=5)
    assert dispatcher.messages == [done] and not link.consuming


def test_a_heartbeat_claiming_a_huge_number_of_workers_counts_as_a_bounded_few():
    remote, _, dispatcher, _ = start()
    deliver(remote, NodeStatus("forged", 10 ** 9), NodeStatus("negative", -5))
    assert len(dispatcher.of(WorkerReady)) == MAX_SLOTS_PER_NODE
    assert remote.is_alive()
