"""ApiDoor: the transcription API's side of the actors (core.api). A request is a job like a voice: its upload is
the recording (Uploads opens it where a WhisperActor would download one), the QuotaActor admits it to its key's
quota (AdmitRequest), the Dispatcher queues it beside the Telegram users' jobs, and a WhisperActor transcribes
it. Whatever those say of an API job (its refusal, its status, the text as it is heard, its result) they tell
the sender as they see it, DoorRouting, which sends it here by the job's key rather than to the TelegramSender.
The door answers the request's ApiReplies with it, and reports the result delivered, so that the QuotaActor
charges and records it as it does a voice's.

API jobs run on the bot node's own WhisperActors: a worker node fetches a recording by its Telegram file id, and
an upload has none (shipping it through the broker would be a second file transport); a bot node with a broker
runs no model, so it does not serve the API."""
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from actors.base import SupervisedActor
from actors.messages import (
    AdmitRequest,
    AskTranscription,
    DeliverResult,
    JobFailed,
    PostStatus,
    QueueLost,
    RefusedAsBusy,
    RequestOverdue,
    RequestRefused,
    ResultDelivered,
    ShowProgress,
    TranscriptReady,
    UpdateStatus,
)
from voicebot.core.api import Answer, ApiReplies, Failed, Refused, TranscriptionRequest
from voicebot.core.domain import FailureReason, Job, JobKey, Media, MediaKind, Segment, Transcript
from voicebot.core.errors import JobError
from voicebot.core.ports import NO_METRICS, AudioSource, Mailbox, Metrics
from voicebot.core.replies import Languages
from voicebot.core.text import vocabulary_words

log = logging.getLogger(__name__)

API_PLACE = "api"   # an API job's key's place: its chat is its key's user, its message the request's number
TELEGRAM_DOOR, API_DOOR = "telegram", "api"
STOPPING_RETRY_SECONDS = 30.0   # a request whose job was lost (a restart, a stop): asked again once it is back
UPLOAD_PREFIX = "upload:"       # an upload's file id: no Telegram file id has a colon (they are URL-safe base64)


def is_api_job(key: JobKey) -> bool:
    return key.place == API_PLACE


def door_of(job: Job) -> str:
    """The door a job came in by: "api" or "telegram", as its wait is measured and its turn in the queue taken."""
    return API_DOOR if is_api_job(job.key) else TELEGRAM_DOOR


class DoorRouting:
    """The sender as the QuotaActor, the Dispatcher and the WhisperActors see it: what they say of an API job (by
    its key) goes to the ApiDoor, everything else to the TelegramSender. The one place that tells the doors apart
    on the way out; it routes on the caller's thread, so a request's live text never waits behind Bot API calls."""

    def __init__(self, telegram: Mailbox, api: Mailbox):
        self._telegram = telegram
        self._api = api

    def tell(self, message: object) -> None:
        key = getattr(message, "key", None)
        (self._api if isinstance(key, JobKey) and is_api_job(key) else self._telegram).tell(message)


class Uploads:
    """The WhisperActors' audio source: an API request's upload is opened where it lies, any other recording is
    downloaded from Telegram. Only a file the ApiDoor offered, and has not withdrawn, is opened so: no job's file
    id is taken for a path on the door's word alone. An upload's file id says it is one (UPLOAD_PREFIX), so one
    withdrawn (its request answered, its file deleted) fails its job rather than being asked of Telegram."""

    def __init__(self, telegram: AudioSource):
        self._telegram = telegram
        self._offered: set[str] = set()
        self._lock = threading.Lock()   # offered on the door's thread, fetched on the WhisperActors'

    def offer(self, path: Path) -> str:
        """The file id a job of this upload carries."""
        file_id = UPLOAD_PREFIX + str(path)
        with self._lock:
            self._offered.add(file_id)
        return file_id

    def withdraw(self, file_id: str) -> None:
        with self._lock:
            self._offered.discard(file_id)

    def fetch(self, file_id: str, max_bytes: int) -> contextlib.AbstractContextManager[Path]:
        if not file_id.startswith(UPLOAD_PREFIX):
            return self._telegram.fetch(file_id, max_bytes)
        with self._lock:
            offered = file_id in self._offered
        if not offered:
            raise JobError(FailureReason.BUSY, "its request was answered already, and its upload deleted")
        return contextlib.nullcontext(Path(file_id.removeprefix(UPLOAD_PREFIX)))


