"""Numbered schema migrations, applied in order on start and by `voicebot db migrate`."""
from contextlib import contextmanager

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    PostgresqlDatabase,
    TextField,
    fn,
)
from playhouse.migrate import SchemaMigrator, SqliteMigrator

from voicebot.adapters.storage.models import SchemaVersion, User, database, database_errors, utc_now
from voicebot.core.errors import StorageError

_MIGRATION_LOCK = 0x766F696365626F74   # "voicebot": the PostgreSQL advisory lock held while migrating

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


def _attempts_counted_once(migrator: SchemaMigrator) -> None:
    """Version 6: job.attempts counts every start, local or on a worker node; job.deliveries goes."""
    migrator.migrate(
        migrator.sql('UPDATE "job" SET "attempts" = "deliveries" WHERE "deliveries" > "attempts"'),
        migrator.drop_column("job", "deliveries"))


def _interface_languages(migrator: SchemaMigrator) -> None:
    """Version 7: the language the bot answers in, chosen by a user (user), a group (chat), per job (job)."""
    migrator.migrate(*(migrator.add_column(table, "interface_language", CharField(max_length=8, null=True))
                       for table in ("user", "chat", "job")))


def _leadership(migrator: SchemaMigrator) -> None:
    """Version 8: leadership, one row holding the term of the bot node that leads (standby nodes take over)."""
    class Leadership(Model):
        id = IntegerField(primary_key=True)
        term = BigIntegerField(default=0)
        holder = CharField(max_length=200, null=True)
        since = DateTimeField(null=True)

        class Meta:
            database = migrator.database

    migrator.database.create_tables([Leadership])
    Leadership.insert(id=1, term=0).execute()


def _forum_topics(migrator: SchemaMigrator) -> None:
    """Version 9: job.thread_id, the forum topic a recording was sent in, where its answers go."""
    migrator.migrate(migrator.add_column("job", "thread_id", BigIntegerField(null=True)))


def _segments_translation_and_vocabularies(migrator: SchemaMigrator) -> None:
    """Version 10: segment (a kept transcript's timed pieces, for subtitles and timestamps later), job.task
    (a translation into English), user.translate, and the vocabularies of users and groups (/vocab)."""
    class Usage(Model):
        class Meta:
            database = migrator.database

    class Segment(Model):
        usage = ForeignKeyField(Usage, on_delete="CASCADE")
        position = IntegerField()
        start = FloatField()
        end = FloatField()
        text = TextField()

        class Meta:
            database = migrator.database
            indexes = ((("usage", "position"), True),)

    migrator.migrate(migrator.add_column("job", "task", CharField(max_length=16, default="transcribe")),
                     migrator.add_column("user", "translate", BooleanField(default=False)),
                     migrator.add_column("user", "vocabulary", TextField(null=True)),
                     migrator.add_column("chat", "vocabulary", TextField(null=True)))
    migrator.database.create_tables([Segment])


def _senders_of_recordings(migrator: SchemaMigrator) -> None:
    """Version 11: job.sender_id and usage.sender_id, who sent the recording (not always the user a job is for:
    /transcribe, English), so that their /forget reaches every copy of it. Known for what was stored before only
    where a job was the sender's own; a usage row learns it from its job."""
    migrator.migrate(migrator.add_column("job", "sender_id", BigIntegerField(null=True)),
                     migrator.add_column("usage", "sender_id", BigIntegerField(null=True)),
                     migrator.add_index("usage", ("sender_id",)),
                     migrator.sql('UPDATE "job" SET "sender_id" = "user_id" WHERE NOT "requested"'),
                     migrator.sql('UPDATE "usage" SET "sender_id" = (SELECT "job"."sender_id" FROM "job" '
                                  'WHERE "job"."chat_id" = "usage"."chat_id" '
                                  'AND "job"."message_id" = "usage"."message_id")'))


