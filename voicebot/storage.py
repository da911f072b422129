"""Persistence through peewee: the only module that defines or queries peewee models.

Used by the StorageActor (the only writer while the bot runs) and by operator commands.
"""
from contextlib import contextmanager
from datetime import date, datetime, timezone

from peewee import (BigIntegerField, BooleanField, Case, CharField, DatabaseProxy, DateField,
                    DateTimeField, DecimalField, FloatField, ForeignKeyField, IntegerField, Model,
                    InterfaceError, OperationalError, PeeweeException, PostgresqlDatabase, TextField, fn)
from playhouse.db_url import connect
from playhouse.migrate import SchemaMigrator, SqliteMigrator

from voicebot.domain import (DayStats, FailureReason, IncomingJob, Job, JobKey, Media, MediaKind, PendingJob,
                             Transcript, UserState, UserSummary)
from voicebot.logs import without_password

database = DatabaseProxy()
_MIGRATION_LOCK = 0x766F696365626F74   # "voicebot": the PostgreSQL advisory lock held while migrating

_SQLITE_PARAMS = {
    "pragmas": {
        "journal_mode": "wal",        # readers (operator commands) never block the bot's writes
        "synchronous": "normal",      # durable across process crashes, the risk WAL accepts
        "foreign_keys": 1,
        "busy_timeout": 5000,
    },
    # Transactions take the write lock as they begin, so one that meets another writer (the bot and an
    # operator command) waits busy_timeout for it instead of failing when its read lock cannot upgrade.
    "lock_type": "IMMEDIATE",
}

class StorageError(Exception):
    """The database cannot be opened or written; the text says what the operator should check.
    `transient`: the database was unreachable or busy, and the same change may work later."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


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


class Chat(BaseModel):
    """A group's own settings; groups without a row transcribe every recording."""
    id = BigIntegerField(primary_key=True)
    automatic = BooleanField(default=True)


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


# status is "done" for a delivered transcript, else a FailureReason. A "busy" refusal is no
# failure of the bot: the job never started.
_DONE = Usage.status == "done"
_FAILED = Usage.status.not_in(("done", FailureReason.BUSY.value))


class Transaction(BaseModel):
    """Billing stub: what each successful transcription would cost, in audio seconds."""
    user = ForeignKeyField(User, backref="transactions", on_delete="CASCADE")
    # Billing outlives the usage history a user asks to forget.
    usage = ForeignKeyField(Usage, null=True, on_delete="SET NULL")
    seconds = FloatField()
    amount = DecimalField(max_digits=12, decimal_places=4, default=0)
    created_at = DateTimeField()


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
    attempts = IntegerField(default=0)
    deliveries = IntegerField(default=0)    # times a worker node took the job off the broker
    created_at = DateTimeField()

    class Meta:
        table_name = "job"
        indexes = ((("chat_id", "message_id"), True),)


class BotState(BaseModel):
    """Small named values the bot must keep across restarts, such as the getUpdates offset."""
    name = CharField(max_length=32, primary_key=True)
    value = BigIntegerField()

    class Meta:
        table_name = "bot_state"


class SchemaVersion(BaseModel):
    """One row per migration applied; the highest version is the schema's."""
    version = IntegerField(primary_key=True)
    name = CharField(max_length=100)
    applied_at = DateTimeField()

    class Meta:
        table_name = "schema_version"


# Migrations are small functions over playhouse.migrate, which ships with peewee, speaks SQLite and
# PostgreSQL alike, and rebuilds a SQLite table where ALTER TABLE cannot change a column. peewee-migrate
# and playhouse.migrations both load migration scripts from a folder and key their history by file name;
# here the schema has a version number, and a database from before versions existed has to count as 1.
# The models above are today's schema: a migration never uses them, it describes the tables it changes.

