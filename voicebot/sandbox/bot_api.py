"""A local Telegram Bot API sandbox: a real HTTP server speaking the subset of the Bot API a bot uses.

The real pyTelegramBotAPI client talks to it unchanged (point ``telegram.api_url`` at ``BotApiSandbox.url``),
so end-to-end tests exercise the bot's real HTTP, JSON and polling code. Tests play the users' side
(``send_text``, ``send_voice``, ...), observe what the bot did (``messages``, ``calls``, ``wait_for``) and
inject faults (``inject_fault``). Answers and error texts copy Telegram's, because bots branch on them.

Updates go out by ``getUpdates``, or, while a webhook is set (``setWebhook``), by POSTing them one at a time
to its URL with the ``X-Telegram-Bot-Api-Secret-Token`` header, as Telegram does; a delivery that fails is
tried again after ``webhook_retry_seconds``. Unlike Telegram, the sandbox also accepts an http:// URL.

Run standalone with ``python -m voicebot.sandbox --port 8081 --token TOKEN``.
"""
from __future__ import annotations

import argparse
import copy
import http.client
import itertools
import json
import mimetypes
import re
import secrets
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_UPDATES_PER_POLL = 100
BOT_USERNAME = "sandbox_bot"
GROUP_TITLE = "Sandbox group"

# Stand-ins for content the sandbox makes up itself (photos, stickers): bots only ever see file ids.
_PLACEHOLDER_JPEG = b"\xff\xd8\xff\xe0sandbox photo\xff\xd9"
_PLACEHOLDER_WEBP = b"RIFF\x00\x00\x00\x00WEBPsandbox sticker"
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_WEBHOOK_TIMEOUT_SECONDS = 30

_API_PATH = re.compile(r"/bot(?P<token>[^/]*)/(?P<name>[^/]*)")
_FILE_PATH = re.compile(r"/file/bot(?P<token>[^/]*)/(?P<name>.+)")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current message content and reply markup of the message"
)


@dataclass(frozen=True)
class SandboxUser:
    id: int
    first_name: str
    username: str | None = None


@dataclass
class BotMessage:
    """A message the bot sent, as it stands now."""
    chat_id: int
    message_id: int
    text: str | None
    reply_to: int | None
    edits: list[str]  # earlier texts, oldest first
    document: bytes | None = None
    document_name: str | None = None
    caption: str | None = None
    deleted: bool = False


@dataclass(frozen=True)
class ApiCall:
    """One request the bot made; ``method`` is "file" for downloads, ``status`` 0 for a dropped connection."""
    method: str
    params: dict
    status: int
    at: float  # time.monotonic() when the request arrived


@dataclass(frozen=True)
class SandboxEvent:
    """Something visible in a chat; kind is one of user_text, user_media, bot_message, bot_edit,
    bot_document, bot_delete."""
    at: float
    chat_id: int
    kind: str
    text: str
    message_id: int
    user: SandboxUser | None


@dataclass
class _Fault:
    status: int
    retry_after: int | None
    delay: float
    drop: bool
    remaining: int


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    allowed_updates: list | None
    last_error_date: int | None = None
    last_error_message: str | None = None

    def info(self) -> dict:
        """The webhook's part of getWebhookInfo, with Telegram's field names."""
        info = {"url": self.url, "max_connections": 1}
        if self.allowed_updates is not None:
            info["allowed_updates"] = self.allowed_updates
        if self.last_error_message is not None:
            info.update(last_error_date=self.last_error_date, last_error_message=self.last_error_message)
        return info


@dataclass(frozen=True)
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    size: int  # the size reported to the bot, which tests may inflate

    def ids(self) -> dict:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id}


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


