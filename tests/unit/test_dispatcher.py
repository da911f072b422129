import dataclasses

import pytest

from actors.api import API_DOOR, API_PLACE, TELEGRAM_DOOR
from actors.dispatcher import BUSY_RETRY_SECONDS, MAX_STARTS, Dispatcher
from actors.messages import (
    AnswerFromMemory,
    DeliverResult,
    HelperLost,
    JobAdmitted,
    JobFailed,
    JobStarted,
    PostStatus,
    RefusedAsBusy,
    RequestRefused,
    Transcribe,
    TranscriptReady,
    UpdateStatus,
    WorkerGone,
    WorkerLost,
    WorkerReady,
)
from voicebot.core.api import API_USER_BASE
from voicebot.core.buttons import ButtonData, keyboard
from voicebot.core.calls import SendText
from voicebot.core.domain import FailureReason, Segment, Transcript
from voicebot.core.replies import Wording

from helpers import make_job
from mailbox import RecordingMailbox, deliver

ENGLISH_WORDING = Wording()   # what the bot says in English


@pytest.fixture
def fakes():
    workers = {name: RecordingMailbox(name) for name in ("w1", "w2")}
    return workers, RecordingMailbox("quota"), RecordingMailbox("sender"), RecordingMailbox("storage")


def start_dispatcher(fakes, max_pending=100, file_threshold_chars=8000):
    workers, quota, sender, storage = fakes
    return Dispatcher.start(workers=workers, quota=quota, sender=sender, storage=storage, max_pending=max_pending,
                            max_duration_seconds=300, max_file_mb=20, file_threshold_chars=file_threshold_chars)


def test_jobs_wait_for_a_ready_worker_and_get_a_status_reply_at_once(fakes):
    workers, _, sender, _ = fakes
    dispatcher = start_dispatcher(fakes)
    job = make_job()
    deliver(dispatcher, JobAdmitted(job))
    assert sender.messages == [PostStatus(job.key, ENGLISH_WORDING.queued(1, workers_online=False), job.destination)]
    assert "service is busy" in sender.messages[0].text
    assert workers["w1"].messages == []
    deliver(dispatcher, WorkerReady("w1"))
    assert workers["w1"].messages == [Transcribe(job)]
    assert sender.messages[-1] == UpdateStatus(job.key, ENGLISH_WORDING.PROCESSING)


def test_an_idle_worker_means_no_queue_position_and_busy_workers_mean_one(fakes):
    workers, _, sender, _ = fakes
    dispatcher = start_dispatcher(fakes)
    jobs = [make_job(message_id=n) for n in (1, 2, 3, 4)]
    deliver(dispatcher, WorkerReady("w1"), WorkerReady("w2"), *(JobAdmitted(job) for job in jobs))
    assert [m.text for m in sender.of(PostStatus)] == [ENGLISH_WORDING.PROCESSING, ENGLISH_WORDING.PROCESSING,
                                                       ENGLISH_WORDING.queued(1), ENGLISH_WORDING.queued(2)]
    assert "#2 in queue" in ENGLISH_WORDING.queued(2)
    deliver(dispatcher, TranscriptReady(jobs[0], Transcript("a", "en", 0.9, 5, 1), "w1"))
    assert sender.of(UpdateStatus) == [UpdateStatus(jobs[2].key, ENGLISH_WORDING.PROCESSING)]


def test_a_transcript_over_the_file_threshold_is_also_sent_as_a_file(fakes):
    workers, quota, sender, _ = fakes
    dispatcher = start_dispatcher(fakes, file_threshold_chars=50)
    short, long = make_job(message_id=1), make_job(message_id=2)
    deliver(dispatcher, WorkerReady("w1"), JobAdmitted(short),
            TranscriptReady(short, Transcript("short one", "en", 0.9, 5, 1), "w1"), JobAdmitted(long),
            TranscriptReady(long, Transcript("long " * 20, "en", 0.9, 5, 1), "w1"))
    assert [m.as_file for m in sender.of(DeliverResult)] == [False, True]