def _answers_from_memory(migrator: SchemaMigrator) -> None:
    """Version 12: job.file_unique_id (Telegram's id of the file itself, the same in a forwarded copy),
    usage.memory_key (what a kept transcript answers again, see core.memory) and usage.language_probability, so
    that a recording transcribed before is answered from memory, as it was. Rows from before have no key: they
    are never recalled."""
    migrator.migrate(migrator.add_column("job", "file_unique_id", CharField(max_length=255, null=True)),
                     migrator.add_column("usage", "memory_key", CharField(max_length=64, null=True)),
                     migrator.add_column("usage", "language_probability", FloatField(null=True)),
                     migrator.add_index("usage", ("memory_key",)))


def _guest_mode(migrator: SchemaMigrator) -> None:
    """Version 13: job.place and usage.place (whose view of the chat a job's ids are in: "" for the bot's own
    chats, "guest:<caller>" for a guest job), jobs unique on (chat_id, message_id, place); job.guest_query_id
    (the query a guest job's first answer answers) and job.guest_post_id (the inline_message_id of its post),
    so that a guest job resumed after a restart answers its query or edits its post, never posts twice."""
    migrator.migrate(migrator.add_column("job", "place", CharField(max_length=64, default="")),
                     migrator.add_column("usage", "place", CharField(max_length=64, default="")),
                     migrator.add_column("job", "guest_query_id", CharField(max_length=255, null=True)),
                     migrator.add_column("job", "guest_post_id", CharField(max_length=255, null=True)),
                     migrator.drop_index("job", "job_chat_id_message_id"),
                     migrator.add_index("job", ("chat_id", "message_id", "place"), True))


def _channels(migrator: SchemaMigrator) -> None:
    """Version 14: job.channel_caption (a channel post's caption as its author wrote it, which the bot answers
    under; null: no channel post) and job.comments_chat_id / comments_message_id (the post's forward in the
    channel's discussion group, which comments reply to), so that a channel job resumed after a restart edits
    its post's caption into its answer, never posting twice; job.channel_entities, the caption's formatting
    (JSON, the Bot API's MessageEntity fields), which every edit of it keeps."""
    migrator.migrate(migrator.add_column("job", "channel_caption", TextField(null=True)),
                     migrator.add_column("job", "channel_entities", TextField(null=True)),
                     migrator.add_column("job", "comments_chat_id", BigIntegerField(null=True)),
                     migrator.add_column("job", "comments_message_id", BigIntegerField(null=True)))


def _business_chats(migrator: SchemaMigrator) -> None:
    """Version 15: business_connection (each user's connection of the bot to their account: its owner, their chat
    with the bot, whether it may reply, whether it is enabled), user.business and user.business_mine (where
    recordings in their business chats are answered, and whether their own are), job.business_connection_id,
    business_sender and business_chat (a business job's connection and what its owner's header names) and
    job.status_chat_id (the chat its status message is in), so that a business job resumed after a restart is
    answered where it was."""
    class BusinessConnection(Model):
        id = CharField(max_length=255, primary_key=True)
        owner_id = BigIntegerField()
        owner_chat_id = BigIntegerField()
        can_reply = BooleanField(default=False)
        is_enabled = BooleanField(default=True)

        class Meta:
            database = migrator.database
            table_name = "business_connection"

    migrator.database.create_tables([BusinessConnection])
    migrator.migrate(migrator.add_column("user", "business", CharField(max_length=16, default="private")),
                     migrator.add_column("user", "business_mine", BooleanField(default=False)),
                     migrator.add_column("job", "business_connection_id", CharField(max_length=255, null=True)),
                     migrator.add_column("job", "business_sender", TextField(null=True)),
                     migrator.add_column("job", "business_chat", TextField(null=True)),
                     migrator.add_column("job", "status_chat_id", BigIntegerField(null=True)))


