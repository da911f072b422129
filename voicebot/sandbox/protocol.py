"""What one Bot API call is to the sandbox, how it is answered, and reading its params."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Error texts that several methods answer with.
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@dataclass
class _Request:
    token: str
    name: str  # the Bot API method, or the file path of a download
    is_download: bool
    params: dict[str, Any] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # field -> (file name, content)

    def loggable_params(self) -> dict:
        """Params with uploads summarised, so recorded calls stay small."""
        uploads = {key: f"<file {name}, {len(data)} bytes>" for key, (name, data) in self.files.items()}
        return {**self.params, **uploads}


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, payload: dict) -> _Reply:
        return cls(status, json.dumps(payload, ensure_ascii=False).encode())


class _ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, ...}`` with the same HTTP status."""

    def __init__(self, status: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def reply(self) -> _Reply:
        payload = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            payload["parameters"] = {"retry_after": self.retry_after}
        return _Reply.json(self.status, payload)


def _int_param(request: _Request, name: str, default: int | None = None) -> int:
    value = request.params.get(name)
    if value is None or value == "":
        if default is None:
            raise _ApiError(400, f"Bad Request: {name} is empty")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _ApiError(400, f"Bad Request: {name} is invalid") from None


def _json_param(request: _Request, name: str, what: str | None = None) -> Any:
    """A JSON-valued parameter: a JSON string in query and form bodies, already parsed in JSON bodies. `what`
    names it in the error as Telegram does where that differs from the parameter's name."""
    value = request.params.get(name)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise _ApiError(400, f"Bad Request: can't parse {what or name} JSON object") from None


def _bool_param(request: _Request, name: str) -> bool:
    """A Boolean parameter read as Telegram's Bot API server reads it: "true", "yes" or "1" in any case (JSON
    bodies' true arrives as True); anything else, or nothing, is False."""
    return str(request.params.get(name, "")).strip().lower() in ("true", "yes", "1")

