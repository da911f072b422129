"""Every message the actors exchange: small frozen dataclasses, commands in the imperative,
events in the past tense. Messages are shared between threads, not copied: keep them immutable."""
from dataclasses import dataclass
from datetime import date

from voicebot.domain import FailureReason, Job, JobKey, Transcript


# --- supervision -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Ping:
    """Answered by every actor once its on_start has run: the start-up barrier."""


@dataclass(frozen=True, slots=True)
class ChildFailed:
    """A child crashed or could not start; `actor_urn` tells a stale report from a current one."""
    name: str
    actor_urn: str
    reason: str


@dataclass(frozen=True, slots=True)
class CheckChildren:
    """The Supervisor's periodic look at children that died without calling on_failure."""


@dataclass(frozen=True, slots=True)
class WorkerLost:
    """A WhisperActor died; the Dispatcher retries or fails the job it held."""
    worker: str


# --- intake: TelegramPoller -> QuotaActor ------------------------------------------------
@dataclass(frozen=True, slots=True)
class PollNext:
    pass


@dataclass(frozen=True, slots=True)
class VoiceReceived:
    job: Job


@dataclass(frozen=True, slots=True)
class CommandReceived:
    chat_id: int
    user_id: int
    message_id: int
    command: str
    argument: str = ""


@dataclass(frozen=True, slots=True)
class TextReceived:
    chat_id: int
    user_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class UnsupportedReceived:
    chat_id: int
    user_id: int
    message_id: int


# --- admission and work: QuotaActor -> Dispatcher <-> WhisperActor -----------------------
@dataclass(frozen=True, slots=True)
class JobAdmitted:
    job: Job


@dataclass(frozen=True, slots=True)
class Transcribe:
    job: Job


@dataclass(frozen=True, slots=True)
class WorkerReady:
    worker: str


@dataclass(frozen=True, slots=True)
class TranscriptReady:
    """Told by a WhisperActor to the Dispatcher, which passes it on to the QuotaActor."""
    job: Job
    transcript: Transcript
    worker: str = ""


@dataclass(frozen=True, slots=True)
class JobFailed:
    job: Job
    reason: FailureReason
    worker: str = ""


# --- replies: anyone -> TelegramSender ---------------------------------------------------
@dataclass(frozen=True, slots=True)
class SendReply:
    chat_id: int
    text: str
    reply_to: int | None = None


@dataclass(frozen=True, slots=True)
class PostStatus:
    """A status reply to the voice message, remembered so the result can be edited into it."""
    key: JobKey
    text: str


@dataclass(frozen=True, slots=True)
class DeliverResult:
    """The job's final text: edited into its status message, or sent as a reply if there is none."""
    key: JobKey
    text: str


# --- persistence: QuotaActor -> StorageActor ---------------------------------------------
@dataclass(frozen=True, slots=True)
class RecordUsage:
    job: Job
    day: date
    status: str
    charged_seconds: float = 0.0
    transcript: Transcript | None = None


@dataclass(frozen=True, slots=True)
class LoadUsage:
    """Asked once at start: seconds charged per user on `day`."""
    day: date
