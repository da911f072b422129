"""The repository: every query and change the bot and the operator commands make, each logical change
in one transaction. Used by the StorageActor (the only writer while the bot runs) and by operator commands.
"""
import functools
import json
import operator
from contextlib import contextmanager
from dataclasses import fields
from datetime import date, datetime, time

from peewee import (
    Case,
    fn,
)
from playhouse.db_url import connect

from voicebot.adapters.storage import migrations
from voicebot.adapters.storage.models import (
    DONE,
    FAILED,
    BotState,
    BusinessConnection,
    Chat,
    JobRecord,
    Leadership,
    Payment,
    Segment,
    Transaction,
    Usage,
    User,
    database,
    database_errors,
    fitted,
    utc_now,
)
from voicebot.core.billing import Balances, Charge, Credit, PaymentReceived, Refund, expiry
from voicebot.core.calls import Destination
from voicebot.core.captions import caption_entities, entity_fields
from voicebot.core.domain import (
    BusinessConnection as Connection,
)
from voicebot.core.domain import (
    BusinessOrigin,
    ChannelPost,
    ChatSettings,
    DayStats,
    Job,
    JobKey,
    Media,
    MediaKind,
    PendingJob,
    Remembered,
    StoredRecording,
    Task,
    Transcript,
    UserSettings,
    UserState,
    UserSummary,
    VoiceReceived,
)
from voicebot.core.domain import Segment as TimedText
from voicebot.core.errors import Deposed, StorageError, one_line, without_password
from voicebot.core.ports import Fence

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

# A transaction left open by a client that vanished (a machine gone, a network cut) would hold its row locks,
# and a standby taking the lead waits on those (see leadership): the server ends such a transaction.
_POSTGRESQL_PARAMS = {"options": "-c idle_in_transaction_session_timeout=5000"}


