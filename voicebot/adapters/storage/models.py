"""Today's schema as peewee models, the one database proxy they use, and how peewee's errors become
StorageError."""
from contextlib import contextmanager
from datetime import UTC, datetime

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateField,
    DateTimeField,
    DecimalField,
    Field,
    FloatField,
    ForeignKeyField,
    IntegerField,
    InterfaceError,
    Model,
    OperationalError,
    PeeweeException,
    TextField,
)

from voicebot.core.domain import FailureReason
from voicebot.core.errors import StorageError, one_line

database = DatabaseProxy()


class BaseModel(Model):
    class Meta:
        database = database


class User(BaseModel):
    id = BigIntegerField(primary_key=True)
    first_seen = DateTimeField()
    unlimited = BooleanField(default=False)
    daily_seconds = IntegerField(null=True)
    language = CharField(max_length=8, null=True)
    timestamps = BooleanField(default=False)
    interface_language = CharField(max_length=8, null=True)   # chosen with /lang; null: the app's
    translate = BooleanField(default=False)                     # /translate on: recordings come back in English
    vocabulary = TextField(null=True)                           # /vocab: names and terms to spell right
    business = CharField(max_length=16, default="private")      # /business: where business chats are answered
    business_mine = BooleanField(default=False)                 # /business mine on: their own recordings too
    # Bought with Stars: the balance, always the sum of the user's transaction.balance_change (written with them)
    bought_seconds = FloatField(default=0.0)
    bought_until = DateTimeField(null=True)                     # when the balance expires; null: never


class Chat(BaseModel):
    """A group's own settings; groups without a row transcribe every recording."""
    id = BigIntegerField(primary_key=True)
    automatic = BooleanField(default=True)
    interface_language = CharField(max_length=8, null=True)   # chosen by the group's admins with /lang
    vocabulary = TextField(null=True)                           # chosen by the group's admins with /vocab


class Usage(BaseModel):
    """One row per transcription attempt, successful or not."""
    user = ForeignKeyField(User, backref="usages", on_delete="CASCADE")
    chat_id = BigIntegerField()
    message_id = BigIntegerField()
    day = DateField(index=True)
    media_kind = CharField(max_length=16)
    status = CharField(max_length=32)
    audio_seconds = FloatField(default=0.0)
    charged_seconds = FloatField(default=0.0)
    processing_seconds = FloatField(default=0.0)
    language = CharField(max_length=8, null=True)
    transcript = TextField(null=True)
    created_at = DateTimeField()
    # Who sent the recording (not always the user: /transcribe, English): their /forget clears its text here too.
    sender_id = BigIntegerField(null=True, index=True)
    # What the transcript answers again (core.memory: the recording, task, language pinned, vocabulary, model); set
    # only while the text is kept, and cleared with it.
    memory_key = CharField(max_length=64, null=True, index=True)
    language_probability = FloatField(null=True)   # as the model detected it: an answer from memory says the same
    place = CharField(max_length=64, default="")   # the job key's (core.domain.JobKey): "guest:<caller>", say

    class Meta:
        indexes = ((("user", "day"), False),)


class Segment(BaseModel):
    """A kept transcript's timed pieces, in the recording's own time: subtitles and timestamps are made of
    them later. They go with the transcript's text (usage.transcript), never without it."""
    usage = ForeignKeyField(Usage, backref="segments", on_delete="CASCADE")
    position = IntegerField()
    start = FloatField()
    end = FloatField()
    text = TextField()

    class Meta:
        indexes = ((("usage", "position"), True),)


# status is "done" for a delivered transcript, else a FailureReason. A "busy" refusal is no
# failure of the bot: the job never started.
DONE = Usage.status == "done"
FAILED = Usage.status.not_in(("done", FailureReason.BUSY.value))


