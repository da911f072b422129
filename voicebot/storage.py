"""Persistence through peewee: the only module that defines or queries peewee models.

Used by the StorageActor (the only writer while the bot runs) and by operator commands.
"""
from datetime import date, datetime, timezone

from contextlib import contextmanager

from peewee import (BigIntegerField, BooleanField, CharField, DatabaseProxy, DateField, DateTimeField,
                    DecimalField, FloatField, ForeignKeyField, IntegerField, Model, PeeweeException, TextField,
                    fn)
from playhouse.db_url import connect

from voicebot.domain import Job, Transcript

database = DatabaseProxy()

_SQLITE_PRAGMAS = {
    "journal_mode": "wal",        # readers (operator commands) never block the bot's writes
    "synchronous": "normal",      # durable across process crashes, the risk WAL accepts
    "foreign_keys": 1,
    "busy_timeout": 5000,
}


class StorageError(Exception):
    """The database cannot be opened or written; the text says what the operator should check."""


class BaseModel(Model):
    class Meta:
        database = database


class User(BaseModel):
    id = BigIntegerField(primary_key=True)
    first_seen = DateTimeField()
    unlimited = BooleanField(default=False)
    daily_seconds = IntegerField(null=True)


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

    class Meta:
        indexes = ((("user", "day"), False),)


class Transaction(BaseModel):
    """Billing stub: what each successful transcription would cost, in audio seconds."""
    user = ForeignKeyField(User, backref="transactions", on_delete="CASCADE")
    usage = ForeignKeyField(Usage, on_delete="CASCADE")
    seconds = FloatField()
    amount = DecimalField(max_digits=12, decimal_places=4, default=0)
    created_at = DateTimeField()


MODELS = (User, Usage, Transaction)


class Storage:
    """Opens the database named by a peewee URL and keeps each logical change in one transaction."""

    def __init__(self, url: str):
        self._url = url

    def open(self) -> None:
        try:
            params = {"pragmas": _SQLITE_PRAGMAS} if self._url.startswith("sqlite") else {}
            db = connect(self._url, **params)
            database.initialize(db)
            db.connect(reuse_if_open=True)
            db.create_tables(MODELS, safe=True)
        except Exception as error:  # peewee and the drivers raise many types for one cause
            raise StorageError(f"cannot open database.url {_without_password(self._url)}: "
                               f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from None

    def close(self) -> None:
        if not database.is_closed():
            database.close()

    def record_usage(self, job: Job, day: date, status: str, charged_seconds: float,
                     transcript: Transcript | None) -> None:
        now = _utc_now()
        with _database_errors(), database.atomic():
            user, _ = User.get_or_create(id=job.user_id, defaults={"first_seen": now})
            usage = Usage.create(
                user=user, chat_id=job.chat_id, message_id=job.message_id, day=day,
                media_kind=job.media.kind.value, status=status,
                audio_seconds=transcript.audio_seconds if transcript else 0.0,
                charged_seconds=charged_seconds,
                processing_seconds=transcript.processing_seconds if transcript else 0.0,
                language=transcript.language if transcript else None,
                transcript=transcript.text if transcript else None, created_at=now)
            if charged_seconds > 0:
                Transaction.create(user=user, usage=usage, seconds=charged_seconds, created_at=now)

    def charged_seconds_by_user(self, day: date) -> dict[int, float]:
        with _database_errors():
            return self._charged_seconds_by_user(day)

    def _charged_seconds_by_user(self, day: date) -> dict[int, float]:
        rows = (Usage.select(Usage.user, fn.SUM(Usage.charged_seconds).alias("charged"))
                .where(Usage.day == day).group_by(Usage.user))
        return {row.user_id: float(row.charged or 0) for row in rows}

    def usages(self, user_id: int) -> list[Usage]:
        return list(Usage.select().where(Usage.user == user_id).order_by(Usage.id))


@contextmanager
def _database_errors():
    try:
        yield
    except (PeeweeException, OSError) as error:
        raise StorageError(str(error).splitlines()[0] if str(error) else type(error).__name__) from None


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, has_password, _ = credentials.partition(":")
    return f"{scheme}{sep}{user}{':***' if has_password else ''}@{host}"
