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


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """A message the bot posted, which it can edit."""
    chat_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class SendText:
    to: Destination
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
    message: PostedMessage
    text: str
    keyboard: Keyboard | None = None

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


# A call the outbox makes. `chat_id` names the chat whose turn it waits for (None: at once).
BotCall = SendText | SendDocument | EditText | EditButtons | AnswerPress
