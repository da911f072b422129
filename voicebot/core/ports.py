"""The narrow interfaces the actors need from the outside world. Adapters implement them; the
bootstrap hands the adapters in; a test hands in a hand-written fake with the same methods."""
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO, Protocol

from voicebot.core.api import ApiKey
from voicebot.core.audio import AudioPiece, DecodedAudio
from voicebot.core.calls import BotCall, Destination
from voicebot.core.channels import ChannelStanding
from voicebot.core.domain import (
    BusinessConnection,
    ChatSettings,
    Incoming,
    Job,
    JobKey,
    PendingJob,
    Remembered,
    Segment,
    StoredRecording,
    Task,
    Transcript,
    UserSettings,
    UserState,
    UserSummary,
    VoiceReceived,
)


class Mailbox(Protocol):
    """Anything an actor can tell a message to: another actor's Address, a reply slot, a recording fake."""

    def tell(self, message: object) -> None: ...


class UpdateSource(Protocol):
    """Where the poller gets updates from. Failures raise TelegramError."""

    def get_updates(self, offset: int | None, timeout: int) -> list[dict]: ...

    def confirm_updates(self, offset: int) -> None: ...


class WebhookRegistry(Protocol):
    """The webhook's registration at Telegram. Failures raise TelegramError."""

    def set_webhook(self, url: str, secret_token: str, allowed_updates: Sequence[str]) -> None: ...

    def webhook_url(self) -> str: ...

    def confirm_updates(self, offset: int) -> None: ...


class BotCalls(Protocol):
    """The Bot API calls the outbox makes, each one value of core.calls. Failures raise TelegramError."""

    def perform(self, call: BotCall) -> int | str | None:
        """Makes the call: the id of the message it posted (a guest post's inline_message_id), None for one
        that posts none."""

    def is_chat_admin(self, chat_id: int, user_id: int) -> bool: ...

    def channel_standing(self, channel: str, user_id: int) -> tuple[int | None, ChannelStanding]: ...

    def business_connection(self, connection_id: str) -> BusinessConnection | None:
        """The connection as Telegram has it now; None: it has no such connection."""


class AudioSource(Protocol):
    """Where a recording's bytes come from: the Bot API's file download."""

    def fetch(self, file_id: str, max_bytes: int) -> AbstractContextManager[Path | BinaryIO]:
        """The recording as a file on disk while the block runs, named or already open (a download is deleted
        after it)."""


class Transcriber(Protocol):
    """One loaded speech model. Failures the user should hear about raise JobError."""

    def load(self) -> None: ...

    def warm_up(self) -> None: ...

    def transcribe(self, audio: Path | bytes, language: str | None = None,
                   on_segment: Callable[[Segment], None] | None = None,
                   max_seconds: float | None = None, task: Task = Task.TRANSCRIBE,
                   vocabulary: str | None = None, words: bool = False) -> Transcript:
        """`words`: each segment's words timed too (Segment.words)."""

    # A long recording split over idle WhisperActors: the one that splits it decodes it, cuts it at pauses,
    # pins the language, and each transcribes a piece by the same deadline.

    def deadline(self) -> float:
        """When a job starting now is over its time (time.monotonic()), for all its pieces alike."""

    def decode(self, audio: Path | bytes, max_seconds: float | None, deadline: float) -> DecodedAudio:
        """The recording, up to the global limit or `max_seconds` (JobError OVER_QUOTA past it)."""

    def split(self, audio: DecodedAudio, pieces: int) -> list[AudioPiece]:
        """Up to `pieces` parts of about equal length, cut at pauses, in order; one when there is none."""

    def language_of(self, audio: DecodedAudio) -> tuple[str, float]:
        """The language detected on the first window, and its probability."""

    def transcribe_piece(self, piece: AudioPiece, language: str | None, deadline: float,
                         on_segment: Callable[[Segment], None] | None = None, task: Task = Task.TRANSCRIBE,
                         vocabulary: str | None = None, words: bool = False) -> Transcript:
        """Times in the whole recording's; a piece without speech is an empty transcript."""

    def close(self) -> None: ...


class Quarantine(Protocol):
    """Transcribes a recording under suspicion (its job was under way when the process died) in a process of its
    own, so that a recording that kills the process it runs in takes down nothing else. JobError(WORKER_CRASHED)
    once it did that every time it was tried."""

    def transcribe(self, audio: Path | BinaryIO, language: str | None = None,
                   on_segment: Callable[[Segment], None] | None = None, max_seconds: float | None = None,
                   task: Task = Task.TRANSCRIBE, vocabulary: str | None = None, words: bool = False) -> Transcript: ...


