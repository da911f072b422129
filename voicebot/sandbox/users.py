"""The users' side, which tests play: users send the bot texts, voice and other media, and updates queue up.

Media content is bytes, or the path of a file, which is copied rather than read in local mode, so that a test
can send a file of hundreds of megabytes. ``chat_id`` is the chat written in (by default the user's chat with the
bot; a group; a channel, where only its admins post); ``to`` instead names another user, whose private chat with
this one it is (see chats.py for who gets what). ``message_thread_id`` puts a message in a forum topic that
``create_topic`` opened; without it, a message in a forum is in the General topic. ``press_button`` presses a
button of an inline keyboard the bot sent, which queues a callback query. ``forward_message`` forwards a message
elsewhere, its media with the same file ids, and a forward_origin that says whose it was."""
from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

from .chats import _CONTENT_FIELDS, _ChatsSide, _user_json
from .files import _extension, _StoredFile
from .formatting import _utf16_length
from .state import DEFAULT_TOPIC_ICON_COLOR, SandboxUser

# Stand-ins for content the sandbox makes up itself (photos, stickers): bots only ever see file ids.
_PLACEHOLDER_JPEG = b"\xff\xd8\xff\xe0sandbox photo\xff\xd9"
_PLACEHOLDER_WEBP = b"RIFF\x00\x00\x00\x00WEBPsandbox sticker"
_MEDIA_KINDS = ("voice", "audio", "video", "video_note", "document", "photo", "sticker")


