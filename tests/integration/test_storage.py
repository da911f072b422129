"""Storage on SQLite and PostgreSQL: migrations, and every method the actors and the CLI call."""
import dataclasses
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
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
    TextField,
)
from playhouse.db_url import connect
from playhouse.test_utils import count_queries

from voicebot.adapters.storage import Storage
from voicebot.adapters.storage import migrations as storage_module
from voicebot.adapters.storage.migrations import MIGRATIONS
from voicebot.adapters.storage.models import BotState, Chat, JobRecord, Leadership, Payment, Transaction, Usage, User
from voicebot.adapters.storage.models import Segment as SegmentRow
from voicebot.core.calls import ChannelCaption, Destination, PostedMessage, TextEntity
from voicebot.core.domain import (
    ChannelPost,
    ChatSettings,
    DayStats,
    Job,
    JobKey,
    Segment,
    Task,
    Transcript,
    UserSettings,
    UserState,
    VoiceReceived,
)
from voicebot.core.errors import StorageError
from voicebot.core.intake import parse_update

from helpers import make_job

pytest_plugins = ["databases"]

DAY = date(2026, 11, 28)
LATEST = len(MIGRATIONS)


def transcript(text="hello", seconds=12.5, processing=2.0) -> Transcript:
    return Transcript(text, "en", 0.9, seconds, processing)


# --- migrations ------------------------------------------------------------------------------

def create_version_1(url: str) -> None:
    """A database as the first release left it (no schema_version): the models of voicebot/storage.py
    then, created by peewee, with one user with settings and one charged transcription."""
    class V1(Model):
        pass

    class User(V1):
        id = BigIntegerField(primary_key=True)
        first_seen = DateTimeField()
        unlimited = BooleanField(default=False)
        daily_seconds = IntegerField(null=True)

    class Usage(V1):
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

    class Transaction(V1):
        user = ForeignKeyField(User, backref="transactions", on_delete="CASCADE")
        usage = ForeignKeyField(Usage, on_delete="CASCADE")
        seconds = FloatField()
        amount = DecimalField(max_digits=12, decimal_places=4, default=0)
        created_at = DateTimeField()

    db = connect(url)
    with db.bind_ctx([User, Usage, Transaction]):
        db.create_tables([User, Usage, Transaction])
        noon = datetime(2026, 11, 27, 12)
        user = User.create(id=42, first_seen=datetime(2026, 1, 2, 3, 4, 5), unlimited=True, daily_seconds=900)
        usage = Usage.create(user=user, chat_id=42, message_id=7, day=DAY - timedelta(days=1),
                             media_kind="voice", status="done", audio_seconds=30.0, charged_seconds=30.0,
                             processing_seconds=3.0, language="de", transcript="guten Tag", created_at=noon)
        Transaction.create(user=user, usage=usage, seconds=30.0, created_at=noon)
    db.close()


def schema() -> dict:
    """What matters of each table: columns and whether they take NULL, foreign keys, indexes."""
    db = storage_module.database
    return {table: ({(column.name, column.data_type, column.null) for column in db.get_columns(table)},
                    {(key.column, key.dest_table, key.on_delete) for key in db.get_foreign_keys(table)},
                    {(index.name, tuple(index.columns), index.unique) for index in db.get_indexes(table)})
            for table in sorted(db.get_tables())}


def test_an_empty_database_is_migrated_to_the_latest_version_once(db_url):
    storage = Storage(db_url)
    storage.open(migrate=False)
    assert storage.schema_version() == 0
    assert storage.migrate() == ["1 initial schema", "2 user language and billing kept on forget",
                                 "3 timestamps and group modes", "4 durable intake", "5 broker deliveries",
                                 "6 attempts counted once", "7 interface languages", "8 leadership", "9 forum topics",
                                 "10 segments translation and vocabularies", "11 senders of recordings",
                                 "12 answers from memory", "13 guest mode", "14 channels",
                                 "15 business chats", "16 stars billing", "17 api keys"]
    assert storage.schema_version() == LATEST
    assert storage.migrate() == []
    storage.close()

    storage.open()
    assert storage.schema_version() == LATEST
    storage.close()


def test_a_version_1_database_is_migrated_and_keeps_its_data(db_url):
    create_version_1(db_url)
    storage = Storage(db_url)
    storage.open(migrate=False)
    assert storage.schema_version() == 1
    assert storage.migrate() == ["2 user language and billing kept on forget", "3 timestamps and group modes",
                                 "4 durable intake", "5 broker deliveries",
                                 "6 attempts counted once", "7 interface languages", "8 leadership", "9 forum topics",
                                 "10 segments translation and vocabularies", "11 senders of recordings",
                                 "12 answers from memory", "13 guest mode", "14 channels",
                                 "15 business chats", "16 stars billing", "17 api keys"]
    assert storage.migrate() == []

    assert storage.load_users(DAY - timedelta(days=1)) == {
        42: UserState(42, UserSettings(unlimited=True, daily_seconds=900), charged_today=30.0)}
    [usage] = storage.usages(42)
    assert (usage.status, usage.language, usage.transcript) == ("done", "de", "guten Tag")
    assert [t.seconds for t in usage.user.transactions] == [30.0]

    storage.set_language(42, "en")
    assert storage.load_users(DAY)[42].settings.language == "en"
    assert storage.forget(42, DAY) == 1
    assert storage.usages(42) == []
    [kept] = Transaction.select()
    assert (kept.seconds, kept.usage_id) == (30.0, None)
    assert (kept.kind, kept.balance_change, kept.stars, kept.charge_id) == ("use", 0.0, 0, None)
    assert User.get_by_id(42).bought_seconds == 0.0
    storage.close()


