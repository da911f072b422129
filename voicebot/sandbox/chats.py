"""The chats of the sandbox's world and how their messages reach the bot.

A private chat with the bot has the user's id; a group nobody set up is a plain group with the bot in it, made
when a user first writes there. ``create_group`` and ``create_channel`` set up the others: supergroups, public ones
(an @username, which methods take as chat_id), groups without the bot, channels with the bot as an administrator
(with the rights given) or not in them, and a channel's discussion group, where Telegram forwards each of its posts
(``is_automatic_forward``) and where comments are replies to that forward. A private chat between two users
(``to=`` in the users' methods) reaches the bot only through a business connection of one of them. getChat and
getChatMember answer from all this."""
from __future__ import annotations

import copy
from collections.abc import Iterable

from .protocol import _ApiError, _int_param, _Request
from .state import TELEGRAM_USER, ChatKey, SandboxUser, _Place, _Room, _SandboxState

GROUP_TITLE = "Sandbox group"
# What a message shows, as a forward copies it.
_CONTENT_FIELDS = ("text", "entities", "caption", "caption_entities", "voice", "audio", "video", "video_note",
                   "document", "photo", "sticker")
# The rights every ChatMemberAdministrator lists, and those for channels or groups only.
_ADMIN_RIGHTS = ("can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
                 "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
                 "can_delete_stories")
_CHANNEL_RIGHTS = ("can_post_messages", "can_edit_messages")
_GROUP_RIGHTS = ("can_pin_messages", "can_manage_topics")
_POSTING_STATUSES = ("creator", "administrator")


