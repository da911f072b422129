"""Turning raw Bot API updates (JSON dicts, trusted in nothing) into what they mean to the bot."""
from dataclasses import dataclass

from voicebot.core.billing import MAX_CHARGE_ID, MAX_PAYLOAD_BYTES, PaymentReceived, PaymentRefunded, PreCheckout
from voicebot.core.business import business_place
from voicebot.core.calls import Destination
from voicebot.core.captions import caption_entities
from voicebot.core.domain import (
    BusinessConnection,
    BusinessOrigin,
    ButtonPressed,
    ChannelPost,
    ChannelPostForwarded,
    CommandReceived,
    GuestMentioned,
    Incoming,
    Job,
    JobKey,
    Media,
    MediaKind,
    TextReceived,
    UnsupportedReceived,
    VoiceReceived,
)
from voicebot.core.guests import guest_place

_MEDIA_FIELDS = (("voice", MediaKind.VOICE), ("audio", MediaKind.AUDIO),
                 ("video_note", MediaKind.VIDEO_NOTE), ("video", MediaKind.VIDEO))
_MEDIA_EXTENSIONS = (".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".wav", ".flac", ".wma", ".amr",
                     ".webm", ".mp4", ".mov", ".mkv", ".avi", ".3gp")
_GROUP_TYPES = ("group", "supergroup")
TRANSCRIBE_COMMAND = "transcribe"
# What a sender controls is bounded here, at the edge: longer file ids (Telegram's are under 100 characters)
# and MIME types are not real; a long file name is cut. The storage fits each value to its column as well (its
# models say how long one may be), so that none is a value the database refuses for good.
MAX_FILE_ID = 255
MAX_MIME_TYPE = 100
MAX_FILE_NAME = 255
MAX_INTEGER = 2 ** 63 - 1
MAX_CALLBACK_ID = 255       # Telegram's are about 20 characters
# Guest queries' and business connections' ids: Telegram's are short runs of printable ASCII. One becomes part
# of a job's key (its place, "business:<id>", 64 characters at most in storage), so nothing else is taken.
MAX_OPAQUE_ID = 48
MAX_CALLBACK_DATA = 256     # far past the 64 bytes a button may carry: anything longer is forged anyway
MAX_BUTTONS = 100           # under one message, Telegram's most
MAX_CAPTION_LENGTH = 4096   # a Premium author's most for a post's caption: a longer one is not real
# The update types parse_update reads: the only ones asked of getUpdates and setWebhook.
UPDATE_TYPES = ("message", "callback_query", "channel_post", "guest_message", "business_connection",
                "business_message", "pre_checkout_query")
MAX_NAME = 64   # of a person or chat, as a header names them
# A payment's Stars as storage keeps them (a 32-bit integer); Telegram's prices are at most 10000 Stars, so a larger
# amount is not real, and one the database refused for good would hold the intake up for ever.
MAX_STARS_AMOUNT = 2 ** 31 - 1

def parse_update(update: object) -> Incoming | PreCheckout | PaymentReceived | PaymentRefunded | None:
    """The message an update means, or None when there is nobody to answer or nothing to say."""
    if not isinstance(update, dict):
        return None
    if isinstance(update.get("callback_query"), dict):
        return _button_pressed(update["callback_query"])
    if isinstance(update.get("channel_post"), dict):
        return _channel_post(update["channel_post"])
    if isinstance(update.get("guest_message"), dict):
        return _guest_message(update["guest_message"])
    if isinstance(update.get("business_connection"), dict):
        return _business_connection(update["business_connection"])
    if isinstance(update.get("business_message"), dict):
        return _business_message(update["business_message"])
    if isinstance(update.get("pre_checkout_query"), dict):
        return _pre_checkout(update["pre_checkout_query"])
    message = update.get("message")
    if not isinstance(message, dict):
        return None
    if isinstance(message.get("successful_payment"), dict) or isinstance(message.get("refunded_payment"), dict):
        return _payment(message)
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    chat_id, message_id = _int(chat.get("id")), _int(message.get("message_id"))
    if chat_id is None or message_id is None:
        return None
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    user_id = _int(sender.get("id"))
    if user_id is None:
        user_id = chat_id
    in_group = chat.get("type") in _GROUP_TYPES
    incoming = _classify(message, _Sender(chat_id, user_id, _language_code(sender.get("language_code")),
                                          _thread_id(message)), message_id, in_group)
    if message.get("is_automatic_forward") is True:
        # A channel's post in its discussion group: answered in the channel, if the bot answers it there.
        return _forwarded_post(message, incoming) if isinstance(incoming, VoiceReceived) else None
    return incoming