def test_migrating_version_1_and_an_empty_database_give_the_schema_the_models_describe(db_url):
    create_version_1(db_url)
    storage = Storage(db_url)
    storage.open()
    migrated = schema()
    storage_module.database.drop_tables([User, Usage, SegmentRow, Transaction, Chat, JobRecord, BotState, Leadership,
                                         Payment, storage_module.SchemaVersion])
    assert len(storage.migrate()) == LATEST
    assert schema() == migrated

    for model in (User, Usage, SegmentRow, Transaction, Chat, JobRecord, BotState, Leadership, Payment):
        columns, keys, indexes = migrated[model._meta.table_name]
        fields = model._meta.sorted_fields
        assert {(name, null) for name, _, null in columns} == {(field.column_name, field.null)
                                                               for field in fields}
        assert keys == {(field.column_name, field.rel_model._meta.table_name, field.on_delete)
                        for field in fields if isinstance(field, ForeignKeyField)}
        wanted = {tuple(field.column_name for field in index._expressions)
                  for index in model._meta.fields_to_index()}
        assert wanted <= {columns for _, columns, _ in indexes}
    storage.close()


def test_a_database_newer_than_the_code_is_refused(db_url, storage):
    storage_module.SchemaVersion.create(version=LATEST + 1, name="from the future", applied_at=datetime.now())
    with pytest.raises(StorageError, match=f"schema version {LATEST + 1}, newer than this voicebot knows"):
        storage.migrate()


def test_an_unreachable_server_is_a_one_line_error():
    with pytest.raises(StorageError) as raised:
        Storage("postgresql://voicebot:secret@127.0.0.1:9/voicebot").open()
    message = str(raised.value)
    assert message.startswith("cannot open database.url postgresql://voicebot:***@127.0.0.1:9/voicebot: ")
    assert "\n" not in message and "secret" not in message


# --- what the actors and the CLI call ---------------------------------------------------------

def test_usage_is_recorded_with_its_transcript_and_billing(storage):
    storage.record_usage(make_job(user_id=1, message_id=1), DAY, "done", 12.5, transcript())
    storage.record_usage(make_job(user_id=1, message_id=2), DAY, "unreadable_audio", 0.0, None)
    rows = storage.usages(1)
    assert [(row.status, row.charged_seconds, row.transcript) for row in rows] == [
        ("done", 12.5, "hello"), ("unreadable_audio", 0.0, None)]
    assert [(t.seconds, t.usage_id) for t in Transaction.select()] == [(12.5, rows[0].id)]


def test_without_keep_transcripts_the_text_is_not_stored(db_url):
    storage = Storage(db_url, keep_transcripts=False)
    storage.open()
    storage.record_usage(make_job(user_id=1), DAY, "done", 12.5, transcript())
    [row] = storage.usages(1)
    assert (row.transcript, row.audio_seconds, row.language) == (None, 12.5, "en")
    storage.close()


def test_load_users_has_users_with_settings_or_usage_that_day(storage):
    storage.record_usage(make_job(user_id=1, message_id=1), DAY, "done", 10.0, transcript())
    storage.record_usage(make_job(user_id=1, message_id=2), DAY, "done", 5.5, transcript())
    storage.record_usage(make_job(user_id=2, message_id=3), DAY - timedelta(days=1), "done", 7.0,
                         transcript())
    storage.record_usage(make_job(user_id=3, message_id=4), DAY, "no_speech", 0.0, None)
    storage.set_unlimited(4, True)
    storage.set_daily_seconds(5, 60)
    storage.set_language(1, "ru")
    storage.set_language(6, None)  # a user row without settings: follows the defaults, not loaded

    assert storage.load_users(DAY) == {
        1: UserState(1, UserSettings(language="ru"), charged_today=15.5),
        3: UserState(3, charged_today=0.0),
        4: UserState(4, UserSettings(unlimited=True)),
        5: UserState(5, UserSettings(daily_seconds=60)),
    }
    assert storage.load_users(DAY)[4].settings.unlimited is True  # not SQLite's 1


def test_load_users_reads_ten_thousand_users_in_two_queries(storage):
    now = datetime(2026, 11, 28, 9)
    with storage_module.database.atomic():
        User.insert_many([{"id": n, "first_seen": now, "daily_seconds": 60 + n % 500}
                          for n in range(1, 10_001)]).execute()
        Usage.insert_many([{"user": n, "chat_id": n, "message_id": 1, "day": DAY, "media_kind": "voice",
                            "status": "done", "charged_seconds": 3.0, "created_at": now}
                           for n in range(1, 10_001, 2)]).execute()
    started = time.monotonic()
    with count_queries() as queries:
        users = storage.load_users(DAY)
    assert queries.count == 2
    assert time.monotonic() - started < 2
    assert len(users) == 10_000
    assert users[1] == UserState(1, UserSettings(daily_seconds=61), charged_today=3.0)
    assert users[2] == UserState(2, UserSettings(daily_seconds=62))


