"""A channel post's caption as the bot answers in it: the author's caption, a blank line, then the bot's words
(its status, the transcript, or one short line on why there is none)."""
from voicebot.core.calls import ChannelCaption, Destination, EditCaption, SendText

# Telegram's limit on a caption, in the UTF-16 code units it counts text in.
MAX_CAPTION_LENGTH = 1024


def caption_with(original: str, text: str) -> str | None:
    """The post's caption with `text` under it; None when that would not fit in a caption."""
    caption = f"{original}\n\n{text}" if original else text
    return caption if telegram_length(caption) <= MAX_CAPTION_LENGTH else None


def telegram_length(text: str) -> int:
    """A text's length as Telegram counts it: a character outside the Basic Multilingual Plane (an emoji, say)
    is two."""
    return len(text.encode("utf-16-le")) // 2


def notice(to: ChannelCaption, text: str) -> EditCaption | SendText:
    """A short notice about a channel's post (a refusal: its channel's quota, a limit) as one line under its
    caption; a reply post in the channel only when the caption has no room for it."""
    caption = caption_with(to.caption, text)
    if caption is None:
        return SendText(Destination(to.chat_id, reply_to_message_id=to.post.message_id), text)
    return EditCaption(to.post, caption)
