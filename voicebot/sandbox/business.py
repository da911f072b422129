"""Business connections: a user connects the bot to their account (``connect_business``), and then gets the
messages of their private chats with other users as business_message updates: other people's, and their own.
With the can_reply right the bot sends and edits in those chats on the owner's behalf (``business_connection_id``
in sendMessage, sendDocument, sendChatAction and the edits), in chats that had an incoming message in the last 24
hours, as the BusinessBotRights documentation says; otherwise Telegram's errors."""
from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Iterable

from .chats import _ChatsSide, _user_json
from .protocol import _ApiError, _Request
from .state import BotMessage, SandboxUser, _BusinessConnection, _Place

# The fields of BusinessBotRights.
BUSINESS_RIGHTS = frozenset({
    "can_reply", "can_read_messages", "can_delete_sent_messages", "can_delete_all_messages", "can_edit_name",
    "can_edit_bio", "can_edit_profile_photo", "can_edit_username", "can_change_gift_settings",
    "can_view_gifts_and_stars", "can_convert_gifts_to_stars", "can_transfer_and_upgrade_gifts", "can_transfer_stars",
    "can_manage_stories"})
_REPLY_WINDOW_SECONDS = 24 * 60 * 60


class _BusinessSide(_ChatsSide):
    """Connecting accounts (tests' side), getBusinessConnection, and where a business send goes."""

    def connect_business(self, owner: SandboxUser, rights: Iterable[str] = ("can_reply",)) -> str:
        """`owner` connects the bot to their account with these BusinessBotRights, or changes the rights of their
        connection, which is then enabled again; queues a business_connection update, returns the connection's id."""
        granted = frozenset(rights)
        if granted - BUSINESS_RIGHTS:
            raise ValueError(f"no such business bot rights: {sorted(granted - BUSINESS_RIGHTS)}")
        with self._cond:
            self._known_users[owner.id] = owner
            connection = self._connection_of(owner)
            if connection is None:
                number = next(self._business_numbers)
                connection = _BusinessConnection(f"SBXB{number}{secrets.token_urlsafe(12)}", owner,
                                                 int(time.time()), granted)
                self._business[connection.id] = connection
            connection.rights, connection.is_enabled = granted, True
            self._queue_update({"business_connection": self._business_json(connection)})
            return connection.id

    def disconnect_business(self, owner: SandboxUser) -> None:
        """`owner` disconnects the bot: a business_connection update with is_enabled false, and no more business
        messages; the bot's sends on their behalf fail."""
        with self._cond:
            connection = self._connection_of(owner)
            if connection is None:
                raise ValueError(f"{owner.first_name} has no business connection")
            connection.is_enabled = False
            self._queue_update({"business_connection": self._business_json(connection)})

    def business_messages(self, owner: SandboxUser, peer: SandboxUser) -> list[BotMessage]:
        """What the bot sent on `owner`'s behalf in their private chat with `peer`, as it stands now."""
        with self._cond:
            key = (min(owner.id, peer.id), max(owner.id, peer.id))
            return [copy.deepcopy(message) for (chat, _), message in self._bot_messages.items()
                    if chat == key and message.business_connection_id is not None]

    # --- Bot API methods

    def _get_business_connection(self, request: _Request) -> dict:
        with self._cond:
            connection = self._business.get(str(request.params.get("business_connection_id", "")))
            if connection is None:
                raise _ApiError(400, "Bad Request: business connection not found")
            return self._business_json(connection)

    # --- internals (callers hold the lock)

    def _business_place(self, request: _Request) -> _Place:
        """Where a call with business_connection_id posts or edits: the owner's private chat with chat_id, the
        message from the owner. The Bot API server checks the connection and the chat, Telegram the rest."""
        connection = self._business.get(str(request.params.get("business_connection_id", "")))
        if connection is None:
            raise _ApiError(400, "Bad Request: business connection not found")
        try:
            chat_id = int(request.params.get("chat_id", ""))
        except (TypeError, ValueError):
            raise _ApiError(400, "Bad Request: chat not found") from None
        owner = connection.owner
        if chat_id < 0:
            raise _ApiError(400, "Bad Request: chat must be a private chat")
        if chat_id == owner.id:
            raise _ApiError(400, "Bad Request: messages must not be sent to self")
        if not connection.is_enabled:
            raise _ApiError(400, "Bad Request: BUSINESS_CONNECTION_INVALID")
        if "can_reply" not in connection.rights:
            raise _ApiError(400, "Bad Request: BUSINESS_PEER_INVALID")
        key = (min(owner.id, chat_id), max(owner.id, chat_id))
        if key not in self._dialogs:
            raise _ApiError(400, "Bad Request: chat not found")
        if not self._had_recent_incoming(key, chat_id):
            raise _ApiError(400, "Bad Request: BUSINESS_PEER_USAGE_MISSING")
        fields = {"business_connection_id": connection.id, "sender_business_bot": self._bot_sender()}
        return _Place(key, self._dialogs[key][owner.id], _user_json(owner), fields, where="dialog")

    def _had_recent_incoming(self, key: tuple[int, int], peer_id: int) -> bool:
        since = time.time() - _REPLY_WINDOW_SECONDS
        return any(chat == key and message.get("from", {}).get("id") == peer_id and message["date"] >= since
                   for (chat, _), message in self._messages.items())

    def _connection_of(self, owner: SandboxUser) -> _BusinessConnection | None:
        return next((c for c in self._business.values() if c.owner.id == owner.id), None)

    def _business_json(self, connection: _BusinessConnection) -> dict:
        business = {"id": connection.id, "user": _user_json(connection.owner), "user_chat_id": connection.owner.id,
                    "date": connection.date, "is_enabled": connection.is_enabled}
        if connection.rights:
            business["rights"] = dict.fromkeys(sorted(connection.rights), True)
        return business