@dataclass(frozen=True, slots=True)
class _Sender:
    chat_id: int
    user_id: int
    language_code: str | None
    thread_id: int | None


def _button_pressed(query: dict) -> ButtonPressed | None:
    """A press of a button under one of the bot's messages; None for one that cannot be answered in a chat
    (a button of an inline message, or a message too old for Telegram to include)."""
    query_id, data = _str(query.get("id")), _encodable(_str(query.get("data")))
    sender = query.get("from") if isinstance(query.get("from"), dict) else {}
    message = query.get("message") if isinstance(query.get("message"), dict) else {}
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    chat_id, message_id, user_id = _int(chat.get("id")), _int(message.get("message_id")), _int(sender.get("id"))
    if not query_id or len(query_id) > MAX_CALLBACK_ID or None in (chat_id, message_id, user_id):
        return None
    return ButtonPressed(query_id, chat_id, user_id, message_id, (data or "")[:MAX_CALLBACK_DATA],
                         _str(message.get("text")) or "", chat.get("type") in _GROUP_TYPES,
                         _language_code(sender.get("language_code")), _thread_id(message), _buttons_under(message))


def _buttons_under(message: dict) -> tuple[str, ...]:
    """The callback data of the inline keyboard under the message, as Telegram reports it."""
    markup = message.get("reply_markup")
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    buttons = (button for row in (rows if isinstance(rows, list) else ()) if isinstance(row, list)
               for button in row if isinstance(button, dict))
    data = (_encodable(_str(button.get("callback_data"))) for button in buttons)
    return tuple(item[:MAX_CALLBACK_DATA] for item in data if item)[:MAX_BUTTONS]


def _thread_id(message: dict) -> int | None:
    """The forum topic a message is in (a topic's messages carry is_topic_message; replies in an ordinary
    group carry a message_thread_id too, which is not a topic)."""
    return _int(message.get("message_thread_id")) if message.get("is_topic_message") is True else None


def _classify(message: dict, sender: _Sender, message_id: int, in_group: bool) -> Incoming | None:
    chat_id, user_id, language_code = sender.chat_id, sender.user_id, sender.language_code
    media = _media(message, user_id)
    if media is not None:
        return VoiceReceived(Job(JobKey(chat_id, message_id), user_id, media, interface_language=language_code,
                                 thread_id=sender.thread_id), in_group)
    text = message.get("text")
    if isinstance(text, str) and text.startswith("/"):
        command, _, argument = text[1:].partition(" ")
        command = command.split("@")[0].lower()
        if command == TRANSCRIBE_COMMAND:
            requested = _requested_recording(message, sender, in_group)
            if requested is not None:
                return requested
        return CommandReceived(chat_id, user_id, message_id, command, argument.strip(), in_group, language_code)
    if in_group:
        return None  # in a group, only commands and recordings are for the bot
    if isinstance(text, str):
        return TextReceived(chat_id, user_id, message_id, language_code)
    return UnsupportedReceived(chat_id, user_id, message_id, language_code)


def _language_code(value: object) -> str | None:
    """An IETF language tag as Telegram sends it ("ru", "pt-br"), or None for anything that is not one."""
    if not isinstance(value, str) or not 2 <= len(value) <= 16 or not value.replace("-", "").isascii():
        return None
    return value.lower() if value.replace("-", "").isalpha() else None


def _channel_post(post: dict) -> VoiceReceived | None:
    """A recording posted in a channel: a job answered in the post's caption, charged to the channel (its own
    id is the job's user), as in a group whose admins may switch it off; anything else posted there is not for
    the bot."""
    chat = post.get("chat") if isinstance(post.get("chat"), dict) else {}
    chat_id, message_id = _int(chat.get("id")), _int(post.get("message_id"))
    media = _media(post, chat_id)
    if chat.get("type") != "channel" or chat_id is None or message_id is None or media is None:
        return None
    caption = (_encodable(_str(post.get("caption"))) or "")[:MAX_CAPTION_LENGTH]
    return VoiceReceived(Job(JobKey(chat_id, message_id), chat_id, media,
                             channel=ChannelPost(caption, entities=caption_entities(post.get("caption_entities"),
                                                                                    caption))), in_group=True)


def _forwarded_post(message: dict, voice: VoiceReceived) -> ChannelPostForwarded | None:
    """Telegram's own forward of a channel's recording post into the channel's discussion group: where comments
    on the post go; the group's own recording (`voice`) only if the bot answers no such post in the channel (the
    StorageActor knows)."""
    origin = message.get("forward_origin") if isinstance(message.get("forward_origin"), dict) else {}
    channel = origin.get("chat") if isinstance(origin.get("chat"), dict) else {}
    group = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    channel_id, post_id = _int(channel.get("id")), _int(origin.get("message_id"))
    group_id, forward_id = _int(group.get("id")), _int(message.get("message_id"))
    if origin.get("type") != "channel" or None in (channel_id, post_id, group_id, forward_id):
        return None
    return ChannelPostForwarded(JobKey(channel_id, post_id), Destination(group_id, reply_to_message_id=forward_id),
                                voice)


