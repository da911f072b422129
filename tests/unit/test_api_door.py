"""The transcription API's door on the actors' side: a request becomes a job admitted to its key's quota, and what
the QuotaActor, the Dispatcher and the WhisperActors say of that job answers the request, not a Telegram chat."""
import contextlib
import dataclasses
from pathlib import Path

import pytest

from actors.api import STOPPING_RETRY_SECONDS, ApiDoor, DoorRouting, Uploads, answer_deadline, is_api_job
from actors.messages import (
    AdmitRequest,
    AskTranscription,
    CrashOnNextMessage,
    DeliverResult,
    JobAdmitted,
    JobFailed,
    PostStatus,
    QueueLost,
    RecordUsage,
    RefusedAsBusy,
    RequestOverdue,
    RequestRefused,
    ResultDelivered,
    ShowProgress,
    TranscriptReady,
    UpdateStatus,
    VoiceReceived,
)
from actors.quota import QuotaActor, QuotaRules
from voicebot.app.bootstrap import BotKind, bot_groups
from voicebot.app.config import Settings
from voicebot.app.node import StartupError
from voicebot.core.api import ApiKey, Failed, Refused, TranscriptionRequest
from voicebot.core.calls import SendText
from voicebot.core.domain import FailureReason, Segment, Task, Transcript, UserSettings, UserState
from voicebot.core.errors import JobError
from voicebot.core.replies import Wording

from helpers import FakeTime, make_job
from mailbox import RecordingMailbox, deliver, wait_until

KEY = ApiKey(3, "home-assistant")
RULES = QuotaRules(daily_seconds=60, rate_limit_seconds=10, max_duration_seconds=300, max_file_mb=20)


class RecordedReplies:
    """What the HTTP side of one request was told: segments heard, then its one answer; `client_waits`: whether
    its client is still there to take it."""

    def __init__(self, client_waits: bool = True):
        self.segments: list[Segment] = []
        self.answers: list = []
        self.client_waits = client_waits

    def heard(self, segment: Segment) -> None:
        self.segments.append(segment)

    def finished(self, answer) -> bool:
        self.answers.append(answer)
        return self.client_waits


class TelegramDownloads:
    """The bot's downloads: a recording's file as Telegram gives it by its file id."""

    def fetch(self, file_id: str, max_bytes: int):
        return contextlib.nullcontext(f"downloaded {file_id}")


class RecordingMetrics:
    def __init__(self):
        self.requests: list[tuple[str, str]] = []

    def api_request(self, key_name: str, status: str) -> None:
        self.requests.append((key_name, status))


@pytest.fixture
def door():
    quota, metrics = RecordingMailbox("quota"), RecordingMetrics()
    uploads = Uploads(TelegramDownloads())
    ref = ApiDoor.start(quota=quota, uploads=uploads, deadline_seconds=3600, metrics=metrics, numbers=lambda: 500)
    yield ref, quota, uploads, metrics
    if ref.is_alive():
        ref.stop()


def ask(door_ref, quota, tmp_path: Path, client_waits: bool = True, **fields) -> tuple[RecordedReplies, object]:
    audio = tmp_path / "upload.ogg"
    audio.write_bytes(b"OggS")
    replies = RecordedReplies(client_waits)
    request = TranscriptionRequest(KEY, audio, 4, seconds=10.4, **fields)
    deliver(door_ref, AskTranscription(request, replies))
    return replies, quota.of(AdmitRequest)[-1].job