class Transaction(BaseModel):
    """The ledger: one row per change of what a user has, in the same database transaction as the change. kind is
    "use" (a charged transcription: `seconds` charged, its bought part taken from the balance), "credit" (a
    payment: Stars in, its pack's seconds added), "refund" (Stars back, the unspent part of the pack taken back)
    or "expire" (what was left of an expired balance). user.bought_seconds is always the sum of balance_change."""
    user = ForeignKeyField(User, backref="transactions", on_delete="CASCADE")
    # Billing outlives the usage history a user asks to forget.
    usage = ForeignKeyField(Usage, null=True, on_delete="SET NULL")
    seconds = FloatField()
    amount = DecimalField(max_digits=12, decimal_places=4, default=0)
    created_at = DateTimeField()
    kind = CharField(max_length=16, default="use")
    balance_change = FloatField(default=0.0)   # signed seconds of the bought balance
    stars = IntegerField(default=0)            # signed: + a credit, - a refund
    charge_id = CharField(max_length=255, null=True, index=True)   # the payment a credit or refund is of


class Payment(BaseModel):
    """A payment in Stars, stored with the intake batch that brought its successful_payment, keyed by Telegram's
    charge id: a redelivered update finds its row and credits nothing again."""
    charge_id = CharField(max_length=255, primary_key=True)   # telegram_payment_charge_id
    user_id = BigIntegerField(index=True)
    chat_id = BigIntegerField()
    stars = IntegerField()
    seconds = FloatField()                  # the pack's minutes * 60; 0 for a payload that did not verify
    payload = CharField(max_length=128)
    paid_at = DateTimeField()
    receipt_sent = BooleanField(default=False)
    refunded_at = DateTimeField(null=True)
    refunded_seconds = FloatField(default=0.0)   # what its refund took back of the balance


class JobRecord(BaseModel):
    """A recording accepted for transcription, stored before the update offset moves past it, so a
    crash loses nothing and a redelivered update is recognised by (chat_id, message_id)."""
    chat_id = BigIntegerField()
    message_id = BigIntegerField()
    user_id = BigIntegerField()
    media_kind = CharField(max_length=16)
    file_id = CharField(max_length=255)
    file_size = BigIntegerField(null=True)
    duration = IntegerField(null=True)
    mime_type = CharField(max_length=100, null=True)
    file_name = CharField(max_length=255, null=True)
    in_group = BooleanField(default=False)
    requested = BooleanField(default=False)
    finished = BooleanField(default=False, index=True)
    status_message_id = BigIntegerField(null=True)
    attempts = IntegerField(default=0)      # transcriptions started, here or on worker nodes
    interface_language = CharField(max_length=8, null=True)   # the language its answers are in
    thread_id = BigIntegerField(null=True)                      # the forum topic its answers go to
    task = CharField(max_length=16, default="transcribe")      # a Task: "translate" for English
    created_at = DateTimeField()
    sender_id = BigIntegerField(null=True)   # who sent the recording: their /forget deletes every job of it
    file_unique_id = CharField(max_length=255, null=True)   # the file's own id, the same in every copy of it
    place = CharField(max_length=64, default="")            # the job key's (core.domain.JobKey)
    guest_query_id = CharField(max_length=255, null=True)   # a guest job's query, which its first answer answers
    guest_post_id = CharField(max_length=255, null=True)    # the inline_message_id of a guest job's post
    channel_caption = TextField(null=True)           # a channel post's own caption, which the bot answers under
    channel_entities = TextField(null=True)          # its formatting, as JSON (core.captions.caption_entities)
    comments_chat_id = BigIntegerField(null=True)    # a channel post's forward in its discussion group ...
    comments_message_id = BigIntegerField(null=True)  # ... which comments on it reply to
    business_connection_id = CharField(max_length=255, null=True)   # a business chat's connection (core.business)
    business_sender = TextField(null=True)           # who sent it there, and in which chat, as the owner's header
    business_chat = TextField(null=True)             # names them
    status_chat_id = BigIntegerField(null=True)      # the chat its status message is in (a business job's varies)

    class Meta:
        table_name = "job"
        indexes = ((("chat_id", "message_id", "place"), True),)


