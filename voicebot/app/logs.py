"""Logging set-up: one line per record, and secrets (the bot token) redacted on every handler."""
import json
import logging
import sys
import threading
from collections.abc import Iterable
from urllib.parse import quote

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "<secret>"


class RedactingFilter(logging.Filter):
    """Rewrites each record, traceback included, before any handler formats it, so no handler
    (ours, pytest's, a library's) can print the secret."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self._secrets = sorted({form for secret in secrets if secret for form in (secret, quote(secret))},
                               key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(map(_without_payload, record.args))
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def _without_payload(argument: object) -> object:
    """A broker message (Dramatiq logs the whole message, payload and all, when one fails) shown by its id:
    a payload holds user data, such as live transcript text, that the log has no business keeping."""
    if hasattr(argument, "message_id") and hasattr(argument, "actor_name"):
        return f"message {argument.message_id} ({argument.actor_name})"
    return argument


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_text or record.exc_info:
            entry["error"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, secrets: Iterable[str], json_lines: bool = False) -> RedactingFilter:
    redaction = RedactingFilter(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(_FORMAT))
    handler.addFilter(redaction)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for chatty in ("urllib3", "faster_whisper", "dramatiq"):  # one line per job is ours to write
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # pika logs every socket error with a traceback; dramatiq reconnects and says so in one line.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    # pyTelegramBotAPI gives its logger a stderr handler of its own at import: that one would print
    # unfiltered. Its records go through ours instead.
    telebot = logging.getLogger("TeleBot")
    telebot.handlers[:] = []
    telebot.propagate = True
    # Uncaught exceptions, in threads or the main one, would otherwise be printed raw, URLs and all.
    threading.excepthook = lambda args: logging.getLogger("voicebot").error(
        "uncaught error in thread %s", args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
    sys.excepthook = lambda kind, value, traceback: logging.getLogger("voicebot").critical(
        "uncaught error", exc_info=(kind, value, traceback))
    return redaction


