"""The users' side, which tests play: users send the bot texts, voice and other media, and updates queue up.

Media content is bytes, or the path of a file, which is copied rather than read in local mode, so that a test
can send a file of hundreds of megabytes. ``message_thread_id`` puts a message in a forum topic that
``create_topic`` opened; without it, a message in a forum is in the General topic. ``press_button`` presses a
button of an inline keyboard the bot sent, which queues a callback query."""
from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

from .state import DEFAULT_TOPIC_ICON_COLOR, SandboxUser, _extension, _SandboxState, _StoredFile

GROUP_TITLE = "Sandbox group"

# Stand-ins for content the sandbox makes up itself (photos, stickers): bots only ever see file ids.
_PLACEHOLDER_JPEG = b"\xff\xd8\xff\xe0sandbox photo\xff\xd9"
_PLACEHOLDER_WEBP = b"RIFF\x00\x00\x00\x00WEBPsandbox sticker"


class _UsersSide(_SandboxState):
    """What tests do as Telegram users: the public ``send_*`` methods, ``press_button``, and the updates they
    queue."""

    def send_text(self, user: SandboxUser, text: str, chat_id: int | None = None,
                  reply_to: int | None = None, message_thread_id: int | None = None) -> int:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_length(command)}]
        return self._user_message(user, chat_id, content, "user_text", text, reply_to, message_thread_id)

    def send_voice(self, user: SandboxUser, data: bytes | Path, duration: int | None, mime_type: str = "audio/ogg",
                   chat_id: int | None = None, file_size: int | None = None,
                   message_thread_id: int | None = None) -> int:
        stored = self._store_file(data, file_size, "voice", "oga")
        voice = {**stored.ids(), "duration": duration, "mime_type": mime_type, "file_size": stored.size}
        return self._media_message(user, chat_id, message_thread_id, "voice", voice, stored, duration)

    def send_audio(self, user: SandboxUser, data: bytes | Path, duration: int | None,
                   mime_type: str = "audio/mpeg", file_name: str = "audio.mp3", chat_id: int | None = None,
                   file_size: int | None = None, message_thread_id: int | None = None) -> int:
        stored = self._store_file(data, file_size, "music", _extension(file_name, "mp3"))
        audio = {**stored.ids(), "duration": duration, "mime_type": mime_type, "file_size": stored.size,
                 "file_name": file_name, "title": file_name.rsplit(".", 1)[0]}
        return self._media_message(user, chat_id, message_thread_id, "audio", audio, stored, duration)

    def send_video_note(self, user: SandboxUser, data: bytes | Path, duration: int | None,
                        chat_id: int | None = None, file_size: int | None = None,
                        message_thread_id: int | None = None) -> int:
        stored = self._store_file(data, file_size, "video_notes", "mp4")
        note = {**stored.ids(), "length": 240, "duration": duration, "file_size": stored.size}
        return self._media_message(user, chat_id, message_thread_id, "video_note", note, stored, duration)

    def send_video(self, user: SandboxUser, data: bytes | Path, duration: int | None,
                   mime_type: str = "video/mp4", file_name: str = "video.mp4", chat_id: int | None = None,
                   file_size: int | None = None, message_thread_id: int | None = None) -> int:
        stored = self._store_file(data, file_size, "videos", _extension(file_name, "mp4"))
        video = {**stored.ids(), "width": 640, "height": 360, "duration": duration, "mime_type": mime_type,
                 "file_name": file_name, "file_size": stored.size}
        return self._media_message(user, chat_id, message_thread_id, "video", video, stored, duration)

    def send_document(self, user: SandboxUser, data: bytes | Path, file_name: str, mime_type: str,
                      chat_id: int | None = None, file_size: int | None = None,
                      message_thread_id: int | None = None) -> int:
        stored = self._store_file(data, file_size, "documents", _extension(file_name, "bin"))
        document = {**stored.ids(), "file_name": file_name, "mime_type": mime_type, "file_size": stored.size}
        return self._media_message(user, chat_id, message_thread_id, "document", document, stored)

    def send_photo(self, user: SandboxUser, chat_id: int | None = None, message_thread_id: int | None = None) -> int:
        sizes = []
        for side in (90, 320):
            stored = self._store_file(_PLACEHOLDER_JPEG, None, "photos", "jpg")
            sizes.append({**stored.ids(), "width": side, "height": side, "file_size": stored.size})
        return self._user_message(user, chat_id, {"photo": sizes}, "user_media", "[photo]",
                                  message_thread_id=message_thread_id)

    def send_sticker(self, user: SandboxUser, chat_id: int | None = None,
                     message_thread_id: int | None = None) -> int:
        stored = self._store_file(_PLACEHOLDER_WEBP, None, "stickers", "webp")
        sticker = {**stored.ids(), "type": "regular", "width": 512, "height": 512, "is_animated": False,
                   "is_video": False, "emoji": "👍", "file_size": stored.size}
        return self._user_message(user, chat_id, {"sticker": sticker}, "user_media", "[sticker 👍]",
                                  message_thread_id=message_thread_id)

    def create_topic(self, user: SandboxUser, chat_id: int, name: str,
                     icon_color: int = DEFAULT_TOPIC_ICON_COLOR) -> int:
        """`user` opens a topic in group `chat_id`, which becomes a forum supergroup first if it is not one yet
        (as when an admin turns topics on); returns the topic's message_thread_id."""
        if chat_id >= 0:
            raise ValueError("only group chats (negative ids) have topics")
        with self._cond:
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

    def make_group_admin(self, user: SandboxUser, chat_id: int) -> None:
        """getChatMember will answer "administrator" for this user in this group."""
        with self._cond:
            self._group_admins.setdefault(chat_id, set()).add(user.id)

    def push_update(self, update: dict) -> int:
        """Queue a raw update of any shape, even a malformed one; returns the update_id given to it."""
        with self._cond:
            return self._queue_update(copy.deepcopy(update))

    # --- users' side internals

    def _media_message(self, user: SandboxUser, chat_id: int | None, message_thread_id: int | None, kind: str,
                       media: dict, stored: _StoredFile, duration: int | None = None) -> int:
        seconds = "" if duration is None else f" {duration} s,"
        description = f"[{kind}{seconds} {stored.size} bytes]"
        content = {kind: {key: value for key, value in media.items() if value is not None}}
        return self._user_message(user, chat_id, content, "user_media", description,
                                  message_thread_id=message_thread_id)

    def _user_message(self, user: SandboxUser, chat_id: int | None, content: dict, kind: str,
                      description: str, reply_to: int | None = None, message_thread_id: int | None = None) -> int:
        chat_id = user.id if chat_id is None else chat_id
        with self._cond:
            if reply_to is not None and (chat_id, reply_to) not in self._messages:
                raise ValueError(f"no message {reply_to} in chat {chat_id} to reply to")
            if message_thread_id is not None and message_thread_id not in self._topics.get(chat_id, {}):
                raise ValueError(f"no topic {message_thread_id} in chat {chat_id} (see create_topic)")
            chat = self._open_chat(user, chat_id)
            message = self._new_message(chat, _user_json(user), content, reply_to, message_thread_id)
            self._queue_update({"message": message})
            self._emit(kind, chat_id, description, message["message_id"], user)
            return message["message_id"]

    def _open_chat(self, user: SandboxUser, chat_id: int) -> dict:
        if chat_id in self._topics:
            chat = {"id": chat_id, "type": "supergroup", "title": GROUP_TITLE, "is_forum": True}
        elif chat_id < 0:
            chat = {"id": chat_id, "type": "group", "title": GROUP_TITLE}
        elif chat_id == user.id:
            chat = {"id": chat_id, "type": "private", "first_name": user.first_name}
            if user.username:
                chat["username"] = user.username
        else:
            raise ValueError("a private chat's id is its user's id; group chats have negative ids")
        self._chats[chat_id] = chat
        return chat

    def _queue_update(self, update: dict) -> int:
        update["update_id"] = next(self._update_ids)
        self._updates.append(update)
        self._cond.notify_all()
        return update["update_id"]


def _user_json(user: SandboxUser) -> dict:
    sender = {"id": user.id, "is_bot": False, "first_name": user.first_name}
    if user.language_code:
        sender["language_code"] = user.language_code
    if user.username:
        sender["username"] = user.username
    return sender


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


def _utf16_length(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2
