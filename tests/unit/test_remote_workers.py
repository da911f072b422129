import pykka
import pytest

from actors.dispatcher import Dispatcher
from actors.messages import (
    CheckNodes,
    DeliverResult,
    JobAdmitted,
    JobFailed,
    NodeStatus,
    ShowProgress,
    Transcribe,
    TranscriptReady,
    WorkerGone,
    WorkerReady,
)
from actors.remote import MAX_SLOTS_PER_NODE, NODE_TIMEOUT_SECONDS, OUTCOME_MARGIN_SECONDS, RemoteWorkers
from actors.wire import event_to_wire, job_from_wire
from voicebot.core.domain import FailureReason, Transcript
from voicebot.core.errors import TryLater

from fakebroker import FakeLink
from helpers import make_job
from mailbox import RecordingMailbox, deliver, wait_until

JOB_SECONDS = 240.0   # what a worker node gives one delivery of a job
SILENCE_SECONDS = JOB_SECONDS + OUTCOME_MARGIN_SECONDS


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Fence:
    """A leader's fence that the test takes down."""

    def __init__(self):
        self.leads = True
        self.term = 1

    def holds(self) -> bool:
        return self.leads


def start(link=None, clock=None, fence=None, dispatcher=None, grace_seconds=0.0):
    link = link or FakeLink()
    dispatcher, sender = dispatcher or RecordingMailbox("dispatcher"), RecordingMailbox("sender")
    remote = RemoteWorkers.start(link=link, dispatcher=dispatcher, sender=sender, clock=clock or Clock(),
                                 job_seconds=JOB_SECONDS, fence=fence, grace_seconds=grace_seconds)
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
    remote, link, dispatcher, _ = start(grace_seconds=30)
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


def test_a_node_that_no_longer_leads_puts_events_back_on_the_broker_and_stops_taking_them():
    fence = Fence()
    remote, link, dispatcher, sender = start(fence=fence)
    job = make_job()
    deliver(remote, Transcribe(job))
    fence.leads = False   # deposed: another bot node may lead, and these may be its jobs' outcomes
    for event in (ShowProgress(job.key, "hel"), TranscriptReady(job, Transcript("hello", "en", 0.9, 5.0, 1.0)),
                  NodeStatus("a", 1)):
        with pytest.raises(TryLater, match="no longer leads"):   # not acknowledged: back on the queue
            link.event_handler(event_to_wire(event))
    assert wait_until(lambda: not link.consuming)
    deliver(remote)
    assert dispatcher.messages == [] and sender.messages == []


def test_a_node_that_no_longer_leads_hands_no_job_to_the_broker_and_stops_without_waiting_for_outcomes():
    fence = Fence()
    remote, link, _, _ = start(fence=fence, grace_seconds=30)
    deliver(remote, Transcribe(make_job(message_id=1)))
    fence.leads = False
    deliver(remote, Transcribe(make_job(message_id=2)))   # stays in the database, for the node that leads
    assert [job_from_wire(payload).message_id for payload in link.jobs] == [1]
    remote.stop(block=False).get(timeout=3)   # the outcome of job 1 is the leader's to take: no grace period
    assert not link.consuming


def test_a_job_that_hears_nothing_is_sent_again_then_answered_once_even_if_its_outcome_comes_late():
    clock = Clock()
    quota, sender, storage = RecordingMailbox("quota"), RecordingMailbox("sender"), RecordingMailbox("storage")
    remote_address = RecordingMailbox("remote")
    dispatcher = Dispatcher.start(workers={}, quota=quota, sender=sender, storage=storage, max_pending=10,
                                  max_duration_seconds=300, max_file_mb=20, remote=remote_address)
    remote, link, _, _ = start(clock=clock, dispatcher=dispatcher)
    job = make_job()
    deliver(remote, NodeStatus("a", 1))                       # the Dispatcher hears of a slot
    deliver(dispatcher, JobAdmitted(job))
    deliver(remote, *remote_address.of(Transcribe))           # and hands it the job: on the broker
    assert len(link.jobs) == 1
    clock.now += SILENCE_SECONDS - 1
    deliver(remote, NodeStatus("a", 1), CheckNodes())
    assert len(link.jobs) == 1                                # within its time
    clock.now += 2
    deliver(remote, NodeStatus("a", 1), CheckNodes())
    assert len(link.jobs) == 2 and job_from_wire(link.jobs[1]) == job   # silent too long: sent again
    clock.now += SILENCE_SECONDS + 1
    deliver(remote, NodeStatus("a", 1), CheckNodes())
    deliver(dispatcher)
    answers = sender.of(DeliverResult)
    assert len(answers) == 1 and answers[0].outcome == JobFailed(job, FailureReason.INTERNAL)
    link.event_handler(event_to_wire(TranscriptReady(job, Transcript("late", "en", 0.9, 5.0, 1.0), "a/1")))
    deliver(remote)
    deliver(dispatcher)
    assert len(sender.of(DeliverResult)) == 1                # the late outcome is dropped: one answer
    assert len(link.jobs) == 2


def test_live_text_and_an_hour_without_worker_nodes_do_not_count_as_silence():
    clock = Clock()
    remote, link, dispatcher, _ = start(clock=clock)
    job = make_job()
    deliver(remote, NodeStatus("a", 1), Transcribe(job))
    clock.now += SILENCE_SECONDS - 1
    link.event_handler(event_to_wire(ShowProgress(job.key, "still going")))
    clock.now += SILENCE_SECONDS - 1
    deliver(remote, NodeStatus("a", 1), CheckNodes())
    assert len(link.jobs) == 1                                 # heard from within its time
    deliver(remote, NodeStatus("a", 0))                        # no worker node up: the job waits in the broker
    clock.now += 3600
    deliver(remote, CheckNodes())
    deliver(remote, NodeStatus("a", 1), CheckNodes())
    assert len(link.jobs) == 1 and dispatcher.of(JobFailed) == []