def test_a_request_becomes_a_job_of_its_key_as_the_program_asked_for_it(door, tmp_path):
    ref, quota, uploads, _ = door
    _, job = ask(ref, quota, tmp_path, task=Task.TRANSLATE, language="de", prompt="Kubernetes, Grafana", words=True)
    assert is_api_job(job.key) and job.user_id == KEY.user_id == job.chat_id and job.key.message_id == 501
    assert (job.language, job.task, job.vocabulary, job.words) == ("de", Task.TRANSLATE, "Kubernetes, Grafana", True)
    # Its length as its header states it, as a voice's reported duration: what its share of the day is held by.
    assert (job.media.file_size, job.media.duration) == (4, 11)
    # Its upload is opened where it lies; a file id the door never offered is downloaded as ever.
    with uploads.fetch(job.media.file_id, 1000) as audio:
        assert audio == tmp_path / "upload.ogg"
    with uploads.fetch("AwACAgIAAxkBAAIB", 1000) as audio:
        assert audio == "downloaded AwACAgIAAxkBAAIB"
    _, second = ask(ref, quota, tmp_path)
    assert second.key.message_id == 502


def test_the_text_as_it_is_heard_then_the_transcript_answer_the_request_and_it_is_charged(door, tmp_path):
    ref, quota, uploads, metrics = door
    replies, job = ask(ref, quota, tmp_path)
    # The first segment heard as it went; the second not (a long recording split over idle workers is heard from
    # its first piece only): it comes with the answer, so that the segments heard make the whole text.
    heard, rest = Segment(0.0, 2.0, " And so, my fellow Americans"), Segment(2.0, 4.0, " ask not")
    transcript = Transcript("And so, my fellow Americans ask not", "en", 0.98, 4.0, 0.5, (heard, rest))
    ready = TranscriptReady(job, transcript, "w1")
    deliver(ref, PostStatus(job.key, "Processing…", job.destination), UpdateStatus(job.key, "Processing…"),
            ShowProgress(job.key, "…", heard), DeliverResult(job.key, "text", outcome=ready, report_to=quota))
    assert replies.segments == [heard, rest] and replies.answers == [transcript]
    assert quota.of(ResultDelivered) == [ResultDelivered(ready, delivered=True)]   # settled: charged, recorded
    assert metrics.requests == [("home-assistant", "done")]
    # Withdrawn: no longer opened, nor asked of Telegram as if its path were a file id.
    with pytest.raises(JobError):
        uploads.fetch(job.media.file_id, 1000)


def test_a_recording_without_speech_is_an_empty_transcript_and_a_failure_is_said_in_words(door, tmp_path):
    ref, quota, _, metrics = door
    silent, silent_job = ask(ref, quota, tmp_path, language="en")
    broken, broken_job = ask(ref, quota, tmp_path)
    deliver(ref, DeliverResult(silent_job.key, "No speech.", outcome=JobFailed(silent_job, FailureReason.NO_SPEECH),
                               report_to=quota),
            DeliverResult(broken_job.key, "I could not read this file as audio.",
                          outcome=JobFailed(broken_job, FailureReason.UNREADABLE_AUDIO), report_to=quota))
    assert [answer.text for answer in silent.answers] == [""] and silent.answers[0].language == "en"
    assert broken.answers == [Failed(FailureReason.UNREADABLE_AUDIO, "I could not read this file as audio.")]
    assert metrics.requests == [("home-assistant", "done"), ("home-assistant", "unreadable_audio")]
    assert len(quota.of(ResultDelivered)) == 2   # both settled: neither charged (failures are not)


def test_a_refusal_answers_the_request_once(door, tmp_path):
    ref, quota, _, metrics = door
    replies, job = ask(ref, quota, tmp_path)
    deliver(ref, RequestRefused(job.key, "quota", "You have 0 s of your daily 1 min left.", 3600.0),
            RequestRefused(job.key, "quota", "again", 3600.0))
    assert replies.answers == [Refused("quota", "You have 0 s of your daily 1 min left.", 3600.0)]
    assert metrics.requests == [("home-assistant", "quota")]


