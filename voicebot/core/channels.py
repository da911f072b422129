"""Channels the bot administers: /channel on|off @channel, said in the bot's private chat by one of the
channel's admins, switches the transcription of its voice posts (the channel's ChatSettings.automatic)."""
from dataclasses import dataclass
from enum import StrEnum

CHANNEL_COMMAND = "channel"
MAX_USERNAME = 32   # Telegram's usernames are 5-32 characters of A-Z a-z 0-9 _


class ChannelStanding(StrEnum):
    """What the Bot API says of a channel a user named and of that user in it."""
    ADMIN = "admin"             # the bot administers it, and so does the user
    NOT_ADMIN = "not_admin"     # the bot administers it; the user does not
    BOT_ABSENT = "bot_absent"   # a channel the bot is no administrator of
    UNKNOWN = "unknown"         # no channel by that name that the bot can see


@dataclass(frozen=True, slots=True)
class ChannelSwitch:
    """`/channel on @name`: transcribe the channel's voice posts (`on`), or not; `channel` as the Bot API takes
    it as a chat_id ("@name" or a numeric id)."""
    on: bool
    channel: str


def channel_switch(argument: str) -> ChannelSwitch | None:
    """The switch a /channel command's argument asks for ("off @news", "on -1001234"); None when it is no such."""
    words = argument.split()
    if len(words) != 2 or words[0].lower() not in ("on", "off"):
        return None
    channel = words[1]
    name = channel.removeprefix("@")
    if channel.startswith("@") and 0 < len(name) <= MAX_USERNAME and name.replace("_", "").isascii() \
            and name.replace("_", "").isalnum():
        return ChannelSwitch(words[0].lower() == "on", channel)
    if channel.startswith("-") and channel[1:].isdigit() and len(channel) <= 20:
        return ChannelSwitch(words[0].lower() == "on", channel)
    return None
