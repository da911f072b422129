"""Guest mode: the bot summoned by a mention into a chat it need not be in. A guest job's key has a place of
its own (its chat is as its caller sees it); its answer is one post, so a long transcript is cut there with a
line saying where the whole of it is: the bot's private chat, reached by a deep link whose /start payload names
the job."""
import re

from voicebot.core.domain import JobKey
from voicebot.core.text import TELEGRAM_LIMIT, split_message

_GUEST_PLACE = "guest:"
_PAYLOAD_PREFIX = "g"
_PAYLOAD = re.compile(r"g(m?)(\d{1,20})_(\d{1,20})")


def guest_place(caller_id: int) -> str:
    """The place of the jobs `caller_id` summoned the bot for."""
    return f"{_GUEST_PLACE}{caller_id}"


def is_guest(key: JobKey) -> bool:
    return key.place.startswith(_GUEST_PLACE)


def start_payload(key: JobKey) -> str:
    """The /start payload of a guest job's deep link (letters, digits and _ only, as Telegram allows): its chat
    and message. The caller is not in it: whoever follows the link finds only their own jobs."""
    sign = "m" if key.chat_id < 0 else ""
    return f"{_PAYLOAD_PREFIX}{sign}{abs(key.chat_id)}_{key.message_id}"


def key_of_payload(payload: str, user_id: int) -> JobKey | None:
    """The guest job of `user_id` a /start payload names; None for a payload that names none."""
    match = _PAYLOAD.fullmatch(payload)
    if match is None:
        return None
    sign, chat, message = match.groups()
    return JobKey(-int(chat) if sign else int(chat), int(message), guest_place(user_id))


def deep_link(bot_username: str, key: JobKey) -> str:
    return f"https://t.me/{bot_username}?start={start_payload(key)}"


def guest_post(text: str, rest_elsewhere: str) -> str:
    """`text` as one post: whole when it fits, else cut after a sentence or between words, with
    `rest_elsewhere` (where the whole text is) after the cut."""
    if len(text.strip()) <= TELEGRAM_LIMIT:
        return text
    room = TELEGRAM_LIMIT - len(rest_elsewhere) - len(" …\n\n")
    return f"{split_message(text, room)[0]} …\n\n{rest_elsewhere}"