def test_each_idle_worker_gets_one_job_and_the_next_waits_for_a_result(fakes):
    workers, quota, sender, _ = fakes
    dispatcher = start_dispatcher(fakes)
    jobs = [make_job(message_id=n) for n in (1, 2, 3)]
    deliver(dispatcher, WorkerReady("w1"), WorkerReady("w2"), *(JobAdmitted(job) for job in jobs))
    assert workers["w1"].of(Transcribe) == [Transcribe(jobs[0])]
    assert workers["w2"].of(Transcribe) == [Transcribe(jobs[1])]
    done = TranscriptReady(jobs[0], Transcript("hi there", "en", 0.9, 5, 1), "w1")
    deliver(dispatcher, done)
    # If Telegram refused it for good, the plain failure reply would take its place.
    assert sender.of(DeliverResult) == [DeliverResult(jobs[0].key, "hi there", False, done, quota, "",
                                                      ENGLISH_WORDING.failure(FailureReason.INTERNAL, 300, 20))]
    assert workers["w1"].of(Transcribe) == [Transcribe(jobs[0]), Transcribe(jobs[2])]


def test_past_max_pending_a_job_is_refused_politely_and_released(fakes):
    _, quota, sender, _ = fakes
    dispatcher = start_dispatcher(fakes, max_pending=2)
    jobs = [make_job(message_id=n) for n in (1, 2, 3)]
    deliver(dispatcher, *(JobAdmitted(job) for job in jobs))
    assert sender.of(SendText) == [SendText(jobs[2].destination, ENGLISH_WORDING.BUSY)]
    assert quota.messages == [RefusedAsBusy(jobs[2])]
    assert len(sender.of(PostStatus)) == 2


def test_a_failure_is_answered_in_plain_words_and_frees_the_worker(fakes):
    workers, quota, sender, _ = fakes
    dispatcher = start_dispatcher(fakes)
    job = make_job()
    deliver(dispatcher, WorkerReady("w1"), JobAdmitted(job), JobFailed(job, FailureReason.TOO_LONG, "w1"))
    [result] = sender.of(DeliverResult)
    assert "5 min" in result.text and result.report_to == quota
    assert (result.outcome.job, result.outcome.reason) == (job, FailureReason.TOO_LONG)
    deliver(dispatcher, JobAdmitted(make_job(message_id=2)))
    assert len(workers["w1"].of(Transcribe)) == 2


def test_a_job_whose_worker_died_is_retried_once_then_answered_with_a_failure(fakes):
    workers, quota, sender, _ = fakes
    dispatcher = start_dispatcher(fakes)
    job = make_job()
    deliver(dispatcher, WorkerReady("w1"), JobAdmitted(job), WorkerLost("w1"), WorkerReady("w1"))
    retried = workers["w1"].of(Transcribe)[-1].job
    assert (retried.key, retried.attempt) == (job.key, 2) and workers["w1"].of(Transcribe)[-1].quarantined
    deliver(dispatcher, WorkerLost("w1"))
    [result] = sender.of(DeliverResult)
    assert result.text == ENGLISH_WORDING.failure(FailureReason.INTERNAL, 300, 20)
    assert result.outcome.reason is FailureReason.INTERNAL and result.report_to == quota


def test_each_start_is_recorded_a_job_started_before_runs_in_quarantine_and_only_a_runaway_is_given_up(fakes):
    workers, quota, sender, storage = fakes
    dispatcher = start_dispatcher(fakes)
    fresh, resumed, runaway = make_job(message_id=1), make_job(message_id=2), make_job(message_id=3)
    deliver(dispatcher, WorkerReady("w1"), WorkerReady("w2"), JobAdmitted(fresh),
            JobAdmitted(dataclasses.replace(resumed, attempt=3), status_message_id=77),   # in flight at two kills
            JobAdmitted(dataclasses.replace(runaway, attempt=MAX_STARTS + 1), status_message_id=78))
    assert storage.of(JobStarted) == [JobStarted(fresh.key), JobStarted(resumed.key)]
    told = workers["w1"].of(Transcribe) + workers["w2"].of(Transcribe)
    assert [(transcribe.job.key, transcribe.quarantined) for transcribe in told] == [(fresh.key, False),
                                                                                   (resumed.key, True)]
    # edited, not re-sent
    assert sender.of(PostStatus)[1] == PostStatus(resumed.key, ENGLISH_WORDING.PROCESSING, resumed.destination, 77)
    [failed] = sender.of(DeliverResult)
    assert failed.key == runaway.key and failed.outcome.reason is FailureReason.INTERNAL


