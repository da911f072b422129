"""The Bot API methods the bot calls, all but the webhook ones (webhook.py)."""
from __future__ import annotations

import copy
import mimetypes
import time
from pathlib import Path
from typing import Any

from .keyboards import _describe, _inline_markup, _reply_markup, _shown
from .protocol import _ApiError, _bool_param, _int_param, _json_param, _Request
from .state import DEFAULT_TOPIC_ICON_COLOR, BotMessage, _extension, _SandboxState

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_UPDATES_PER_POLL = 100
MAX_TOPIC_NAME_LENGTH = 128
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_CACHE_TIME = 30 * 24 * 60 * 60  # the Bot API server cuts a longer cache_time down to this
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


class _BotMethods(_SandboxState):
    """getUpdates and the chat, message and file methods (run on the server's threads)."""

    def _get_updates(self, request: _Request) -> list[dict]:
        offset = _int_param(request, "offset", default=0)
        limit = _int_param(request, "limit", default=0) or MAX_UPDATES_PER_POLL
        limit = min(max(limit, 1), MAX_UPDATES_PER_POLL)
        timeout = max(_int_param(request, "timeout", default=0), 0)
        with self._cond:
            if self._webhook is not None:
                raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                     "use deleteWebhook to delete the webhook first")
            # As Telegram: the newest request is served, and one still waiting is ended with a conflict
            # (a bot whose process died leaves its last long poll open; the one after it must not wait).
            self._polls += 1
            poll = self._polls
            self._cond.notify_all()
            self._set_allowed_updates(request)  # for this poll already; without the parameter it stays as it was
            self._confirm_updates(offset)
            self._cond.wait_for(lambda: self._pending_updates() or self._stopping or self._polls != poll, timeout)
            if self._polls != poll:
                raise _ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only one "
                                     "bot instance is running")
            return copy.deepcopy(self._pending_updates()[:limit])

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
            self._requested_topic(self._chat(request), request)
            return True

    def _create_forum_topic(self, request: _Request) -> dict:
        # TDLib cuts a longer name down to the limit rather than refusing it.
        name = str(request.params.get("name") or "").strip()[:MAX_TOPIC_NAME_LENGTH]
        icon_color = _int_param(request, "icon_color", default=DEFAULT_TOPIC_ICON_COLOR)
        with self._cond:
            chat = self._chat(request)
            if chat["id"] not in self._topics:
                raise _ApiError(400, "Bad Request: the chat is not a forum")
            if not name:
                raise _ApiError(400, "Bad Request: title must be non-empty")
            return copy.deepcopy(self._new_topic(chat, self._bot_user(), name, icon_color))

    def _send_message(self, request: _Request) -> dict:
        text = _checked_text(request)
        markup = _reply_markup(request)
        with self._cond:
            message = self._bot_message(request, {"text": text, **_shown(markup)}, reply_markup=markup)
            self._emit("bot_message", message["chat"]["id"], text, message["message_id"], None)
            return copy.deepcopy(message)  # answered after the lock is released

    def _edit_message_text(self, request: _Request) -> dict:
        """As in Telegram, an edit without reply_markup takes the message's inline keyboard away."""
        text = _checked_text(request)
        markup = _inline_markup(request)
        with self._cond:
            message, sent = self._message_to_edit(request)
            if sent.text is None:
                raise _ApiError(400, "Bad Request: there is no text in the message to edit")
            if sent.text == text and message.get("reply_markup") == markup:
                raise _ApiError(400, _NOT_MODIFIED)
            if sent.text != text:
                sent.edits.append(sent.text)
            sent.text = message["text"] = text
            self._set_markup(message, sent, markup)
            message["edit_date"] = int(time.time())
            self._emit("bot_edit", sent.chat_id, text, sent.message_id, None)
            return copy.deepcopy(message)

    def _edit_message_reply_markup(self, request: _Request) -> dict:
        """Sets the message's inline keyboard, or without one takes it away. Telegram shows no such edit as one,
        so the message gets no edit_date. The sandbox has no inline messages: any inline_message_id is unknown."""
        markup = _inline_markup(request)
        if request.params.get("chat_id") in (None, "") and request.params.get("message_id") in (None, ""):
            if request.params.get("inline_message_id") in (None, ""):
                raise _ApiError(400, "Bad Request: message identifier is not specified")
            raise _ApiError(400, "Bad Request: invalid inline message identifier specified")
        with self._cond:
            message, sent = self._message_to_edit(request)
            if message.get("reply_markup") == markup:
                raise _ApiError(400, _NOT_MODIFIED)
            self._set_markup(message, sent, markup)
            self._emit("bot_markup", sent.chat_id, _describe(markup), sent.message_id, None)
            return copy.deepcopy(message)

    def _message_to_edit(self, request: _Request) -> tuple[dict, BotMessage]:
        """The Telegram-shaped message an edit names, and the bot's record of it; only the bot's own can be
        edited."""
        chat_id = self._chat(request)["id"]
        message_id = _int_param(request, "message_id")
        message = self._messages.get((chat_id, message_id))
        sent = self._bot_messages.get((chat_id, message_id))
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        if sent is None:
            raise _ApiError(400, "Bad Request: message can't be edited")
        return message, sent

    def _set_markup(self, message: dict, sent: BotMessage, markup: dict | None) -> None:
        """Give a message an edit's inline keyboard (None: none at all)."""
        message.pop("reply_markup", None)
        message.update(copy.deepcopy(_shown(markup)))
        sent.reply_markup = copy.deepcopy(markup)

    def _answer_callback_query(self, request: _Request) -> bool:
        """A query can be answered once; a refused answer (text too long) leaves it unanswered."""
        text = str(request.params.get("text") or "") or None
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        answer = {"text": text, "show_alert": _bool_param(request, "show_alert"),
                  "url": str(request.params.get("url") or "") or None, "cache_time": _cache_time(request)}
        with self._cond:
            query_id = str(request.params.get("callback_query_id", "")).strip()
            if query_id not in self._callback_answers or self._callback_answers[query_id] is not None:
                raise _ApiError(400, _QUERY_INVALID)
            self._callback_answers[query_id] = {**answer, "at": time.monotonic()}
            self._cond.notify_all()
            return True

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
        markup = _reply_markup(request)
        name, data = self._document_upload(request)
        stored = self._store_file(data, None, "documents", _extension(name, "bin"))
        mime_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        document = {**stored.ids(), "file_name": name, "mime_type": mime_type, "file_size": stored.size}
        content = {"document": document, **({"caption": caption} if caption else {}), **_shown(markup)}
        with self._cond:
            message = self._bot_message(request, content, document=data, document_name=name, caption=caption,
                                        reply_markup=markup)
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
        with self._cond:
            known = self._files.get(str(request.params.get("document", "")))
        if known is None:
            raise _ApiError(400, "Bad Request: there is no document in the request")
        try:
            return Path(known.file_path).name, known.content()
        except OSError:  # in local mode, a test took the file away
            raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified") from None

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
        topic = self._requested_topic(chat, request)
        reply_to, required = _reply_target(request)
        if reply_to is not None and required and (chat["id"], reply_to) not in self._messages:
            raise _ApiError(400, "Bad Request: message to be replied not found")
        # A copy, so that the message and the bot's record of it share no markup.
        message = self._new_message(chat, self._bot_user(), copy.deepcopy(content), reply_to, topic)
        reply_to = message.get("reply_to_message", {}).get("message_id")
        self._bot_messages[(chat["id"], message["message_id"])] = BotMessage(
            chat_id=chat["id"], message_id=message["message_id"], text=content.get("text"), reply_to=reply_to,
            edits=[], message_thread_id=message.get("message_thread_id"), **stored_fields)
        return message

    def _requested_topic(self, chat: dict, request: _Request) -> int | None:
        topic = _int_param(request, "message_thread_id", default=0) or None
        if self._is_unknown_topic(chat["id"], topic):
            raise _ApiError(400, "Bad Request: message thread not found")
        return topic


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


def _cache_time(request: _Request) -> int:
    """cache_time as the Bot API server reads it: garbage is 0, and it is kept within 0 to 30 days."""
    try:
        seconds = int(request.params.get("cache_time") or 0)
    except (TypeError, ValueError):
        seconds = 0
    return min(max(seconds, 0), MAX_CACHE_TIME)


def _checked_text(request: _Request) -> str:
    text = request.params.get("text")
    text = "" if text is None else str(text)
    if not text.strip():
        raise _ApiError(400, "Bad Request: message text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise _ApiError(400, "Bad Request: message is too long")
    return text