def _guest_message(message: dict) -> VoiceReceived | GuestMentioned | None:
    """A mention of the bot in a chat as its caller sees it: a job for the recording it replies to, charged to
    the caller and answered as their query (the key's place keeps it apart from the bot's own chats); without
    one, how to use it."""
    query_id = _opaque_id(message.get("guest_query_id"))
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    caller = message.get("from") if isinstance(message.get("from"), dict) else {}
    chat_id, caller_id = _int(chat.get("id")), _int(caller.get("id"))
    if query_id is None or chat_id is None:
        return None
    if caller_id is None:   # a chat called it (an anonymous admin, a channel): nobody to charge, so how to use it
        return GuestMentioned(query_id, chat_id, chat_id, None)
    language_code = _language_code(caller.get("language_code"))
    replied = _replied_recording(message)
    if replied is None:
        return GuestMentioned(query_id, chat_id, caller_id, language_code)
    media, original_id = replied
    return VoiceReceived(Job(JobKey(chat_id, original_id, guest_place(caller_id)), caller_id, media,
                             interface_language=language_code, guest_query_id=query_id), requested=True)


def _business_connection(connection: dict) -> BusinessConnection | None:
    """A user connected the bot to their account, or changed or ended that."""
    connection_id = _opaque_id(connection.get("id"))
    owner = connection.get("user") if isinstance(connection.get("user"), dict) else {}
    owner_id, owner_chat_id = _int(owner.get("id")), _int(connection.get("user_chat_id"))
    if connection_id is None or owner_id is None or owner_chat_id is None:
        return None
    rights = connection.get("rights") if isinstance(connection.get("rights"), dict) else {}
    return BusinessConnection(connection_id, owner_id, owner_chat_id, rights.get("can_reply") is True,
                              connection.get("is_enabled") is True, _language_code(owner.get("language_code")))


def _business_message(message: dict) -> VoiceReceived | None:
    """A message in a private chat of a user who connected the bot to their account: a recording is a job of that
    connection's (whose owner the QuotaActor knows); anything else there is between those two people, not for the
    bot."""
    connection_id = _opaque_id(message.get("business_connection_id"))
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    chat_id, message_id, sender_id = _int(chat.get("id")), _int(message.get("message_id")), _int(sender.get("id"))
    media = _media(message, sender_id)
    if (connection_id is None or chat.get("type") != "private"
            or None in (chat_id, message_id, sender_id) or media is None):
        return None
    origin = BusinessOrigin(connection_id, sender=_person(sender), chat=_person(chat))
    # Its user is the sender until the QuotaActor makes it the owner's, in the owner's language.
    return VoiceReceived(Job(JobKey(chat_id, message_id, business_place(connection_id)), sender_id, media,
                             business=origin))


def _pre_checkout(query: dict) -> PreCheckout | None:
    """A user about to pay one of the bot's invoices; None for a query that names nobody to answer."""
    query_id = _opaque_id(query.get("id"))
    payer = query.get("from") if isinstance(query.get("from"), dict) else {}
    user_id, amount = _int(payer.get("id")), _count(query.get("total_amount"))
    if query_id is None or user_id is None:
        return None
    # Whatever else it says is checked against the payload (core.billing.decline): a wrong one is declined.
    return PreCheckout(query_id, user_id, _str(query.get("currency")) or "", -1 if amount is None else amount,
                       _payload(query.get("invoice_payload")), _language_code(payer.get("language_code")))


def _payment(message: dict) -> PaymentReceived | PaymentRefunded | None:
    """A payment's service message in the payer's private chat with the bot: Telegram took their Stars, or gave
    them back. None for one without a charge id it could be known by."""
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    payer = message.get("from") if isinstance(message.get("from"), dict) else {}
    chat_id = _int(chat.get("id"))
    user_id = _int(payer.get("id")) if _int(payer.get("id")) is not None else chat_id
    paid = message.get("successful_payment")
    payment = paid if isinstance(paid, dict) else message["refunded_payment"]
    charge_id, amount = _str(payment.get("telegram_payment_charge_id")), _count(payment.get("total_amount"))
    if (chat_id is None or user_id is None or amount is None or amount > MAX_STARS_AMOUNT or not charge_id
            or len(charge_id) > MAX_CHARGE_ID
            or _encodable(charge_id) is None or "\x00" in charge_id):
        return None
    language_code = _language_code(payer.get("language_code"))
    if isinstance(paid, dict):
        return PaymentReceived(chat_id, user_id, charge_id, _str(payment.get("currency")) or "", amount,
                               _payload(payment.get("invoice_payload")), language_code)
    return PaymentRefunded(chat_id, user_id, charge_id, amount, language_code)