def test_settings_create_the_user_and_none_restores_the_default(storage):
    before = datetime.now(UTC).replace(tzinfo=None)
    storage.set_daily_seconds(9, 120)
    storage.set_unlimited(9, True)
    storage.set_language(9, "uk")
    after = datetime.now(UTC).replace(tzinfo=None)
    summary = storage.user_summary(9, DAY)
    assert (summary.unlimited, summary.daily_seconds, summary.language) == (True, 120, "uk")
    assert before - timedelta(seconds=1) <= summary.first_seen <= after

    storage.set_daily_seconds(9, None)
    storage.set_unlimited(9, False)
    storage.set_language(9, None)
    assert storage.load_users(DAY) == {}
    assert storage.user_summary(9, DAY).first_seen == summary.first_seen

    storage.save_user_settings(9, UserSettings(True, 30, "en"))
    assert storage.load_users(DAY) == {9: UserState(9, UserSettings(True, 30, "en"))}


def test_user_summary_counts_today_and_totals(storage):
    assert storage.user_summary(1, DAY) is None
    yesterday = DAY - timedelta(days=1)
    storage.record_usage(make_job(user_id=1, message_id=1), yesterday, "done", 20.0, transcript(seconds=20.0))
    storage.record_usage(make_job(user_id=1, message_id=2), DAY, "done", 12.5, transcript())
    storage.record_usage(make_job(user_id=1, message_id=3), DAY, "timeout", 0.0, None)
    storage.record_usage(make_job(user_id=1, message_id=4), DAY, "busy", 0.0, None)
    storage.record_usage(make_job(user_id=2, message_id=5), DAY, "done", 99.0, transcript())

    summary = storage.user_summary(1, DAY)
    assert (summary.unlimited, summary.daily_seconds, summary.language) == (False, None, None)
    assert (summary.charged_today, summary.total_seconds) == (12.5, 32.5)
    assert (summary.transcriptions, summary.failures) == (2, 1)

    storage.set_unlimited(3, True)
    fresh = storage.user_summary(3, DAY)
    assert (fresh.charged_today, fresh.total_seconds, fresh.transcriptions, fresh.failures) == (0, 0, 0, 0)


def test_forget_keeps_todays_accounting_and_the_billing(storage):
    yesterday = DAY - timedelta(days=1)
    storage.record_usage(make_job(user_id=1, message_id=1), yesterday, "done", 20.0, transcript("old"))
    storage.record_usage(make_job(user_id=1, message_id=2), yesterday, "no_speech", 0.0, None)
    storage.record_usage(make_job(user_id=1, message_id=3), DAY, "done", 12.5, transcript("today"))
    storage.record_usage(make_job(user_id=1, message_id=4), DAY, "timeout", 0.0, None)
    storage.record_usage(make_job(user_id=2, message_id=5), yesterday, "done", 5.0, transcript("other user"))

    assert storage.forget(1, DAY) == 3  # two rows of yesterday deleted, one transcript of today cleared
    assert [(row.message_id, row.transcript) for row in storage.usages(1)] == [(3, None), (4, None)]
    assert storage.load_users(DAY)[1].charged_today == 12.5
    assert sorted((t.user_id, t.seconds, t.usage_id is None) for t in Transaction.select()) == [
        (1, 12.5, False), (1, 20.0, True), (2, 5.0, False)]
    assert [row.transcript for row in storage.usages(2)] == ["other user"]
    assert storage.forget(1, DAY) == 0


def test_prune_clears_transcripts_before_a_day(storage):
    for offset, message_id in ((40, 1), (31, 2), (30, 3), (0, 4)):
        storage.record_usage(make_job(user_id=1, message_id=message_id), DAY - timedelta(days=offset), "done",
                             1.0, transcript(f"text {message_id}"))
    assert storage.prune(DAY - timedelta(days=30)) == 2
    assert [row.transcript for row in storage.usages(1)] == [None, None, "text 3", "text 4"]
    assert [row.charged_seconds for row in storage.usages(1)] == [1.0] * 4
    assert storage.prune(DAY - timedelta(days=30)) == 0


def test_stats_has_one_entry_per_day_with_usage(storage):
    yesterday, long_ago = DAY - timedelta(days=1), DAY - timedelta(days=10)
    storage.record_usage(make_job(user_id=1, message_id=1), yesterday, "done", 10.0, transcript(seconds=10.0,
                                                                                              processing=1.0))
    storage.record_usage(make_job(user_id=2, message_id=2), yesterday, "done", 20.0, transcript(seconds=20.0,
                                                                                              processing=3.0))
    storage.record_usage(make_job(user_id=2, message_id=3), yesterday, "too_long", 0.0, None)
    storage.record_usage(make_job(user_id=3, message_id=4), yesterday, "busy", 0.0, None)
    storage.record_usage(make_job(user_id=1, message_id=5), DAY, "internal", 0.0, None)
    storage.record_usage(make_job(user_id=1, message_id=6), long_ago, "done", 5.0, transcript())

    assert storage.stats(DAY - timedelta(days=6), DAY) == [
        DayStats(yesterday, users=3, transcriptions=2, audio_seconds=30.0, failures=1,
                 average_processing_seconds=2.0),
        DayStats(DAY, users=1, transcriptions=0, audio_seconds=0.0, failures=1,
                 average_processing_seconds=0.0),
    ]
    assert storage.stats(DAY + timedelta(days=1), DAY + timedelta(days=7)) == []