class BotApiSandbox:
    """A fake Telegram for one bot token. All state is guarded by one condition variable, which also
    wakes long polls and ``wait_for`` whenever anything happens."""

    def __init__(self, token: str, host: str = "127.0.0.1", port: int = 0, max_download_mb: int = 20,
                 webhook_retry_seconds: float = 1.0):
        self._token = token
        self._address = (host, port)
        self._max_download_bytes = max_download_mb * 1024 * 1024
        self._webhook_retry_seconds = webhook_retry_seconds
        self._cond = threading.Condition()  # reentrant, so observers can be called from predicates
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._delivery_thread: threading.Thread | None = None
        self._delivering: http.client.HTTPConnection | None = None  # the webhook request in flight
        self._webhook: _Webhook | None = None
        self._stopping = False
        self._updates: list[dict] = []  # pending, oldest first
        self._update_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._polling = False
        self._chats: dict[int, dict] = {}
        self._next_message_id: dict[int, int] = {}  # per chat, as in Telegram
        self._messages: dict[tuple[int, int], dict] = {}  # (chat, message id) -> Telegram-shaped message
        self._bot_messages: dict[tuple[int, int], BotMessage] = {}  # in order sent
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._calls: list[ApiCall] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._listeners: list[Callable[[SandboxEvent], None]] = []
        self._group_admins: dict[int, set[int]] = {}
        self._methods: dict[str, tuple[str, Callable[[_Request], Any]]] = {
            name.lower(): (name, handler) for name, handler in {
                "getMe": lambda request: self._bot_user(),
                "getUpdates": self._get_updates,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "deleteMessage": self._delete_message,
                "sendDocument": self._send_document,
                "getFile": self._get_file,
                "sendChatAction": self._send_chat_action,
                "deleteWebhook": self._delete_webhook,
                "setWebhook": self._set_webhook,
                "setMyCommands": lambda request: True,
                "getWebhookInfo": self._get_webhook_info,
                "getChatMember": self._get_chat_member,
            }.items()
        }

    # --- lifecycle

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> BotApiSandbox:
        if self._server is not None:
            raise RuntimeError("the sandbox is already started")
        self._server = _Server(self._address, self)
        # A short poll interval: stop() waits for the serving loop to notice, and tests stop sandboxes often.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="bot-api-sandbox", daemon=True)
        self._thread.start()
        self._delivery_thread = threading.Thread(target=self._deliver_to_webhook, name="bot-api-sandbox-webhook",
                                                 daemon=True)
        self._delivery_thread.start()
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        with self._cond:
            self._stopping = True  # ends long polls, injected delays and webhook deliveries early
            self._cond.notify_all()
            if self._delivering is not None and self._delivering.sock is not None:
                _shutdown(self._delivering.sock)
        self._server.shutdown()
        self._server.close_connections()  # idle keep-alive connections would otherwise block the close
        self._server.server_close()
        self._thread.join()
        if self._delivery_thread is not None:
            self._delivery_thread.join()

    def __enter__(self) -> BotApiSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- the users' side

    def send_text(self, user: SandboxUser, text: str, chat_id: int | None = None,
                  reply_to: int | None = None) -> int:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_length(command)}]
        return self._user_message(user, chat_id, content, "user_text", text, reply_to)

    def send_voice(self, user: SandboxUser, data: bytes, duration: int | None, mime_type: str = "audio/ogg",
                   chat_id: int | None = None, file_size: int | None = None) -> int:
        stored = self._store_file(data, file_size, "voice", "oga")
        voice = {**stored.ids(), "duration": duration, "mime_type": mime_type, "file_size": stored.size}
        return self._media_message(user, chat_id, "voice", voice, stored, duration)

    def send_audio(self, user: SandboxUser, data: bytes, duration: int | None, mime_type: str = "audio/mpeg",
                   file_name: str = "audio.mp3", chat_id: int | None = None,
                   file_size: int | None = None) -> int:
        stored = self._store_file(data, file_size, "music", _extension(file_name, "mp3"))
        audio = {**stored.ids(), "duration": duration, "mime_type": mime_type, "file_size": stored.size,
                 "file_name": file_name, "title": file_name.rsplit(".", 1)[0]}
        return self._media_message(user, chat_id, "audio", audio, stored, duration)

    def send_video_note(self, user: SandboxUser, data: bytes, duration: int | None,
                        chat_id: int | None = None, file_size: int | None = None) -> int:
        stored = self._store_file(data, file_size, "video_notes", "mp4")
        note = {**stored.ids(), "length": 240, "duration": duration, "file_size": stored.size}
        return self._media_message(user, chat_id, "video_note", note, stored, duration)

    def send_video(self, user: SandboxUser, data: bytes, duration: int | None, mime_type: str = "video/mp4",
                   file_name: str = "video.mp4", chat_id: int | None = None,
                   file_size: int | None = None) -> int:
        stored = self._store_file(data, file_size, "videos", _extension(file_name, "mp4"))
        video = {**stored.ids(), "width": 640, "height": 360, "duration": duration, "mime_type": mime_type,
                 "file_name": file_name, "file_size": stored.size}
        return self._media_message(user, chat_id, "video", video, stored, duration)

    def send_document(self, user: SandboxUser, data: bytes, file_name: str, mime_type: str,
                      chat_id: int | None = None, file_size: int | None = None) -> int:
        stored = self._store_file(data, file_size, "documents", _extension(file_name, "bin"))
        document = {**stored.ids(), "file_name": file_name, "mime_type": mime_type, "file_size": stored.size}
        return self._media_message(user, chat_id, "document", document, stored)

    def send_photo(self, user: SandboxUser, chat_id: int | None = None) -> int:
        sizes = []
        for side in (90, 320):
            stored = self._store_file(_PLACEHOLDER_JPEG, None, "photos", "jpg")
            sizes.append({**stored.ids(), "width": side, "height": side, "file_size": stored.size})
        return self._user_message(user, chat_id, {"photo": sizes}, "user_media", "[photo]")

    def send_sticker(self, user: SandboxUser, chat_id: int | None = None) -> int:
        stored = self._store_file(_PLACEHOLDER_WEBP, None, "stickers", "webp")
        sticker = {**stored.ids(), "type": "regular", "width": 512, "height": 512, "is_animated": False,
                   "is_video": False, "emoji": "👍", "file_size": stored.size}
        return self._user_message(user, chat_id, {"sticker": sticker}, "user_media", "[sticker 👍]")

    def make_group_admin(self, user: SandboxUser, chat_id: int) -> None:
        """getChatMember will answer "administrator" for this user in this group."""
        with self._cond:
            self._group_admins.setdefault(chat_id, set()).add(user.id)

    def push_update(self, update: dict) -> int:
        """Queue a raw update of any shape, even a malformed one; returns the update_id given to it."""
        with self._cond:
            return self._queue_update(copy.deepcopy(update))

    # --- observing the bot

    def messages(self, chat_id: int) -> list[BotMessage]:
        with self._cond:
            return [copy.deepcopy(m) for m in self._bot_messages.values() if m.chat_id == chat_id]

    def all_messages(self) -> list[BotMessage]:
        with self._cond:
            return [copy.deepcopy(m) for m in self._bot_messages.values()]

    def calls(self, method: str | None = None) -> list[ApiCall]:
        with self._cond:
            return [c for c in self._calls if method is None or c.method.lower() == method.lower()]

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until predicate() holds; it is re-evaluated after every bot call and user action."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def add_listener(self, callback: Callable[[SandboxEvent], None]) -> None:
        """Call back for every event, in order. Listeners run on the thread that caused the event (the
        server's for bot actions) while the sandbox is locked, so they must be quick and must not wait for
        other threads that use the sandbox."""
        with self._cond:
            self._listeners.append(callback)

    # --- faults

    def inject_fault(self, method: str, *, status: int = 500, retry_after: int | None = None,
                     delay: float = 0.0, drop: bool = False, times: int = 1) -> None:
        """Make the next `times` calls of `method` ("file" for downloads) wait `delay` seconds, then either
        drop the connection unanswered or answer with an error of `status`; status 200 answers normally."""
        with self._cond:
            self._faults.setdefault(method.lower(), deque()).append(
                _Fault(status, retry_after, delay, drop, times))

    # --- users' side internals

    def _media_message(self, user: SandboxUser, chat_id: int | None, kind: str, media: dict,
                       stored: _StoredFile, duration: int | None = None) -> int:
        seconds = "" if duration is None else f" {duration} s,"
        description = f"[{kind}{seconds} {stored.size} bytes]"
        content = {kind: {key: value for key, value in media.items() if value is not None}}
        return self._user_message(user, chat_id, content, "user_media", description)

    def _user_message(self, user: SandboxUser, chat_id: int | None, content: dict, kind: str,
                      description: str, reply_to: int | None = None) -> int:
        chat_id = user.id if chat_id is None else chat_id
        with self._cond:
            if reply_to is not None and (chat_id, reply_to) not in self._messages:
                raise ValueError(f"no message {reply_to} in chat {chat_id} to reply to")
            chat = self._open_chat(user, chat_id)
            message = self._new_message(chat, _user_json(user), content, reply_to)
            self._queue_update({"message": message})
            self._emit(kind, chat_id, description, message["message_id"], user)
            return message["message_id"]

    def _open_chat(self, user: SandboxUser, chat_id: int) -> dict:
        if chat_id < 0:
            chat = {"id": chat_id, "type": "group", "title": GROUP_TITLE}
        elif chat_id == user.id:
            chat = {"id": chat_id, "type": "private", "first_name": user.first_name}
            if user.username:
                chat["username"] = user.username
        else:
            raise ValueError("a private chat's id is its user's id; group chats have negative ids")
        self._chats[chat_id] = chat
        return chat

    def _store_file(self, data: bytes, reported_size: int | None, folder: str, extension: str) -> _StoredFile:
        with self._cond:
            number = next(self._file_ids)
            stored = _StoredFile(
                file_id=f"SBX{number}-{secrets.token_urlsafe(16)}", file_unique_id=f"SBXU{number}",
                file_path=f"{folder}/file_{number}.{extension}", data=data,
                size=len(data) if reported_size is None else reported_size)
            self._files[stored.file_id] = stored
            self._files_by_path[stored.file_path] = stored
            return stored

    def _queue_update(self, update: dict) -> int:
        update["update_id"] = next(self._update_ids)
        self._updates.append(update)
        self._cond.notify_all()
        return update["update_id"]

    # --- shared internals (callers hold the lock)

    def _new_message(self, chat: dict, sender: dict, content: dict, reply_to: int | None) -> dict:
        message_id = self._next_message_id.get(chat["id"], 1)
        self._next_message_id[chat["id"]] = message_id + 1
        message = {"message_id": message_id, "date": int(time.time()), "chat": chat, "from": sender,
                   **content}
        replied = self._messages.get((chat["id"], reply_to))
        if replied is not None:
            # Telegram quotes the replied message one level deep only.
            message["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        self._messages[(chat["id"], message_id)] = message
        return message

    def _emit(self, kind: str, chat_id: int, text: str, message_id: int, user: SandboxUser | None) -> None:
        event = SandboxEvent(time.monotonic(), chat_id, kind, text, message_id, user)
        for listener in self._listeners:
            listener(event)
        self._cond.notify_all()

    def _bot_user(self) -> dict:
        bot_id = self._token.split(":", 1)[0]  # a real token starts with the bot's id
        return {"id": int(bot_id) if bot_id.isdigit() else 1, "is_bot": True, "first_name": "Sandbox Bot",
                "username": BOT_USERNAME, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    # --- HTTP side

    def _dispatch(self, path: str, content_type: str, body: bytes) -> _Reply | None:
        """Answer one HTTP request; None means: drop the connection without an answer."""
        arrived = time.monotonic()
        request = _route(path)
        if request is None:
            return _ApiError(404, "Not Found").reply()  # not a Bot API call: nothing to record
        method = self._method_name(request)
        try:
            _read_body(request, content_type, body)
            reply = self._answer(method, request)
        except _ApiError as error:
            reply = error.reply()
        with self._cond:
            status = 0 if reply is None else reply.status
            self._calls.append(ApiCall(method, request.loggable_params(), status, arrived))
            self._cond.notify_all()
        return reply

    def _method_name(self, request: _Request) -> str:
        """The name calls are recorded under: Telegram's spelling for known methods, "file" for downloads."""
        if request.is_download:
            return "file"
        known = self._methods.get(request.name.lower())
        return request.name if known is None else known[0]

    def _answer(self, method: str, request: _Request) -> _Reply | None:
        if request.token != self._token:
            raise _ApiError(401, "Unauthorized")
        if not request.is_download and request.name.lower() not in self._methods:
            raise _ApiError(404, "Not Found: method not found")
        fault = self._take_fault(method)
        if fault is not None:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping, fault.delay)
            if fault.drop:
                return None
            if fault.status != 200:
                raise _fault_error(fault)
        if request.is_download:
            return self._download(request.name)
        _, handler = self._methods[request.name.lower()]
        return _Reply.json(200, {"ok": True, "result": handler(request)})

    def _take_fault(self, method: str) -> _Fault | None:
        with self._cond:
            queue = self._faults.get(method.lower())
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
            return fault

    def _download(self, file_path: str) -> _Reply:
        with self._cond:
            stored = self._files_by_path.get(file_path)
        if stored is None:
            raise _ApiError(404, "Not Found: file not found")
        return _Reply(200, stored.data, "application/octet-stream")

    # --- Bot API methods (run on the server's threads)

    def _get_updates(self, request: _Request) -> list[dict]:
        offset = _int_param(request, "offset", default=0)
        limit = _int_param(request, "limit", default=0) or MAX_UPDATES_PER_POLL
        limit = min(max(limit, 1), MAX_UPDATES_PER_POLL)
        timeout = max(_int_param(request, "timeout", default=0), 0)
        with self._cond:
            if self._webhook is not None:
                raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                     "use deleteWebhook to delete the webhook first")
            if self._polling:
                raise _ApiError(409, "Conflict: terminated by other getUpdates request")
            self._polling = True
            try:
                self._confirm_updates(offset)
                self._cond.wait_for(lambda: self._updates or self._stopping, timeout)
                return copy.deepcopy(self._updates[:limit])
            finally:
                self._polling = False

    def _confirm_updates(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:  # the last -offset updates; all earlier ones are forgotten
            self._updates = self._updates[offset:]

    def _get_chat_member(self, request: _Request) -> dict:
        with self._cond:
            chat = self._chat(request)
            user_id = _int_param(request, "user_id")
            admin = chat["type"] != "private" and user_id in self._group_admins.get(chat["id"], set())
            return {"user": {"id": user_id, "is_bot": False, "first_name": str(user_id)},
                    "status": "administrator" if admin else "member"}

    def _send_chat_action(self, request: _Request) -> bool:
        with self._cond:
            self._chat(request)
            return True

    def _set_webhook(self, request: _Request) -> bool:
        url = str(request.params.get("url") or "")
        if not url:
            return self._delete_webhook(request)  # as in Telegram: an empty URL removes the webhook
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _ApiError(400, "Bad Request: bad webhook: Failed to resolve host: Name or service not known")
        secret = request.params.get("secret_token") or None
        if secret is not None and not _WEBHOOK_SECRET.fullmatch(str(secret)):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        allowed = _json_param(request, "allowed_updates")
        with self._cond:
            self._webhook = _Webhook(url, secret, allowed)
            self._drop_pending_updates_if_asked(request)
            self._cond.notify_all()
        return True

    def _delete_webhook(self, request: _Request) -> bool:
        with self._cond:
            self._webhook = None
            self._drop_pending_updates_if_asked(request)
            self._cond.notify_all()
        return True

    def _drop_pending_updates_if_asked(self, request: _Request) -> None:
        if str(request.params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()

    def _get_webhook_info(self, request: _Request) -> dict:
        with self._cond:
            webhook = self._webhook.info() if self._webhook is not None else {"url": ""}
            return {**webhook, "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    # --- webhook delivery (its own thread)

    def _deliver_to_webhook(self) -> None:
        """While a webhook is set, POSTs the oldest pending update until it is answered 2xx, then the next."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or (self._webhook is not None and self._updates))
                if self._stopping:
                    return
                webhook, update = self._webhook, copy.deepcopy(self._updates[0])
                self._delivering = _webhook_connection(webhook.url)
            error = _post_update(self._delivering, webhook, update)
            with self._cond:
                self._delivering = None
                if error is None:
                    self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]
                else:
                    webhook.last_error_date, webhook.last_error_message = int(time.time()), error
                self._cond.notify_all()
                if error is not None:
                    self._cond.wait_for(lambda: self._stopping, self._webhook_retry_seconds)

    def _send_message(self, request: _Request) -> dict:
        text = _checked_text(request)
        with self._cond:
            message = self._bot_message(request, {"text": text})
            self._emit("bot_message", message["chat"]["id"], text, message["message_id"], None)
            return copy.deepcopy(message)  # answered after the lock is released

    def _edit_message_text(self, request: _Request) -> dict:
        text = _checked_text(request)
        with self._cond:
            chat_id = self._chat(request)["id"]
            message_id = _int_param(request, "message_id")
            message = self._messages.get((chat_id, message_id))
            sent = self._bot_messages.get((chat_id, message_id))
            if message is None:
                raise _ApiError(400, "Bad Request: message to edit not found")
            if sent is None:
                raise _ApiError(400, "Bad Request: message can't be edited")
            if sent.text is None:
                raise _ApiError(400, "Bad Request: there is no text in the message to edit")
            if sent.text == text:
                raise _ApiError(400, _NOT_MODIFIED)
            sent.edits.append(sent.text)
            sent.text = message["text"] = text
            message["edit_date"] = int(time.time())
            self._emit("bot_edit", chat_id, text, message_id, None)
            return copy.deepcopy(message)

    def _delete_message(self, request: _Request) -> bool:
        with self._cond:
            chat_id = self._chat(request)["id"]
            message_id = _int_param(request, "message_id")
            message = self._messages.pop((chat_id, message_id), None)
            if message is None:
                raise _ApiError(400, "Bad Request: message to delete not found")
            sent = self._bot_messages.get((chat_id, message_id))
            if sent is not None:
                sent.deleted = True
            self._emit("bot_delete", chat_id, message.get("text") or message.get("caption") or "", message_id,
                       None)
            return True

    def _send_document(self, request: _Request) -> dict:
        caption = request.params.get("caption") or None
        if caption is not None and len(caption) > MAX_CAPTION_LENGTH:
            raise _ApiError(400, "Bad Request: message caption is too long")
        with self._cond:
            name, data = self._document_upload(request)
            stored = self._store_file(data, None, "documents", _extension(name, "bin"))
            mime_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            document = {**stored.ids(), "file_name": name, "mime_type": mime_type, "file_size": stored.size}
            content = {"document": document, **({"caption": caption} if caption else {})}
            message = self._bot_message(request, content, document=data, document_name=name, caption=caption)
            description = f"[document {name}, {len(data)} bytes] {caption or ''}".strip()
            self._emit("bot_document", message["chat"]["id"], description, message["message_id"], None)
            return copy.deepcopy(message)

    def _document_upload(self, request: _Request) -> tuple[str, bytes]:
        """The uploaded file, or a file the sandbox already knows when the bot sends a file_id."""
        if "document" in request.files:
            name, data = request.files["document"]
            if not data:
                raise _ApiError(400, "Bad Request: file must be non-empty")
            return name, data
        known = self._files.get(str(request.params.get("document", "")))
        if known is None:
            raise _ApiError(400, "Bad Request: there is no document in the request")
        return known.file_path.rsplit("/", 1)[-1], known.data

    def _get_file(self, request: _Request) -> dict:
        with self._cond:
            stored = self._files.get(str(request.params.get("file_id", "")))
        if stored is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        if stored.size > self._max_download_bytes:
            raise _ApiError(400, "Bad Request: file is too big")
        return {**stored.ids(), "file_size": stored.size, "file_path": stored.file_path}

    def _chat(self, request: _Request) -> dict:
        try:
            return self._chats[int(request.params["chat_id"])]
        except (KeyError, TypeError, ValueError):
            raise _ApiError(400, "Bad Request: chat not found") from None

    def _bot_message(self, request: _Request, content: dict, **stored_fields: Any) -> dict:
        """Create a message from the bot in the request's chat, honouring its reply parameters."""
        chat = self._chat(request)
        reply_to, required = _reply_target(request)
        if reply_to is not None and required and (chat["id"], reply_to) not in self._messages:
            raise _ApiError(400, "Bad Request: message to be replied not found")
        message = self._new_message(chat, self._bot_user(), content, reply_to)
        reply_to = message.get("reply_to_message", {}).get("message_id")
        self._bot_messages[(chat["id"], message["message_id"])] = BotMessage(
            chat_id=chat["id"], message_id=message["message_id"], text=content.get("text"), reply_to=reply_to,
            edits=[], **stored_fields)
        return message


class _Server(ThreadingHTTPServer):
    """Keeps track of idle keep-alive connections: closing shuts those at once, while requests in progress
    (a long poll that stop() just ended, say) still get their answer before their connection closes."""
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: BotApiSandbox):
        super().__init__(address, _Handler)
        self.sandbox = sandbox
        self._idle: set[socket.socket] = set()
        self._idle_lock = threading.Lock()
        self._closing = False

    def set_idle(self, connection: socket.socket, idle: bool) -> bool:
        """Mark a connection as waiting for a request or not; False when it should close instead."""
        with self._idle_lock:
            if idle and not self._closing:
                self._idle.add(connection)
            else:
                self._idle.discard(connection)
            return not self._closing

    def close_connections(self) -> None:
        """Shut idle connections, whose handler threads would otherwise wait for a next request forever."""
        with self._idle_lock:
            self._closing = True
            idle, self._idle = self._idle, set()
        for connection in idle:
            _shutdown(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, injected delay) or a connection closed by stop() is routine.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real client and Telegram use
    disable_nagle_algorithm = True  # headers and body go out in two writes: don't stall 40 ms between them
    server: _Server

    def setup(self) -> None:
        super().setup()
        if not self.server.set_idle(self.connection, idle=True):
            _shutdown(self.connection)  # accepted while the server closes

    def finish(self) -> None:
        self.server.set_idle(self.connection, idle=False)
        super().finish()

    def do_GET(self) -> None:
        if not self.server.set_idle(self.connection, idle=False):
            self.close_connection = True
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply = self.server.sandbox._dispatch(self.path, self.headers.get("Content-Type", ""), body)
        if reply is None:
            self.close_connection = True
            _shutdown(self.connection)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
        self.close_connection = self.close_connection or not self.server.set_idle(self.connection, idle=True)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines carry the bot token, which must never reach a log."""


# --- request parsing


def _route(path: str) -> _Request | None:
    """The request a URL path names, with its query-string params; None when it is no Bot API path."""
    parts = urlsplit(path)
    download = _FILE_PATH.fullmatch(parts.path)
    if download:
        file_path = unquote(download["name"])
        return _Request(unquote(download["token"]), file_path, True, {"file_path": file_path})
    api = _API_PATH.fullmatch(parts.path)
    if not api:
        return None
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    return _Request(unquote(api["token"]), api["name"], False, params)


def _read_body(request: _Request, content_type: str, body: bytes) -> None:
    """Add the params (and uploads) of a form, JSON or multipart body to those of the query string."""
    header = Message()
    header["Content-Type"] = content_type or "text/plain"
    mime = header.get_content_type()
    if mime == "application/x-www-form-urlencoded":
        request.params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif mime == "application/json" and body:
        try:
            params = json.loads(body)
        except ValueError:
            params = None
        if not isinstance(params, dict):
            raise _ApiError(400, "Bad Request: can't parse JSON request body")
        request.params.update(params)
    elif mime == "multipart/form-data":
        fields, request.files = _parse_multipart(body, str(header.get_param("boundary", "")))
        request.params.update(fields)


def _parse_multipart(body: bytes, boundary: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """Split a multipart/form-data body into plain fields and uploaded files."""
    if not boundary:
        raise _ApiError(400, "Bad Request: multipart boundary is missing")
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    # Parts sit between "--boundary" lines: CRLF, headers, blank line, content, CRLF.
    for part in body.split(b"--" + boundary.encode())[1:-1]:
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        # pyTelegramBotAPI sends file names raw (UTF-8, unquoted), so decode the headers as UTF-8.
        headers = HeaderParser().parsestr(head.decode("utf-8", "replace"))
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = _raw_filename(headers.get("content-disposition", ""))
        if filename is None:
            fields[name] = content.decode("utf-8", "replace")
        else:
            files[name] = (filename, content)
    return fields, files


def _raw_filename(disposition: str) -> str | None:
    """The filename parameter, quoted or not; unquoted names may hold spaces, which the email parser cuts."""
    match = re.search(r';\s*filename="((?:[^"\\]|\\.)*)"|;\s*filename=([^;]*)', disposition)
    if match is None:
        return None
    quoted, bare = match.groups()
    return re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare.strip()


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


def _json_param(request: _Request, name: str) -> Any:
    """A JSON-valued parameter: a JSON string in query and form bodies, already parsed in JSON bodies."""
    value = request.params.get(name)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise _ApiError(400, f"Bad Request: can't parse {name} JSON object") from None


def _reply_target(request: _Request) -> tuple[int | None, bool]:
    """(message id to reply to, whether it must exist), from reply_parameters or reply_to_message_id."""
    parameters = _json_param(request, "reply_parameters")
    if isinstance(parameters, dict) and "message_id" in parameters:
        try:
            message_id = int(parameters["message_id"])
        except (TypeError, ValueError):
            raise _ApiError(400, "Bad Request: message_id is invalid") from None
        return message_id, not parameters.get("allow_sending_without_reply", False)
    if request.params.get("reply_to_message_id") not in (None, ""):
        allow = str(request.params.get("allow_sending_without_reply", "")).lower() == "true"
        return _int_param(request, "reply_to_message_id"), not allow
    return None, False


def _checked_text(request: _Request) -> str:
    text = request.params.get("text")
    text = "" if text is None else str(text)
    if not text.strip():
        raise _ApiError(400, "Bad Request: message text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise _ApiError(400, "Bad Request: message is too long")
    return text


# --- small helpers


def _fault_error(fault: _Fault) -> _ApiError:
    if fault.status == 429 and fault.retry_after is not None:
        description = f"Too Many Requests: retry after {fault.retry_after}"
    else:
        try:
            description = HTTPStatus(fault.status).phrase
        except ValueError:
            description = "Error"
    return _ApiError(fault.status, description, fault.retry_after)


def _user_json(user: SandboxUser) -> dict:
    sender = {"id": user.id, "is_bot": False, "first_name": user.first_name, "language_code": "en"}
    if user.username:
        sender["username"] = user.username
    return sender


def _utf16_length(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _extension(file_name: str, default: str) -> str:
    return file_name.rsplit(".", 1)[1] if "." in file_name else default


def _webhook_connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return connection_type(parts.hostname, parts.port, timeout=_WEBHOOK_TIMEOUT_SECONDS)


def _post_update(connection: http.client.HTTPConnection, webhook: _Webhook, update: dict) -> str | None:
    """POSTs one update to the webhook; None when it was taken (2xx), else Telegram's last_error_message."""
    parts = urlsplit(webhook.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/json"}
    if webhook.secret_token is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = webhook.secret_token
    try:
        connection.request("POST", target, json.dumps(update, ensure_ascii=False).encode(), headers)
        answer = connection.getresponse()
        answer.read()
    except (OSError, http.client.HTTPException) as error:
        return getattr(error, "strerror", None) or str(error) or type(error).__name__
    finally:
        connection.close()
    if 200 <= answer.status < 300:
        return None
    return f"Wrong response from the webhook: {answer.status} {answer.reason}"


def _shutdown(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the other side


# --- standalone


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a local Telegram Bot API sandbox until Ctrl-C.")
    parser.add_argument("--token", required=True, help="the only bot token the sandbox accepts")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    with BotApiSandbox(args.token, args.host, args.port) as sandbox:
        sandbox.add_listener(lambda event: print(f"[chat {event.chat_id}] {event.kind}: {event.text}",
                                                 flush=True))
        print(f"Bot API sandbox listening on {sandbox.url} (set telegram.api_url to it)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping", flush=True)


if __name__ == "__main__":
    main()