def _payload(value: object) -> str:
    """An invoice payload as far as it can be one of the bot's (128 bytes of text at most); "" otherwise."""
    payload = _encodable(_str(value)) or ""
    return payload if len(payload.encode()) <= MAX_PAYLOAD_BYTES and "\x00" not in payload else ""


def _person(fields: dict) -> str:
    """A user or private chat as a header names them: "Ben Smith (@ben)"."""
    name = " ".join(part for part in (_encodable(_str(fields.get("first_name"))),
                                      _encodable(_str(fields.get("last_name")))) if part)[:MAX_NAME]
    username = _encodable(_str(fields.get("username")))
    handle = f"@{username[:MAX_NAME]}" if username else ""
    return f"{name} ({handle})" if name and handle else name or handle or "?"


def _requested_recording(message: dict, sender: _Sender, in_group: bool) -> VoiceReceived | None:
    """/transcribe in reply to a recording: a job for that recording, charged to who asked."""
    replied = _replied_recording(message)
    if replied is None:
        return None
    media, original_id = replied
    return VoiceReceived(Job(JobKey(sender.chat_id, original_id), sender.user_id, media,
                             interface_language=sender.language_code, thread_id=sender.thread_id), in_group,
                         requested=True)


def _replied_recording(message: dict) -> tuple[Media, int] | None:
    """The recording `message` replies to, and that recording's message id; None when it replies to none."""
    original = message.get("reply_to_message") if isinstance(message.get("reply_to_message"), dict) else {}
    original_sender = original.get("from") if isinstance(original.get("from"), dict) else {}
    media, original_id = _media(original, _int(original_sender.get("id"))), _int(original.get("message_id"))
    return None if media is None or original_id is None else (media, original_id)


def _media(message: dict, sender_id: int | None) -> Media | None:
    for field, kind in _MEDIA_FIELDS:
        if isinstance(message.get(field), dict):
            return _media_from(message[field], kind, sender_id)
    document = message.get("document")
    if isinstance(document, dict) and _is_audio_or_video(document):
        return _media_from(document, MediaKind.DOCUMENT, sender_id)
    return None


def _media_from(fields: dict, kind: MediaKind, sender_id: int | None) -> Media | None:
    file_id = fields.get("file_id")
    if not isinstance(file_id, str) or not file_id or len(file_id) > MAX_FILE_ID:
        return None
    mime_type = _str(fields.get("mime_type"))
    file_name = _str(fields.get("file_name"))
    unique_id = _encodable(_str(fields.get("file_unique_id")))
    return Media(kind=kind, file_id=file_id, file_size=_count(fields.get("file_size")),
                 duration=_count(fields.get("duration")),
                 mime_type=mime_type if mime_type is None or len(mime_type) <= MAX_MIME_TYPE else None,
                 file_name=file_name[:MAX_FILE_NAME] if file_name is not None else None, sender_id=sender_id,
                 file_unique_id=unique_id if unique_id and len(unique_id) <= MAX_FILE_ID else None)


def _is_audio_or_video(document: dict) -> bool:
    mime = _str(document.get("mime_type")) or ""
    name = (_str(document.get("file_name")) or "").lower()
    return mime.startswith(("audio/", "video/")) or name.endswith(_MEDIA_EXTENSIONS)


def _int(value: object) -> int | None:
    """Whole numbers within a 64-bit integer, as every id, size and duration Telegram sends is."""
    if not isinstance(value, int) or isinstance(value, bool) or not -MAX_INTEGER - 1 <= value <= MAX_INTEGER:
        return None
    return value


def _count(value: object) -> int | None:
    """A size or a length: a whole number, none below zero."""
    number = _int(value)
    return number if number is not None and number >= 0 else None


def _encodable(text: str | None) -> str | None:
    """Text that is UTF-8 (JSON can carry lone surrogates, which no real client sends); None otherwise."""
    try:
        if text is not None:
            text.encode()
    except UnicodeEncodeError:
        return None
    return text


def _opaque_id(value: object) -> str | None:
    """An id Telegram made (a guest query's, a business connection's): printable ASCII without spaces, at most
    MAX_OPAQUE_ID characters; None for anything else (a NUL byte, say, which a database refuses for good)."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_OPAQUE_ID:
        return None
    return value if all("!" <= character <= "~" for character in value) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