def test_database_errors_become_storage_errors(storage):
    storage_module.database.execute_sql('DROP TABLE "transaction"')
    with pytest.raises(StorageError):
        storage.record_usage(make_job(user_id=1), DAY, "done", 12.5, transcript())
    assert storage.usages(1) == []  # the usage row went with the failed transaction


def test_a_failing_migration_leaves_the_database_as_it_was(storage, monkeypatch):
    def _broken(migrator):
        migrator.migrate(migrator.add_column("user", "nickname", TextField(null=True)),
                         migrator.sql("SELECT * FROM no_such_table"))

    monkeypatch.setattr(storage_module, "MIGRATIONS", (*MIGRATIONS, _broken))
    with pytest.raises(StorageError, match=f"^migration {LATEST + 1} broken failed: .*no_such_table"):
        storage.migrate()
    assert storage.schema_version() == LATEST
    assert "nickname" not in {column.name for column in storage_module.database.get_columns("user")}


def test_on_sqlite_a_write_waits_for_another_writer_instead_of_failing(tmp_path):
    """The bot records usage while an operator command is in the middle of a write."""
    url = f"sqlite:///{tmp_path / 'voicebot.db'}"
    storage = Storage(url)
    storage.open()
    storage.record_usage(make_job(user_id=1, message_id=1), DAY, "done", 1.0, transcript())
    operator = sqlite3.connect(tmp_path / "voicebot.db", isolation_level=None, check_same_thread=False)
    operator.execute("BEGIN IMMEDIATE")
    operator.execute('UPDATE "user" SET "daily_seconds" = 60')
    threading.Timer(0.3, operator.execute, ["COMMIT"]).start()

    storage.record_usage(make_job(user_id=1, message_id=2), DAY, "done", 2.0, transcript())
    assert storage.load_users(DAY) == {1: UserState(1, UserSettings(daily_seconds=60), charged_today=3.0)}
    storage.close()
    operator.close()


def test_a_version_2_database_gains_timestamps_and_group_modes(db_url, monkeypatch):
    create_version_1(db_url)
    storage = Storage(db_url)
    storage.open(migrate=False)
    with monkeypatch.context() as released_at_version_2:
        released_at_version_2.setattr(storage_module, "MIGRATIONS", MIGRATIONS[:2])
        assert storage.migrate() == ["2 user language and billing kept on forget"]
    assert storage.schema_version() == 2
    assert storage.migrate() == ["3 timestamps and group modes", "4 durable intake",
                                 "5 broker deliveries", "6 attempts counted once", "7 interface languages",
                                 "8 leadership", "9 forum topics", "10 segments translation and vocabularies",
                                 "11 senders of recordings", "12 answers from memory", "13 guest mode",
                                 "14 channels", "15 business chats", "16 stars billing", "17 api keys"]
    assert storage.load_users(DAY - timedelta(days=1))[42].settings.timestamps is False
    storage.save_user_settings(42, UserSettings(True, 900, "de", timestamps=True))
    storage.save_chat_settings(-100, ChatSettings(automatic=False))
    storage.save_chat_settings(-200, ChatSettings(automatic=False))
    storage.save_chat_settings(-200, ChatSettings(automatic=True))
    assert storage.load_users(DAY)[42] == UserState(42, UserSettings(True, 900, "de", timestamps=True), 0.0)
    assert storage.chat_settings() == {-100: ChatSettings(automatic=False)}
    storage.close()