def test_requests_whose_jobs_the_dispatcher_lost_are_told_to_come_back_and_nothing_is_charged(door, tmp_path):
    ref, quota, _, _ = door
    replies, job = ask(ref, quota, tmp_path)
    deliver(ref, QueueLost())
    [answer] = replies.answers
    assert (answer.reason, answer.retry_after) == ("busy", STOPPING_RETRY_SECONDS)
    assert quota.of(RefusedAsBusy) == [RefusedAsBusy(job)]   # its share of the key's day let go
    # Its job ran on, and its result comes after all: not delivered, so not charged.
    ready = TranscriptReady(job, Transcript("late", "en", 0.9, 2.0, 0.5), "w1")
    deliver(ref, DeliverResult(job.key, "late", outcome=ready, report_to=quota))
    assert replies.answers == [answer] and quota.of(ResultDelivered) == [ResultDelivered(ready, delivered=False)]


def test_what_is_said_of_an_api_job_goes_to_the_door_and_everything_else_to_telegram():
    telegram, api = RecordingMailbox("sender"), RecordingMailbox("api")
    routing = DoorRouting(telegram, api)
    voice = make_job()
    request = dataclasses.replace(make_job(), key=dataclasses.replace(voice.key, place="api"))
    for message in (PostStatus(voice.key, "…", voice.destination), ShowProgress(request.key, "…"),
                    RequestRefused(request.key, "busy", "Busy."), SendText(voice.destination, "hi"),
                    UpdateStatus(voice.key, "…")):
        routing.tell(message)
    assert [type(m) for m in api.messages] == [ShowProgress, RequestRefused]
    assert [type(m) for m in telegram.messages] == [PostStatus, SendText, UpdateStatus]


@pytest.fixture
def quota_fakes():
    return RecordingMailbox("dispatcher"), RecordingMailbox("sender"), RecordingMailbox("storage"), FakeTime()


def start_quota(fakes, users=()):
    dispatcher, sender, storage, time = fakes
    return QuotaActor.start(rules=RULES, dispatcher=dispatcher, sender=sender, storage=storage,
                            users={state.user_id: state for state in users}, now=time.now,
                            clock=lambda: time.monotonic)


def api_job(message_id: int, file_size: int = 10_000):
    job = make_job(user_id=KEY.user_id, message_id=message_id, duration=11, file_size=file_size)
    return dataclasses.replace(job, key=dataclasses.replace(job.key, place="api"), language="de")


def test_api_requests_have_no_rate_window_and_keep_the_language_they_asked_for(quota_fakes):
    dispatcher, sender, _, _ = quota_fakes
    quota = start_quota(quota_fakes)
    deliver(quota, *(AdmitRequest(api_job(n)) for n in (1, 2, 3)))
    admitted = [message.job for message in dispatcher.of(JobAdmitted)]
    assert [job.key.message_id for job in admitted] == [1, 2, 3] and {job.language for job in admitted} == {"de"}
    # A Telegram user's second voice within the window is refused as ever.
    deliver(quota, VoiceReceived(make_job(message_id=4)), VoiceReceived(make_job(message_id=5)))
    assert len(dispatcher.of(JobAdmitted)) == 4 and len(sender.of(SendText)) == 1


def test_a_key_over_its_quota_is_refused_with_when_to_come_back_and_nothing_is_recorded(quota_fakes):
    dispatcher, sender, storage, time = quota_fakes
    quota = start_quota(quota_fakes, users=[UserState(KEY.user_id, UserSettings(daily_seconds=60), 60.0)])
    time.wall = time.wall.replace(hour=23, minute=30)
    deliver(quota, AdmitRequest(api_job(1)))
    assert dispatcher.messages == [] and sender.of(SendText) == []
    [refusal] = sender.of(RequestRefused)
    assert (refusal.key, refusal.reason, refusal.retry_after) == (api_job(1).key, "quota", 1800.0)
    assert refusal.text == Wording().quota_exceeded(0, 60, 11, time.wall)
    assert storage.of(RecordUsage) == []   # not charged, and no usage row for a request never taken


