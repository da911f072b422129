"""What the sandbox records (users, the bot's messages and calls, chat events, files) and the state that
BotApiSandbox's parts share, with the internals they all use."""
from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .files import _FileStore
from .protocol import _Request

BOT_USERNAME = "sandbox_bot"
# The user Telegram's own service messages and automatic forwards come from.
TELEGRAM_USER = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
DEFAULT_TOPIC_ICON_COLOR = 0x6FB9F0  # the first of the colours the Bot API documents for topic icons
# The update types, in the order getWebhookInfo lists them, and those a bot gets only when it asks for them.
UPDATE_TYPES = (
    "message", "edited_message", "channel_post", "edited_channel_post", "inline_query", "chosen_inline_result",
    "callback_query", "shipping_query", "pre_checkout_query", "poll", "poll_answer", "my_chat_member",
    "chat_member", "chat_join_request", "chat_boost", "removed_chat_boost", "message_reaction",
    "message_reaction_count", "business_connection", "business_message", "edited_business_message",
    "deleted_business_messages", "purchased_paid_media", "managed_bot", "guest_message")
_OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_DEFAULT_UPDATE_TYPES = frozenset(UPDATE_TYPES) - _OPT_IN_UPDATE_TYPES

# How the sandbox files a chat: by its id for the chats the bot sees as themselves (its private chats, groups,
# channels), by the two users' ids (lower first) for a private chat between two users, whose id depends on who
# looks (each sees the other), and which the bot sees only through a business connection or as a guest.
ChatKey = int | tuple[int, int]


@dataclass(frozen=True)
class SandboxUser:
    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = "en"   # their Telegram app's language, in every update they send
    hides_forwards: bool = False  # their privacy setting: a forward of their message does not link to them


@dataclass
class BotMessage:
    """A message the bot sent, as it stands now."""
    chat_id: int
    message_id: int
    text: str | None
    reply_to: int | None
    edits: list[str]  # earlier texts, oldest first
    message_thread_id: int | None = None  # the forum topic it landed in; None in the General topic and elsewhere
    document: bytes | None = None
    document_name: str | None = None
    caption: str | None = None
    deleted: bool = False
    # The markup it was sent with (an inline keyboard, or another kind as sent), then what each edit made of it:
    # an inline keyboard, or None once one took it away.
    reply_markup: dict | None = None
    # A guest post (answerGuestQuery): chat_id is the chat the bot was summoned in, as its caller sees it.
    inline_message_id: str | None = None
    # Sent on behalf of a business account: chat_id is the other party, as the account's owner sees the chat.
    business_connection_id: str | None = None
    edit_count: int = 0  # edits Telegram took: of the text, the caption or the keyboard


@dataclass(frozen=True)
class ApiCall:
    """One request the bot made; ``method`` is "file" for downloads, ``status`` 0 for a dropped connection."""
    method: str
    params: dict
    status: int
    at: float  # time.monotonic() when the request arrived


@dataclass(frozen=True)
class SandboxEvent:
    """Something visible in a chat; kind is one of user_text, user_media, user_press (text: the callback data),
    bot_message, bot_edit, bot_markup (text: the buttons' texts, each row in brackets; "" once none are left),
    bot_caption, bot_document, bot_delete, bot_invoice, user_payment and payment_refund (text: the Stars and the
    charge id).

    place tells chats that share an id apart: "" for the chats the bot is in as itself (its private chats,
    groups, channels); "dialog" for a private chat between two users (chat_id: the other party, as the sender,
    or for the bot's messages the business account's owner, sees it); "guest" for the bot's guest posts and their
    edits (chat_id: the chat as the user who summoned the bot sees it)."""
    at: float
    chat_id: int
    kind: str
    text: str
    message_id: int
    user: SandboxUser | None
    place: str = ""


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    last_error_date: int | None = None
    last_error_message: str | None = None

    def info(self) -> dict:
        """The webhook's part of getWebhookInfo, with Telegram's field names."""
        info = {"url": self.url, "max_connections": 1}
        if self.last_error_message is not None:
            info.update(last_error_date=self.last_error_date, last_error_message=self.last_error_message)
        return info


@dataclass(frozen=True)
class _Place:
    """Where a new message goes: the chat as filed (key) and as its sender sees it, who it is from (None: from the
    chat itself, as a channel's posts are), and the fields that say on whose behalf."""
    key: ChatKey
    chat: dict
    sender: dict | None
    fields: dict = field(default_factory=dict)
    where: str = ""  # the place of its events (see SandboxEvent)


@dataclass
class _Room:
    """A group, supergroup or channel a test set up, with who is in it. Groups nobody set up are plain groups
    with the bot in them."""
    chat: dict
    bot_status: str  # "administrator", "member" or "left", as getChatMember answers for the bot
    bot_rights: frozenset[str]  # the administrator rights of the bot, such as can_edit_messages
    members: dict[int, tuple[SandboxUser, str]] = field(default_factory=dict)  # user id -> (user, status)
    linked_chat_id: int | None = None  # a channel's discussion group, or the channel a discussion group is for

    @property
    def is_channel(self) -> bool:
        return self.chat["type"] == "channel"