def test_a_version_10_database_learns_who_sent_the_recordings_it_can_tell(db_url, monkeypatch):
    storage = Storage(db_url)
    storage.open(migrate=False)
    with monkeypatch.context() as released_at_version_10:
        released_at_version_10.setattr(storage_module, "MIGRATIONS", MIGRATIONS[:10])
        assert len(storage.migrate()) == 10
    now = datetime(2026, 11, 28)
    storage_module.database.execute_sql(
        'INSERT INTO "job" (chat_id, message_id, user_id, media_kind, file_id, in_group, requested, finished, '
        'attempts, task, created_at) VALUES (-5, 40, 1, \'voice\', \'f\', %s, %s, %s, 0, \'transcribe\', %s), '
        '(-5, 41, 2, \'voice\', \'g\', %s, %s, %s, 0, \'transcribe\', %s)'.replace("%s", storage_module.database.param),
        (True, False, True, now, True, True, True, now))
    for user in (1, 2):   # the columns of version 10 only, as below
        storage_module.database.execute_sql(
            'INSERT INTO "user" (id, first_seen, unlimited, timestamps, translate) VALUES (%s, %s, %s, %s, %s)'
            .replace("%s", storage_module.database.param), (user, now, False, False, False))
    for user, message in ((1, 40), (2, 41)):   # the columns of version 10 only (the model's are newer)
        storage_module.database.execute_sql(
            'INSERT INTO "usage" (user_id, chat_id, message_id, day, media_kind, status, audio_seconds, '
            'charged_seconds, processing_seconds, transcript, created_at) VALUES (%s, -5, %s, %s, \'voice\', '
            '\'done\', 0, 0, 0, \'text\', %s)'.replace("%s", storage_module.database.param),
            (user, message, DAY, now))
    assert storage.migrate()[:2] == ["11 senders of recordings", "12 answers from memory"]
    assert [(row.message_id, row.sender_id) for row in JobRecord.select().order_by(JobRecord.message_id)] == [
        (40, 1), (41, None)]   # who sent the recording asked for with /transcribe cannot be told
    assert [(row.message_id, row.sender_id) for row in Usage.select().order_by(Usage.message_id)] == [
        (40, 1), (41, None)]
    storage.close()


# --- durable intake -----------------------------------------------------------------------------

def test_intake_and_offset_are_stored_together_and_a_redelivery_is_recognised(storage):
    first, second = make_job(user_id=1, message_id=10), make_job(user_id=2, message_id=11)
    assert storage.saved_offset() is None
    assert storage.store_intake([VoiceReceived(first), VoiceReceived(second, in_group=True)], 501) == {first.key,
                                                                                                  second.key}
    assert storage.saved_offset() == 501
    assert storage.store_intake([VoiceReceived(first)], 502) == set()   # the same update again
    assert [pending.incoming for pending in storage.unfinished_jobs()] == [
        VoiceReceived(first), VoiceReceived(second, in_group=True)]


def test_a_job_keeps_its_status_message_and_attempts_until_its_usage_is_recorded(storage):
    job = make_job(user_id=1, message_id=10)
    storage.store_intake([VoiceReceived(job)], 7)
    storage.status_posted(job.key, 900)
    storage.job_started(job.key)
    storage.job_started(job.key)
    [pending] = storage.unfinished_jobs()
    assert (pending.status_message_id, pending.attempts) == (900, 2)
    storage.record_usage(job, DAY, "done", 5.0, transcript())
    assert storage.unfinished_jobs() == []


def test_a_channel_job_keeps_its_posts_caption_and_where_comments_go_for_a_restart(storage):
    post = dataclasses.replace(make_job(user_id=-100, message_id=10, chat_id=-100),
                               channel=ChannelPost("Today's news ✨"))
    chat = make_job(user_id=1, message_id=10)
    storage.store_intake([VoiceReceived(post, in_group=True), VoiceReceived(chat)], 7)
    [pending, _] = storage.unfinished_jobs()
    assert pending.incoming == VoiceReceived(post, in_group=True)
    comments = Destination(-200, reply_to_message_id=33)
    assert storage.comments_linked(post.key, comments)
    assert not storage.comments_linked(chat.key, comments)   # no channel post: nothing to link
    [pending, other] = storage.unfinished_jobs()
    assert pending.incoming.job.channel == ChannelPost("Today's news ✨", comments)
    assert pending.incoming.job.destination == ChannelCaption(PostedMessage(-100, 10), "Today's news ✨", comments)
    assert other.incoming.job.channel is None


def test_a_channel_posts_caption_keeps_its_formatting_for_a_restart(storage):
    entities = (TextEntity("bold", 0, 5), TextEntity("text_link", 6, 4, url="https://example.com"),
                TextEntity("text_mention", 0, 2, user_id=42), TextEntity("pre", 11, 1, language="py"))
    post = dataclasses.replace(make_job(user_id=-100, message_id=10, chat_id=-100),
                               channel=ChannelPost("Today news ✨", entities=entities))
    storage.store_intake([VoiceReceived(post, in_group=True)], 7)
    [pending] = storage.unfinished_jobs()
    assert pending.incoming.job.destination.entities == entities
    assert not storage.switched_off(-100)
    storage.save_chat_settings(-100, ChatSettings(automatic=False))
    assert storage.switched_off(-100)


def test_a_refused_job_is_closed_and_transcribe_later_makes_a_new_one(storage):
    voice = make_job(user_id=1, message_id=10, chat_id=-5)
    storage.store_intake([VoiceReceived(voice, in_group=True)], 1)
    storage.job_finished(voice.key)
    assert storage.unfinished_jobs() == []
    asked = make_job(user_id=2, message_id=10, chat_id=-5)
    assert storage.store_intake([VoiceReceived(asked, True, requested=True)], 2) == {asked.key}
    [pending] = storage.unfinished_jobs()
    assert (pending.incoming.job.user_id, pending.incoming.requested, pending.attempts) == (2, True, 0)


