"""Running `voicebot` as a real process against the sandbox, as an operator would."""
import os
import signal
import subprocess
import sys
from pathlib import Path

from voicebot.core import replies
from voicebot.sandbox import BotApiSandbox, BotMessage

TOKEN = "424242:e2e-SECRET-token_value"


def environment(**extra: str) -> dict:
    """This process's environment without any voicebot settings, plus `extra`."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("VOICEBOT_") and key != "TELEGRAM_BOT_TOKEN"}
    return {**env, **extra}


def voicebot(*args: str, env: dict, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "voicebot.app.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def write_config(path: Path, sandbox: BotApiSandbox, database: Path, extra: str = "", telegram: str = "") -> Path:
    """`extra`: further sections; `telegram`: further keys of [telegram]."""
    path.write_text(f"""
[telegram]
api_url = "{sandbox.url}"
poll_timeout_seconds = 1
{telegram}
[database]
url = "sqlite:///{database}"
{extra}
""")
    return path


class RunningBot:
    """`voicebot run` with the test token; stop() sends SIGTERM and returns (exit code, stderr)."""

    def __init__(self, config: Path, cwd: Path):
        self.process = voicebot("run", "--config", str(config), env=environment(TELEGRAM_BOT_TOKEN=TOKEN), cwd=cwd)

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=90)
        return self.process.returncode, stderr


def reply_to(sandbox: BotApiSandbox, chat_id: int, message_id: int) -> BotMessage | None:
    """The bot's first reply to that message, as it stands now."""
    return next((m for m in sandbox.messages(chat_id) if m.reply_to == message_id), None)


def replies_to(sandbox: BotApiSandbox, chat_id: int, message_id: int) -> list[BotMessage]:
    return [m for m in sandbox.messages(chat_id) if m.reply_to == message_id]


def is_final(message: BotMessage | None) -> bool:
    """A reply that is no longer a status (received, queued, or text so far)."""
    return message is not None and message.text is not None and not replies.is_status(message.text)


def wait_final(sandbox: BotApiSandbox, chat_id: int, message_id: int, timeout: float = 180) -> BotMessage:
    assert sandbox.wait_for(lambda: is_final(reply_to(sandbox, chat_id, message_id)), timeout), (
        f"no final reply to message {message_id} in chat {chat_id}: {sandbox.messages(chat_id)}")
    return reply_to(sandbox, chat_id, message_id)