def test_a_second_outcome_of_the_same_job_is_dropped_so_the_user_gets_one_answer(fakes):
    workers, quota, sender, _ = fakes
    dispatcher = start_dispatcher(fakes)
    job = make_job()
    done = TranscriptReady(job, Transcript("once", "en", 0.9, 5, 1), "w1")
    deliver(dispatcher, WorkerReady("w1"), JobAdmitted(job), done, done, JobFailed(job, FailureReason.INTERNAL))
    assert [result.text for result in sender.of(DeliverResult)] == ["once"]


def test_remote_slots_come_and_go_and_a_gone_slots_job_waits_for_the_broker_to_rerun_it():
    quota, sender, storage, remote = (RecordingMailbox(name) for name in ("quota", "sender", "storage", "remote"))
    dispatcher = Dispatcher.start(workers={}, quota=quota, sender=sender, storage=storage, max_pending=100,
                                  max_duration_seconds=300, max_file_mb=20, remote=remote)
    jobs = [make_job(message_id=n) for n in (1, 2, 3)]
    deliver(dispatcher, WorkerReady("node-a/1"), WorkerReady("node-b/1"), *(JobAdmitted(job) for job in jobs))
    assert remote.of(Transcribe) == [Transcribe(jobs[0]), Transcribe(jobs[1])]   # one job per slot
    deliver(dispatcher, WorkerGone("node-a/1"))
    # The broker ran job 1 again on node-b after node-a died; its slot is gone, so job 3 still waits:
    # node-b, the one slot left, is taken by job 2.
    deliver(dispatcher, TranscriptReady(jobs[0], Transcript("first", "en", 0.9, 5, 1), "whisper-1"))
    assert sender.of(DeliverResult)[0].text == "first" and len(remote.of(Transcribe)) == 2
    deliver(dispatcher, TranscriptReady(jobs[1], Transcript("second", "en", 0.9, 5, 1), "whisper-1"))
    assert remote.of(Transcribe)[-1] == Transcribe(jobs[2])
    deliver(dispatcher, WorkerGone("node-b/1"), JobAdmitted(make_job(message_id=4)))
    assert len(remote.of(Transcribe)) == 3
    assert "service is busy" in sender.of(PostStatus)[-1].text


def test_a_transcript_with_no_words_is_answered_as_no_speech_and_not_charged(fakes):
    workers, quota, sender, _ = fakes
    dispatcher = start_dispatcher(fakes)
    job = make_job()
    deliver(dispatcher, WorkerReady("w1"), JobAdmitted(job), TranscriptReady(job, Transcript("  ", "cy", 0.2, 5, 1)))
    [result] = sender.of(DeliverResult)
    assert result.text == ENGLISH_WORDING.failure(FailureReason.NO_SPEECH, 300, 20)
    assert result.outcome == JobFailed(job, FailureReason.NO_SPEECH) and result.report_to == quota


def test_a_long_recording_on_an_idle_bot_gets_every_idle_worker_and_frees_them_once_answered(fakes):
    workers, _, sender, _ = fakes
    dispatcher = start_dispatcher(fakes)
    long, short = make_job(message_id=1, duration=240), make_job(message_id=2, duration=5)
    deliver(dispatcher, WorkerReady("w1"), WorkerReady("w2"), JobAdmitted(long))
    assert workers["w1"].messages == [Transcribe(long, (("w2", workers["w2"]),))]
    deliver(dispatcher, JobAdmitted(short))   # both workers are busy with the long one
    assert sender.of(PostStatus)[-1].text == ENGLISH_WORDING.queued(1) and workers["w2"].messages == []
    deliver(dispatcher, TranscriptReady(long, Transcript("words", "en", 0.9, 240, 60), "w1"))
    assert workers["w1"].messages[-1] == Transcribe(short)
    third = make_job(message_id=3, duration=5)
    deliver(dispatcher, JobAdmitted(third))
    assert workers["w2"].messages == [Transcribe(third)]   # the helper is free again too