class Storage:
    """Opens the database named by a peewee URL and keeps each logical change in one transaction."""

    def __init__(self, url: str, keep_transcripts: bool = True, fence: Fence | None = None):
        """`fence`: a leader's (see leadership); each of its writes checks it still leads."""
        self._url = url
        self._keep_transcripts = keep_transcripts
        self._fence = fence

    def open(self, migrate: bool = True) -> None:
        """Connect, and bring the schema up to date unless told not to (`voicebot db migrate` reports
        what it applies, so it migrates on its own)."""
        try:
            params = _SQLITE_PARAMS if self._url.startswith("sqlite") else _POSTGRESQL_PARAMS
            # unquote_password: a password with @ or % in it is written %40 or %25 in the URL.
            db = connect(self._url, unquote_password=True, **params)
            database.initialize(db)
            db.connect(reuse_if_open=True)
        except Exception as error:  # peewee and the drivers raise many types for one cause
            raise StorageError(f"cannot open database.url {without_password(self._url)}: "
                               f"{one_line(error)}") from None
        if migrate:
            self.migrate()

    def close(self) -> None:
        if not database.is_closed():
            database.close()

    def schema_version(self) -> int:
        return migrations.schema_version()

    def migrate(self) -> list[str]:
        """Apply the migrations the database lacks, each in its own transaction; their names."""
        return migrations.migrate()

    @contextmanager
    def _writing(self):
        """One transaction for a change; a leader's checks first, once, that the node still leads."""
        with database_errors(), database.atomic():
            if self._fence is not None and database.transaction_depth() == 1:
                self._check_still_leading()
            yield

    def _check_still_leading(self) -> None:
        # FOR SHARE: a node taking the lead raises the term only after this transaction has ended.
        term = (Leadership.select(Leadership.term).where(Leadership.id == 1).for_update("FOR SHARE").scalar())
        if term != self._fence.term or not self._fence.holds():
            raise Deposed(f"not written: this node no longer leads (its term {self._fence.term}, now {term})")

    @contextmanager
    def batch(self):
        """Several changes in one transaction: one commit (one fsync) instead of one each."""
        with self._writing():
            yield

    # --- durable intake ----------------------------------------------------------------------

    def store_intake(self, intake: list[VoiceReceived], next_offset: int | None) -> set[JobKey]:
        """Stores new jobs and the offset that confirms their updates, in one transaction; the keys
        of the jobs that were new (a redelivered update is recognised here)."""
        now = utc_now()
        with self._writing():
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
                # A value its column cannot hold is none (a language tag: English answers), a file name is cut.
                (JobRecord.insert(**fitted(JobRecord, dict(
                    chat_id=key.chat_id, message_id=key.message_id, user_id=incoming.job.user_id,
                    media_kind=media.kind.value, file_id=media.file_id, file_size=media.file_size,
                    duration=media.duration, mime_type=media.mime_type, file_name=media.file_name,
                    sender_id=media.sender_id, file_unique_id=media.file_unique_id, in_group=incoming.in_group,
                    requested=incoming.requested, interface_language=incoming.job.interface_language,
                    thread_id=incoming.job.thread_id, task=incoming.job.task.value, created_at=now,
                    place=key.place, guest_query_id=incoming.job.guest_query_id,
                    **_channel_columns(incoming.job.channel), **_business_columns(incoming.job.business)),
                    cut=("file_name",)))
                    .on_conflict_ignore().execute())
            if next_offset is not None:
                (BotState.insert(name=_OFFSET, value=next_offset)
                 .on_conflict(conflict_target=[BotState.name], update={BotState.value: next_offset}).execute())
            return new

    def saved_offset(self) -> int | None:
        with database_errors():
            row = BotState.get_or_none(BotState.name == _OFFSET)
            return row.value if row else None

    def unfinished_jobs(self) -> list[PendingJob]:
        with database_errors():
            return [_pending_job(row) for row in
                    JobRecord.select().where(~JobRecord.finished).order_by(JobRecord.id)]

    def job_started(self, key: JobKey) -> int | None:
        """A transcription of the job starts (on a WhisperActor here, or on a worker node that took it off
        the broker): how many times that has happened now, or None when the job is answered already (or
        unknown), so there is nothing left to do."""
        with self._writing():
            taken = (JobRecord.update(attempts=JobRecord.attempts + 1)
                     .where(_is_job(key) & ~JobRecord.finished).execute())
            if not taken:
                return None
            return JobRecord.select(JobRecord.attempts).where(_is_job(key)).scalar()

    def status_posted(self, key: JobKey, message_id: int | str, chat_id: int | None = None) -> None:
        """`message_id`: the status message's, or a guest post's inline_message_id; `chat_id`: its chat."""
        posted = ({"guest_post_id": message_id} if isinstance(message_id, str)
                  else {"status_message_id": message_id, "status_chat_id": chat_id})
        with self._writing():
            JobRecord.update(**posted).where(_is_job(key)).execute()

    def comments_linked(self, key: JobKey, comments: Destination) -> bool:
        """Comments on the channel post `key` (a job's) reply to `comments`, its discussion group's forward; False
        when the post is no job of the bot's (one in a channel it is no admin of)."""
        with self._writing():
            return bool(JobRecord.update(comments_chat_id=comments.chat_id,
                                         comments_message_id=comments.reply_to_message_id)
                        .where(_is_job(key) & JobRecord.channel_caption.is_null(False)).execute())

    def switched_off(self, chat_id: int) -> bool:
        """Whether the chat's admins switched the transcription of its recordings off (ChatSettings.automatic)."""
        with database_errors():
            return Chat.select().where((Chat.id == chat_id) & ~Chat.automatic).exists()

    def job_finished(self, key: JobKey) -> None:
        with self._writing():
            JobRecord.update(finished=True).where(_is_job(key)).execute()

    # --- usage --------------------------------------------------------------------------------

    def record_usage(self, job: Job, day: date, status: str, charged_seconds: float,
                     transcript: Transcript | None, memory_key: str | None = None, bought_seconds: float = 0.0) -> None:
        """`memory_key`: what the transcript, if it is kept, answers again (see core.memory); `bought_seconds`: the
        part of `charged_seconds` taken from the user's bought balance, with its "use" row."""
        now = utc_now()
        kept = transcript is not None and self._keep_transcripts
        with self._writing():
            user, _ = User.get_or_create(id=job.user_id, defaults={"first_seen": now})
            # Who sent the recording: as the job says (an answer from memory names who sent it first), else as its
            # job was stored.
            sender_id = job.media.sender_id
            if sender_id is None:
                sender_id = JobRecord.select(JobRecord.sender_id).where(_is_job(job.key)).scalar()
            usage = Usage.create(**fitted(Usage, dict(
                user=user, chat_id=job.chat_id, message_id=job.message_id, day=day,
                media_kind=job.media.kind.value, status=status,
                audio_seconds=transcript.audio_seconds if transcript else 0.0,
                charged_seconds=charged_seconds,
                processing_seconds=transcript.processing_seconds if transcript else 0.0,
                language=transcript.language if transcript else None,
                language_probability=transcript.language_probability if transcript else None,
                transcript=transcript.text if kept else None, memory_key=memory_key if kept else None,
                sender_id=sender_id, created_at=now, place=job.key.place)))
            if kept and transcript.segments:
                Segment.insert_many([fitted(Segment, {"usage": usage, "position": position, "start": segment.start,
                                                      "end": segment.end, "text": segment.text})
                                     for position, segment in enumerate(transcript.segments)]).execute()
            if bought_seconds > 0:
                # Never more than the stored balance: a refund may have taken what the job held meanwhile.
                bought_seconds = min(bought_seconds, self._locked_balance(user.id))
            if charged_seconds > 0:
                Transaction.create(user=user, usage=usage, seconds=charged_seconds, created_at=now,
                                   balance_change=-bought_seconds)
            if bought_seconds > 0:
                User.update(bought_seconds=User.bought_seconds - bought_seconds).where(User.id == user.id).execute()
            # The usage row is the job's end: recorded with it, so a job is never answered twice. Its task is as
            # it ran (a recording of a user with /translate on is a translation).
            JobRecord.update(finished=True, task=job.task.value, sender_id=sender_id).where(_is_job(job.key)).execute()

    # --- billing with Telegram Stars (core.billing) --------------------------------------------

    def store_payments(self, payments: list[tuple[PaymentReceived, float]], expire_days: int = 0) -> list[Credit]:
        """Each payment (with the seconds it buys) stored once by its charge id, in the caller's transaction (the
        intake batch's, with the offset): only a new one writes its "credit" row and raises the balance, and sets
        when it expires (`expire_days` after this purchase; 0: never). What each did, new or not."""
        now = utc_now()
        with self._writing():
            return [self._store_payment(payment, seconds, expire_days, now) for payment, seconds in payments]

    def _store_payment(self, payment: PaymentReceived, seconds: float, expire_days: int, now: datetime) -> Credit:
        known = Payment.get_or_none(Payment.charge_id == payment.charge_id)
        if known is not None:
            return Credit(known.charge_id, known.user_id, known.chat_id, known.stars, known.seconds,
                          self._balance(known.user_id)[0], new=False)
        Payment.insert(charge_id=payment.charge_id, user_id=payment.user_id, chat_id=payment.chat_id,
                       stars=payment.total_amount, seconds=seconds, payload=payment.payload, paid_at=now).execute()
        user, _ = User.get_or_create(id=payment.user_id, defaults={"first_seen": now})
        self._expire(user.id, now)
        until = expiry(now, expire_days) if seconds > 0 else user.bought_until
        row = Transaction.create(user=user.id, seconds=seconds, created_at=now, kind="credit",
                                 balance_change=seconds, stars=payment.total_amount, charge_id=payment.charge_id)
        (User.update(bought_seconds=User.bought_seconds + seconds, bought_until=until)
         .where(User.id == user.id).execute())
        return Credit(payment.charge_id, payment.user_id, payment.chat_id, payment.total_amount, seconds,
                      self._balance(user.id)[0], until, entry=row.id, language_code=payment.language_code)

    def record_refund(self, charge_id: str, held: float = 0.0) -> Refund | None:
        """Telegram gave the payment's Stars back: its "refund" row takes back what is unspent of what it bought,
        once: never more than the balance less the `held` seconds of it that jobs under way were promised (minutes
        used, or being used, are not charged back). The payment is claimed first, so two recording it at once (the
        operator's command and the bot's refunded_payment update) write one row; the other, like a refund recorded
        before, changes nothing (`new` False). None for a payment the ledger does not have."""
        now = utc_now()
        with self._writing():
            claimed = (Payment.update(refunded_at=now)
                       .where((Payment.charge_id == charge_id) & Payment.refunded_at.is_null()).execute())
            payment = Payment.get_or_none(Payment.charge_id == charge_id)
            if payment is None:
                return None
            if not claimed:
                row = (Transaction.select(Transaction.id)
                       .where((Transaction.charge_id == charge_id) & (Transaction.kind == "refund")).scalar())
                return Refund(charge_id, payment.user_id, payment.chat_id, payment.stars, payment.refunded_seconds,
                              self._balance(payment.user_id)[0], new=False, entry=row or 0)
            User.get_or_create(id=payment.user_id, defaults={"first_seen": now})
            self._expire(payment.user_id, now)
            taken = max(0.0, min(payment.seconds, self._balance(payment.user_id)[0] - held))
            row = Transaction.create(user=payment.user_id, seconds=taken, created_at=now, kind="refund",
                                     balance_change=-taken, stars=-payment.stars, charge_id=charge_id)
            Payment.update(refunded_seconds=taken).where(Payment.charge_id == charge_id).execute()
            User.update(bought_seconds=User.bought_seconds - taken).where(User.id == payment.user_id).execute()
            return Refund(charge_id, payment.user_id, payment.chat_id, payment.stars, taken,
                          self._balance(payment.user_id)[0], entry=row.id)

    def expire_balance(self, user_id: int) -> float:
        """The user's balance, once past when it expires, goes with an "expire" row (once); what is left now."""
        with self._writing():
            self._expire(user_id, utc_now())
            return self._balance(user_id)[0]

    def _expire(self, user_id: int, now: datetime) -> None:
        self._locked_balance(user_id)
        balance, until = self._balance(user_id)
        if until is None or until > now or balance <= 0:
            return
        Transaction.create(user=user_id, seconds=balance, created_at=now, kind="expire", balance_change=-balance)
        User.update(bought_seconds=User.bought_seconds - balance).where(User.id == user_id).execute()

    @staticmethod
    def _locked_balance(user_id: int) -> float:
        """The user's balance, their row locked until the transaction ends: a refund, a use and an expiry of one
        balance read it one after the other (PostgreSQL; SQLite's write lock holds every writer off already)."""
        query = User.select(User.bought_seconds).where(User.id == user_id)
        if database.for_update:
            query = query.for_update()
        return float(query.scalar() or 0.0)

    @staticmethod
    def _balance(user_id: int) -> tuple[float, datetime | None]:
        row = User.select(User.bought_seconds, User.bought_until).where(User.id == user_id).tuples().first()
        return (0.0, None) if row is None else (float(row[0] or 0.0), row[1])

    def balances(self) -> Balances:
        """Every user with a bought balance: (seconds, when it expires; None: never); and the latest ledger row
        they include (read in one transaction: the rows and the balances they changed are written in one)."""
        with database_errors(), database.atomic():
            last_entry = Transaction.select(fn.MAX(Transaction.id)).scalar() or 0
            return Balances({user_id: (float(seconds), until) for user_id, seconds, until in
                             User.select(User.id, User.bought_seconds, User.bought_until)
                             .where(User.bought_seconds > 0).tuples()}, last_entry)

    def payer(self, charge_id: str) -> int | None:
        """The user who made payment `charge_id`; None: the ledger has no such payment."""
        with database_errors():
            return Payment.select(Payment.user_id).where(Payment.charge_id == charge_id).scalar()

    def chosen_language(self, user_id: int) -> str | None:
        """The language the user chose with /lang; None: their app's, which only their updates tell."""
        with database_errors():
            return User.select(User.interface_language).where(User.id == user_id).scalar()

    def charges(self, user_id: int, limit: int = 5) -> list[Charge]:
        """The user's latest payments, newest first."""
        with database_errors():
            return [Charge(row.charge_id, row.stars, round(row.seconds / 60), row.paid_at, row.refunded_at is not None)
                    for row in Payment.select().where(Payment.user_id == user_id)
                    .order_by(Payment.paid_at.desc(), Payment.charge_id).limit(limit)]

    def unsent_receipts(self) -> list[Credit]:
        """Payments whose receipt has not gone out yet, oldest first."""
        with database_errors():
            return [Credit(row.charge_id, row.user_id, row.chat_id, row.stars, row.seconds,
                           self._balance(row.user_id)[0]) for row in
                    Payment.select().where(~Payment.receipt_sent).order_by(Payment.paid_at, Payment.charge_id)]

    def receipt_sent(self, charge_id: str) -> None:
        with self._writing():
            Payment.update(receipt_sent=True).where(Payment.charge_id == charge_id).execute()

    def recording(self, key: JobKey) -> StoredRecording | None:
        """The recording answered as the job `key`, with its latest transcript if that is kept; None when the
        job is gone (/forget, retention) or was never answered."""
        with database_errors():
            job = JobRecord.get_or_none(_is_job(key) & JobRecord.finished)
            if job is None:
                return None
            usage = (Usage.select().where((Usage.chat_id == key.chat_id) & (Usage.message_id == key.message_id)
                                          & (Usage.place == key.place) & DONE & Usage.transcript.is_null(False))
                     .order_by(Usage.id.desc()).first())
            transcript = None if usage is None else _transcript_of(usage)
            return StoredRecording(key, _media_of(job), Task(job.task), transcript)

    def recall(self, memory_key: str) -> Remembered | None:
        """The latest transcript kept under `memory_key`, with who sent its recording; None when there is none:
        never made so, not kept (storage.keep_transcripts), or gone (/forget, retention)."""
        with database_errors():
            usage = (Usage.select().where((Usage.memory_key == memory_key) & DONE & Usage.transcript.is_null(False))
                     .order_by(Usage.id.desc()).first())
            return None if usage is None else Remembered(_transcript_of(usage), usage.sender_id)

    def load_users(self, day: date) -> dict[int, UserState]:
        """Every user with a setting of their own or usage on `day`; the rest follow the defaults.

        Two queries however many users there are, read as tuples: no model object per row."""
        with database_errors():
            charged = dict(Usage.select(Usage.user, fn.SUM(Usage.charged_seconds))
                           .where(Usage.day == day).group_by(Usage.user).tuples())
            users = {user_id: UserState(user_id, charged_today=float(seconds))
                     for user_id, seconds in charged.items()}
            for user_id, settings in _settings_chosen(User, UserSettings):
                users[user_id] = UserState(user_id, settings, float(charged.get(user_id, 0.0)))
            return users

    def set_language(self, user_id: int, language: str | None) -> None:
        self._set_user(user_id, language=language)

    def set_unlimited(self, user_id: int, unlimited: bool) -> None:
        self._set_user(user_id, unlimited=unlimited)

    def set_daily_seconds(self, user_id: int, seconds: int | None) -> None:
        """None: back to the configured quota.daily_seconds."""
        self._set_user(user_id, daily_seconds=seconds)

    def save_user_settings(self, user_id: int, settings: UserSettings) -> None:
        """All settings at once, as the QuotaActor holds them: each field into its column of the same name."""
        self._set_user(user_id, **_values_of(settings))

    def save_chat_settings(self, chat_id: int, settings: ChatSettings) -> None:
        """All of a group's settings at once: each field into its column of the same name."""
        values = fitted(Chat, _values_of(settings))   # a vocabulary is what its admins wrote
        with self._writing():
            (Chat.insert(id=chat_id, **values)
             .on_conflict(conflict_target=[Chat.id], update={getattr(Chat, name): value
                                                              for name, value in values.items()})
             .execute())

    def save_business_connections(self, connections: list[Connection]) -> None:
        """Each connection as its latest update left it."""
        with self._writing():
            for connection in connections:
                values = {"owner_id": connection.owner_id, "owner_chat_id": connection.owner_chat_id,
                          "can_reply": connection.can_reply, "is_enabled": connection.is_enabled}
                (BusinessConnection.insert(id=connection.connection_id, **values)
                 .on_conflict(conflict_target=[BusinessConnection.id],
                              update={getattr(BusinessConnection, name): value for name, value in values.items()})
                 .execute())

    def business_connections(self) -> list[Connection]:
        with database_errors():
            return [Connection(row.id, row.owner_id, row.owner_chat_id, row.can_reply, row.is_enabled)
                    for row in BusinessConnection.select().order_by(BusinessConnection.id)]

    def chat_settings(self) -> dict[int, ChatSettings]:
        """Groups whose admins chose something (on-request mode, a language, a vocabulary); the rest follow
        ChatSettings' defaults."""
        with database_errors():
            return dict(_settings_chosen(Chat, ChatSettings))

    def _set_user(self, user_id: int, **values) -> None:
        values = fitted(User, values)   # a vocabulary is what the user wrote
        with self._writing():
            (User.insert(id=user_id, first_seen=utc_now(), **values)
             .on_conflict(conflict_target=[User.id], update={getattr(User, name): value
                                                              for name, value in values.items()})
             .execute())

    def user_summary(self, user_id: int, day: date) -> UserSummary | None:
        """The user's settings, what they used on `day`, and totals over the usage history still kept."""
        with database_errors():
            user = User.get_or_none(User.id == user_id)
            if user is None:
                return None
            charged_today, total_seconds, transcriptions, failures = (
                Usage.select(_sum_where(Usage.day == day, Usage.charged_seconds),
                             fn.SUM(Usage.charged_seconds), _count_where(DONE), _count_where(FAILED))
                .where(Usage.user == user_id).tuples().get())
            return UserSummary(user.id, user.first_seen, user.unlimited, user.daily_seconds, user.language,
                               float(charged_today or 0), float(total_seconds or 0), transcriptions, failures)

    def forget(self, user_id: int, day: date) -> int:
        """Delete the user's history except `day`'s usage rows, which today's quota still counts: those only
        lose their text. The user's answered jobs go too (file ids, names, chats and messages), and so does every
        answered job others asked for on the user's recordings (/transcribe, English), whose usage rows, the
        others' history, lose their text: nothing of the user's is left under anyone. Billing rows stay, unlinked
        from their usage. Returns rows deleted or cleared."""
        with self._writing():
            deleted = Usage.delete().where((Usage.user == user_id) & (Usage.day != day)).execute()
            deleted += JobRecord.delete().where(((JobRecord.user_id == user_id) | (JobRecord.sender_id == user_id))
                                                & JobRecord.finished).execute()
            return deleted + self._clear_transcripts(((Usage.user == user_id) & (Usage.day == day))
                                                     | (Usage.sender_id == user_id))

    def prune(self, before: date) -> int:
        """Delete the text of transcripts from days before `before`, and the jobs answered before then;
        returns how many transcripts."""
        with self._writing():
            cutoff = datetime.combine(before, time.min)
            JobRecord.delete().where(JobRecord.finished & (JobRecord.created_at < cutoff)).execute()
            return self._clear_transcripts(Usage.day < before)

    def _clear_transcripts(self, where) -> int:
        """The text of these transcripts goes, and their segments with it, and what would answer from them again
        (their memory key, which names the recording)."""
        Segment.delete().where(Segment.usage.in_(Usage.select(Usage.id).where(where))).execute()
        return (Usage.update(transcript=None, memory_key=None)
                .where(where & Usage.transcript.is_null(False)).execute())

    def stats(self, first_day: date, last_day: date) -> list[DayStats]:
        """One entry per day with usage, oldest first."""
        rows = (Usage.select(Usage.day, fn.COUNT(Usage.user.distinct()), _count_where(DONE),
                             _sum_where(DONE, Usage.audio_seconds), _count_where(FAILED),
                             fn.AVG(Case(None, [(DONE, Usage.processing_seconds)])))
                .where(Usage.day.between(first_day, last_day)).group_by(Usage.day).order_by(Usage.day))
        with database_errors():
            return [DayStats(day, users, transcriptions, float(audio), failures, float(processing or 0))
                    for day, users, transcriptions, audio, failures, processing in rows.tuples()]

    def usages(self, user_id: int) -> list[Usage]:
        return list(Usage.select().where(Usage.user == user_id).order_by(Usage.id))


