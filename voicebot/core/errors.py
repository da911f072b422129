"""The error types every layer shares, and how an error is worded for a log line or an operator.

Adapters raise these in place of their libraries' exceptions, so an actor can catch a failed Bot API
call or database write without importing the library behind it."""
from urllib.parse import unquote

from voicebot.core.domain import FailureReason


class JobError(Exception):
    """A job cannot be completed for a reason the user should be told about."""

    def __init__(self, reason: FailureReason, detail: str = ""):
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason


class TelegramError(Exception):
    """A Bot API call failed. `status` is None when no HTTP answer came back at all."""

    def __init__(self, method: str, description: str, status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(f"{method} failed: {description}")
        self.method = method
        self.description = description
        self.status = status
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class StorageError(Exception):
    """The database cannot be opened or written; the text says what the operator should check.
    `transient`: the database was unreachable or busy, and the same change may work later."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


class Deposed(StorageError):
    """A write refused because this node no longer leads: another bot node has taken over."""


class BrokerError(Exception):
    """The broker cannot be reached or refused a message; one line, without the password."""


class DeadLetter(Exception):
    """Raised by a job handler to move the job to the dead-letter queue instead of retrying it."""


class TryLater(Exception):
    """Raised by a handler that cannot deal with the message now (database away, worker crashed,
    process stopping): it goes back on the queue and is delivered again after a short delay."""


class ModelError(Exception):
    """The model cannot be found or assembled; the text says what the operator should do."""


class SpeechError(Exception):
    """Speech cannot be synthesized here; the text says what to install."""


def one_line(error: BaseException) -> str:
    """The first line of an error's text (its type's name when it has none), for one log line."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def without_password(url: str) -> str:
    """A database or broker URL fit for a log line or an error: its password starred out, in the
    credentials and in a `password=` query parameter alike."""
    scheme, credentials, host, query = _url_parts(url)
    if credentials is not None:
        user, has_password, _ = credentials.partition(":")
        host = f"{user}{':***' if has_password else ''}@{host}"
    parameters = "&".join(f"{name}=***" if name.lower() == "password" else f"{name}{equals}{value}"
                          for name, equals, value in query)
    return f"{scheme}{host}{'?' if query else ''}{parameters}"


def url_passwords(url: str) -> list[str]:
    """Every password a database or broker URL holds, as written and decoded, for the log redaction."""
    _, credentials, _, query = _url_parts(url)
    found = [credentials.partition(":")[2]] if credentials is not None else []
    found += [value for name, _, value in query if name.lower() == "password"]
    return [form for password in found if password for form in {password, unquote(password)}]


def _url_parts(url: str) -> tuple[str, str | None, str, list[tuple[str, str, str]]]:
    """("scheme://", "user:password" or None, "host:port/path", [(name, "=", value) of the query])."""
    scheme, sep, rest = url.partition("://")
    rest, question, query = rest.partition("?")
    credentials, at, host = rest.rpartition("@")
    parameters = [part.partition("=") for part in query.split("&")] if question else []
    return scheme + sep, credentials if at else None, host, parameters