def test_every_start_is_counted_until_the_job_is_answered(storage):
    job = make_job(user_id=1, message_id=10)
    assert storage.job_started(job.key) is None   # not stored: nothing to do
    storage.store_intake([VoiceReceived(job)], 1)
    assert [storage.job_started(job.key) for _ in range(3)] == [1, 2, 3]
    storage.record_usage(job, DAY, "done", 5.0, transcript())
    assert storage.job_started(job.key) is None   # answered: a late redelivery does no work


def test_nodes_migrating_at_once_take_turns_and_the_schema_is_made_once(postgres_url):
    storage = Storage(postgres_url)
    storage.open(migrate=False)
    try:
        with ThreadPoolExecutor(3) as pool:   # peewee gives each thread its own connection
            applied = sorted(pool.map(lambda _: storage.migrate(), range(3)), key=len)
        assert applied[:2] == [[], []] and len(applied[2]) == LATEST
        assert storage.schema_version() == LATEST
    finally:
        storage.close()


def test_after_forget_nothing_of_the_user_is_left_but_todays_seconds_used(storage):
    yesterday = DAY - timedelta(days=1)
    answered = [make_job(user_id=1, message_id=n) for n in (1, 2)]
    running, other = make_job(user_id=1, message_id=3), make_job(user_id=2, message_id=4)
    storage.store_intake([VoiceReceived(job) for job in (*answered, running, other)], 5)
    storage.record_usage(answered[0], yesterday, "done", 20.0, transcript("old"))
    storage.record_usage(answered[1], DAY, "done", 12.5, transcript("today"))
    storage.record_usage(other, DAY, "done", 5.0, transcript("other user"))

    storage.forget(1, DAY)
    assert [(row.user_id, row.message_id) for row in JobRecord.select().order_by(JobRecord.id)] == [
        (1, 3), (2, 4)]   # the job still being transcribed stays until it is answered
    assert [(row.day, row.charged_seconds, row.transcript) for row in storage.usages(1)] == [(DAY, 12.5, None)]
    assert storage.load_users(DAY)[1].charged_today == 12.5


def hostile_update(message_id: int = 2, **document) -> dict:
    """An update whose sender chose every value: a document as a forged client may send it."""
    sender = {"id": 5, "language_code": document.pop("language_code", "en")}
    return {"update_id": message_id, "message": {"message_id": message_id, "chat": {"id": 5, "type": "private"},
                                                 "from": sender, "document": {"file_id": "d", **document}}}


def test_every_value_a_sender_chose_is_stored_fitted_to_its_column(storage):
    hostile = parse_update(hostile_update(language_code="classic-zh-cn", file_name="memo\x00\ud800" + "b" * 400,
                                          mime_type="audio/\x00ogg", file_size=2 ** 62, duration=2 ** 40))
    assert storage.store_intake([hostile], 3) == {hostile.job.key}
    [pending] = storage.unfinished_jobs()
    job = pending.incoming.job
    assert job.interface_language is None   # a tag longer than any the bot keeps is no catalog's: English
    assert (job.media.mime_type, job.media.file_size, job.media.duration) == ("audio/ogg", 2 ** 62, None)
    assert job.media.file_name == "memo" + "b" * 249   # cut to 255, and what no database stores left out
    assert storage.saved_offset() == 3


def test_a_recording_no_column_can_hold_is_refused_for_good_and_nothing_of_it_is_stored(storage):
    job = make_job(user_id=1, message_id=1)
    unfit = dataclasses.replace(job, media=dataclasses.replace(job.media, file_id="f" * 300))
    with pytest.raises(StorageError) as refused:
        storage.store_intake([VoiceReceived(unfit)], 4)
    assert not refused.value.transient
    assert (storage.unfinished_jobs(), storage.saved_offset()) == ([], None)


def test_retention_deletes_the_jobs_answered_before_its_day(storage):
    old, recent = make_job(user_id=1, message_id=1), make_job(user_id=1, message_id=2)
    storage.store_intake([VoiceReceived(old), VoiceReceived(recent)], 3)
    JobRecord.update(created_at=datetime(2026, 10, 1)).where(JobRecord.message_id == 1).execute()
    for job in (old, recent):
        storage.record_usage(job, DAY, "done", 1.0, transcript("text"))
    storage.prune(date(2026, 10, 29))
    assert [row.message_id for row in JobRecord.select()] == [2]


def test_a_password_with_at_or_percent_signs_reaches_the_server_decoded(postgres_url):
    with_password = postgres_url.replace("postgres@", "postgres:p%40ss%25w@", 1)
    storage = Storage(with_password)
    storage.open()
    try:
        assert storage_module.database.obj.connect_params["password"] == "p@ss%w"
    finally:
        storage.close()


# --- buttons under transcripts: recordings kept with their segments ----------------------------

SEGMENTS = (Segment(0.0, 2.5, " Guten Tag."), Segment(31.0, 34.25, " Wie geht es?"))


def answered(storage, job, text="Guten Tag. Wie geht es?", day=DAY) -> None:
    storage.store_intake([VoiceReceived(job)], None)
    storage.record_usage(job, day, "done", 34.0, Transcript(text, "de", 0.9, 34.0, 2.0, SEGMENTS))


