"""Small factories shared by the tests."""
from dataclasses import dataclass
from pathlib import Path

from voicebot.domain import Job, JobKey, Media, MediaKind

SHARED_AUDIO = Path(__file__).resolve().parents[2] / "shared" / "audio"


@dataclass(frozen=True)
class SpeechSample:
    voice_note: bytes   # OGG/Opus, as Telegram sends voice messages
    duration: int
    words: str          # words the transcript must contain (lower case, no punctuation)


def make_job(user_id: int = 7, message_id: int = 1, chat_id: int | None = None, duration: int | None = 5,
             file_size: int | None = 10_000, kind: MediaKind = MediaKind.VOICE) -> Job:
    return Job(JobKey(chat_id if chat_id is not None else user_id, message_id), user_id,
               Media(kind, f"file-{message_id}", file_size, duration, "audio/ogg"))


def normalized(text: str) -> str:
    """Lower case, punctuation dropped, spaces folded: for comparing transcripts by words."""
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())
