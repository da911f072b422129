"""StorageActor: the only code that writes the database while the bot runs."""
import dataclasses
import logging
from collections.abc import Callable, Iterable
from datetime import date, timedelta

import pykka

from actors.base import SupervisedActor
from actors.messages import (
    ChargesListed,
    DescribeUser,
    ExpireBalance,
    FlushWrites,
    ForgetUser,
    GuestTranscriptLoaded,
    IntakeFailed,
    IntakeStored,
    JobClosed,
    JobStarted,
    JobStored,
    ListCharges,
    LoadBalances,
    LoadBusinessConnections,
    LoadChatSettings,
    LoadGuestTranscript,
    LoadOffset,
    LoadRecording,
    LoadUnfinishedJobs,
    LoadUnsentReceipts,
    LoadUsers,
    LookUpPayment,
    PaymentLookedUp,
    PruneTranscripts,
    RecallTranscript,
    ReceiptSent,
    RecordingLoaded,
    RecordRefund,
    RecordUsage,
    RefreshUsers,
    RefundRecorded,
    SaveChatSettings,
    SaveUserSettings,
    StatusPosted,
    StoreIntake,
    StoreJob,
    TranscriptRecalled,
    UnfinishedJobs,
    UnsentReceipts,
    UserDescribed,
    UserForgotten,
    UsersLoaded,
    VoiceReceived,
    VoiceRefused,
)
from voicebot.core.billing import (
    NO_BILLING,
    BillingRules,
    Credit,
    PaymentReceived,
    PaymentRefunded,
    Refund,
    paid_seconds,
)
from voicebot.core.domain import BusinessConnection, ChannelPostForwarded
from voicebot.core.errors import Deposed, StorageError
from voicebot.core.ports import NO_METRICS, Metrics

log = logging.getLogger(__name__)

PRUNE_INTERVAL_SECONDS = 24 * 3600
WRITE_RETRY_SECONDS = 2.0          # the first retry of writes the database could not take ...
WRITE_RETRY_MAX_SECONDS = 60.0     # ... doubling up to this while it stays away
_WRITES = (RecordUsage, JobStarted, StatusPosted, JobClosed, SaveUserSettings, SaveChatSettings, ReceiptSent,
           ExpireBalance)