def test_a_file_over_the_limit_is_refused_without_a_time_to_come_back(quota_fakes):
    _, sender, _, _ = quota_fakes
    deliver(start_quota(quota_fakes), AdmitRequest(api_job(1, file_size=21 * 1024 * 1024)))
    [refusal] = sender.of(RequestRefused)
    assert (refusal.reason, refusal.retry_after) == ("too_big", None)


def test_a_bot_node_with_worker_nodes_does_not_serve_the_api_and_says_so_in_one_line():
    settings = Settings().replace(api={"listen": "127.0.0.1:8090"}, broker={"url": "redis://127.0.0.1:6379/0"},
                                  database={"url": "postgresql://voicebot@db/voicebot"})
    with pytest.raises(StartupError) as refused:
        BotKind().check(settings)
    assert "api.listen" in str(refused.value) and "broker.url" in str(refused.value)
    assert "\n" not in str(refused.value)
    BotKind().check(settings.replace(broker={"url": ""}))   # its own workers transcribe: served


def test_a_door_that_fails_tells_its_waiting_requests_to_come_back(door, tmp_path):
    ref, quota, _, metrics = door
    replies, job = ask(ref, quota, tmp_path)
    ref.tell(CrashOnNextMessage())
    ref.tell(PostStatus(job.key, "…", job.destination))   # it fails handling this one
    assert wait_until(lambda: replies.answers, timeout=30)
    [answer] = replies.answers
    assert (answer.reason, answer.retry_after) == ("busy", STOPPING_RETRY_SECONDS)
    assert metrics.requests == [("home-assistant", "busy")]


def test_a_request_past_its_deadline_is_told_to_come_back_and_its_late_result_is_not_charged(tmp_path):
    quota, uploads = RecordingMailbox("quota"), Uploads(TelegramDownloads())
    ref = ApiDoor.start(quota=quota, uploads=uploads, deadline_seconds=0.05, numbers=lambda: 500)
    try:
        replies, job = ask(ref, quota, tmp_path)   # its job lost on the way: nothing ever comes of it
        assert wait_until(lambda: replies.answers, timeout=30)
        [answer] = replies.answers
        assert (answer.reason, answer.retry_after) == ("busy", STOPPING_RETRY_SECONDS)
        ready = TranscriptReady(job, Transcript("late", "en", 0.9, 2.0, 0.5), "w1")
        deliver(ref, RequestOverdue(job.key), DeliverResult(job.key, "late", outcome=ready, report_to=quota))
        assert replies.answers == [answer] and quota.of(ResultDelivered) == [ResultDelivered(ready, delivered=False)]
    finally:
        ref.stop()


def test_the_deadline_leaves_room_for_every_job_that_may_be_ahead():
    # 2 workers, 100 waiting at each door, 120 s a job: 201 jobs ahead take at most 101 turns, its own one more.
    assert answer_deadline(120, 100, 2) == 120 * 102


def test_an_answer_whose_client_has_gone_is_not_delivered_so_not_charged(door, tmp_path):
    ref, quota, _, _ = door
    replies, job = ask(ref, quota, tmp_path, client_waits=False)
    ready = TranscriptReady(job, Transcript("nobody hears this", "en", 0.9, 2.0, 0.5), "w1")
    deliver(ref, DeliverResult(job.key, "text", outcome=ready, report_to=quota))
    assert quota.of(ResultDelivered) == [ResultDelivered(ready, delivered=False)]


def test_a_restarted_quota_actor_has_the_door_answer_the_requests_its_mailbox_held():
    door = RecordingMailbox("api")
    groups = bot_groups(Settings().replace(api={"listen": "127.0.0.1:8090"}), telegram=TelegramDownloads(),
                        transcribers=None, supervisor=RecordingMailbox("supervisor"), metrics=RecordingMetrics(),
                        link=None, languages=None, door=door)
    [quota_spec] = [spec for group in groups for spec in group if spec.name == "quota"]
    quota_spec.on_restart()
    assert door.of(QueueLost) == [QueueLost()]