def _initial_schema(migrator: SchemaMigrator) -> None:
    """Version 1, as first released (without schema_version): a frozen copy of the models of the time."""
    class V1(Model):
        class Meta:
            database = migrator.database

    class User(V1):
        id = BigIntegerField(primary_key=True)
        first_seen = DateTimeField()
        unlimited = BooleanField(default=False)
        daily_seconds = IntegerField(null=True)

    class Usage(V1):
        user = ForeignKeyField(User, on_delete="CASCADE")
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

    class Transaction(V1):
        user = ForeignKeyField(User, on_delete="CASCADE")
        usage = ForeignKeyField(Usage, on_delete="CASCADE")
        seconds = FloatField()
        amount = DecimalField(max_digits=12, decimal_places=4, default=0)
        created_at = DateTimeField()

    migrator.database.create_tables([User, Usage, Transaction])


def _user_language_and_billing_kept_on_forget(migrator: SchemaMigrator) -> None:
    """Version 2: user.language; transaction.usage nullable, ON DELETE SET NULL.

    usage(day) is indexed since version 1 (usage_day), which is what stats and prune filter on.
    """
    migrator.migrate(migrator.add_column("user", "language", CharField(max_length=8, null=True)))
    if isinstance(migrator, SqliteMigrator):
        # SQLite cannot alter a foreign key: move the column to a new one with the new constraint,
        # then drop the old one by rebuilding the table (legacy=True; DROP COLUMN refuses keys).
        migrator.migrate(
            migrator.sql('ALTER TABLE "transaction" ADD COLUMN "usage_new" INTEGER '
                         'REFERENCES "usage" ("id") ON DELETE SET NULL'),
            migrator.sql('UPDATE "transaction" SET "usage_new" = "usage_id"'),
            migrator.drop_column("transaction", "usage_id", legacy=True),
            migrator.rename_column("transaction", "usage_new", "usage_id"),
            migrator.add_index("transaction", ("usage_id",)))
    else:
        migrator.migrate(
            migrator.drop_foreign_key_constraint("transaction", "usage_id"),
            migrator.drop_not_null("transaction", "usage_id"),
            migrator.add_foreign_key_constraint(
                "transaction", "usage_id", "usage", "id", on_delete="SET NULL",
                constraint_name="transaction_usage_id_fkey"))  # the name peewee gives it in version 1


def _timestamps_and_group_modes(migrator: SchemaMigrator) -> None:
    """Version 3: user.timestamps ([mm:ss] marks in transcripts) and chat (a group's mode)."""
    class Chat(Model):
        id = BigIntegerField(primary_key=True)
        automatic = BooleanField(default=True)

        class Meta:
            database = migrator.database

    migrator.migrate(migrator.add_column("user", "timestamps", BooleanField(default=False)))
    migrator.database.create_tables([Chat])


def _durable_intake(migrator: SchemaMigrator) -> None:
    """Version 4: job (every accepted recording until it is answered) and bot_state (the offset)."""
    class V4(Model):
        class Meta:
            database = migrator.database

    class Job(V4):
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
        attempts = IntegerField(default=0)
        created_at = DateTimeField()

        class Meta:
            indexes = ((("chat_id", "message_id"), True),)

    class BotState(V4):
        name = CharField(max_length=32, primary_key=True)
        value = BigIntegerField()

        class Meta:
            table_name = "bot_state"

    migrator.database.create_tables([Job, BotState])


def _broker_deliveries(migrator: SchemaMigrator) -> None:
    """Version 5: job.deliveries, counted by worker nodes so a job that keeps killing them ends."""
    migrator.migrate(migrator.add_column("job", "deliveries", IntegerField(default=0)))


MIGRATIONS = (_initial_schema, _user_language_and_billing_kept_on_forget, _timestamps_and_group_modes,
              _durable_intake, _broker_deliveries)


