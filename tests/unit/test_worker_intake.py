import dataclasses

import pytest

from actors.messages import RunJob, TranscriptReady
from actors.node import WorkerDied
from actors.wire import event_from_wire, job_to_wire
from voicebot.app.job_intake import JobIntake
from voicebot.core.domain import FailureReason, Transcript
from voicebot.core.errors import DeadLetter, StorageError, TryLater

from fakebroker import FakeLink
from helpers import make_job


class CountingStorage:
    """job_started as the database answers it: None once answered, else the running count."""

    def __init__(self, answered=False, down=False):
        self.counts: dict = {}
        self.answered = answered
        self.down = down

    def job_started(self, key):
        if self.down:
            raise StorageError("could not connect to server", transient=True)
        if self.answered:
            return None
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]


class Node:
    """Completes each RunJob at once with `result` (an outcome, or an exception to set)."""

    def __init__(self, result=None):
        self.runs: list[RunJob] = []
        self.result = result

    def tell(self, run: RunJob) -> None:
        self.runs.append(run)
        if isinstance(self.result, Exception):
            run.done.set_exception(self.result)
        else:
            run.done.set_result(self.result or TranscriptReady(run.job, Transcript("hi", "en", 1, 5, 1)))


def intake(storage=None, node=None, link=None):
    return JobIntake(storage or CountingStorage(), link or FakeLink(), node or Node(), 2, 5, "node-a")


def test_a_job_runs_on_the_node_until_it_was_delivered_more_than_max_attempts_then_is_dead_lettered():
    node, link = Node(), FakeLink()
    taking = intake(node=node, link=link)
    job = make_job()
    taking.take(job_to_wire(job))
    taking.take(job_to_wire(job))
    # the second delivery was started before: it runs in quarantine
    assert [run.job for run in node.runs] == [job, dataclasses.replace(job, attempt=2)]
    with pytest.raises(DeadLetter):
        taking.take(job_to_wire(job))
    assert len(node.runs) == 2
    [failed] = link.events_of("failed")
    assert event_from_wire(failed).reason is FailureReason.WORKER_CRASHED


def test_a_job_answered_already_is_acknowledged_without_work():
    node = Node()
    intake(CountingStorage(answered=True), node).take(job_to_wire(make_job()))
    assert node.runs == []


@pytest.mark.parametrize("trouble", ["database", "worker"])
def test_a_job_that_cannot_be_done_now_goes_back_to_the_queue(trouble):
    storage = CountingStorage(down=trouble == "database")
    with pytest.raises(TryLater):
        intake(storage, Node(WorkerDied("whisper-1 crashed"))).take(job_to_wire(make_job()))


def test_a_message_that_is_not_a_job_is_dead_lettered():
    with pytest.raises(DeadLetter):
        intake().take({"chat_id": "x"})