class BusinessConnection(BaseModel):
    """A user's connection of the bot to their account, as its last business_connection update left it."""
    id = CharField(max_length=255, primary_key=True)
    owner_id = BigIntegerField()
    owner_chat_id = BigIntegerField()
    can_reply = BooleanField(default=False)
    is_enabled = BooleanField(default=True)

    class Meta:
        table_name = "business_connection"


class BotState(BaseModel):
    """Small named values the bot must keep across restarts, such as the getUpdates offset."""
    name = CharField(max_length=32, primary_key=True)
    value = BigIntegerField()

    class Meta:
        table_name = "bot_state"


class Leadership(BaseModel):
    """One row: the term of the bot node that leads, raised by each node as it takes the lead. Every write
    of a leader reads it FOR SHARE and must find its own term, so a deposed leader's writes fail, and the
    raise waits for the writes under way to end."""
    id = IntegerField(primary_key=True)
    term = BigIntegerField(default=0)
    holder = CharField(max_length=200, null=True)
    since = DateTimeField(null=True)


class SchemaVersion(BaseModel):
    """One row per migration applied; the highest version is the schema's."""
    version = IntegerField(primary_key=True)
    name = CharField(max_length=100)
    applied_at = DateTimeField()

    class Meta:
        table_name = "schema_version"


class ApiKeyRecord(BaseModel):
    """A key of the transcription API: its secret is stored only as its SHA-256, so a copy of the database
    lets no one in. Its usage rows are a user's, core.api.api_user_id of its id."""
    name = CharField(max_length=64, unique=True)
    key_hash = CharField(max_length=64, unique=True)   # hex
    created_at = DateTimeField()
    revoked_at = DateTimeField(null=True)

    class Meta:
        table_name = "api_key"


# The whole numbers a column holds, by peewee's type for it: from -limit to limit - 1.
_INTEGER_LIMITS = {"SMALLINT": 2 ** 15, "INT": 2 ** 31, "BIGINT": 2 ** 63}


def fitted(model: type[Model], values: dict, cut: tuple[str, ...] = ()) -> dict:
    """`values` for a row of `model`, each made to fit its column as the model declares it, so that what a sender
    chose is never a value the database refuses for good (PostgreSQL checks lengths and ranges; SQLite does not,
    and neither stores NUL or a lone surrogate, which are left out of text). A text longer than its column, or a
    whole number past its range, is no real one: None where the column allows that, cut to length in the columns
    named in `cut`, else refused (StorageError). Bounds come from the models alone, so a new column cannot drift."""
    row = {}
    for name, value in values.items():
        field = model._meta.fields[name]
        if isinstance(value, str):
            value = value.replace("\x00", "").encode("utf-8", "ignore").decode()
        if _fits(field, value):
            row[name] = value
        elif name in cut and isinstance(value, str):
            row[name] = value[:field.max_length]
        elif field.null:
            row[name] = None
        else:
            raise StorageError(f"the database refused a value: {model._meta.table_name}.{name} cannot hold it")
    return row


def _fits(field: Field, value: object) -> bool:
    if isinstance(value, str):
        return not isinstance(field, CharField) or len(value) <= field.max_length
    limit = _INTEGER_LIMITS.get(field.field_type)
    if limit is not None and isinstance(value, int) and not isinstance(value, bool):
        return -limit <= value < limit
    return True


@contextmanager
def database_errors(prefix: str = ""):
    try:
        yield
    except StorageError:
        raise
    except (PeeweeException, OSError) as error:
        transient = isinstance(error, (OperationalError, InterfaceError))
        if transient:
            _drop_connection()  # it may be broken (a server restart): the next query connects anew
        raise StorageError(prefix + one_line(error), transient) from None
    except Exception as error:  # the drivers raise their own types too (OverflowError for a huge integer)
        raise StorageError(f"{prefix}the database refused a value: {type(error).__name__}: {one_line(error)}") \
            from None


def _drop_connection() -> None:
    try:
        database.close()
    except PeeweeException:
        pass


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