def test_an_answered_recording_is_found_with_its_transcript_and_segments(storage):
    job = dataclasses.replace(make_job(user_id=1, message_id=1), task=Task.TRANSLATE)
    assert storage.recording(job.key) is None   # not stored yet
    answered(storage, job)
    found = storage.recording(job.key)
    assert (found.key, found.media, found.task) == (job.key, job.media, Task.TRANSLATE)
    assert (found.transcript.text, found.transcript.language, found.transcript.segments) == (
        "Guten Tag. Wie geht es?", "de", SEGMENTS)


def test_without_keep_transcripts_a_recording_is_found_without_its_transcript(db_url):
    storage = Storage(db_url, keep_transcripts=False)
    storage.open()
    job = make_job(user_id=1)
    answered(storage, job)
    assert storage.recording(job.key).transcript is None
    assert storage.recording(job.key).media == job.media   # English can still fetch it again
    storage.close()


def test_forget_and_retention_take_the_segments_with_the_transcripts(storage):
    today, old = make_job(user_id=1, message_id=1), make_job(user_id=2, message_id=2)
    answered(storage, today)
    answered(storage, old, day=DAY - timedelta(days=40))
    assert storage.forget(1, DAY) > 0
    assert storage.recording(today.key) is None
    storage.prune(DAY - timedelta(days=30))
    assert SegmentRow.select().count() == 0


def test_a_transcript_with_characters_no_database_stores_is_recorded_without_them(storage):
    job = make_job(user_id=1, message_id=1)
    storage.store_intake([VoiceReceived(job)], None)
    storage.record_usage(job, DAY, "done", 3.0, Transcript("a\x00b", "a-language", 0.9, 3.0, 1.0,
                                                           (Segment(0.0, 3.0, "a\x00b\ud800"),)))
    [usage] = storage.usages(1)
    assert (usage.transcript, usage.language) == ("ab", None)
    assert storage.recording(job.key).transcript.segments == (Segment(0.0, 3.0, "ab"),)


def test_forget_reaches_the_copies_others_made_of_a_recording(storage):
    """The speaker (1) sent a recording; a member (2) asked for it with /transcribe, another (3) pressed English
    under that transcript. After the speaker's /forget nothing of theirs is left under anyone; the others keep
    what they were charged."""
    memo = {"message_id": 40, "chat": {"id": -5, "type": "group"}, "from": {"id": 1},
            "audio": {"file_id": "speakers-file", "file_name": "my diary.mp3", "duration": 34}}
    own = parse_update({"update_id": 1, "message": memo})
    storage.store_intake([own], 2)
    storage.record_usage(own.job, DAY - timedelta(days=1), "done", 34.0,
                         Transcript("my secret", "de", 0.9, 34.0, 2.0, SEGMENTS))
    asked = parse_update({"update_id": 2, "message": {"message_id": 41, "chat": {"id": -5, "type": "group"},
                                                      "from": {"id": 2}, "text": "/transcribe",
                                                      "reply_to_message": memo}})
    storage.store_intake([asked], 3)
    storage.record_usage(asked.job, DAY, "done", 34.0, Transcript("my secret", "de", 0.9, 34.0, 2.0, SEGMENTS))
    recording = storage.recording(asked.job.key)   # as the English button finds it, under the transcript (42)
    english = Job(JobKey(-5, 42), 3, recording.media, task=Task.TRANSLATE)
    storage.store_intake([VoiceReceived(english, True, requested=True)], None)
    storage.record_usage(english, DAY, "done", 34.0, Transcript("my secret, in English", "de", 0.9, 34.0, 2.0,
                                                                SEGMENTS))
    someone_else = make_job(user_id=4, message_id=50)
    answered(storage, someone_else, text="not theirs")

    storage.forget(1, DAY)
    assert [(row.user_id, row.file_id, row.file_name) for row in JobRecord.select()] == [(4, "file-50", None)]
    assert [(row.user_id, row.transcript) for row in Usage.select().where(Usage.transcript.is_null(False))] == [
        (4, "not theirs")]
    assert {row.usage.user_id for row in SegmentRow.select()} == {4}
    users = storage.load_users(DAY)
    assert (users[2].charged_today, users[3].charged_today) == (34.0, 34.0)   # what the others used still counts


def test_vocabularies_and_translation_are_kept_for_users_and_groups(storage):
    storage.save_user_settings(1, UserSettings(False, None, None, translate=True, vocabulary="Siobhan, Nakamura"))
    storage.save_chat_settings(-5, ChatSettings(True, vocabulary="Kubernetes"))
    settings = storage.load_users(DAY)[1].settings
    assert (settings.translate, settings.vocabulary) == (True, "Siobhan, Nakamura")
    assert storage.chat_settings() == {-5: ChatSettings(vocabulary="Kubernetes")}
    storage.save_chat_settings(-5, ChatSettings(True, vocabulary=None))
    assert storage.chat_settings() == {}


# --- answers from memory: transcripts kept by the recording they answer -------------------------

def forwarded(job: Job, unique_id: str = "AgADkBIAAu", sender_id: int | None = None) -> Job:
    """The job with the file's own id, as a forwarded copy of a recording keeps it."""
    return dataclasses.replace(job, media=dataclasses.replace(job.media, file_unique_id=unique_id,
                                                              sender_id=sender_id or job.user_id))