def test_a_busy_bot_keeps_one_worker_per_long_recording(fakes):
    workers, _, _, _ = fakes
    dispatcher = start_dispatcher(fakes)
    first, second = make_job(message_id=1, duration=240), make_job(message_id=2, duration=240)
    deliver(dispatcher, JobAdmitted(first), JobAdmitted(second), WorkerReady("w1"), WorkerReady("w2"))
    assert workers["w1"].messages == [Transcribe(first)] and workers["w2"].messages == [Transcribe(second)]


def test_a_helper_that_dies_has_its_piece_done_by_the_worker_that_split_the_recording(fakes):
    workers, _, _, _ = fakes
    dispatcher = start_dispatcher(fakes)
    long = make_job(message_id=1, duration=240)
    deliver(dispatcher, WorkerReady("w1"), WorkerReady("w2"), JobAdmitted(long), WorkerLost("w2"))
    assert workers["w1"].messages[-1] == HelperLost(long.key, "w2")
    deliver(dispatcher, TranscriptReady(long, Transcript("words", "en", 0.9, 240, 60), "w1"))
    short = make_job(message_id=2, duration=5)
    deliver(dispatcher, JobAdmitted(short))
    assert workers["w1"].messages[-1] == Transcribe(short)   # free again; the lost w2 gets nothing


def test_a_recording_transcribed_before_is_answered_from_memory_with_its_buttons_and_no_worker(fakes):
    workers, quota, sender, storage = fakes
    buttons = ButtonData(b"secret")
    dispatcher = Dispatcher.start(workers=workers, quota=quota, sender=sender, storage=storage, max_pending=100,
                                  max_duration_seconds=300, max_file_mb=20, buttons=buttons)
    job, resumed = make_job(message_id=1), make_job(message_id=2)
    kept = Transcript("Ask not.", "de", 0.99, 11.0, 0.0, (Segment(0.0, 2.0, "Ask not."),))
    deliver(dispatcher, AnswerFromMemory(job, kept), AnswerFromMemory(resumed, kept, status_message_id=77))
    # A status first, as for any job: a job resumed after a crash edits its answer into it, once.
    assert sender.of(PostStatus) == [PostStatus(job.key, ENGLISH_WORDING.PROCESSING, job.destination),
                                     PostStatus(resumed.key, ENGLISH_WORDING.PROCESSING, resumed.destination, 77)]
    first = sender.of(DeliverResult)[0]
    assert (first.text, first.outcome, first.report_to) == ("Ask not.", TranscriptReady(job, kept, recalled=True),
                                                            quota)
    assert first.keyboard == keyboard(buttons, job.key, job.task, kept, False, ENGLISH_WORDING.BUTTONS)
    assert all(worker.messages == [] for worker in workers.values()) and storage.messages == []


def test_a_job_whose_transcription_runs_already_is_not_answered_from_memory_too(fakes):
    workers, _, sender, _ = fakes
    dispatcher = start_dispatcher(fakes)
    job = make_job()
    deliver(dispatcher, WorkerReady("w1"), JobAdmitted(job), AnswerFromMemory(job, Transcript("a", "en", 1, 5, 0)))
    assert workers["w1"].messages == [Transcribe(job)] and sender.of(DeliverResult) == []


