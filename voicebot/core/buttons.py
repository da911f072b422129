"""The buttons under a finished transcript, and their callback data.

Callback data comes back from the user's app, so anyone can send any data with a modified client. Each
button's data therefore names the action and the recording (its message in the chat the press comes from)
and carries an HMAC of both with the chat, keyed by a secret of the bot's: data made up, or copied from
another chat, is recognised and refused. It stays well within Telegram's 64 bytes: "e12345678.<12 chars>".

The message a button sits under is not in its data: a transcript's last part is a new message, whose id is
known only once it is sent. A press is bound to its message by Telegram instead, which reports the pressed
message with the buttons under it: data that is on none of them (copied from under another message of the
bot's) was not pressed there, and is refused as made-up data is (actors/buttons.py)."""
import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from voicebot.core.calls import Keyboard
from voicebot.core.domain import JobKey, Task, Transcript

_SIGNATURE_CHARS = 12          # 72 bits of HMAC-SHA256: far beyond guessing, one press at a time


class Action(StrEnum):
    """What a button does; the value is its one letter in callback data."""
    ENGLISH = "e"      # Whisper's translate task on the same recording
    SUBTITLES = "s"    # .srt and .vtt files from the stored segments
    TIMESTAMPS = "t"   # the transcript with [mm:ss] marks


# An action's letter, the recording's message id, the signature: 33 ASCII characters at most.
_DATA = re.compile(rf"([{''.join(Action)}])([0-9]{{1,19}})\.([A-Za-z0-9_-]{{{_SIGNATURE_CHARS}}})")


@dataclass(frozen=True, slots=True)
class Press:
    """What valid callback data asks for: `action` on the recording that is message `message_id`."""
    action: Action
    message_id: int



class ButtonData:
    """Writes and reads callback data, signed with `secret` (the same on every node of one bot)."""

    def __init__(self, secret: bytes):
        self._secret = secret

    def write(self, chat_id: int, action: Action, message_id: int) -> str:
        return f"{action.value}{message_id}.{self._signature(chat_id, action.value, message_id)}"

    def read(self, chat_id: int, data: str) -> Press | None:
        """The press the data stands for, or None when it is not data this bot wrote for this chat."""
        match = _DATA.fullmatch(data)
        if match is None:
            return None
        letter, message_id = match[1], int(match[2])
        if not hmac.compare_digest(match[3], self._signature(chat_id, letter, message_id)):
            return None
        return Press(Action(letter), message_id)

    def _signature(self, chat_id: int, letter: str, message_id: int) -> str:
        digest = hmac.new(self._secret, f"{chat_id}:{letter}:{message_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:_SIGNATURE_CHARS]


def keyboard(data: ButtonData, key: JobKey, task: Task, transcript: Transcript, timestamps: bool,
             labels: Mapping[Action, str]) -> Keyboard:
    """The row of buttons under the transcript of the job `key` (`timestamps`: it shows the marks); empty
    when it gets none."""
    row = tuple((labels[action], data.write(key.chat_id, action, key.message_id))
                for action in _actions(task, transcript, timestamps))
    return (row,) if row else ()


def _actions(task: Task, transcript: Transcript, timestamps: bool) -> tuple[Action, ...]:
    """The buttons a finished transcript gets: English unless it is English already (or a translation), and
    Subtitles and Timestamps when it has timed segments (Timestamps unless it shows the marks already)."""
    actions = []
    if task is not Task.TRANSLATE and transcript.language != "en":
        actions.append(Action.ENGLISH)
    if transcript.segments:
        actions.append(Action.SUBTITLES)
        if not timestamps:
            actions.append(Action.TIMESTAMPS)
    return tuple(actions)


def secret_of(token: str) -> bytes:
    """The key callback data is signed with, derived from the bot token: secret, the same on every node, and
    never the token itself."""
    return hashlib.sha256(b"voicebot callback data\0" + token.encode()).digest()