@dataclass
class _BusinessConnection:
    id: str
    owner: SandboxUser
    date: int
    rights: frozenset[str]  # the BusinessBotRights granted, such as can_reply
    is_enabled: bool = True


@dataclass
class _Invoice:
    """What an invoice the bot made sells (sendInvoice or createInvoiceLink), as a payment of it shows it."""
    title: str
    description: str
    payload: str
    currency: str
    total_amount: int
    start_parameter: str = ""


@dataclass
class _PreCheckout:
    payer: SandboxUser
    invoice: _Invoice
    answer: tuple[bool, str | None] | None = None   # (ok, error_message) once the bot answered


@dataclass
class _StarPayment:
    charge_id: str
    payer: SandboxUser
    invoice: _Invoice
    refunded: bool = False


@dataclass
class _GuestQuery:
    caller: SandboxUser
    key: ChatKey
    chat: dict  # as the caller sees it
    inline_message_id: str | None = None  # the guest post that answered it


class _SandboxState:
    """The state of one sandbox, shared by the parts of BotApiSandbox (users.py, chats.py, methods.py, edits.py,
    business.py, guests.py, webhook.py, menus.py, payments.py)."""

    def __init__(self, token: str, max_download_bytes: int, webhook_retry_seconds: float, local_dir: Path | None):
        self._token = token
        self._max_download_bytes = max_download_bytes
        self._files = _FileStore(token, local_dir)
        self._local_dir = self._files.local_dir
        self._webhook_retry_seconds = webhook_retry_seconds
        self._cond = threading.Condition()  # reentrant, so observers can be called from predicates
        self._delivering: http.client.HTTPConnection | None = None  # the webhook request in flight
        self._webhook: _Webhook | None = None
        self._stopping = False
        self._updates: list[dict] = []  # pending, oldest first
        self._update_ids = itertools.count(1)
        self._polls = 0   # getUpdates requests so far: the newest one is served
        self._chats: dict[int, dict] = {}
        self._next_message_id: dict[ChatKey, int] = {}  # per chat, as in Telegram
        self._messages: dict[tuple[ChatKey, int], dict] = {}  # (chat, message id) -> Telegram-shaped message
        self._bot_messages: dict[tuple[ChatKey, int], BotMessage] = {}  # in order sent
        self._listeners: list[Callable[[SandboxEvent], None]] = []
        self._group_admins: dict[int, set[int]] = {}
        self._topics: dict[int, dict[int, dict]] = {}  # forum chat -> message_thread_id -> ForumTopic
        self._menus: dict[str, dict] = {}  # language code ("" for the default) -> commands and descriptions
        self._allowed_updates = _DEFAULT_UPDATE_TYPES  # the bot's one setting, for getUpdates and its webhook
        # Numeric like Telegram's (its Bot API server reads them as 64-bit integers), and far from any update or
        # message id, so that a bot that mixes them up fails.
        self._callback_query_ids = itertools.count(4_000_000_000_000_000_001)
        self._callback_answers: dict[str, dict | None] = {}  # query id -> its answer, None until answered
        self._rooms: dict[int, _Room] = {}
        self._known_users: dict[int, SandboxUser] = {}  # everyone who wrote anywhere, by id
        self._dialogs: dict[tuple[int, int], dict[int, dict]] = {}  # key -> user id -> the chat that user sees
        self._discussion_copies: dict[tuple[int, int], int] = {}  # (channel, post) -> its automatic forward's id
        self._business: dict[str, _BusinessConnection] = {}
        self._business_numbers = itertools.count(1)
        self._guest_query_ids = itertools.count(5_000_000_000_000_000_001)  # as far from the others
        self._guest_queries: dict[str, _GuestQuery] = {}
        self._inline_messages: dict[str, tuple[ChatKey, int]] = {}  # inline_message_id -> the guest post
        # Payments (payments.py): invoices by (chat, message id) of their message or by their link's slug.
        self._invoices: dict[tuple[ChatKey, int] | str, _Invoice] = {}
        self._pre_checkout_ids = itertools.count(6_000_000_000_000_000_001)  # as far from the other ids
        self._pre_checkouts: dict[str, _PreCheckout] = {}   # unanswered and answered ones, until their deadline
        self._star_payments: dict[str, _StarPayment] = {}   # by telegram_payment_charge_id
        self._star_transactions: list[dict] = []            # StarTransaction objects, oldest first

    # --- shared internals (callers hold the lock)

    def _new_message(self, chat: dict, sender: dict | None, content: dict, reply_to: int | None,
                     message_thread_id: int | None = None, key: ChatKey | None = None) -> dict:
        """A message filed under `key` (by default the chat's id); without a sender it has no "from", as a
        channel's posts have none."""
        key = chat["id"] if key is None else key
        message_id = self._next_message_id.get(key, 1)
        self._next_message_id[key] = message_id + 1
        message = {"message_id": message_id, "date": int(time.time()), "chat": chat,
                   **({} if sender is None else {"from": sender}), **content}
        replied = self._messages.get((key, reply_to))
        topic = self._topic_of_new_message(chat, message_thread_id, replied)
        if topic is not None:
            message.update(message_thread_id=topic, is_topic_message=True)
        elif replied is not None and isinstance(key, int) and key < 0:
            # In a channel's discussion group, the comments on a post are the thread of its automatic forward.
            thread = replied.get("message_thread_id") or (replied["message_id"] if replied.get("is_automatic_forward")
                                                          else None)
            if thread is not None:
                message["message_thread_id"] = thread
        if replied is not None:
            # Telegram quotes the replied message one level deep only.
            message["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        self._messages[(key, message_id)] = message
        return message

    def _topic_of_new_message(self, chat: dict, message_thread_id: int | None, replied: dict | None) -> int | None:
        """A reply lands in the replied message's topic, anything else in the one asked for. None: the General
        topic (whose messages carry no thread id), or no forum at all, where Telegram ignores the thread id."""
        if chat["id"] not in self._topics:
            return None
        if replied is not None and "message_thread_id" in replied:
            return replied["message_thread_id"]
        return message_thread_id

    def _is_unknown_topic(self, chat_id: int, message_thread_id: int | None) -> bool:
        """Whether a forum has no such topic; outside forums any thread id is ignored, so none is unknown."""
        topics = self._topics.get(chat_id)
        return topics is not None and message_thread_id is not None and message_thread_id not in topics

    def _new_topic(self, chat: dict, sender: dict, name: str, icon_color: int) -> dict:
        """A topic's id is that of the service message opening it, as in Telegram. That message is kept (a bot
        may reply to it) but never queued: the sandbox sends no service messages."""
        created = {"name": name, "icon_color": icon_color}
        message = self._new_message(chat, sender, {"forum_topic_created": created}, None)
        topic = {"message_thread_id": message["message_id"], **created}
        message.update(message_thread_id=topic["message_thread_id"], is_topic_message=True)
        self._topics[chat["id"]][topic["message_thread_id"]] = topic
        return topic

    def _set_allowed_updates(self, request: _Request) -> None:
        """Take a request's allowed_updates as the bot's setting, read as Telegram's Bot API server reads it:
        names in any case, unknown ones skipped, and a list with no known name (an empty one too) means the
        default. Without the parameter, or with one that is no JSON list of strings, the setting stays."""
        value = request.params.get("allowed_updates")
        if isinstance(value, str):
            try:
                value = json.loads(value) if value else None
            except ValueError:
                value = None
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            return
        names = {name.lower() for name in value} & set(UPDATE_TYPES)
        self._allowed_updates = frozenset(names) or _DEFAULT_UPDATE_TYPES

    def _allowed_updates_info(self) -> dict:
        """getWebhookInfo's allowed_updates: there only when the setting is not the default."""
        if self._allowed_updates == _DEFAULT_UPDATE_TYPES:
            return {}
        return {"allowed_updates": [name for name in UPDATE_TYPES if name in self._allowed_updates]}

    def _pending_updates(self) -> list[dict]:
        """The pending updates, oldest first, once those of types the bot's setting leaves out are dropped: they
        are not delivered, and Telegram does not keep them. An update of no known type (see push_update) is
        always delivered."""
        self._updates = [update for update in self._updates if self._is_allowed(update)]
        return self._updates

    def _is_allowed(self, update: dict) -> bool:
        kind = next((key for key in update if key in UPDATE_TYPES), None)
        return kind is None or kind in self._allowed_updates

    def _queue_update(self, update: dict) -> int:
        update["update_id"] = next(self._update_ids)
        self._updates.append(update)
        self._cond.notify_all()
        return update["update_id"]

    def _emit(self, kind: str, chat_id: int, text: str, message_id: int, user: SandboxUser | None,
              place: str = "") -> None:
        event = SandboxEvent(time.monotonic(), chat_id, kind, text, message_id, user, place)
        for listener in self._listeners:
            listener(event)
        self._cond.notify_all()

    def _bot_user(self) -> dict:
        """The bot as getMe describes it."""
        return {**self._bot_sender(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "supports_guest_queries": True, "can_connect_to_business": True}

    def _bot_sender(self) -> dict:
        """The bot as the "from" of its messages shows it."""
        bot_id = self._token.split(":", 1)[0]  # a real token starts with the bot's id
        return {"id": int(bot_id) if bot_id.isdigit() else 1, "is_bot": True, "first_name": "Sandbox Bot",
                "username": BOT_USERNAME}

