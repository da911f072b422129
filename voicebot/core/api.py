"""The transcription API's door (an OpenAI-compatible HTTP API beside the bot), in the project's own words: who
calls it (an operator's key), what a call asks for, and what it is answered with. The HTTP adapter turns
requests into these and these into OpenAI's shapes; the actors treat a request as a job like a voice, admitted
by the QuotaActor, queued with the Telegram users' jobs and transcribed by the same workers."""
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from voicebot.core.domain import FailureReason, Segment, Task, Transcript

# An API key is a user of its own in the usage ledger: its id is this plus the key's number, far above any
# Telegram user's id (at most 52 significant bits) and positive, so never a channel's.
API_USER_BASE = 1 << 60


def api_user_id(key_id: int) -> int:
    return API_USER_BASE + key_id


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key the operator created (`voicebot api key create NAME`): only its name is ever shown or measured,
    never the key itself, which is stored hashed."""
    key_id: int
    name: str

    @property
    def user_id(self) -> int:
        return api_user_id(self.key_id)


@dataclass(frozen=True, slots=True)
class TranscriptionRequest:
    """One POST to /v1/audio/transcriptions or /v1/audio/translations, its file already on disk (`audio`, the
    adapter's to delete once it answered)."""
    key: ApiKey
    audio: Path
    size: int                          # the file's bytes
    task: Task = Task.TRANSCRIBE
    language: str | None = None        # ISO-639-1, as OpenAI's `language`; None: detect
    prompt: str | None = None          # OpenAI's `prompt`: names and terms to spell right, as /vocab's
    words: bool = False                # timestamp_granularities[] has "word"
    file_name: str | None = None
    seconds: float | None = None       # the length the file's container states (None: none): a first estimate


@dataclass(frozen=True, slots=True)
class Refused:
    """The request was not taken: `reason` as the QuotaActor and the Dispatcher name refusals ("quota",
    "too_long", "too_big", "busy", ...), `text` in plain words, `retry_after` seconds when waiting helps."""
    reason: str
    text: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """Taken, and ended without a transcript (unreadable audio, a timeout, ...): nothing was charged."""
    reason: FailureReason
    text: str


Answer = Transcript | Refused | Failed


class ApiReplies(Protocol):
    """Where one request's answer goes: called from the actors' threads, once `finished`, after any `heard`.
    `finished` says whether the answer went to a client still waiting for it (False: it left, or the server
    stopped or answered it already): only an answer that went is delivered, and charged."""

    def heard(self, segment: Segment) -> None:
        """A piece of the text as it is recognised (what `stream=true` sends at once)."""

    def finished(self, answer: Answer) -> bool: ...


class TranscriptionDoor(Protocol):
    """What the HTTP adapter hands a request to: the actors' side of the door."""

    def submit(self, request: TranscriptionRequest, replies: ApiReplies) -> None: ...
