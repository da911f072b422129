"""Business chats: a user connects the bot to their Telegram account, and recordings others send them in their
private chats are transcribed for them. A business job's key has a place of its own (its chat and message ids are
the owner's, which may equal those of the bot's own chats); the owner chooses where its answer goes (/business)
and pays for it."""
import dataclasses
from enum import StrEnum

from voicebot.core.domain import BusinessConnection, Job, UserSettings
from voicebot.core.replies import Wording

BUSINESS_COMMAND = "business"
_BUSINESS_PLACE = "business:"
_MINE = "mine"
_ON_OFF = {"on": True, "off": False}


class BusinessMode(StrEnum):
    """Where a recording in an owner's business chat is answered: to them in their chat with the bot, as a reply
    in that chat on their behalf, or not at all."""
    PRIVATE = "private"
    REPLY = "reply"
    OFF = "off"


def business_place(connection_id: str) -> str:
    """The place of the jobs of business connection `connection_id`."""
    return f"{_BUSINESS_PLACE}{connection_id}"


def is_business(job: Job) -> bool:
    return job.key.place.startswith(_BUSINESS_PLACE)


def business_change(argument: str, settings: UserSettings) -> UserSettings | None:
    """The settings `/business <argument>` makes of `settings`: a mode (private, reply, off), or `mine on|off`;
    None for an argument that says neither."""
    words = argument.lower().split()
    if len(words) == 1 and words[0] in tuple(BusinessMode):
        return dataclasses.replace(settings, business=words[0])
    if len(words) == 2 and words[0] == _MINE and words[1] in _ON_OFF:
        return dataclasses.replace(settings, business_mine=_ON_OFF[words[1]])
    return None


def owners_job(job: Job, connection: BusinessConnection | None, settings: UserSettings) -> Job | None:
    """The job a recording in a business chat makes for the connection's owner: theirs to pay, answered where they
    chose (a reply only where the connection may reply); None when nothing is answered: an unknown, disabled or
    ended connection, the owner's choice of off, or a recording of the owner's own that they did not turn on."""
    if connection is None or not connection.is_enabled or job.business is None:
        return None
    mode = BusinessMode(settings.business) if settings.business in tuple(BusinessMode) else BusinessMode.PRIVATE
    own = job.media.sender_id == connection.owner_id
    if mode is BusinessMode.OFF or (own and not settings.business_mine):
        return None
    origin = dataclasses.replace(job.business, owner_chat_id=connection.owner_chat_id,
                                 reply=mode is BusinessMode.REPLY and connection.can_reply and not own)
    return dataclasses.replace(job, user_id=connection.owner_id, business=origin)


def reply_refused(connection: BusinessConnection, settings: UserSettings) -> bool:
    """Whether the owner chose replies that their connection's rights do not allow (answered privately then)."""
    return settings.business == BusinessMode.REPLY and not connection.can_reply


def answered_to_owner(job: Job) -> bool:
    """Whether a job's answer goes to the owner of the business chat it came from, in their chat with the bot."""
    return job.business is not None and not job.business.reply


def answered_in_chat(job: Job) -> bool:
    """Whether a job's answer is a reply in the business chat it came from, on its owner's behalf: there only its
    status and transcript go, anything else (a failure, busy) goes to the owner."""
    return job.business is not None and job.business.reply


def headed(job: Job, words: Wording, text: str) -> str:
    """`text` about a business chat's recording, said to its owner: headed with who sent it, and where."""
    return f"{words.business_header(job.business.sender, job.business.chat)}\n\n{text}"