class Repository(Protocol):
    """What the StorageActor reads and writes. Failures raise StorageError."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    def batch(self) -> AbstractContextManager: ...

    def store_intake(self, intake: list[VoiceReceived], next_offset: int | None) -> set[JobKey]: ...

    def saved_offset(self) -> int | None: ...

    def unfinished_jobs(self) -> list[PendingJob]: ...

    def job_started(self, key: JobKey) -> None: ...

    def status_posted(self, key: JobKey, message_id: int | str) -> None: ...

    def comments_linked(self, key: JobKey, comments: Destination) -> bool: ...

    def switched_off(self, chat_id: int) -> bool: ...

    def job_finished(self, key: JobKey) -> None: ...

    def record_usage(self, job: Job, day: date, status: str, charged_seconds: float,
                     transcript: Transcript | None, memory_key: str | None = None) -> None: ...

    def recording(self, key: JobKey) -> StoredRecording | None: ...

    def recall(self, memory_key: str) -> Remembered | None: ...

    def load_users(self, day: date) -> dict[int, UserState]: ...

    def save_user_settings(self, user_id: int, settings: UserSettings) -> None: ...

    def save_chat_settings(self, chat_id: int, settings: ChatSettings) -> None: ...

    def chat_settings(self) -> dict[int, ChatSettings]: ...

    def save_business_connections(self, connections: list[BusinessConnection]) -> None: ...

    def business_connections(self) -> list[BusinessConnection]: ...

    def user_summary(self, user_id: int, day: date) -> UserSummary | None: ...

    def forget(self, user_id: int, day: date) -> int: ...

    def prune(self, before: date) -> int: ...


class BrokerLink(Protocol):
    """The broker between the bot node and the worker nodes; payloads are JSON-ready dicts.
    Failures raise BrokerError."""

    @property
    def address(self) -> str:
        """The broker's URL without its password, for log lines."""
        ...

    def consume_jobs(self, handler: Callable[[dict], None], threads: int, time_limit_seconds: float) -> None: ...

    def close(self) -> None: ...

    def send_job(self, payload: dict) -> None: ...

    def send_event(self, payload: dict, max_age_seconds: float | None = None) -> None: ...

    def consume_events(self, handler: Callable[[dict], None]) -> None: ...

    def stop_consuming(self, grace_seconds: float) -> None: ...


class ApiKeyBook(Protocol):
    """The transcription API's keys, as the HTTP server checks each request's. Failures raise StorageError."""

    def find(self, secret: str) -> ApiKey | None:
        """The key in use whose secret this is; None: no such key, or it was revoked."""


class WebhookEndpoint(Protocol):
    """The HTTP server Telegram POSTs updates to. `receive(incoming)` runs on the request's thread with
    what the update means (None: nothing for the bot) and returns the status to answer."""

    def start(self, receive: Callable[[Incoming | None], HTTPStatus]) -> None: ...

    def stop(self) -> None: ...


class Metrics(Protocol):
    """What the bot measures, in its own words; the metrics adapter turns each into Prometheus series."""

    def queue_changed(self, waiting: int, capacity: int) -> None: ...

    def worker_ready(self, worker: str, ready: bool) -> None: ...

    def job_finished(self, outcome: str) -> None: ...

    def job_refused(self, reason: str) -> None: ...

    def job_answered(self, seconds: float, door: str = "telegram") -> None:
        """From the recording's admission to its answer going out to the sender: what its user waited. `door`:
        how the job came in, "telegram" or "api" (the transcription API)."""
        ...

    def job_waited(self, seconds: float, door: str) -> None:
        """From a job's admission to a worker taking it: its wait in the queue, by door (the fairness figure)."""

    def api_request(self, key_name: str, status: str) -> None:
        """An API request was answered: "done", or why not (a refusal's or failure's reason), by its key's name."""

    def answered_from_memory(self) -> None:
        """A recording transcribed before (a forwarded copy) was answered with its kept transcript, no model."""

    def stars_earned(self, stars: int) -> None:
        """A payment in Telegram Stars was credited (once, however often its update came)."""

    def stars_refunded(self, stars: int) -> None:
        """A payment's Stars were given back."""

    def precheckout_declined(self, reason: str) -> None:
        """A pre-checkout query was declined (core.billing.Decline)."""

    def model_loaded(self, seconds: float) -> None: ...

    def transcribed(self, audio_seconds: float, processing_seconds: float) -> None: ...

    def polled(self) -> None: ...

    def webhook_serving(self, serving: bool) -> None: ...

    def webhook_answered(self, status: int) -> None: ...

    def database_operation(self, operation: str) -> AbstractContextManager: ...

    def bot_api_called(self, method: str, seconds: float, error: str | None = None) -> None:
        """`error`: None for success, else the HTTP status of the failure ("none" when no answer came)."""

    def actor_restarted(self, actor: str) -> None: ...


class Fence(Protocol):
    """Whether this node still leads, and so may act: deliver, charge, confirm updates. A deposed leader's
    fence is down at once, before any other node can take over."""

    @property
    def term(self) -> int:
        """The leadership term this node holds, which its database writes check."""

    def holds(self) -> bool: ...


class NoMetrics:
    """Measures nothing: for a collaborator built without a Metrics, as in most unit tests."""

    def queue_changed(self, waiting: int, capacity: int) -> None:
        pass

    def worker_ready(self, worker: str, ready: bool) -> None:
        pass

    def job_finished(self, outcome: str) -> None:
        pass

    def job_refused(self, reason: str) -> None:
        pass

    def job_answered(self, seconds: float, door: str = "telegram") -> None:
        pass

    def job_waited(self, seconds: float, door: str) -> None:
        pass

    def api_request(self, key_name: str, status: str) -> None:
        pass

    def answered_from_memory(self) -> None:
        pass

    def stars_earned(self, stars: int) -> None:
        pass

    def stars_refunded(self, stars: int) -> None:
        pass

    def precheckout_declined(self, reason: str) -> None:
        pass

    def model_loaded(self, seconds: float) -> None:
        pass

    def transcribed(self, audio_seconds: float, processing_seconds: float) -> None:
        pass

    def polled(self) -> None:
        pass

    def webhook_serving(self, serving: bool) -> None:
        pass

    def webhook_answered(self, status: int) -> None:
        pass

    @contextmanager
    def database_operation(self, operation: str) -> Iterator[None]:
        yield

    def bot_api_called(self, method: str, seconds: float, error: str | None = None) -> None:
        pass

    def actor_restarted(self, actor: str) -> None:
        pass


NO_METRICS = NoMetrics()