class StorageActor(SupervisedActor):
    """peewee connections belong to a thread: this actor opens, uses and closes its own.
    A write that fails is logged and the bot carries on: the user already has their answer."""

    def __init__(self, *, storage, today: Callable[[], date], retention_days: int = 0, supervisor=None,
                 name: str = "storage", metrics: Metrics = NO_METRICS, billing: BillingRules = NO_BILLING,
                 payload_key: bytes = b""):
        """`billing` and `payload_key` (core.billing): what a payment stored with the intake buys."""
        super().__init__(name, supervisor)
        self._billing = billing
        self._payload_key = payload_key
        self._storage = storage
        self._today = today
        self._retention_days = retention_days
        self._unwritten: list[RecordUsage] = []
        self._metrics = metrics
        self._retry_in: float | None = None   # set while the database is away: the next retry's delay
        self._flush_due = False               # a FlushWrites (reminder or retry timer) is on its way

    def prepare(self) -> None:
        self._storage.open()
        if self._retention_days:
            self.actor_ref.tell(PruneTranscripts())

    def on_stop(self) -> None:
        self._flush()
        self._storage.close()

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        # The changes gathered so far are written before the restart, not lost with this instance.
        try:
            self._flush()
        except Exception as error:  # dying already: the restart must not wait on a second failure
            log.error("database: could not write %d changes before the restart: %s", len(self._unwritten), error)
        self._storage.close()
        super().on_failure(exception_type, exception_value, traceback)

    def handle(self, message):
        if isinstance(message, _WRITES):
            # Changes nobody waits for are written together when the mailbox has had its say:
            # every one told before the FlushWrites reminder goes into one transaction.
            if not self._flush_due:
                self._flush_due = True
                self.actor_ref.tell(FlushWrites())
            self._unwritten.append(message)
            return None
        if isinstance(message, FlushWrites):
            self._flush_due = False
        if self._retry_in is None or isinstance(message, FlushWrites):
            self._flush()  # whatever reads the database sees every change told before
        try:
            try:
                with self._metrics.database_operation(type(message).__name__):
                    return self._handle(message)
            except StorageError as error:
                log.error("database: %s failed: %s", type(message).__name__, error)
                return self._answer_failure(message, error)
        except pykka.ActorDeadError:
            # The asker died after asking; its restarted instance asks again for what it still needs.
            log.info("database: the asker of %s stopped before its answer; dropped", type(message).__name__)
            return None

    def _flush(self) -> None:
        writes, self._unwritten = self._unwritten, []
        if not writes:
            return
        try:
            with self._metrics.database_operation("write"), self._storage.batch():
                for write in writes:
                    self._write(write)
        except StorageError as error:
            if error.transient:
                self._unwritten = writes + self._unwritten   # kept, in order, for the retry
                self._retry_later(error)
            else:
                self._write_each(writes)
            return
        if self._retry_in is not None:
            log.warning("database: back; %d changes that waited are written", len(writes))
            self._retry_in = None

    def _retry_later(self, error: StorageError) -> None:
        """Unreachable or busy: one timer, waiting twice as long each time up to a cap, and one log line
        when the outage starts, so an hour without a database is not thousands of reconnects and lines."""
        if self._retry_in is None:
            log.error("database: %d changes wait to be written (%s); retrying, at most every %.0f s",
                      len(self._unwritten), error, WRITE_RETRY_MAX_SECONDS)
            self._retry_in = WRITE_RETRY_SECONDS
        else:
            self._retry_in = min(self._retry_in * 2, WRITE_RETRY_MAX_SECONDS)
        if not self._flush_due:
            self._flush_due = True
            self.tell_self_later(FlushWrites(), self._retry_in)

    def _write_each(self, writes: list) -> None:
        """One bad change must not take the others down with it: each on its own, the bad one logged."""
        for write in writes:
            try:
                with self._storage.batch():
                    self._write(write)
            except StorageError as error:
                log.error("database: dropped %s: %s", _described(write), error)

    def _write(self, write) -> None:
        match write:
            case RecordUsage(job, day, status, charged_seconds, transcript, memory_key, bought_seconds):
                self._storage.record_usage(job, day, status, charged_seconds, transcript, memory_key, bought_seconds)
            case ReceiptSent(charge_id):
                self._storage.receipt_sent(charge_id)
            case ExpireBalance(user_id):
                self._storage.expire_balance(user_id)
            case JobStarted(key):
                self._storage.job_started(key)
            case StatusPosted(key, message_id, chat_id):
                self._storage.status_posted(key, message_id, chat_id)
            case JobClosed(key):
                self._storage.job_finished(key)
            case SaveUserSettings(user_id=user_id, settings=settings):
                self._storage.save_user_settings(user_id, settings)
            case SaveChatSettings(chat_id=chat_id, settings=settings):
                self._storage.save_chat_settings(chat_id, settings)

    def _handle(self, message):
        match message:
            case FlushWrites():
                pass  # handle() has flushed already
            case StoreIntake(messages, next_offset, reply_to):
                reply_to.tell(self._store_intake(messages, next_offset))
            case LoadOffset():
                return self._storage.saved_offset()
            case LoadUnfinishedJobs(None):
                return self._storage.unfinished_jobs()
            case LoadUnfinishedJobs(reply_to):
                reply_to.tell(UnfinishedJobs(tuple(self._storage.unfinished_jobs())))
            case LoadUsers(day):
                return self._storage.load_users(day)
            case RefreshUsers(day, reply_to):
                reply_to.tell(UsersLoaded(tuple(self._storage.load_users(day).values())))
            case LoadChatSettings():
                return self._storage.chat_settings()
            case LoadBusinessConnections():
                return self._storage.business_connections()
            case LoadRecording(key, press, asked, reply_to):
                reply_to.tell(RecordingLoaded(press, asked, self._storage.recording(key)))
            case RecallTranscript(job, memory_key, reply_to):
                reply_to.tell(TranscriptRecalled(job, self._storage.recall(memory_key)))
            case StoreJob(voice, press, reply_to):
                reply_to.tell(JobStored(voice, press, bool(self._storage.store_intake([voice], None))))
            case ForgetUser(user_id, day, chat_id, message_id, reply_to):
                removed = self._storage.forget(user_id, day)
                reply_to.tell(UserForgotten(user_id, chat_id, message_id, removed))
            case DescribeUser(user_id, day, chat_id, message_id, reply_to):
                reply_to.tell(UserDescribed(user_id, self._storage.user_summary(user_id, day), chat_id, message_id))
            case LoadGuestTranscript(key, chat_id, message_id, reply_to):
                recording = self._storage.recording(key)
                text = None if recording is None or recording.transcript is None else recording.transcript.text
                reply_to.tell(GuestTranscriptLoaded(chat_id, message_id, text))
            case PruneTranscripts():
                self._prune()
            case LoadBalances():
                return self._storage.balances()
            case LoadUnsentReceipts(reply_to):
                reply_to.tell(UnsentReceipts(tuple(self._storage.unsent_receipts())))
            case LookUpPayment(charge_id, reply_to):
                reply_to.tell(PaymentLookedUp(charge_id, self._storage.payer(charge_id)))
            case RecordRefund(charge_id, reply_to, held):
                reply_to.tell(RefundRecorded(charge_id, self._storage.record_refund(charge_id, held)))
            case ListCharges(user_id, chat_id, message_id, reply_to):
                reply_to.tell(ChargesListed(user_id, tuple(self._storage.charges(user_id)), chat_id, message_id))
            case _:
                return NotImplemented

    def _store_intake(self, messages: tuple, next_offset: int | None) -> IntakeStored:
        voices = [message for message in messages if isinstance(message, VoiceReceived)]
        # Kept before the offset moves past them, as jobs are: a restarted bot knows whose business chats it sees.
        connections = [message for message in messages if isinstance(message, BusinessConnection)]
        if connections:
            self._storage.save_business_connections(connections)
        # A channel post's forward into its discussion group comes after the post (its job is this intake's or
        # stored already); one the bot answers in no channel is the group's recording, stored with the offset.
        forwards = [message for message in messages if isinstance(message, ChannelPostForwarded)]
        posted = {voice.job.key for voice in voices if voice.job.channel is not None}
        own = [forward for forward in forwards if not self._answered_in_channel(forward, posted)]
        voices += [forward.voice for forward in own]
        payments = [message for message in messages if isinstance(message, PaymentReceived | PaymentRefunded)]
        try:
            (new, ledger), refused = self._stored(voices, next_offset, payments), set()
        except StorageError as error:
            # Whatever the batch size: a batch of one (the webhook's every update) sent again would be refused
            # again, for ever, and nothing after it would be taken.
            if error.transient or isinstance(error, Deposed) or not voices:
                raise
            new, refused, ledger = self._store_each(voices, next_offset, payments)
        self._link_comments(forward for forward in forwards if forward.key in posted and forward not in own)
        messages = _once(message.voice if message in own else ledger.get(message, message) for message in messages)
        return IntakeStored(tuple(VoiceRefused(message) if isinstance(message, VoiceReceived)
                                  and message.job.key in refused else message
                                  for message in messages
                                  if _acted_on(message, new | refused)),
                            next_offset)

    def _stored(self, voices: list[VoiceReceived], next_offset: int | None,
                payments: list[PaymentReceived | PaymentRefunded]) -> tuple[set, dict]:
        """The recordings, the payments and refunds, and the offset past their updates, in one transaction: a
        payment is credited once whatever is redelivered, and never lost (Telegram holds the Stars already).
        The keys of the new jobs, and what each payment or refund did (a refund of a payment not known: nothing)."""
        if not payments:
            return self._storage.store_intake(voices, next_offset), {}
        with self._storage.batch():
            return self._storage.store_intake(voices, next_offset), self._ledger(payments)

    def _ledger(self, payments: list[PaymentReceived | PaymentRefunded]) -> dict:
        done = {}
        for message in dict.fromkeys(payments):   # the same update twice in one batch: once
            if isinstance(message, PaymentRefunded):
                refund = self._storage.record_refund(message.charge_id)
                if refund is None:   # the QuotaActor hears nothing of it
                    log.error("billing: Telegram refunded charge %s, which the ledger does not have", message.charge_id)
                else:
                    done[message] = dataclasses.replace(refund, language_code=message.language_code)
                continue
            seconds = paid_seconds(message, self._payload_key)
            if seconds <= 0:
                log.error("billing: payment %s of user %s (%s stars) names no pack of this bot: stored, nothing "
                          "credited; refund it (voicebot billing refund %s)", message.charge_id, message.user_id,
                          message.total_amount, message.charge_id)
            [done[message]] = self._storage.store_payments([(message, seconds)], self._billing.expire_days)
        return done

    def _answered_in_channel(self, forward: ChannelPostForwarded, posted: set) -> bool:
        """Whether the forward's post is answered in its channel (linked to its job, if that came before): a job of
        the bot's (`posted`: this intake's), in a channel not switched off. Else the forward is a recording of its
        group's, as it was before the bot learned channels: the group's own mode applies."""
        try:
            if self._storage.switched_off(forward.key.chat_id):
                return False
            return forward.key in posted or self._storage.comments_linked(forward.key, forward.comments)
        except StorageError as error:
            if error.transient or isinstance(error, Deposed):
                raise
            log.warning("database: could not keep where comments on %s/%s go: %s", forward.key.chat_id,
                        forward.key.message_id, error)
            return True   # its job, if any, answers in reply posts

    def _link_comments(self, forwards: Iterable[ChannelPostForwarded]) -> None:
        """Where comments on channel posts go, kept with their jobs for a restart. Not worth holding the intake
        up for: a job that lost it answers in reply posts."""
        for forward in forwards:
            try:
                self._storage.comments_linked(forward.key, forward.comments)
            except StorageError as error:
                log.warning("database: could not keep where comments on %s/%s go: %s", forward.key.chat_id,
                            forward.key.message_id, error)

    def _store_each(self, voices: list[VoiceReceived], next_offset: int | None,
                    payments: list[PaymentReceived | PaymentRefunded]) -> tuple[set, set, dict]:
        """A batch the database refused for good: each recording on its own, so one it refuses (a value it
        cannot take) is answered with a failure and the others go on; the offset moves past all of them, with
        the batch's payments."""
        new, refused = set(), set()
        for voice in voices:
            try:
                new |= self._storage.store_intake([voice], None)
            except StorageError as error:
                if error.transient or isinstance(error, Deposed):
                    raise
                log.error("database: refused the recording %s/%s: %s", voice.job.chat_id, voice.job.message_id, error)
                refused.add(voice.job.key)
        _, ledger = self._stored([], next_offset, payments)
        return new, refused, ledger

    def _prune(self) -> None:
        self.tell_self_later(PruneTranscripts(), PRUNE_INTERVAL_SECONDS)
        cleared = self._storage.prune(self._today() - timedelta(days=self._retention_days))
        log.info("retention: deleted %d transcripts older than %d days", cleared, self._retention_days)

    def _answer_failure(self, message, error: StorageError):
        """Whoever waits for an answer gets one that says it failed, never silence."""
        match message:
            case ForgetUser(user_id, _, chat_id, message_id, reply_to):
                reply_to.tell(UserForgotten(user_id, chat_id, message_id, None))
            case DescribeUser(user_id, _, chat_id, message_id, reply_to):
                reply_to.tell(UserDescribed(user_id, None, chat_id, message_id))
            case LoadGuestTranscript(_, chat_id, message_id, reply_to):
                reply_to.tell(GuestTranscriptLoaded(chat_id, message_id, None))
            case StoreIntake(_, _, reply_to):
                reply_to.tell(IntakeFailed(str(error)))
            case LoadRecording(_, press, asked, reply_to):
                reply_to.tell(RecordingLoaded(press, asked, None, failed=True))
            case RecallTranscript(job, _, reply_to):
                reply_to.tell(TranscriptRecalled(job, None))   # transcribed then: a look-up is no reason to wait
            case StoreJob(voice, press, reply_to):
                reply_to.tell(JobStored(voice, press, new=False, failed=True))
            case LookUpPayment(charge_id, reply_to):
                reply_to.tell(PaymentLookedUp(charge_id, None, failed=True))
            case RecordRefund(charge_id, reply_to):
                reply_to.tell(RefundRecorded(charge_id, None))
            case ListCharges(user_id, chat_id, message_id, reply_to):
                reply_to.tell(ChargesListed(user_id, None, chat_id, message_id))
            case LoadUnsentReceipts():
                pass   # sent at the next start
            case (LoadUsers() | LoadChatSettings() | LoadOffset() | LoadUnfinishedJobs() | LoadBusinessConnections()
                  | LoadBalances()):
                raise error  # an ask at start: the Supervisor reports it
        return None