def test_a_kept_transcript_is_recalled_by_its_key_with_its_segments_and_who_sent_it(storage):
    job = forwarded(make_job(user_id=1, message_id=1))
    storage.store_intake([VoiceReceived(job)], None)
    storage.record_usage(job, DAY, "done", 34.0, Transcript("Guten Tag.", "de", 0.62, 34.0, 2.0, SEGMENTS),
                         memory_key="k" * 64)
    storage.record_usage(forwarded(make_job(user_id=2, message_id=2)), DAY, "unreadable_audio", 0.0, None,
                         memory_key="f" * 64)
    remembered = storage.recall("k" * 64)
    assert remembered.sender_id == 1
    assert remembered.transcript == Transcript("Guten Tag.", "de", 0.62, 34.0, 2.0, SEGMENTS)
    assert storage.recall("f" * 64) is None and storage.recall("x" * 64) is None   # a failure is no answer
    assert storage.recording(job.key).media.file_unique_id == "AgADkBIAAu"   # an English press keeps it too


def test_a_recording_stored_before_it_is_answered_keeps_its_files_own_id(storage):
    job = forwarded(make_job(user_id=1, message_id=1))
    storage.store_intake([VoiceReceived(job)], 3)
    [pending] = storage.unfinished_jobs()
    assert pending.incoming.job.media == job.media


def test_without_keep_transcripts_nothing_is_kept_to_recall(db_url):
    storage = Storage(db_url, keep_transcripts=False)
    storage.open()
    storage.record_usage(forwarded(make_job(user_id=1)), DAY, "done", 3.0, transcript(), memory_key="k" * 64)
    assert storage.recall("k" * 64) is None
    assert [row.memory_key for row in storage.usages(1)] == [None]
    storage.close()


def test_after_forget_or_retention_nothing_is_recalled_of_the_senders_recording_nor_of_its_copies(storage):
    """Alice (1) sent a recording; a copy forwarded to Bob (2) was answered from memory, recorded with Alice as
    its sender. After Alice's /forget neither answers again, and Bob's job of it is gone; Bob's charge stays."""
    own, copy = forwarded(make_job(user_id=1, message_id=1)), forwarded(make_job(user_id=2, message_id=5),
                                                                         sender_id=1)
    storage.store_intake([VoiceReceived(own), VoiceReceived(dataclasses.replace(copy, media=own.media))], None)
    storage.record_usage(own, DAY - timedelta(days=1), "done", 11.0, transcript("Ask not"), memory_key="a" * 64)
    storage.record_usage(copy, DAY, "done", 0.0, transcript("Ask not"), memory_key="a" * 64)
    other = forwarded(make_job(user_id=3, message_id=7), unique_id="another-file")
    storage.record_usage(other, DAY - timedelta(days=40), "done", 5.0, transcript("old"), memory_key="b" * 64)
    assert storage.recall("a" * 64).sender_id == 1

    storage.forget(1, DAY)
    assert storage.recall("a" * 64) is None
    assert [(row.user_id, row.message_id) for row in JobRecord.select()] == []
    assert [(row.charged_seconds, row.transcript, row.memory_key) for row in storage.usages(2)] == [(0.0, None, None)]
    assert storage.recall("b" * 64) is not None
    storage.prune(DAY - timedelta(days=30))
    assert storage.recall("b" * 64) is None


def test_a_version_11_database_gains_memory_and_its_rows_are_never_recalled(db_url, monkeypatch):
    storage = Storage(db_url)
    storage.open(migrate=False)
    with monkeypatch.context() as released_at_version_11:
        released_at_version_11.setattr(storage_module, "MIGRATIONS", MIGRATIONS[:11])
        assert len(storage.migrate()) == 11
    now = datetime(2026, 11, 28)
    storage_module.database.execute_sql(   # the columns of version 11 only (the model's are newer)
        'INSERT INTO "user" (id, first_seen, unlimited, timestamps, translate) VALUES (%s, %s, %s, %s, %s)'
        .replace("%s", storage_module.database.param), (1, now, False, False, False))
    storage_module.database.execute_sql(
        'INSERT INTO "usage" (user_id, chat_id, message_id, day, media_kind, status, audio_seconds, '
        'charged_seconds, processing_seconds, language, transcript, created_at, sender_id) '
        "VALUES (1, 1, 1, %s, 'voice', 'done', 3.0, 3.0, 1.0, 'en', 'kept before', %s, 1)"
        .replace("%s", storage_module.database.param), (DAY, now))
    assert storage.migrate()[:2] == ["12 answers from memory", "13 guest mode"]
    [row] = Usage.select()
    assert (row.transcript, row.memory_key, row.language_probability) == ("kept before", None, None)
    assert storage.recording(JobKey(1, 1)) is None   # its job was never stored
    job = forwarded(make_job(user_id=1, message_id=2))
    storage.store_intake([VoiceReceived(job)], None)
    storage.record_usage(job, DAY, "done", 3.0, transcript(), memory_key="c" * 64)
    assert storage.recall("c" * 64).transcript.text == "hello"
    storage.close()
