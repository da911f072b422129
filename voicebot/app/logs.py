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
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


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
    # Uncaught exceptions in threads would otherwise be printed raw, URLs and all.
    threading.excepthook = lambda args: logging.getLogger("voicebot").error(
        "uncaught error in thread %s", args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
    return redaction