class _ChatsSide(_SandboxState):
    """Setting chats up, finding the chat a call names, and routing users' messages to the bot."""

    def create_group(self, chat_id: int, title: str = GROUP_TITLE, *, supergroup: bool = False,
                     username: str | None = None, bot_is_member: bool = True, owner: SandboxUser | None = None) -> int:
        """A group (or supergroup) with the bot in it or not; without it, its messages reach the bot only as guest
        queries (see mention_bot). With `username` it is public, and "@username" names it in methods."""
        chat = {"id": chat_id, "type": "supergroup" if supergroup or username else "group", "title": title}
        return self._set_up_room(chat, username, "member" if bot_is_member else "left", (), owner, ())

    def create_channel(self, chat_id: int, title: str, username: str | None = None, *, owner: SandboxUser,
                       admins: Iterable[SandboxUser] = (),
                       bot_rights: Iterable[str] | None = _CHANNEL_RIGHTS, discussion_group: int | None = None) -> int:
        """A channel that `owner` and `admins` post in. The bot is an administrator with `bot_rights` (of
        ChatMemberAdministrator: can_post_messages, can_edit_messages...), or with None not in it at all.
        `discussion_group`: a supergroup set up with create_group, which becomes the channel's linked chat."""
        chat = {"id": chat_id, "type": "channel", "title": title}
        with self._cond:
            if discussion_group is not None:
                group = self._rooms.get(discussion_group)
                if group is None or group.chat["type"] != "supergroup":
                    raise ValueError("a discussion group is a supergroup set up with create_group(supergroup=True)")
            status = "left" if bot_rights is None else "administrator"
            self._set_up_room(chat, username, status, bot_rights or (), owner, admins)
            if discussion_group is not None:
                self._rooms[chat_id].linked_chat_id = discussion_group
                self._rooms[discussion_group].linked_chat_id = chat_id
            return chat_id

    def join_chat(self, user: SandboxUser, chat_id: int) -> None:
        """`user` becomes a member of a group or channel set up with create_group or create_channel."""
        with self._cond:
            self._room(chat_id).members.setdefault(user.id, (user, "member"))

    def make_group_admin(self, user: SandboxUser, chat_id: int) -> None:
        """getChatMember will answer "administrator" for this user in this group or channel (in a channel, one who
        posts)."""
        with self._cond:
            room = self._rooms.get(chat_id)
            if room is None:
                self._group_admins.setdefault(chat_id, set()).add(user.id)
            else:
                room.members[user.id] = (user, "administrator")

    def message(self, chat_id: int, message_id: int) -> dict | None:
        """A message of a chat the bot sees as itself, anyone's, as Telegram shows it now; None once deleted."""
        with self._cond:
            return copy.deepcopy(self._messages.get((chat_id, message_id)))

    def discussion_copy(self, channel_id: int, message_id: int) -> int | None:
        """The message_id, in the channel's discussion group, of the automatic forward of one of its posts."""
        with self._cond:
            return self._discussion_copies.get((channel_id, message_id))

    # --- Bot API methods

    def _get_chat(self, request: _Request) -> dict:
        with self._cond:
            chat = self._chat(request)
            room = self._rooms.get(chat["id"])
            if room is not None and room.bot_status == "left" and "username" not in chat:
                raise _ApiError(400, "Bad Request: chat not found")  # a private chat the bot is not in
            private = chat["type"] == "private"
            info = {**chat, "accent_color_id": abs(chat["id"]) % 7, "max_reaction_count": 11,
                    "accepted_gift_types": dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts",
                                                          "premium_subscription", "gifts_from_channels"), private)}
            if room is not None and room.linked_chat_id is not None:
                info["linked_chat_id"] = room.linked_chat_id
            return copy.deepcopy(info)

    def _get_chat_member(self, request: _Request) -> dict:
        with self._cond:
            chat = self._chat(request)
            user_id = _int_param(request, "user_id")
            room = self._rooms.get(chat["id"])
            if room is None:
                admin = chat["type"] != "private" and user_id in self._group_admins.get(chat["id"], set())
                return {"user": {"id": user_id, "is_bot": False, "first_name": str(user_id)},
                        "status": "administrator" if admin else "member"}
            if user_id == self._bot_sender()["id"]:
                return _member(room, self._bot_sender(), room.bot_status, room.bot_rights)
            user, status = room.members.get(user_id, (None, "left"))
            sender = _user_json(user) if user else {"id": user_id, "is_bot": False, "first_name": str(user_id)}
            return _member(room, sender, status, _CHANNEL_RIGHTS + _GROUP_RIGHTS + _ADMIN_RIGHTS)

    # --- internals (callers hold the lock)

    def _chat(self, request: _Request) -> dict:
        """The chat a call's chat_id names: an id, or for a public group or channel its "@username"."""
        value = str(request.params.get("chat_id", "")).strip()
        if value.startswith("@"):
            chat = next((room.chat for room in self._rooms.values()
                         if room.chat.get("username", "").lower() == value[1:].lower()), None)
        else:
            try:
                chat = self._chats.get(int(value))
            except ValueError:
                chat = None
        if chat is None:
            raise _ApiError(400, "Bad Request: chat not found")
        return chat

    def _bot_place(self, request: _Request) -> _Place:
        """Where the bot posts as itself: a channel's posts are the channel's, and need the right to post."""
        chat = self._chat(request)
        room = self._rooms.get(chat["id"])
        if room is None:
            return _Place(chat["id"], chat, self._bot_sender())
        if room.bot_status == "left":
            raise _ApiError(403, f"Forbidden: bot is not a member of the {chat['type']} chat")
        if room.is_channel:
            if "can_post_messages" not in room.bot_rights:
                raise _ApiError(400, "Bad Request: need administrator rights in the channel chat")
            return _Place(chat["id"], chat, None, {"sender_chat": chat})
        return _Place(chat["id"], chat, self._bot_sender())

    def _user_place(self, user: SandboxUser, chat_id: int | None, to: SandboxUser | None) -> _Place:
        """Where `user` writes: their chat with the bot by default, a group or channel, or with `to` their private
        chat with that user."""
        if to is not None:
            if chat_id is not None:
                raise ValueError("give chat_id or to, not both")
            key = self._open_dialog(user, to)
            return _Place(key, self._dialogs[key][user.id], _user_json(user), where="dialog")
        self._known_users[user.id] = user
        chat_id = user.id if chat_id is None else chat_id
        chat = self._open_chat(user, chat_id)
        room = self._rooms.get(chat_id)
        if room is not None and room.is_channel:
            if room.members.get(user.id, (user, "left"))[1] not in _POSTING_STATUSES:
                raise ValueError(f"{user.first_name} does not administer channel {chat_id}: only its admins post")
            return _Place(chat_id, chat, None, {"sender_chat": chat})
        if room is not None:
            room.members.setdefault(user.id, (user, "member"))
        return _Place(chat_id, chat, _user_json(user))

    def _open_chat(self, user: SandboxUser, chat_id: int) -> dict:
        room = self._rooms.get(chat_id)
        if room is not None:
            if chat_id in self._topics and not room.chat.get("is_forum"):
                room.chat = {**room.chat, "type": "supergroup", "is_forum": True}
            chat = room.chat
        elif chat_id in self._topics:
            chat = {"id": chat_id, "type": "supergroup", "title": GROUP_TITLE, "is_forum": True}
        elif chat_id < 0:
            chat = {"id": chat_id, "type": "group", "title": GROUP_TITLE}
        elif chat_id == user.id:
            chat = _private_chat(user)
        else:
            raise ValueError("a private chat's id is its user's id (see to= for chats between users); "
                             "group chats have negative ids")
        self._chats[chat_id] = chat
        return chat

    def _open_dialog(self, user: SandboxUser, other: SandboxUser) -> tuple[int, int]:
        if user.id == other.id:
            raise ValueError("a private chat between two users needs two users")
        key = (min(user.id, other.id), max(user.id, other.id))
        self._dialogs[key] = {user.id: _private_chat(other), other.id: _private_chat(user)}
        self._known_users[user.id], self._known_users[other.id] = user, other
        return key

    def _dialog_key(self, user: SandboxUser, other: SandboxUser) -> tuple[int, int]:
        key = (min(user.id, other.id), max(user.id, other.id))
        if key not in self._dialogs:
            raise ValueError(f"{user.first_name} and {other.first_name} have no private chat yet")
        return key

    def _seen_by(self, message: dict, viewer: int, key: ChatKey) -> dict:
        """A message of a private chat between two users as one of them sees it: the chat is the other one."""
        if not isinstance(key, tuple):
            return message
        chat = self._dialogs[key][viewer]
        seen = {**message, "chat": chat}
        if "reply_to_message" in message:
            seen["reply_to_message"] = {**message["reply_to_message"], "chat": chat}
        return seen

    def _deliver(self, place: _Place, message: dict) -> None:
        """Queue the updates a user's new message makes: the bot gets it if it is in the chat (a channel's posts
        as channel_post), a channel's discussion group gets its automatic forward, and each user with a business
        connection gets a private chat's messages as business_message."""
        if isinstance(place.key, tuple):
            for owner in place.key:
                connection = next((c for c in self._business.values() if c.owner.id == owner and c.is_enabled), None)
                if connection is not None:
                    seen = self._seen_by(message, owner, place.key)
                    self._queue_update({"business_message": {**seen, "business_connection_id": connection.id}})
            return
        room = self._rooms.get(place.key)
        if room is None or (not room.is_channel and room.bot_status != "left"):
            self._queue_update({"message": message})
        elif room.is_channel:
            if room.bot_status == "administrator":
                self._queue_update({"channel_post": message})
            self._forward_to_discussion(room, message)

    def _forward_to_discussion(self, channel: _Room, post: dict) -> None:
        """Telegram forwards every post of a channel into its discussion group, from its own service user."""
        if channel.linked_chat_id is None:
            return
        group = self._rooms[channel.linked_chat_id]
        origin = {"type": "channel", "date": post["date"], "chat": channel.chat, "message_id": post["message_id"]}
        content = {key: copy.deepcopy(post[key]) for key in _CONTENT_FIELDS if key in post}
        forward = self._new_message(group.chat, TELEGRAM_USER, {"sender_chat": channel.chat, "forward_origin": origin,
                                                                "is_automatic_forward": True, **content}, None)
        self._discussion_copies[(channel.chat["id"], post["message_id"])] = forward["message_id"]
        self._deliver(_Place(group.chat["id"], group.chat, TELEGRAM_USER), forward)

    def _sync_discussion_copy(self, key: ChatKey, message: dict) -> None:
        """An edit of a channel post shows in its automatic forward too."""
        copy_id = self._discussion_copies.get((key, message["message_id"])) if isinstance(key, int) else None
        room = self._rooms.get(key) if isinstance(key, int) else None
        forward = None if copy_id is None or room is None else self._messages.get((room.linked_chat_id, copy_id))
        if forward is not None:
            for field in _CONTENT_FIELDS:
                forward.pop(field, None)
            forward.update({key: copy.deepcopy(message[key]) for key in _CONTENT_FIELDS if key in message})

    def _room(self, chat_id: int) -> _Room:
        room = self._rooms.get(chat_id)
        if room is None:
            raise ValueError(f"chat {chat_id} was not set up with create_group or create_channel")
        return room

    def _set_up_room(self, chat: dict, username: str | None, bot_status: str, bot_rights: Iterable[str],
                     owner: SandboxUser | None, admins: Iterable[SandboxUser]) -> int:
        if chat["id"] >= 0:
            raise ValueError("groups and channels have negative ids")
        if username:
            chat["username"] = username.removeprefix("@")
        with self._cond:
            if chat["id"] in self._chats:
                raise ValueError(f"chat {chat['id']} exists already")
            room = _Room(chat, bot_status, frozenset(bot_rights))
            for user in admins:
                room.members[user.id] = (user, "administrator")
            if owner is not None:
                room.members[owner.id] = (owner, "creator")
            self._rooms[chat["id"]] = room
            self._chats[chat["id"]] = chat
            return chat["id"]


def _member(room: _Room, user: dict, status: str, rights: Iterable[str]) -> dict:
    """A ChatMember as getChatMember answers: an administrator lists every right, true or false."""
    member = {"user": user, "status": status}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        names = _ADMIN_RIGHTS + (_CHANNEL_RIGHTS if room.is_channel else _GROUP_RIGHTS)
        granted = set(rights)
        member.update(can_be_edited=False, is_anonymous=False, **{name: name in granted for name in names})
    return copy.deepcopy(member)


def _private_chat(user: SandboxUser) -> dict:
    chat = {"id": user.id, "type": "private", "first_name": user.first_name}
    if user.username:
        chat["username"] = user.username
    return chat


def _user_json(user: SandboxUser) -> dict:
    sender = {"id": user.id, "is_bot": False, "first_name": user.first_name}
    if user.language_code:
        sender["language_code"] = user.language_code
    if user.username:
        sender["username"] = user.username
    return sender
