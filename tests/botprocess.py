"""Running `voicebot` as a real process against the sandbox, as an operator would (voicebot.sandbox.harness)."""
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from voicebot.adapters.storage import Storage
from voicebot.adapters.translations import load_languages
from voicebot.core.replies import Wording
from voicebot.sandbox import BotApiSandbox, BotMessage, harness
from voicebot.sandbox.harness import environment
from voicebot.sandbox.harness import start_voicebot as voicebot

from helpers import normalized

ENGLISH_WORDING = Wording()   # what the bot says in English
LANGUAGES = load_languages()   # a status in any of them is not an answer yet
TOKEN = "424242:e2e-SECRET-token_value"


def write_config(path: Path, sandbox: BotApiSandbox, database: str | Path, extra: str = "", telegram: str = "") -> Path:
    """`database`: a URL, or a SQLite file; `extra`: further sections; `telegram`: further keys of [telegram]."""
    return harness.write_config(path, sandbox.url, database, telegram=telegram, extra=extra)


class RunningBot:
    """`voicebot run` with the test token; stop() sends SIGTERM and returns (exit code, stderr)."""

    def __init__(self, config: Path, cwd: Path):
        self.process = voicebot("run", "--config", str(config), env=environment(TELEGRAM_BOT_TOKEN=TOKEN), cwd=cwd)

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=90)   # reads the pipes while it waits
        return self.process.returncode, stderr


def reply_to(sandbox: BotApiSandbox, chat_id: int, message_id: int) -> BotMessage | None:
    """The bot's first reply to that message, as it stands now."""
    return next((m for m in sandbox.messages(chat_id) if m.reply_to == message_id), None)


def replies_to(sandbox: BotApiSandbox, chat_id: int, message_id: int) -> list[BotMessage]:
    return [m for m in sandbox.messages(chat_id) if m.reply_to == message_id]


def is_final(message: BotMessage | None) -> bool:
    """A reply that is no longer a status (received, queued, or text so far)."""
    return message is not None and message.text is not None and not LANGUAGES.is_status(message.text)


@contextmanager
def stored(url: str) -> Iterator[Storage]:
    """The database as a running bot has it: opened beside the bot, not migrated, closed afterwards."""
    storage = Storage(url)
    storage.open(migrate=False)
    try:
        yield storage
    finally:
        storage.close()


def statuses_recorded(url: str) -> bool:
    """Whether the bot has stored the status message id of every job not answered yet. A test kills the bot
    only then: a crash between posting a status and storing its id (milliseconds) would leave that status
    behind, a window no design closes."""
    with stored(url) as storage:
        return all(job.status_message_id is not None for job in storage.unfinished_jobs())


def assert_one_transcript(sandbox: BotApiSandbox, user, message_id: int, words: str) -> None:
    """The voice got one reply, its status edited into the transcript, and no transcript before it."""
    [answer] = replies_to(sandbox, user.id, message_id)
    assert words in normalized(answer.text), answer.text
    assert not any(words in normalized(text) and not ENGLISH_WORDING.is_status(text) for text in answer.edits), answer


def wait_final(sandbox: BotApiSandbox, chat_id: int, message_id: int, timeout: float = 180) -> BotMessage:
    assert sandbox.wait_for(lambda: is_final(reply_to(sandbox, chat_id, message_id)), timeout), (
        f"no final reply to message {message_id} in chat {chat_id}: {sandbox.messages(chat_id)}")
    return reply_to(sandbox, chat_id, message_id)