def _once(messages: Iterable) -> tuple:
    """The messages, each credit or refund once: the same payment's update twice in one batch is one payment."""
    seen: set[tuple[type, str]] = set()
    kept = []
    for message in messages:
        if isinstance(message, Credit | Refund):
            if (type(message), message.charge_id) in seen:
                continue
            seen.add((type(message), message.charge_id))
        kept.append(message)
    return tuple(kept)


def _acted_on(message, stored_jobs: set) -> bool:
    """Whether the QuotaActor hears of an intake's message: a recording only as a new job (or one refused), a
    payment only when it was new (a credit), a refund only of a payment the ledger has."""
    match message:
        case VoiceReceived(job=job):
            return job.key in stored_jobs
        case Credit(new=new):
            return new
        case PaymentReceived() | PaymentRefunded():
            return False   # the refund of a payment never stored: logged
    return True


def _described(write) -> str:
    """A dropped change for the log: its kind and job, user or chat, never a transcript's text."""
    match write:
        case RecordUsage(job=job):
            about = f"job {job.chat_id}/{job.message_id}"
        case JobStarted(key) | StatusPosted(key) | JobClosed(key):
            about = f"job {key.chat_id}/{key.message_id}"
        case SaveUserSettings(user_id=user_id):
            about = f"user {user_id}"
        case SaveChatSettings(chat_id=chat_id):
            about = f"chat {chat_id}"
        case ReceiptSent(charge_id):
            about = f"payment {charge_id}"
        case ExpireBalance(user_id):
            about = f"user {user_id}"
    return f"{type(write).__name__} of {about}"