_OFFSET = "update_offset"


def _is_job(key: JobKey):
    return ((JobRecord.chat_id == key.chat_id) & (JobRecord.message_id == key.message_id)
            & (JobRecord.place == key.place))


def _media_of(row: JobRecord) -> Media:
    return Media(MediaKind(row.media_kind), row.file_id, row.file_size, row.duration, row.mime_type, row.file_name,
                 row.sender_id, row.file_unique_id)


def _transcript_of(usage: Usage) -> Transcript:
    segments = tuple(TimedText(row.start, row.end, row.text)
                     for row in Segment.select().where(Segment.usage == usage).order_by(Segment.position))
    probability = 1.0 if usage.language_probability is None else usage.language_probability
    return Transcript(usage.transcript, usage.language or "", probability, usage.audio_seconds,
                      usage.processing_seconds, segments)


def _pending_job(row: JobRecord) -> PendingJob:
    job = Job(JobKey(row.chat_id, row.message_id, row.place), row.user_id, _media_of(row),
              interface_language=row.interface_language, thread_id=row.thread_id, task=Task(row.task),
              guest_query_id=row.guest_query_id, channel=_channel_post(row), business=_business_origin(row))
    status = row.guest_post_id if row.guest_post_id is not None else row.status_message_id
    return PendingJob(VoiceReceived(job, row.in_group, row.requested), status, row.attempts, row.status_chat_id)


