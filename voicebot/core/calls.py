"""Where the bot's words go, and the Bot API calls that put them there: one small value per call, each
carrying its destination as one value. The outbox (actors/outbox.py) queues and paces them; the Telegram
adapter makes each with one method of its own. A new kind of call is a new type here and a method there; a
new kind of destination is a new type here that the calls accept."""
from dataclasses import dataclass

# An inline keyboard: rows of (label, callback data).
Keyboard = tuple[tuple[tuple[str, str], ...], ...]


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a new message goes: a chat, the forum topic in it, and the message it answers (if any)."""
    chat_id: int
    thread_id: int | None = None
    reply_to_message_id: int | None = None
    # A business chat: sent on behalf of the account whose business connection this is (chat_id as its owner
    # sees the chat); None: the bot's own chats.
    business_connection_id: str | None = None


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """A message the bot posted, which it can edit."""
    chat_id: int
    message_id: int
    business_connection_id: str | None = None   # posted in a business chat, on its owner's behalf


@dataclass(frozen=True, slots=True)
class GuestChat:
    """Guest mode: a chat the bot was summoned into by a mention (`chat_id` as its caller sees it), where it
    may post once, as the answer to query `query_id` (AnswerGuest), and then edit that post (InlineMessage)."""
    query_id: str
    chat_id: int


@dataclass(frozen=True, slots=True)
class InlineMessage:
    """A message the bot posted as a guest, which it edits by `inline_message_id`; `chat_id`: the chat it is
    in, as its caller sees it (the chat whose pace its edits keep)."""
    inline_message_id: str
    chat_id: int


@dataclass(frozen=True, slots=True)
class TextEntity:
    """A piece of formatting in a text, as the Bot API's MessageEntity has it (`offset` and `length` in UTF-16
    code units): a channel post's caption keeps its author's through every edit the bot makes of it."""
    type: str
    offset: int
    length: int
    url: str | None = None              # a text_link's
    user_id: int | None = None          # a text_mention's
    language: str | None = None         # a pre block's
    custom_emoji_id: str | None = None  # a custom_emoji's


@dataclass(frozen=True, slots=True)
class ChannelCaption:
    """A channel's post, answered in its own caption, under its author's `caption` (see core.captions); what
    does not fit there goes to `comments` (replies to the post's forward in the channel's discussion group), or
    without one to a reply post in the channel. A short notice to it is a line in the caption."""
    post: PostedMessage
    caption: str = ""
    comments: Destination | None = None
    entities: tuple[TextEntity, ...] = ()   # the author's caption's formatting

    @property
    def chat_id(self) -> int:
        return self.post.chat_id


@dataclass(frozen=True, slots=True)
class SendText:
    """A new message. One to a GuestChat goes out as AnswerGuest instead (see `as_sent`)."""
    to: Destination | GuestChat | ChannelCaption   # to a channel's post: a line in its caption (core.captions)
    text: str
    keyboard: Keyboard | None = None   # buttons under it

    @property
    def chat_id(self) -> int:
        return self.to.chat_id


@dataclass(frozen=True, slots=True)
class SendDocument:
    """A file the bot made (a transcript's .txt, subtitles)."""
    to: Destination
    file_name: str
    data: bytes
    caption: str | None = None

    @property
    def chat_id(self) -> int:
        return self.to.chat_id


@dataclass(frozen=True, slots=True)
class EditText:
    """New text and buttons for a message of the bot's (without `keyboard` its buttons go, as Telegram does)."""
    message: PostedMessage | InlineMessage
    text: str
    keyboard: Keyboard | None = None

    @property
    def chat_id(self) -> int:
        return self.message.chat_id


@dataclass(frozen=True, slots=True)
class EditCaption:
    """A new caption (and buttons: without `keyboard` they go) for a message with media: a channel's post,
    whose caption is where the bot answers it."""
    message: PostedMessage
    caption: str
    keyboard: Keyboard | None = None
    entities: tuple[TextEntity, ...] = ()   # its formatting (without: none)

    @property
    def chat_id(self) -> int:
        return self.message.chat_id


@dataclass(frozen=True, slots=True)
class EditButtons:
    """Other buttons (None: none) under a message of the bot's, its text left as it is."""
    message: PostedMessage
    keyboard: Keyboard | None

    @property
    def chat_id(self) -> int:
        return self.message.chat_id


@dataclass(frozen=True, slots=True)
class AnswerPress:
    """Acknowledges a button press, with a short notice (`text`, a toast in the user's app) or none. It is no
    message in a chat: it has no chat's turn to wait for."""
    query_id: str
    text: str | None = None

    @property
    def chat_id(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class AnswerGuest:
    """Answers a guest query with a message the bot posts as a guest in the chat it was summoned into (no
    buttons: presses under inline messages are not handled). Made in that chat's turn, so a failure on the
    way is tried again as any reply is; what it posts is an InlineMessage."""
    to: GuestChat
    text: str

    @property
    def chat_id(self) -> int:
        return self.to.chat_id


@dataclass(frozen=True, slots=True)
class SendInvoice:
    """An invoice for Telegram Stars (core.billing): one price, `stars`, under `label`; Telegram puts its Pay
    button under it. `payload` (signed) names the buyer and the pack."""
    to: Destination
    title: str
    description: str
    payload: str
    label: str
    stars: int

    @property
    def chat_id(self) -> int:
        return self.to.chat_id


@dataclass(frozen=True, slots=True)
class AnswerPreCheckout:
    """The yes (`error_message` None) or no, with why in the payer's words, to a pre-checkout query: Telegram
    waits at most 10 s for it, so it waits for no chat's turn."""
    query_id: str
    error_message: str | None = None

    @property
    def chat_id(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class RefundStars:
    """Gives a payment's Stars back to its payer (refundStarPayment): made at once, and told to whoever asked."""
    user_id: int
    charge_id: str

    @property
    def chat_id(self) -> None:
        return None


# A call the outbox makes. `chat_id` names the chat whose turn it waits for (None: at once).
BotCall = (SendText | SendDocument | EditText | EditCaption | EditButtons | AnswerPress | AnswerGuest | SendInvoice
           | AnswerPreCheckout | RefundStars)


def as_sent(call: SendText) -> SendText | AnswerGuest:
    """The call that says `call`'s text where it goes: a guest chat is answered once, as its query."""
    if isinstance(call.to, GuestChat):
        return AnswerGuest(call.to, call.text)
    return call
