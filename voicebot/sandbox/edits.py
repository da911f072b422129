"""Editing and deleting messages. The bot edits its own messages in its chats; its guest posts by
inline_message_id (answered with True, as for every inline message); with business_connection_id, the messages
of a business chat that the bot or the account's owner sent; and, as a channel's administrator with
can_edit_messages, anyone's posts in that channel."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

from .business import _BusinessSide
from .formatting import MAX_CAPTION_LENGTH, _checked_text, _formatted
from .guests import _GuestsSide
from .keyboards import _describe, _inline_markup, _shown
from .protocol import _NOT_MODIFIED, _ApiError, _int_param, _Request
from .state import BotMessage, ChatKey

_CAPTIONED = ("voice", "audio", "video", "document", "photo", "animation")


@dataclass
class _Edit:
    """A message an edit names, and the bot's record of it when the bot sent it."""
    key: ChatKey
    message: dict
    sent: BotMessage | None
    owner: int | None  # in a business chat, the account's owner, as whom the message is shown
    where: str  # the place of the edit's events (see SandboxEvent)
    inline: bool


class _EditMethods(_GuestsSide, _BusinessSide):
    """editMessageText, editMessageCaption, editMessageReplyMarkup and deleteMessage."""

    def _edit_message_text(self, request: _Request) -> dict | bool:
        """As in Telegram, an edit without reply_markup takes the message's inline keyboard away."""
        text, entities = _checked_text(request)
        markup = _inline_markup(request)
        with self._cond:
            edit = self._message_to_edit(request)
            message, sent = edit.message, edit.sent
            if "text" not in message:
                raise _ApiError(400, "Bad Request: there is no text in the message to edit")
            if (message["text"], message.get("entities", []), message.get("reply_markup")) == (text, entities, markup):
                raise _ApiError(400, _NOT_MODIFIED)
            if sent is not None and sent.text != text:
                sent.edits.append(sent.text)
                sent.text = text
            message["text"] = text
            _set_entities(message, "entities", entities)
            self._edited(edit, markup)
            self._emit("bot_edit", message["chat"]["id"], text, message["message_id"], None, edit.where)
            return self._edit_answer(edit)

    def _edit_message_caption(self, request: _Request) -> dict | bool:
        """The caption counts once its markup is parsed; an empty one takes the caption away."""
        caption, entities = _formatted(request, "caption", "caption_entities")
        markup = _inline_markup(request)
        with self._cond:
            edit = self._message_to_edit(request)
            message = edit.message
            if not any(kind in message for kind in _CAPTIONED):
                raise _ApiError(400, "Bad Request: there is no caption in the message to edit")
            if len(caption) > MAX_CAPTION_LENGTH:
                raise _ApiError(400, "Bad Request: MESSAGE_CAPTION_TOO_LONG")
            now = (message.get("caption", ""), message.get("caption_entities", []), message.get("reply_markup"))
            if now == (caption, entities, markup):
                raise _ApiError(400, _NOT_MODIFIED)
            message.pop("caption", None)
            message.update({"caption": caption} if caption else {})
            _set_entities(message, "caption_entities", entities if caption else [])
            if edit.sent is not None:
                edit.sent.caption = caption or None
            self._edited(edit, markup)
            self._emit("bot_caption", message["chat"]["id"], caption, message["message_id"], None, edit.where)
            return self._edit_answer(edit)

    def _edit_message_reply_markup(self, request: _Request) -> dict | bool:
        """Sets the message's inline keyboard, or without one takes it away. Telegram shows no such edit as one,
        so the message gets no edit_date."""
        markup = _inline_markup(request)
        with self._cond:
            edit = self._message_to_edit(request)
            if edit.message.get("reply_markup") == markup:
                raise _ApiError(400, _NOT_MODIFIED)
            self._set_markup(edit, markup)
            if edit.sent is not None:
                edit.sent.edit_count += 1
            message = edit.message
            self._emit("bot_markup", message["chat"]["id"], _describe(markup), message["message_id"], None,
                       edit.where)
            return self._edit_answer(edit)

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

    # --- internals (callers hold the lock)

    def _message_to_edit(self, request: _Request) -> _Edit:
        """The message an edit names: by inline_message_id, or by chat_id and message_id (in a business chat
        with business_connection_id), if the bot may edit it."""
        inline_message_id = request.params.get("inline_message_id")
        if inline_message_id not in (None, ""):
            location = self._inline_messages.get(str(inline_message_id))
            if location is None:
                raise _ApiError(400, "Bad Request: invalid inline message identifier specified")
            return _Edit(location[0], self._messages[location], self._bot_messages[location], None, "guest", True)
        if request.params.get("chat_id") in (None, "") and request.params.get("message_id") in (None, ""):
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        owner = None
        if request.params.get("business_connection_id") not in (None, ""):
            place = self._business_place(request)
            key, owner = place.key, place.sender["id"] if place.sender else None
        else:
            key = self._chat(request)["id"]
        message_id = _int_param(request, "message_id")
        message = self._messages.get((key, message_id))
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        sent = self._bot_messages.get((key, message_id))
        if not self._may_edit(key, message, sent, owner):
            raise _ApiError(400, "Bad Request: message can't be edited")
        return _Edit(key, message, sent, owner, "" if owner is None else "dialog", False)

    def _may_edit(self, key: ChatKey, message: dict, sent: BotMessage | None, owner: int | None) -> bool:
        """The bot's own messages (not its guest posts, which only their inline_message_id edits), a business
        account's own messages, and in a channel where it may edit messages anyone's posts."""
        if sent is not None and sent.inline_message_id is None:
            return True
        if owner is not None:
            return message.get("from", {}).get("id") == owner
        room = self._rooms.get(key) if isinstance(key, int) else None
        return (room is not None and room.is_channel and room.bot_status == "administrator"
                and "can_edit_messages" in room.bot_rights)

    def _edited(self, edit: _Edit, markup: dict | None) -> None:
        self._set_markup(edit, markup)
        edit.message["edit_date"] = int(time.time())
        if edit.sent is not None:
            edit.sent.edit_count += 1
        self._sync_discussion_copy(edit.key, edit.message)

    def _set_markup(self, edit: _Edit, markup: dict | None) -> None:
        """Give a message an edit's inline keyboard (None: none at all)."""
        edit.message.pop("reply_markup", None)
        edit.message.update(copy.deepcopy(_shown(markup)))
        if edit.sent is not None:
            edit.sent.reply_markup = copy.deepcopy(markup)

    def _edit_answer(self, edit: _Edit) -> dict | bool:
        """An inline message's edit is answered True, any other with the message as the bot sees it now."""
        if edit.inline:
            return True
        return copy.deepcopy(edit.message if edit.owner is None else self._seen_by(edit.message, edit.owner, edit.key))


def _set_entities(message: dict, field: str, entities: list[dict]) -> None:
    message.pop(field, None)
    if entities:
        message[field] = copy.deepcopy(entities)