def test_a_job_resumed_while_it_runs_tells_a_restarted_sender_where_its_stored_status_really_is(fakes):
    """A sender restarted alone knows a stored status by its id only; the job resumed meanwhile is not queued
    again, but its destination (here a guest post) goes to the sender with that id, and nothing is posted."""
    _, _, sender, _ = fakes
    dispatcher = start_dispatcher(fakes)
    guest = dataclasses.replace(make_job(), guest_query_id="query-1")
    deliver(dispatcher, WorkerReady("w1"), JobAdmitted(guest))
    deliver(dispatcher, JobAdmitted(dataclasses.replace(guest, attempt=2), "inline-7"))
    assert sender.of(PostStatus)[-1] == PostStatus(guest.key, ENGLISH_WORDING.PROCESSING, guest.destination,
                                                   "inline-7")
    assert len(sender.of(PostStatus)) == 2
    # Without a stored status there is nothing to re-target: the first one stands.
    deliver(dispatcher, JobAdmitted(dataclasses.replace(guest, attempt=3)))
    assert len(sender.of(PostStatus)) == 2


def api_job(message_id: int):
    """A transcription API request's job (actors/api.py): its door is "api"."""
    job = make_job(user_id=API_USER_BASE + 1, message_id=message_id)
    return dataclasses.replace(job, key=dataclasses.replace(job.key, place=API_PLACE))


def start_with_two_doors(fakes, max_pending=100):
    workers, quota, sender, storage = fakes
    return Dispatcher.start(workers=workers, quota=quota, sender=sender, storage=storage, max_pending=max_pending,
                            max_duration_seconds=300, max_file_mb=20, doors=(TELEGRAM_DOOR, API_DOOR))


def run_one_worker_to_the_end(dispatcher, worker: RecordingMailbox, jobs: int) -> list:
    """Answers each job the worker is given as it is given: the order the queue hands them out in."""
    deliver(dispatcher, WorkerReady(worker.name))
    for _ in range(jobs):
        job = worker.of(Transcribe)[-1].job
        deliver(dispatcher, TranscriptReady(job, Transcript("text", "en", 0.9, 5, 1), worker.name))
    return [told.job for told in worker.of(Transcribe)]


@pytest.mark.parametrize("burst_door", ["api", "telegram"])
def test_a_burst_at_either_door_waits_behind_at_most_one_job_of_the_other_per_job_taken(fakes, burst_door):
    workers = fakes[0]
    dispatcher = start_with_two_doors(fakes)
    voices = [make_job(user_id=100 + n, message_id=n) for n in range(1, 4)]
    requests = [api_job(n) for n in range(1, 4)]
    burst, others = ([api_job(n) for n in range(10, 18)], voices) if burst_door == "api" else (
        [make_job(user_id=200 + n, message_id=n) for n in range(10, 18)], requests)
    deliver(dispatcher, *(JobAdmitted(job) for job in burst + others))   # the burst came first
    order = [job.key for job in run_one_worker_to_the_end(dispatcher, workers["w1"], len(burst) + len(others))]
    assert sorted(order, key=str) == sorted((job.key for job in burst + others), key=str)   # every job ran, once
    # The policy's bound: the k-th job of the later door (from 0) runs after at most k + 1 of the burst.
    for k, job in enumerate(others):
        assert sum(1 for key in order[:order.index(job.key)] if key in {j.key for j in burst}) <= k + 1
    # Each door's own jobs keep their order.
    assert [key for key in order if key in {j.key for j in others}] == [job.key for job in others]


def test_a_full_line_refuses_its_own_doors_next_job_and_never_the_other_doors(fakes):
    _, quota, sender, _ = fakes
    dispatcher = start_with_two_doors(fakes, max_pending=2)
    deliver(dispatcher, *(JobAdmitted(api_job(n)) for n in (1, 2, 3)), JobAdmitted(make_job(message_id=4)))
    [refused] = sender.of(RequestRefused)   # the API's third: its answer says when to try again
    assert (refused.key, refused.reason, refused.retry_after) == (api_job(3).key, "busy", BUSY_RETRY_SECONDS)
    assert quota.of(RefusedAsBusy) == [RefusedAsBusy(api_job(3))]
    # The voice took a place of its own door's line, and was told where it stands.
    assert [status.key for status in sender.of(PostStatus)][-1] == make_job(message_id=4).key
    assert sender.of(SendText) == []