class Storage:
    """Opens the database named by a peewee URL and keeps each logical change in one transaction."""

    def __init__(self, url: str, keep_transcripts: bool = True):
        self._url = url
        self._keep_transcripts = keep_transcripts

    def open(self, migrate: bool = True) -> None:
        """Connect, and bring the schema up to date unless told not to (`voicebot db migrate` reports
        what it applies, so it migrates on its own)."""
        try:
            params = _SQLITE_PARAMS if self._url.startswith("sqlite") else {}
            db = connect(self._url, **params)
            database.initialize(db)
            db.connect(reuse_if_open=True)
        except Exception as error:  # peewee and the drivers raise many types for one cause
            raise StorageError(f"cannot open database.url {without_password(self._url)}: "
                               f"{_first_line(error)}") from None
        if migrate:
            self.migrate()

    def close(self) -> None:
        if not database.is_closed():
            database.close()

    def schema_version(self) -> int:
        with _database_errors():
            if SchemaVersion.table_exists():
                return SchemaVersion.select(fn.MAX(SchemaVersion.version)).scalar() or 0
            return 1 if User.table_exists() else 0

    def migrate(self) -> list[str]:
        """Apply the migrations the database lacks, each in its own transaction; their names.
        Nodes that start together (a bot node and its workers) take turns: on PostgreSQL the first
        migrates, the others wait for it and then find nothing left to do."""
        with self._migration_lock():
            return self._migrate()

    @contextmanager
    def _migration_lock(self):
        if isinstance(database.obj, PostgresqlDatabase):
            with _database_errors():
                database.execute_sql("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            try:
                yield
            finally:
                with _database_errors():
                    database.execute_sql("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
        else:
            yield   # SQLite: one host, and a write transaction locks the whole file anyway

    def _migrate(self) -> list[str]:
        current = self.schema_version()
        if current > len(MIGRATIONS):
            raise StorageError(f"the database has schema version {current}, newer than this voicebot "
                               f"knows ({len(MIGRATIONS)}): upgrade voicebot")
        migrator = SchemaMigrator.from_database(database)
        applied = []
        for version, migration in enumerate(MIGRATIONS[current:], start=current + 1):
            name = f"{version} {migration.__name__.strip('_').replace('_', ' ')}"
            with _database_errors(f"migration {name} failed: "), migrator.migration_context():
                migration(migrator)
                SchemaVersion.create_table()
                SchemaVersion.create(version=version, name=name, applied_at=_utc_now())
            applied.append(name)
        return applied

    @contextmanager
    def batch(self):
        """Several changes in one transaction: one commit (one fsync) instead of one each."""
        with _database_errors(), database.atomic():
            yield

    # --- durable intake ----------------------------------------------------------------------

    def store_intake(self, intake: list[IncomingJob], next_offset: int | None) -> set[JobKey]:
        """Stores new jobs and the offset that confirms their updates, in one transaction; the keys
        of the jobs that were new (a redelivered update is recognised here)."""
        now = _utc_now()
        with _database_errors(), database.atomic():
            new = set()
            for incoming in intake:
                media, key = incoming.job.media, incoming.job.key
                known = JobRecord.get_or_none(_is_job(key))
                if known is not None and not (incoming.requested and known.finished):
                    continue  # a redelivered update: the job is known already
                if known is not None:
                    # /transcribe on a recording answered (or passed over) before: a new job for it.
                    known.delete_instance()
                new.add(key)
                (JobRecord.insert(
                    chat_id=key.chat_id, message_id=key.message_id, user_id=incoming.job.user_id,
                    media_kind=media.kind.value, file_id=media.file_id, file_size=media.file_size,
                    duration=media.duration, mime_type=media.mime_type, file_name=media.file_name,
                    in_group=incoming.in_group, requested=incoming.requested, created_at=now)
                    .on_conflict_ignore().execute())
            if next_offset is not None:
                (BotState.insert(name=_OFFSET, value=next_offset)
                 .on_conflict(conflict_target=[BotState.name], update={BotState.value: next_offset}).execute())
            return new

    def saved_offset(self) -> int | None:
        with _database_errors():
            row = BotState.get_or_none(BotState.name == _OFFSET)
            return row.value if row else None

    def unfinished_jobs(self) -> list[PendingJob]:
        with _database_errors():
            return [_pending_job(row) for row in
                    JobRecord.select().where(~JobRecord.finished).order_by(JobRecord.id)]

    def job_started(self, key: JobKey) -> None:
        with _database_errors(), database.atomic():
            JobRecord.update(attempts=JobRecord.attempts + 1).where(_is_job(key)).execute()

    def take_delivery(self, key: JobKey) -> int | None:
        """A worker node took the job off the broker: how many times that has happened now, or None
        when the job is answered already (or unknown), so there is nothing left to do."""
        with _database_errors(), database.atomic():
            taken = (JobRecord.update(deliveries=JobRecord.deliveries + 1)
                     .where(_is_job(key) & ~JobRecord.finished).execute())
            if not taken:
                return None
            return JobRecord.select(JobRecord.deliveries).where(_is_job(key)).scalar()

    def status_posted(self, key: JobKey, message_id: int) -> None:
        with _database_errors(), database.atomic():
            JobRecord.update(status_message_id=message_id).where(_is_job(key)).execute()

    def job_finished(self, key: JobKey) -> None:
        with _database_errors(), database.atomic():
            JobRecord.update(finished=True).where(_is_job(key)).execute()

    # --- usage --------------------------------------------------------------------------------

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
                transcript=transcript.text if transcript and self._keep_transcripts else None,
                created_at=now)
            if charged_seconds > 0:
                Transaction.create(user=user, usage=usage, seconds=charged_seconds, created_at=now)
            # The usage row is the job's end: recorded with it, so a job is never answered twice.
            JobRecord.update(finished=True).where(_is_job(job.key)).execute()

    def load_users(self, day: date) -> dict[int, UserState]:
        """Every user with a setting of their own or usage on `day`; the rest follow the defaults.

        Two queries however many users there are, read as tuples: no model object per row."""
        with _database_errors():
            charged = dict(Usage.select(Usage.user, fn.SUM(Usage.charged_seconds))
                           .where(Usage.day == day).group_by(Usage.user).tuples())
            users = {user_id: UserState(user_id, charged_today=float(seconds))
                     for user_id, seconds in charged.items()}
            with_settings = (User.select(User.id, User.unlimited, User.daily_seconds, User.language,
                                         User.timestamps)
                             .where(User.unlimited | User.daily_seconds.is_null(False)
                                    | User.language.is_null(False) | User.timestamps)
                             .tuples())
            for user_id, unlimited, daily_seconds, language, timestamps in with_settings:
                users[user_id] = UserState(user_id, unlimited, daily_seconds, language,
                                           float(charged.get(user_id, 0.0)), timestamps)
            return users

    def set_language(self, user_id: int, language: str | None) -> None:
        self._set_user(user_id, language=language)

    def set_unlimited(self, user_id: int, unlimited: bool) -> None:
        self._set_user(user_id, unlimited=unlimited)

    def set_daily_seconds(self, user_id: int, seconds: int | None) -> None:
        """None: back to the configured quota.daily_seconds."""
        self._set_user(user_id, daily_seconds=seconds)

    def save_user_settings(self, user_id: int, unlimited: bool, daily_seconds: int | None,
                           language: str | None, timestamps: bool = False) -> None:
        """All settings at once, as the QuotaActor holds them."""
        self._set_user(user_id, unlimited=unlimited, daily_seconds=daily_seconds, language=language,
                       timestamps=timestamps)

    def save_chat_settings(self, chat_id: int, automatic: bool) -> None:
        with _database_errors(), database.atomic():
            (Chat.insert(id=chat_id, automatic=automatic)
             .on_conflict(conflict_target=[Chat.id], update={Chat.automatic: automatic}).execute())

    def on_request_chats(self) -> frozenset[int]:
        """Groups where only recordings asked for with /transcribe are transcribed."""
        with _database_errors():
            return frozenset(chat.id for chat in Chat.select(Chat.id).where(~Chat.automatic))

    def _set_user(self, user_id: int, **values) -> None:
        with _database_errors(), database.atomic():
            (User.insert(id=user_id, first_seen=_utc_now(), **values)
             .on_conflict(conflict_target=[User.id], update={getattr(User, name): value
                                                              for name, value in values.items()})
             .execute())

    def user_summary(self, user_id: int, day: date) -> UserSummary | None:
        """The user's settings, what they used on `day`, and totals over the usage history still kept."""
        with _database_errors():
            user = User.get_or_none(User.id == user_id)
            if user is None:
                return None
            charged_today, total_seconds, transcriptions, failures = (
                Usage.select(_sum_where(Usage.day == day, Usage.charged_seconds),
                             fn.SUM(Usage.charged_seconds), _count_where(_DONE), _count_where(_FAILED))
                .where(Usage.user == user_id).tuples().get())
            return UserSummary(user.id, user.first_seen, user.unlimited, user.daily_seconds, user.language,
                               float(charged_today or 0), float(total_seconds or 0), transcriptions, failures)

    def forget(self, user_id: int, day: date) -> int:
        """Delete the user's history except `day`'s rows, which today's quota still counts: those only
        lose their text. Billing rows stay, unlinked from their usage. Returns rows deleted or cleared."""
        with _database_errors(), database.atomic():
            deleted = Usage.delete().where((Usage.user == user_id) & (Usage.day != day)).execute()
            return deleted + self._clear_transcripts((Usage.user == user_id) & (Usage.day == day))

    def prune(self, before: date) -> int:
        """Delete the text of transcripts from days before `before`; returns how many."""
        with _database_errors(), database.atomic():
            return self._clear_transcripts(Usage.day < before)

    def _clear_transcripts(self, where) -> int:
        return Usage.update(transcript=None).where(where & Usage.transcript.is_null(False)).execute()

    def stats(self, first_day: date, last_day: date) -> list[DayStats]:
        """One entry per day with usage, oldest first."""
        rows = (Usage.select(Usage.day, fn.COUNT(Usage.user.distinct()), _count_where(_DONE),
                             _sum_where(_DONE, Usage.audio_seconds), _count_where(_FAILED),
                             fn.AVG(Case(None, [(_DONE, Usage.processing_seconds)])))
                .where(Usage.day.between(first_day, last_day)).group_by(Usage.day).order_by(Usage.day))
        with _database_errors():
            return [DayStats(day, users, transcriptions, float(audio), failures, float(processing or 0))
                    for day, users, transcriptions, audio, failures, processing in rows.tuples()]

    def usages(self, user_id: int) -> list[Usage]:
        return list(Usage.select().where(Usage.user == user_id).order_by(Usage.id))


_OFFSET = "update_offset"


def _is_job(key: JobKey):
    return (JobRecord.chat_id == key.chat_id) & (JobRecord.message_id == key.message_id)


def _pending_job(row: JobRecord) -> PendingJob:
    media = Media(MediaKind(row.media_kind), row.file_id, row.file_size, row.duration, row.mime_type,
                  row.file_name)
    return PendingJob(IncomingJob(Job(JobKey(row.chat_id, row.message_id), row.user_id, media), row.in_group,
                                  row.requested), row.status_message_id, row.attempts)


def _count_where(condition):
    return fn.COUNT(Case(None, [(condition, 1)]))


def _sum_where(condition, value):
    return fn.SUM(Case(None, [(condition, value)], 0))


@contextmanager
def _database_errors(prefix: str = ""):
    try:
        yield
    except (PeeweeException, OSError) as error:
        transient = isinstance(error, (OperationalError, InterfaceError))
        if transient:
            _drop_connection()  # it may be broken (a server restart): the next query connects anew
        raise StorageError(prefix + _first_line(error), transient) from None


def _drop_connection() -> None:
    try:
        database.close()
    except PeeweeException:
        pass


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
