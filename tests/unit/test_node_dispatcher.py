import concurrent.futures
import dataclasses

import pytest

from actors.messages import (
    JobFailed,
    RunJob,
    ShowProgress,
    Stopping,
    Transcribe,
    TranscriptReady,
    WorkerLost,
    WorkerReady,
)
from actors.node import NodeDispatcher, WorkerDied
from actors.wire import event_from_wire
from voicebot.core.domain import FailureReason, Transcript
from voicebot.core.errors import BrokerError

from fakebroker import FakeLink
from helpers import make_job
from mailbox import RecordingMailbox, deliver


def start(link=None):
    workers = {name: RecordingMailbox(name) for name in ("whisper-1", "whisper-2")}
    link = link or FakeLink()
    return NodeDispatcher.start(node="node-a", workers=workers, link=link), workers, link


def run(job) -> RunJob:
    return RunJob(job, concurrent.futures.Future())


def test_jobs_from_the_broker_go_to_idle_workers_and_the_outcome_goes_back_before_done():
    node, workers, link = start()
    first, second, third = (run(make_job(message_id=n)) for n in (1, 2, 3))
    deliver(node, WorkerReady("whisper-1"), first, second)
    assert workers["whisper-1"].messages == [Transcribe(first.job)] and not second.done.done()
    outcome = TranscriptReady(first.job, Transcript("hi", "en", 0.9, 5.0, 1.0), "whisper-1")
    deliver(node, outcome, WorkerReady("whisper-2"), third)
    assert event_from_wire(link.events_of("transcript")[0]) == outcome
    assert first.done.result(timeout=1) == outcome
    assert workers["whisper-1"].messages[-1] == Transcribe(second.job)
    assert workers["whisper-2"].messages == [Transcribe(third.job)]


def test_a_job_delivered_again_after_a_node_died_holding_it_runs_in_quarantine():
    node, workers, _ = start()
    again = run(dataclasses.replace(make_job(), attempt=2))
    deliver(node, WorkerReady("whisper-1"), again)
    assert workers["whisper-1"].messages == [Transcribe(again.job, quarantined=True)]


def test_heartbeats_count_ready_workers_and_a_stopping_node_reports_none():
    node, _, link = start()
    deliver(node, WorkerReady("whisper-1"), WorkerReady("whisper-2"), Stopping())
    assert [event["ready"] for event in link.events_of("node")][-3:] == [1, 2, 0]


def test_live_text_goes_back_as_an_event_that_may_expire():
    node, _, link = start()
    deliver(node, ShowProgress(make_job().key, "so far"))
    [(payload, max_age)] = [(p, age) for p, age in link.events if p["type"] == "progress"]
    assert payload["text"] == "so far" and max_age is not None


def test_a_crashed_worker_fails_its_job_so_the_broker_delivers_it_again():
    node, workers, link = start()
    job = run(make_job())
    deliver(node, WorkerReady("whisper-1"), job, WorkerLost("whisper-1"))
    with pytest.raises(WorkerDied):
        job.done.result(timeout=1)
    assert link.events_of("failed") == []


def test_an_outcome_that_cannot_be_sent_leaves_the_job_unacknowledged():
    link = FakeLink()
    node, _, _ = start(link)
    job = run(make_job())
    deliver(node, WorkerReady("whisper-1"), job)
    link.down = True
    deliver(node, JobFailed(job.job, FailureReason.NO_SPEECH, "whisper-1"))
    assert isinstance(job.done.exception(timeout=1), BrokerError) and link.events_of("failed") == []