def _stars_billing(migrator: SchemaMigrator) -> None:
    """Version 16: billing with Telegram Stars. payment (each payment, keyed by telegram_payment_charge_id: stored
    once, credited once), user.bought_seconds and user.bought_until (the bought balance and when it expires),
    and the transaction table made the ledger: kind ("credit", "use", "refund", "expire"), balance_change (signed
    seconds of the bought balance), stars (signed) and charge_id. Rows from before are uses of free seconds:
    kind "use", balance_change 0."""
    class Payment(Model):
        charge_id = CharField(max_length=255, primary_key=True)
        user_id = BigIntegerField(index=True)
        chat_id = BigIntegerField()
        stars = IntegerField()
        seconds = FloatField()
        payload = CharField(max_length=128)
        paid_at = DateTimeField()
        receipt_sent = BooleanField(default=False)
        refunded_at = DateTimeField(null=True)
        refunded_seconds = FloatField(default=0.0)

        class Meta:
            database = migrator.database

    migrator.database.create_tables([Payment])
    migrator.migrate(migrator.add_column("user", "bought_seconds", FloatField(default=0.0)),
                     migrator.add_column("user", "bought_until", DateTimeField(null=True)),
                     migrator.add_column("transaction", "kind", CharField(max_length=16, default="use")),
                     migrator.add_column("transaction", "balance_change", FloatField(default=0.0)),
                     migrator.add_column("transaction", "stars", IntegerField(default=0)),
                     migrator.add_column("transaction", "charge_id", CharField(max_length=255, null=True)),
                     migrator.add_index("transaction", ("charge_id",)))


def _api_keys(migrator: SchemaMigrator) -> None:
    """Version 17: api_key, the transcription API's keys (`voicebot api key create`): a name shown in lists and
    metrics, the secret's SHA-256 (never the secret) and when it was revoked. A key's usage rows are a user's,
    core.api.api_user_id of its id."""
    class ApiKey(Model):
        name = CharField(max_length=64, unique=True)
        key_hash = CharField(max_length=64, unique=True)
        created_at = DateTimeField()
        revoked_at = DateTimeField(null=True)

        class Meta:
            database = migrator.database
            table_name = "api_key"

    migrator.database.create_tables([ApiKey])


MIGRATIONS = (_initial_schema, _user_language_and_billing_kept_on_forget, _timestamps_and_group_modes,
              _durable_intake, _broker_deliveries, _attempts_counted_once, _interface_languages, _leadership,
              _forum_topics, _segments_translation_and_vocabularies, _senders_of_recordings, _answers_from_memory,
              _guest_mode, _channels, _business_chats, _stars_billing, _api_keys)


def schema_version() -> int:
    with database_errors():
        if SchemaVersion.table_exists():
            return SchemaVersion.select(fn.MAX(SchemaVersion.version)).scalar() or 0
        return 1 if User.table_exists() else 0


def migrate() -> list[str]:
    """Apply the migrations the database lacks, each in its own transaction; their names.
    Nodes that start together (a bot node and its workers) take turns: on PostgreSQL the first
    migrates, the others wait for it and then find nothing left to do."""
    with _migration_lock():
        return _migrate()


@contextmanager
def _migration_lock():
    if isinstance(database.obj, PostgresqlDatabase):
        with database_errors():
            database.execute_sql("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            yield
        finally:
            with database_errors():
                database.execute_sql("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    else:
        yield   # SQLite: one host, and a write transaction locks the whole file anyway


def _migrate() -> list[str]:
    current = schema_version()
    if current > len(MIGRATIONS):
        raise StorageError(f"the database has schema version {current}, newer than this voicebot "
                           f"knows ({len(MIGRATIONS)}): upgrade voicebot")
    migrator = SchemaMigrator.from_database(database)
    applied = []
    for version, migration in enumerate(MIGRATIONS[current:], start=current + 1):
        name = f"{version} {migration.__name__.strip('_').replace('_', ' ')}"
        with database_errors(f"migration {name} failed: "), migrator.migration_context():
            migration(migrator)
            SchemaVersion.create_table()
            SchemaVersion.create(version=version, name=name, applied_at=utc_now())
        applied.append(name)
    return applied
