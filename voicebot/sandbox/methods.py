"""The Bot API methods the bot calls to read updates and to post: getUpdates, sendMessage, sendDocument,
sendChatAction, createForumTopic, answerCallbackQuery, getFile. Edits are in edits.py, webhooks in webhook.py."""
from __future__ import annotations

import copy
import mimetypes
import time
from pathlib import Path
from typing import Any

from .business import _BusinessSide
from .files import _extension
from .formatting import MAX_CAPTION_LENGTH, _checked_text, _formatted
from .keyboards import _reply_markup, _shown
from .protocol import _QUERY_INVALID, _ApiError, _bool_param, _int_param, _json_param, _Request
from .state import DEFAULT_TOPIC_ICON_COLOR, BotMessage, _Place

MAX_UPDATES_PER_POLL = 100
MAX_TOPIC_NAME_LENGTH = 128
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_CACHE_TIME = 30 * 24 * 60 * 60  # the Bot API server cuts a longer cache_time down to this


class _BotMethods(_BusinessSide):
    """getUpdates and the methods that post (run on the server's threads). A post goes where chat_id says, or with
    business_connection_id into a business chat on its owner's behalf."""

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

    def _send_chat_action(self, request: _Request) -> bool:
        with self._cond:
            self._requested_topic(self._sending_place(request).chat, request)
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
        text, entities = _checked_text(request)
        markup = _reply_markup(request)
        content = {"text": text, **({"entities": entities} if entities else {}), **_shown(markup)}
        with self._cond:
            message = self._bot_message(request, content, ("bot_message", text), reply_markup=markup)
            return copy.deepcopy(message)  # answered after the lock is released

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

    def _send_document(self, request: _Request) -> dict:
        caption, entities = _formatted(request, "caption", "caption_entities")
        if len(caption) > MAX_CAPTION_LENGTH:
            raise _ApiError(400, "Bad Request: message caption is too long")
        markup = _reply_markup(request)
        name, data = self._document_upload(request)
        stored = self._files.store(data, None, "documents", _extension(name, "bin"))
        mime_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        document = {**stored.ids(), "file_name": name, "mime_type": mime_type, "file_size": stored.size}
        captioned = {"caption": caption, **({"caption_entities": entities} if entities else {})} if caption else {}
        content = {"document": document, **captioned, **_shown(markup)}
        description = f"[document {name}, {len(data)} bytes] {caption}".strip()
        with self._cond:
            message = self._bot_message(request, content, ("bot_document", description), document=data,
                                        document_name=name, caption=caption or None, reply_markup=markup)
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
        try:
            return Path(known.file_path).name, known.content()
        except OSError:  # in local mode, a test took the file away
            raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified") from None

    def _get_file(self, request: _Request) -> dict:
        stored = self._files.get(str(request.params.get("file_id", "")))
        if stored is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        if stored.size > self._max_download_bytes:
            raise _ApiError(400, "Bad Request: file is too big")
        return {**stored.ids(), "file_size": stored.size, "file_path": stored.file_path}

    def _sending_place(self, request: _Request) -> _Place:
        if request.params.get("business_connection_id") not in (None, ""):
            return self._business_place(request)
        return self._bot_place(request)

    def _bot_message(self, request: _Request, content: dict, event: tuple[str, str], **stored_fields: Any) -> dict:
        """Create a message from the bot where the request says, honouring its reply parameters; `event` is the
        kind and text of the event it makes."""
        place = self._sending_place(request)
        topic = self._requested_topic(place.chat, request)
        reply_to, required = _reply_target(request)
        if reply_to is not None and required and (place.key, reply_to) not in self._messages:
            raise _ApiError(400, "Bad Request: message to be replied not found")
        # A copy, so that the message and the bot's record of it share no markup.
        message = self._new_message(place.chat, place.sender, {**place.fields, **copy.deepcopy(content)}, reply_to,
                                    topic, key=place.key)
        reply_to = message.get("reply_to_message", {}).get("message_id")
        self._bot_messages[(place.key, message["message_id"])] = BotMessage(
            chat_id=place.chat["id"], message_id=message["message_id"], text=content.get("text"), reply_to=reply_to,
            edits=[], message_thread_id=message.get("message_thread_id"),
            business_connection_id=place.fields.get("business_connection_id"), **stored_fields)
        room = self._rooms.get(place.key) if isinstance(place.key, int) else None
        if room is not None and room.is_channel:
            self._forward_to_discussion(room, message)
        kind, text = event
        self._emit(kind, place.chat["id"], text, message["message_id"], None, place.where)
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