def _channel_columns(channel: ChannelPost | None) -> dict:
    if channel is None:
        return {}
    comments = channel.comments
    return {"channel_caption": channel.caption, "comments_chat_id": comments and comments.chat_id,
            "comments_message_id": comments and comments.reply_to_message_id,
            "channel_entities": json.dumps([entity_fields(entity) for entity in channel.entities])
            if channel.entities else None}


def _channel_post(row: JobRecord) -> ChannelPost | None:
    if row.channel_caption is None:
        return None
    comments = (None if row.comments_chat_id is None or row.comments_message_id is None
                else Destination(row.comments_chat_id, reply_to_message_id=row.comments_message_id))
    entities = caption_entities(json.loads(row.channel_entities), row.channel_caption) if row.channel_entities else ()
    return ChannelPost(row.channel_caption, comments, entities)


def _business_columns(business: BusinessOrigin | None) -> dict:
    if business is None:
        return {}
    return {"business_connection_id": business.connection_id, "business_sender": business.sender,
            "business_chat": business.chat}


def _business_origin(row: JobRecord) -> BusinessOrigin | None:
    """As it arrived: its owner and where it is answered are the QuotaActor's to say again."""
    if row.business_connection_id is None:
        return None
    return BusinessOrigin(row.business_connection_id, sender=row.business_sender or "", chat=row.business_chat or "")


def _values_of(settings: UserSettings | ChatSettings) -> dict:
    """A settings value as the columns of the same names take it."""
    return {field.name: getattr(settings, field.name) for field in fields(settings)}


def _settings_chosen(model, settings_type: type[UserSettings] | type[ChatSettings]) -> list[tuple]:
    """(id, settings) of each row of `model` where any column named after a field of `settings_type` differs
    from that field's default, read as tuples (no model object per row); the other rows chose nothing."""
    columns = [(getattr(model, field.name), field.default) for field in fields(settings_type)]
    chosen = functools.reduce(operator.or_, (column.is_null(False) if default is None else column != default
                                             for column, default in columns))
    rows = model.select(model.id, *(column for column, _ in columns)).where(chosen).tuples()
    return [(row_id, settings_type(*values)) for row_id, *values in rows]


def _count_where(condition):
    return fn.COUNT(Case(None, [(condition, 1)]))


def _sum_where(condition, value):
    return fn.SUM(Case(None, [(condition, value)], 0))
