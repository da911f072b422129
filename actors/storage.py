"""StorageActor: the only code that writes the database while the bot runs."""
import logging
from collections.abc import Callable
from datetime import date, timedelta

from actors.base import SupervisedActor
from actors.messages import (
    DescribeUser,
    FlushWrites,
    ForgetUser,
    IntakeFailed,
    IntakeStored,
    JobClosed,
    JobStarted,
    LoadOffset,
    LoadOnRequestChats,
    LoadUnfinishedJobs,
    LoadUsers,
    PruneTranscripts,
    RecordUsage,
    RefreshUsers,
    SaveChatSettings,
    SaveUserSettings,
    StatusPosted,
    StoreIntake,
    UserDescribed,
    UserForgotten,
    UsersLoaded,
    VoiceReceived,
)
from voicebot.core.errors import StorageError
from voicebot.core.ports import NO_METRICS, Metrics

log = logging.getLogger(__name__)

PRUNE_INTERVAL_SECONDS = 24 * 3600
WRITE_RETRY_SECONDS = 2.0
_WRITES = (RecordUsage, JobStarted, StatusPosted, JobClosed, SaveUserSettings, SaveChatSettings)


class StorageActor(SupervisedActor):
    """peewee connections belong to a thread: this actor opens, uses and closes its own.
    A write that fails is logged and the bot carries on: the user already has their answer."""

    def __init__(self, storage, today: Callable[[], date], retention_days: int = 0, supervisor=None,
                 name: str = "storage", metrics: Metrics = NO_METRICS):
        super().__init__(name, supervisor)
        self._storage = storage
        self._today = today
        self._retention_days = retention_days
        self._unwritten: list[RecordUsage] = []
        self._metrics = metrics

    def prepare(self) -> None:
        self._storage.open()
        if self._retention_days:
            self.actor_ref.tell(PruneTranscripts())

    def on_stop(self) -> None:
        self._flush()
        self._storage.close()

    def handle(self, message):
        if isinstance(message, _WRITES):
            # Changes nobody waits for are written together when the mailbox has had its say:
            # every one told before the FlushWrites reminder goes into one transaction.
            if not self._unwritten:
                self.actor_ref.tell(FlushWrites())
            self._unwritten.append(message)
            return None
        self._flush()  # whatever reads the database sees every change told before
        try:
            with self._metrics.database_operation(type(message).__name__):
                return self._handle(message)
        except StorageError as error:
            log.error("database: %s failed: %s", type(message).__name__, error)
            return self._answer_failure(message, error)

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
                # Unreachable or busy: keep the changes, in order, and try again shortly.
                log.error("database: %d changes wait to be written (%s); trying again in %.0f s", len(writes),
                          error, WRITE_RETRY_SECONDS)
                self._unwritten = writes + self._unwritten
                self.tell_self_later(FlushWrites(), WRITE_RETRY_SECONDS)
            else:
                self._write_each(writes)

    def _write_each(self, writes: list) -> None:
        """One bad change must not take the others down with it: each on its own, the bad one logged."""
        for write in writes:
            try:
                with self._storage.batch():
                    self._write(write)
            except StorageError as error:
                log.error("database: dropped %r: %s", write, error)

    def _write(self, write) -> None:
        match write:
            case RecordUsage(job, day, status, charged_seconds, transcript):
                self._storage.record_usage(job, day, status, charged_seconds, transcript)
            case JobStarted(key):
                self._storage.job_started(key)
            case StatusPosted(key, message_id):
                self._storage.status_posted(key, message_id)
            case JobClosed(key):
                self._storage.job_finished(key)
            case SaveUserSettings(user_id, unlimited, daily_seconds, language, timestamps):
                self._storage.save_user_settings(user_id, unlimited, daily_seconds, language, timestamps)
            case SaveChatSettings(chat_id, automatic):
                self._storage.save_chat_settings(chat_id, automatic)

    def _handle(self, message):
        match message:
            case FlushWrites():
                pass  # handle() has flushed already
            case StoreIntake(messages, next_offset, reply_to):
                reply_to.tell(self._store_intake(messages, next_offset))
            case LoadOffset():
                return self._storage.saved_offset()
            case LoadUnfinishedJobs():
                return self._storage.unfinished_jobs()
            case LoadUsers(day):
                return self._storage.load_users(day)
            case RefreshUsers(day, reply_to):
                reply_to.tell(UsersLoaded(tuple(self._storage.load_users(day).values())))
            case LoadOnRequestChats():
                return self._storage.on_request_chats()
            case ForgetUser(user_id, day, chat_id, message_id, reply_to):
                removed = self._storage.forget(user_id, day)
                reply_to.tell(UserForgotten(user_id, chat_id, message_id, removed))
            case DescribeUser(user_id, day, chat_id, message_id, reply_to):
                reply_to.tell(UserDescribed(user_id, self._storage.user_summary(user_id, day), chat_id, message_id))
            case PruneTranscripts():
                self._prune()
            case _:
                return NotImplemented

    def _store_intake(self, messages: tuple, next_offset: int) -> IntakeStored:
        voices = [message for message in messages if isinstance(message, VoiceReceived)]
        new = self._storage.store_intake(voices, next_offset)
        return IntakeStored(tuple(message for message in messages
                                  if not isinstance(message, VoiceReceived) or message.job.key in new), next_offset)

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
            case StoreIntake(_, _, reply_to):
                reply_to.tell(IntakeFailed(str(error)))
            case LoadUsers() | LoadOnRequestChats() | LoadOffset() | LoadUnfinishedJobs():
                raise error  # an ask at start: the Supervisor reports it
        return None
