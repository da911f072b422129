"""A channel post's caption as the bot answers in it: the author's caption, a blank line, then the bot's words
(its status, the transcript, or one short line on why there is none)."""
from voicebot.core.calls import ChannelCaption, Destination, EditCaption, SendText, TextEntity

# Telegram's limit on a caption, in the UTF-16 code units it counts text in.
MAX_CAPTION_LENGTH = 1024
MAX_ENTITIES = 100   # Telegram's most in one message: more are not real
MAX_ENTITY_FIELD = 2048   # a URL, a language or a custom emoji's id: none real is longer
# What a caption's entities may be, with the one field each of those that have one needs.
_ENTITY_TYPES = {"mention": None, "hashtag": None, "cashtag": None, "bot_command": None, "url": None,
                 "email": None, "phone_number": None, "bold": None, "italic": None, "underline": None,
                 "strikethrough": None, "spoiler": None, "blockquote": None, "expandable_blockquote": None,
                 "code": None, "pre": "language", "text_link": "url", "text_mention": "user",
                 "custom_emoji": "custom_emoji_id"}


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
    return EditCaption(to.post, caption, entities=to.entities)


def caption_entities(raw: object, caption: str) -> tuple[TextEntity, ...]:
    """A caption's formatting as it came (caption_entities: trusted in nothing): the entities that are what the
    Bot API sends, within the caption; the others are left out."""
    if not isinstance(raw, list):
        return ()
    length = telegram_length(caption)
    entities = (_entity(item, length) for item in raw[:MAX_ENTITIES] if isinstance(item, dict))
    return tuple(entity for entity in entities if entity is not None)


def entity_fields(entity: TextEntity) -> dict:
    """An entity as the Bot API's MessageEntity fields, which caption_entities reads back."""
    fields = {"type": entity.type, "offset": entity.offset, "length": entity.length}
    optional = {"url": entity.url, "language": entity.language, "custom_emoji_id": entity.custom_emoji_id,
                "user": None if entity.user_id is None else {"id": entity.user_id}}
    return fields | {name: value for name, value in optional.items() if value is not None}


def _entity(fields: dict, caption_length: int) -> TextEntity | None:
    kind, offset, length = fields.get("type"), fields.get("offset"), fields.get("length")
    if kind not in _ENTITY_TYPES or not all(isinstance(value, int) and not isinstance(value, bool)
                                            for value in (offset, length)):
        return None
    if offset < 0 or length <= 0 or offset + length > caption_length:
        return None
    needed = _ENTITY_TYPES[kind]
    if needed == "user":
        user = fields.get("user") if isinstance(fields.get("user"), dict) else {}
        user_id = user.get("id")
        if not isinstance(user_id, int) or isinstance(user_id, bool) or not 0 < user_id < 2 ** 63:
            return None
        return TextEntity(kind, offset, length, user_id=user_id)
    value = fields.get(needed) if needed else None
    if needed and not _field_value(value, optional=needed == "language"):
        return None
    return TextEntity(kind, offset, length, **({needed: value or None} if needed else {}))


def _field_value(value: object, optional: bool) -> bool:
    """Whether an entity's URL, language or custom emoji id is one the Bot API could have sent."""
    if value is None:
        return optional
    if not isinstance(value, str) or len(value) > MAX_ENTITY_FIELD or not value.isprintable():
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return bool(value) or optional