class _UsersSide(_ChatsSide):
    """What tests do as Telegram users: the public ``send_*`` methods, ``forward_message``, ``press_button``, and
    the updates they queue."""

    def send_text(self, user: SandboxUser, text: str, chat_id: int | None = None,
                  reply_to: int | None = None, message_thread_id: int | None = None, *,
                  to: SandboxUser | None = None) -> int:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_length(command)}]
        return self._user_message(user, chat_id, content, "user_text", text, reply_to, message_thread_id, to)

    def send_voice(self, user: SandboxUser, data: bytes | Path, duration: int | None, mime_type: str = "audio/ogg",
                   chat_id: int | None = None, file_size: int | None = None,
                   message_thread_id: int | None = None, *, caption: str | None = None,
                   to: SandboxUser | None = None, reply_to: int | None = None) -> int:
        stored = self._files.store(data, file_size, "voice", "oga")
        voice = {**stored.ids(), "duration": duration, "mime_type": mime_type, "file_size": stored.size}
        return self._media_message(user, chat_id, message_thread_id, "voice", voice, stored, duration, caption, to,
                                   reply_to)

    def send_audio(self, user: SandboxUser, data: bytes | Path, duration: int | None,
                   mime_type: str = "audio/mpeg", file_name: str = "audio.mp3", chat_id: int | None = None,
                   file_size: int | None = None, message_thread_id: int | None = None, *, caption: str | None = None,
                   to: SandboxUser | None = None, reply_to: int | None = None) -> int:
        stored = self._files.store(data, file_size, "music", _extension(file_name, "mp3"))
        audio = {**stored.ids(), "duration": duration, "mime_type": mime_type, "file_size": stored.size,
                 "file_name": file_name, "title": file_name.rsplit(".", 1)[0]}
        return self._media_message(user, chat_id, message_thread_id, "audio", audio, stored, duration, caption, to,
                                   reply_to)

    def send_video_note(self, user: SandboxUser, data: bytes | Path, duration: int | None,
                        chat_id: int | None = None, file_size: int | None = None,
                        message_thread_id: int | None = None, *, to: SandboxUser | None = None,
                        reply_to: int | None = None) -> int:
        stored = self._files.store(data, file_size, "video_notes", "mp4")
        note = {**stored.ids(), "length": 240, "duration": duration, "file_size": stored.size}
        return self._media_message(user, chat_id, message_thread_id, "video_note", note, stored, duration, None, to,
                                   reply_to)

    def send_video(self, user: SandboxUser, data: bytes | Path, duration: int | None,
                   mime_type: str = "video/mp4", file_name: str = "video.mp4", chat_id: int | None = None,
                   file_size: int | None = None, message_thread_id: int | None = None, *, caption: str | None = None,
                   to: SandboxUser | None = None, reply_to: int | None = None) -> int:
        stored = self._files.store(data, file_size, "videos", _extension(file_name, "mp4"))
        video = {**stored.ids(), "width": 640, "height": 360, "duration": duration, "mime_type": mime_type,
                 "file_name": file_name, "file_size": stored.size}
        return self._media_message(user, chat_id, message_thread_id, "video", video, stored, duration, caption, to,
                                   reply_to)

    def send_document(self, user: SandboxUser, data: bytes | Path, file_name: str, mime_type: str,
                      chat_id: int | None = None, file_size: int | None = None,
                      message_thread_id: int | None = None, *, caption: str | None = None,
                      to: SandboxUser | None = None, reply_to: int | None = None) -> int:
        stored = self._files.store(data, file_size, "documents", _extension(file_name, "bin"))
        document = {**stored.ids(), "file_name": file_name, "mime_type": mime_type, "file_size": stored.size}
        return self._media_message(user, chat_id, message_thread_id, "document", document, stored, None, caption,
                                   to, reply_to)

    def send_photo(self, user: SandboxUser, chat_id: int | None = None, message_thread_id: int | None = None) -> int:
        sizes = []
        for side in (90, 320):
            stored = self._files.store(_PLACEHOLDER_JPEG, None, "photos", "jpg")
            sizes.append({**stored.ids(), "width": side, "height": side, "file_size": stored.size})
        return self._user_message(user, chat_id, {"photo": sizes}, "user_media", "[photo]",
                                  message_thread_id=message_thread_id)

    def send_sticker(self, user: SandboxUser, chat_id: int | None = None,
                     message_thread_id: int | None = None) -> int:
        stored = self._files.store(_PLACEHOLDER_WEBP, None, "stickers", "webp")
        sticker = {**stored.ids(), "type": "regular", "width": 512, "height": 512, "is_animated": False,
                   "is_video": False, "emoji": "👍", "file_size": stored.size}
        return self._user_message(user, chat_id, {"sticker": sticker}, "user_media", "[sticker 👍]",
                                  message_thread_id=message_thread_id)

    def forward_message(self, user: SandboxUser, message_id: int, *, from_chat_id: int | None = None,
                        from_dialog: SandboxUser | None = None, chat_id: int | None = None,
                        to: SandboxUser | None = None) -> int:
        """`user` forwards message `message_id` of chat `from_chat_id` (by default their chat with the bot), or of
        their private chat with `from_dialog`, into `chat_id` (by default their chat with the bot) or their private
        chat with `to`. The forward shows what the original shows, its media with the same file_id and
        file_unique_id, and its forward_origin: the original's, when it was a forward itself."""
        with self._cond:
            key = self._dialog_key(user, from_dialog) if from_dialog else (from_chat_id or user.id)
            original = self._messages.get((key, message_id))
            if original is None:
                raise ValueError(f"no message {message_id} in that chat to forward")
            content = {field: copy.deepcopy(original[field]) for field in _CONTENT_FIELDS if field in original}
            content["forward_origin"] = copy.deepcopy(original.get("forward_origin") or self._origin_of(original))
        kind = next((kind for kind in _MEDIA_KINDS if kind in content), None)
        description = content.get("text", "") if kind is None else f"[forwarded {kind}] {content.get('caption', '')}"
        return self._user_message(user, chat_id, content, "user_text" if kind is None else "user_media",
                                  description.strip(), to=to)

    def create_topic(self, user: SandboxUser, chat_id: int, name: str,
                     icon_color: int = DEFAULT_TOPIC_ICON_COLOR) -> int:
        """`user` opens a topic in group `chat_id`, which becomes a forum supergroup first if it is not one yet
        (as when an admin turns topics on); returns the topic's message_thread_id."""
        if chat_id >= 0:
            raise ValueError("only group chats (negative ids) have topics")
        with self._cond:
            room = self._rooms.get(chat_id)
            if room is not None and room.is_channel:
                raise ValueError("channels have no topics")
            if chat_id not in self._topics:
                self._topics[chat_id] = {}
                # Telegram's General topic is thread 1, so no other topic may get that id.
                self._next_message_id[chat_id] = max(self._next_message_id.get(chat_id, 1), 2)
            chat = self._open_chat(user, chat_id)
            topic = self._new_topic(chat, _user_json(user), name, icon_color)
            self._cond.notify_all()
            return topic["message_thread_id"]

    def press_button(self, user: SandboxUser, chat_id: int, message_id: int, text: str | None = None,
                     data: str | None = None) -> str:
        """`user` presses the button labelled `text` of the bot's message as it stands now; or, with `data`, their
        client sends that callback data as a modified client can (it need be on no button, nor within 64
        bytes), which is how a test forges data. Returns the callback query's id, for answerCallbackQuery."""
        if (text is None) == (data is None):
            raise ValueError("give either the text of the button pressed or the data a client forges")
        with self._cond:
            message = self._messages.get((chat_id, message_id))
            if message is None or (chat_id, message_id) not in self._bot_messages:
                raise ValueError(f"no message {message_id} of the bot in chat {chat_id}")
            if 0 < chat_id != user.id:
                raise ValueError("a private chat's buttons are its user's")
            if text is not None:
                data = _callback_data(message, text)
            query_id = str(next(self._callback_query_ids))
            self._callback_answers[query_id] = None
            self._queue_update({"callback_query": {
                "id": query_id, "from": _user_json(user), "message": copy.deepcopy(message),
                "chat_instance": _chat_instance(chat_id), "data": data}})
            self._emit("user_press", chat_id, data, message_id, user)
            return query_id

    def push_update(self, update: dict) -> int:
        """Queue a raw update of any shape, even a malformed one; returns the update_id given to it."""
        with self._cond:
            return self._queue_update(copy.deepcopy(update))

    # --- users' side internals

    def _media_message(self, user: SandboxUser, chat_id: int | None, message_thread_id: int | None, kind: str,
                       media: dict, stored: _StoredFile, duration: int | None = None, caption: str | None = None,
                       to: SandboxUser | None = None, reply_to: int | None = None) -> int:
        seconds = "" if duration is None else f" {duration} s,"
        description = f"[{kind}{seconds} {stored.size} bytes] {caption or ''}".strip()
        content = {kind: {key: value for key, value in media.items() if value is not None}}
        if caption:
            content["caption"] = caption
        return self._user_message(user, chat_id, content, "user_media", description, reply_to, message_thread_id,
                                  to)

    def _user_message(self, user: SandboxUser, chat_id: int | None, content: dict, kind: str, description: str,
                      reply_to: int | None = None, message_thread_id: int | None = None,
                      to: SandboxUser | None = None) -> int:
        with self._cond:
            place = self._user_place(user, chat_id, to)
            if reply_to is not None and (place.key, reply_to) not in self._messages:
                raise ValueError(f"no message {reply_to} in chat {place.chat['id']} to reply to")
            if message_thread_id is not None and message_thread_id not in self._topics.get(place.key, {}):
                raise ValueError(f"no topic {message_thread_id} in chat {place.chat['id']} (see create_topic)")
            message = self._new_message(place.chat, place.sender, {**place.fields, **content}, reply_to,
                                        message_thread_id, key=place.key)
            self._deliver(place, message)
            self._emit(kind, place.chat["id"], description, message["message_id"], user, place.where)
            return message["message_id"]

    def _origin_of(self, message: dict) -> dict:
        """The MessageOrigin of a message forwarded for the first time: its channel, or its sender, whose name
        alone shows when they hide their forwards."""
        if "sender_chat" in message and message["sender_chat"]["type"] == "channel":
            return {"type": "channel", "date": message["date"], "chat": message["sender_chat"],
                    "message_id": message["message_id"]}
        sender = message["from"]
        known = self._known_users.get(sender["id"])
        if known is not None and known.hides_forwards:
            return {"type": "hidden_user", "date": message["date"], "sender_user_name": known.first_name}
        return {"type": "user", "date": message["date"], "sender_user": sender}


def _callback_data(message: dict, text: str) -> str:
    """The callback data of the button labelled `text` in a message's inline keyboard."""
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    button = next((button for row in rows for button in row if button["text"] == text), None)
    if button is None:
        raise ValueError(f"message {message['message_id']} has no button {text!r}")
    if "callback_data" not in button:
        raise ValueError(f"button {text!r} sends no callback query (it has no callback_data)")
    return button["callback_data"]


def _chat_instance(chat_id: int) -> str:
    """A stable stand-in for Telegram's chat_instance: a signed 64-bit number as a string, one per chat."""
    digest = hashlib.sha256(f"chat_instance:{chat_id}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big", signed=True))
