"""BotApiSandbox: its lifecycle, answering each HTTP request (injected faults first), and observing the bot."""
from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from .edits import _EditMethods
from .menus import _MenuMethods
from .payments import _PaymentsSide
from .protocol import _ApiError, _Reply, _Request
from .server import _read_body, _route, _Server, _shutdown
from .state import ApiCall, BotMessage, SandboxEvent
from .users import _UsersSide
from .webhook import _WebhookMethods

DOWNLOAD_LIMIT_MB = 20
LOCAL_DOWNLOAD_LIMIT_MB = 2000  # what a server started with --local lets bots download
_MEDIA_KINDS = ("voice", "audio", "video", "video_note", "document", "sticker")


@dataclass
class _Fault:
    status: int
    retry_after: int | None
    delay: float
    drop: bool
    remaining: int
    chat_id: int | None = None   # only calls for this chat (Telegram's flood limits are per chat)


class BotApiSandbox(_UsersSide, _PaymentsSide, _EditMethods, _WebhookMethods, _MenuMethods):
    """A fake Telegram for one bot token. All state is guarded by one condition variable, which also
    wakes long polls and ``wait_for`` whenever anything happens.

    With `local_dir` it behaves as a server started with ``telegram-bot-api --local`` whose working directory
    that is: files lie on disk there, getFile answers their absolute paths, and there is no download route.
    `max_download_mb` is the biggest file getFile serves: by default 20, or 2000 in local mode."""

    def __init__(self, token: str, host: str = "127.0.0.1", port: int = 0, max_download_mb: int | None = None,
                 webhook_retry_seconds: float = 1.0, local_dir: Path | None = None):
        if max_download_mb is None:
            max_download_mb = DOWNLOAD_LIMIT_MB if local_dir is None else LOCAL_DOWNLOAD_LIMIT_MB
        super().__init__(token, max_download_mb * 1024 * 1024, webhook_retry_seconds, local_dir)
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._delivery_thread: threading.Thread | None = None
        self._calls: list[ApiCall] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._methods: dict[str, tuple[str, Callable[[_Request], Any]]] = {
            name.lower(): (name, handler) for name, handler in {
                "getMe": lambda request: self._bot_user(),
                "getUpdates": self._get_updates,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "editMessageCaption": self._edit_message_caption,
                "answerCallbackQuery": self._answer_callback_query,
                "deleteMessage": self._delete_message,
                "sendDocument": self._send_document,
                "getFile": self._get_file,
                "sendChatAction": self._send_chat_action,
                "createForumTopic": self._create_forum_topic,
                "deleteWebhook": self._delete_webhook,
                "setWebhook": self._set_webhook,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "setMyDescription": self._set_my_description,
                "getMyDescription": self._get_my_description,
                "setMyShortDescription": self._set_my_short_description,
                "getMyShortDescription": self._get_my_short_description,
                "getWebhookInfo": self._get_webhook_info,
                "getChatMember": self._get_chat_member,
                "getChat": self._get_chat,
                "getBusinessConnection": self._get_business_connection,
                "answerGuestQuery": self._answer_guest_query,
                "sendInvoice": self._send_invoice,
                "createInvoiceLink": self._create_invoice_link,
                "answerPreCheckoutQuery": self._answer_pre_checkout_query,
                "refundStarPayment": self._refund_star_payment,
                "getStarTransactions": self._get_star_transactions,
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

    # --- observing the bot

    def messages(self, chat_id: int) -> list[BotMessage]:
        """The bot's messages in a chat it is in as itself (see business_messages and guest_posts for others)."""
        with self._cond:
            return [copy.deepcopy(m) for m in self._bot_messages.values()
                    if m.chat_id == chat_id and m.inline_message_id is None and m.business_connection_id is None]

    def all_messages(self) -> list[BotMessage]:
        """Every message of the bot, wherever it is."""
        with self._cond:
            return [copy.deepcopy(m) for m in self._bot_messages.values()]

    def callback_answer(self, query_id: str) -> dict | None:
        """How the bot answered a callback query (see press_button): its text (or None), show_alert, url (or
        None), cache_time, and ``at``, the time.monotonic() it arrived; None while it is unanswered."""
        with self._cond:
            return copy.deepcopy(self._callback_answers.get(query_id))

    def calls(self, method: str | None = None) -> list[ApiCall]:
        with self._cond:
            return [c for c in self._calls if method is None or c.method.lower() == method.lower()]

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until predicate() holds; it is re-evaluated after every bot call and user action."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def stored_file_path(self, chat_id: int, message_id: int) -> Path:
        """Where, in local mode, the file of a media message (a user's or the bot's; a photo's largest size)
        lies on disk: tests delete, move or replace it there behind the bot's back."""
        if self._local_dir is None:
            raise RuntimeError("files lie on disk in local mode only: start the sandbox with local_dir")
        with self._cond:
            message = self._messages.get((chat_id, message_id), {})
            stored = self._files.get(_file_id(message))
        if stored is None:
            raise ValueError(f"no file in message {message_id} of chat {chat_id}")
        return Path(stored.file_path)

    def add_listener(self, callback: Callable[[SandboxEvent], None]) -> None:
        """Call back for every event, in order. Listeners run on the thread that caused the event (the
        server's for bot actions) while the sandbox is locked, so they must be quick and must not wait for
        other threads that use the sandbox."""
        with self._cond:
            self._listeners.append(callback)

    # --- faults

    def inject_fault(self, method: str, *, status: int = 500, retry_after: int | None = None,
                     delay: float = 0.0, drop: bool = False, times: int = 1, chat_id: int | None = None) -> None:
        """Make the next `times` calls of `method` ("file" for downloads) wait `delay` seconds, then either
        drop the connection unanswered or answer with an error of `status`; status 200 answers normally.
        With `chat_id`, only calls for that chat count, as a per-chat flood limit does (429 with retry_after)."""
        with self._cond:
            self._faults.setdefault(method.lower(), deque()).append(
                _Fault(status, retry_after, delay, drop, times, chat_id))

    def faults_left(self, method: str) -> int:
        """How many calls of `method` injected faults still wait for: 0 once each has met its calls."""
        with self._cond:
            return sum(fault.remaining for fault in self._faults.get(method.lower(), ()))

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
        if request.is_download and self._local_dir is not None:
            raise _ApiError(404, "Not Found")  # a local server serves no files: the bot reads them from disk
        if request.token != self._token:
            raise _ApiError(401, "Unauthorized")
        if not request.is_download and request.name.lower() not in self._methods:
            raise _ApiError(404, "Not Found: method not found")
        fault = self._take_fault(method, request.params.get("chat_id"))
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

    def _take_fault(self, method: str, chat_id: object) -> _Fault | None:
        with self._cond:
            queue = self._faults.get(method.lower(), ())
            fault = next((fault for fault in queue if fault.chat_id is None or str(fault.chat_id) == str(chat_id)),
                         None)
            if fault is None:
                return None
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.remove(fault)
            return fault

    def _download(self, file_path: str) -> _Reply:
        stored = self._files.at(file_path)
        if stored is None:
            raise _ApiError(404, "Not Found: file not found")
        return _Reply(200, stored.content(), "application/octet-stream")


def _file_id(message: dict) -> str | None:
    if "photo" in message:
        return message["photo"][-1]["file_id"]
    kind = next((kind for kind in _MEDIA_KINDS if kind in message), None)
    return None if kind is None else message[kind]["file_id"]


def _fault_error(fault: _Fault) -> _ApiError:
    if fault.status == 429 and fault.retry_after is not None:
        description = f"Too Many Requests: retry after {fault.retry_after}"
    else:
        try:
            description = HTTPStatus(fault.status).phrase
        except ValueError:
            description = "Error"
    return _ApiError(fault.status, description, fault.retry_after)