class ApiDoor(SupervisedActor):
    """Turns each request into a job (AskTranscription -> AdmitRequest) and answers it once its job ends. A
    program sees no status messages: its answer is the HTTP response, and with stream=true the segments as they
    are heard. What the door answers is measured by key name (Metrics.api_request), never by key.

    Every request is answered, whatever is lost on the way: one whose job has not ended within `deadline_seconds`
    is told to come back (503, Retry-After), as are all those waiting when the door itself fails; a result that
    comes after its request was answered is reported undelivered, so it is not charged."""

    def __init__(self, *, quota: Mailbox, uploads: Uploads, deadline_seconds: float,
                 supervisor: Mailbox | None = None, name: str = "api", metrics: Metrics = NO_METRICS,
                 languages: Languages | None = None, numbers: Callable[[], int] = lambda: time.time_ns() // 1000):
        """`deadline_seconds`: the longest a request's job may take, its wait in the queue included
        (answer_deadline). `numbers`: where the requests' numbers start (their keys' message ids), past any a
        door before this one gave (the QuotaActor remembers settled keys, and a key must not be settled twice)."""
        super().__init__(name, supervisor)
        self._quota = quota
        self._uploads = uploads
        self._deadline_seconds = deadline_seconds
        self._metrics = metrics
        self._words = (languages or Languages())[None]
        self._last_number = numbers()
        self._waiting: dict[JobKey, _Waiting] = {}

    def handle(self, message):
        match message:
            case AskTranscription(request, replies):
                self._ask(request, replies)
            case ShowProgress(key, _, segment) if segment is not None and key in self._waiting:
                self._heard(self._waiting[key], segment)
            case DeliverResult(key, text, outcome=TranscriptReady() | JobFailed() as outcome, report_to=report_to):
                # Not delivered when its request was answered already (its job was lost with the Dispatcher's
                # restart, and ran on): its share of the day is let go, and nothing is charged.
                delivered = self._finish(key, _answer_of(outcome, text))
                if report_to is not None:
                    report_to.tell(ResultDelivered(outcome, delivered))
            case QueueLost():
                self._queue_lost()
            case RequestOverdue(key) if key in self._waiting:
                log.warning("API request %s of key %s: no answer within %.0f s; told to come back", key.message_id,
                            self._waiting[key].request.key.name, self._deadline_seconds)
                self._finish(key, self._come_back())
            case RequestOverdue():
                pass   # answered meanwhile
            case RequestRefused(key, reason, text, retry_after):
                self._finish(key, Refused(reason, text, retry_after))
            case PostStatus() | UpdateStatus() | ShowProgress() | DeliverResult():
                pass   # a request's status is its open HTTP request
            case _:
                return NotImplemented

    def on_stop(self) -> None:
        """Requests still waiting are told to come back: the jobs of a stopped bot are not resumed."""
        self._answer_all()

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        """The requests waiting are told to come back: their jobs' results will reach a door that knows them not
        (reported undelivered, so not charged)."""
        self._answer_all()
        super().on_failure(exception_type, exception_value, traceback)

    def _answer_all(self) -> None:
        for key in list(self._waiting):
            self._finish(key, self._come_back())

    def _ask(self, request: TranscriptionRequest, replies: ApiReplies) -> None:
        self._last_number += 1
        key = JobKey(request.key.user_id, self._last_number, API_PLACE)
        file_id = self._uploads.offer(request.audio)
        # Its stated length is reported as a voice reports its duration: its share of the key's day is held by it,
        # and one too long is refused before any work.
        job = Job(key, request.key.user_id,
                  Media(MediaKind.DOCUMENT, file_id, file_size=request.size, file_name=request.file_name,
                        duration=None if request.seconds is None else math.ceil(request.seconds)),
                  language=request.language, task=request.task,
                  vocabulary=vocabulary_words(request.prompt or "") or None, words=request.words)
        self._waiting[key] = _Waiting(request, replies, job,
                                      self.tell_self_later(RequestOverdue(key), self._deadline_seconds))
        log.info("API request %s of key %s: %d bytes, %s", key.message_id, request.key.name, request.size,
                 request.task.value)
        self._quota.tell(AdmitRequest(job))

    def _queue_lost(self) -> None:
        """Every request waiting is told to come back, and its job, if it was admitted, lets go of its share of the
        key's day (recorded as refused busy, as the QuotaActor records a job the queue had no place for)."""
        for key, waiting in list(self._waiting.items()):
            log.warning("API request %s of key %s: lost with a restart; told to come back",
                        key.message_id, waiting.request.key.name)
            self._finish(key, self._come_back())
            self._quota.tell(RefusedAsBusy(waiting.job))

    def _come_back(self) -> Refused:
        """The answer of a request whose job is lost: busy, to be asked again (503, Retry-After)."""
        return Refused(FailureReason.BUSY.value, self._words.BUSY, STOPPING_RETRY_SECONDS)

    def _finish(self, key: JobKey, answer: Answer) -> bool:
        """Answers the request of `key`; whether the answer went to its client (False: it was answered already,
        or its client is gone)."""
        waiting = self._waiting.pop(key, None)
        if waiting is None:
            log.info("API request %s: answered already; a second answer dropped", key.message_id)
            return False
        waiting.overdue.cancel()
        self._uploads.withdraw(waiting.job.media.file_id)
        status = _status_of(answer)
        self._metrics.api_request(waiting.request.key.name, status)
        log.info("API request %s of key %s: %s", key.message_id, waiting.request.key.name, status)
        if isinstance(answer, Transcript):
            # What was not heard as it went: a long recording split over idle workers is heard from its first
            # piece only. So the segments heard add up to the whole text, as a stream's reader joins them.
            for segment in answer.segments:
                if waiting.heard_until is None or segment.start >= waiting.heard_until:
                    self._heard(waiting, segment)
        went = self._reply(waiting, lambda: waiting.replies.finished(answer))
        if not went:
            log.warning("API request %s of key %s: its client is gone; the answer is not delivered", key.message_id,
                        waiting.request.key.name)
        return went

    def _heard(self, waiting: "_Waiting", segment: Segment) -> None:
        waiting.heard_until = segment.end
        self._reply(waiting, lambda: waiting.replies.heard(segment))

    def _reply(self, waiting: "_Waiting", reply: Callable[[], bool | None]) -> bool:
        """A reply that fails (the HTTP side's error) costs its request, never the door: it did not go."""
        try:
            return bool(reply())
        except Exception:
            log.exception("API request of key %s: its reply failed", waiting.request.key.name)
            return False


@dataclass(slots=True)
class _Waiting:
    request: TranscriptionRequest
    replies: ApiReplies
    job: Job
    overdue: threading.Timer           # the RequestOverdue reminder, cancelled once it is answered
    heard_until: float | None = None   # where the last segment heard ends (None: none heard yet)


def _answer_of(outcome: TranscriptReady | JobFailed, text: str) -> Answer:
    """What a job's outcome answers its request: its transcript, or why it failed (`text`, as a user reads it). A
    recording without speech is an empty transcript, as OpenAI answers it, not a failure."""
    match outcome:
        case TranscriptReady(_, transcript):
            return transcript
        case JobFailed(job, FailureReason.NO_SPEECH):
            return Transcript("", job.language or "", 0.0, 0.0, 0.0)
        case JobFailed(_, reason):
            return Failed(reason, text)


def _status_of(answer: Answer) -> str:
    match answer:
        case Refused(reason):
            return reason
        case Failed(reason):
            return reason.value
    return "done"


def answer_deadline(job_seconds: float, max_pending: int, workers: int) -> float:
    """The longest an API request waits for its answer: each job ahead of it, at most both doors' lines full
    (queue.max_pending each), and its own take at most `job_seconds` each, `workers` at a time. Generous: it
    answers a request whose job was lost, never one merely slow."""
    return job_seconds * (math.ceil((2 * max_pending + 1) / max(1, workers)) + 1)


class RequestDoor:
    """The TranscriptionDoor the HTTP server hands each request to, on its own thread: told to the ApiDoor at once,
    so the server's loop never waits on an actor."""

    def __init__(self, door: Mailbox):
        self._door = door

    def submit(self, request: TranscriptionRequest, replies: ApiReplies) -> None:
        self._door.tell(AskTranscription(request, replies))
