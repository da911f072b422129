"""Small factories shared by the tests."""
import http.client
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from telebot import apihelper

from voicebot.core.domain import Job, JobKey, Media, MediaKind
from voicebot.sandbox import BotApiSandbox

SHARED_AUDIO = Path(__file__).resolve().parents[2] / "shared" / "audio"


@dataclass(frozen=True)
class SpeechSample:
    voice_note: bytes   # OGG/Opus, as Telegram sends voice messages
    duration: int
    words: str          # words the transcript must contain (lower case, no punctuation)


class FakeTime:
    """A clock a test moves: `monotonic` for the actors' timers, `wall` for days and quotas."""

    def __init__(self):
        self.monotonic = 1000.0
        self.wall = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.wall


def make_job(user_id: int = 7, message_id: int = 1, chat_id: int | None = None, duration: int | None = 5,
             file_size: int | None = 10_000, kind: MediaKind = MediaKind.VOICE) -> Job:
    return Job(JobKey(chat_id if chat_id is not None else user_id, message_id), user_id,
               Media(kind, f"file-{message_id}", file_size, duration, "audio/ogg"))


def normalized(text: str) -> str:
    """Lower case, punctuation dropped, spaces folded: for comparing transcripts by words."""
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def free_port() -> int:
    """A TCP port nobody listens on right now, for a server a test configures by HOST:PORT."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def send_http(url: str, body: bytes = b"", headers: dict | None = None, method: str = "POST") -> tuple[int, dict]:
    """One request straight to `url` (no proxy from the environment): (status, headers of the answer)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, parts.path or "/", body, headers or {})
        answer = connection.getresponse()
        answer.read()
        return answer.status, dict(answer.getheaders())
    finally:
        connection.close()


def serve(sandbox: BotApiSandbox):
    """Runs the sandbox for one test, with pyTelegramBotAPI's own functions pointed at it (a fixture's body)."""
    saved = apihelper.API_URL, apihelper.FILE_URL
    with sandbox as running:
        apihelper.API_URL = running.url + "/bot{0}/{1}"
        apihelper.FILE_URL = running.url + "/file/bot{0}/{1}"
        yield running
    apihelper.API_URL, apihelper.FILE_URL = saved
