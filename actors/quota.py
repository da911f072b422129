"""QuotaActor: owns all per-user state and decides, from memory alone, who gets transcribed."""
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from actors.base import SupervisedActor
from actors.messages import (
    ChatAdminChecked,
    CheckChatAdmin,
    CommandReceived,
    DescribeUser,
    ForgetUser,
    JobAdmitted,
    JobClosed,
    JobFailed,
    RecordUsage,
    RefreshUsers,
    ResultDelivered,
    SaveChatSettings,
    SaveUserSettings,
    SendReply,
    SystemReady,
    TextReceived,
    TranscriptReady,
    UnsupportedReceived,
    UserDescribed,
    UserForgotten,
    UsersLoaded,
    VoiceReceived,
)
from voicebot.adapters.metrics import Metrics
from voicebot.core import replies
from voicebot.core.domain import Job, PendingJob, UserState

log = logging.getLogger(__name__)

REFRESH_SECONDS = 30.0       # how soon a change made with the operator CLI takes effect
COMMAND_BURST = 5            # commands and texts a user may send at once ...
COMMAND_REFILL_SECONDS = 2.0  # ... and how fast that allowance comes back


@dataclass(frozen=True, slots=True)
class QuotaRules:
    daily_seconds: int
    rate_limit_seconds: int
    max_duration_seconds: int
    max_file_mb: int
    timezone: str = "UTC"
    unlimited_user_ids: frozenset[int] = frozenset()
    admin_user_ids: frozenset[int] = frozenset()
    languages: frozenset[str] = frozenset()

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024


@dataclass(slots=True)
class _User:
    """One user's state, owned by the QuotaActor alone (never shared, so mutable)."""
    unlimited: bool = False
    daily_seconds: int | None = None
    language: str | None = None
    timestamps: bool = False
    day: date | None = None
    charged: float = 0.0
    reserved: float = 0.0
    last_admitted: float | None = None
    command_allowance: float = COMMAND_BURST
    allowance_at: float = 0.0
    warned_of_flood: bool = False


class QuotaActor(SupervisedActor):
    """Admits a job only if it fits the limits, the user's rate window and the day's quota.
    Seconds are reserved at admission and charged (with the decoded duration) only on success."""

    def __init__(self, rules: QuotaRules, dispatcher, sender, storage, users: dict[int, UserState],
                 on_request_chats: frozenset[int] = frozenset(), resumed: tuple[PendingJob, ...] = (),
                 supervisor=None, name: str = "quota", now: Callable[[], datetime] = replies.utc_now,
                 clock: Callable[[], float] = time.monotonic, metrics: Metrics | None = None):
        super().__init__(name, supervisor)
        self._rules = rules
        self._zone = ZoneInfo(rules.timezone)
        self._dispatcher = dispatcher
        self._sender = sender
        self._storage = storage
        self._now = now
        self._clock = clock
        self._on_request_chats = set(on_request_chats)   # groups that transcribe only on /transcribe
        self._resumed = resumed
        self._metrics = metrics or Metrics()
        today = self._today()
        self._users: dict[int, _User] = {
            state.user_id: _User(state.unlimited, state.daily_seconds, state.language, state.timestamps, today,
                                 state.charged_today)
            for state in users.values()}

    def prepare(self) -> None:
        self.tell_self_later(RefreshUsers(self._today(), self.actor_ref), REFRESH_SECONDS)

    def _resume(self) -> None:
        """Jobs stored before a restart and not answered yet go ahead once every actor is up."""
        for pending in self._resumed:
            incoming = pending.incoming
            self._consider(incoming.job, incoming.in_group, incoming.requested, pending)
        self._resumed = ()

    def _consider(self, job: Job, in_group: bool, requested: bool, resumed: PendingJob | None) -> None:
        if requested or not in_group or job.chat_id not in self._on_request_chats:
            self.admit(job, resumed)
        else:
            self._storage.tell(JobClosed(job.key))  # not asked for in an on-request group

    def handle(self, message):
        match message:
            case VoiceReceived(job, in_group, requested):
                self._consider(job, in_group, requested, None)
            case ChatAdminChecked(command, is_admin):
                self._reply(command.chat_id, self._switch_group_mode(command, is_admin), command.message_id)
            case CommandReceived() | TextReceived() | UnsupportedReceived():
                self._converse(message)
            case SystemReady():
                self._resume()
            case ResultDelivered(outcome, delivered):
                self._settle(outcome, delivered)
            case JobFailed(job, reason):  # refused as busy: it never started
                self._release(job)
                self._storage.tell(RecordUsage(job, self._today(), reason.value))
            case RefreshUsers():  # our own reminder; the StorageActor answers with UsersLoaded
                self._storage.tell(RefreshUsers(self._today(), self.actor_ref))
                self.tell_self_later(message, REFRESH_SECONDS)
            case UsersLoaded(states):
                self._apply_settings(states)
            case UserDescribed():
                self._reply(message.chat_id, self._describe(message), message.message_id)
            case UserForgotten(_, chat_id, message_id, removed):
                self._reply(chat_id, replies.forgotten(removed), message_id)
            case _:
                return NotImplemented

    # --- admission ------------------------------------------------------------------------

    def admit(self, job: Job, resumed: PendingJob | None = None) -> None:
        user = self._user(job.user_id)
        refusal = self._refusal(job, user, rate_limited=resumed is None)
        if refusal is not None:
            reason, text = refusal
            log.info("refused job %s/%s of user %s: %s", job.chat_id, job.message_id, job.user_id, reason)
            self._metrics.rejections.labels(reason).inc()
            self._reply(job.chat_id, text, job.message_id)
            self._storage.tell(JobClosed(job.key))
            return
        user.reserved += job.media.duration or 0
        user.last_admitted = self._clock()
        attempt = resumed.attempts + 1 if resumed else job.attempt
        self._dispatcher.tell(JobAdmitted(
            dataclasses.replace(job, language=user.language, timestamps=user.timestamps, attempt=attempt),
            resumed.status_message_id if resumed else None))

    def _settle(self, outcome: TranscriptReady | JobFailed, delivered: bool) -> None:
        """The user has the answer: charge a transcript, record either; the job is done then.
        An answer that could not be delivered is not recorded: the job is resumed at next start."""
        job = outcome.job
        user = self._release(job)
        if not delivered:
            log.warning("job %s/%s: the answer could not be delivered; it stays for the next start",
                        job.chat_id, job.message_id)
            return
        match outcome:
            case TranscriptReady(_, transcript):
                user.charged += transcript.audio_seconds
                self._storage.tell(RecordUsage(job, self._today(), "done", transcript.audio_seconds, transcript))
            case JobFailed(_, reason):
                self._storage.tell(RecordUsage(job, self._today(), reason.value))

    def _refusal(self, job: Job, user: _User, rate_limited: bool = True) -> tuple[str, str] | None:
        """(reason, reply) refusing this job, or None when it may go ahead."""
        rules, media = self._rules, job.media
        if media.duration is not None and media.duration > rules.max_duration_seconds:
            return "too_long", replies.too_long(media.duration, rules.max_duration_seconds)
        if media.file_size is not None and media.file_size > rules.max_file_bytes:
            return "too_big", replies.too_big(media.file_size, rules.max_file_mb)
        if rate_limited and user.last_admitted is not None:
            wait = user.last_admitted + rules.rate_limit_seconds - self._clock()
            if wait > 0:
                return "rate_limited", replies.rate_limited(wait)
        if self._is_unlimited(job.user_id, user):
            return None
        daily, used = self._daily_seconds(user), user.charged + user.reserved
        if used + (media.duration or 0) > daily or used >= daily:
            return "quota", replies.quota_exceeded(daily - used, daily, media.duration, self._local_now())
        return None

    def _release(self, job: Job) -> _User:
        user = self._user(job.user_id)
        user.reserved = max(0.0, user.reserved - (job.media.duration or 0))
        return user

    def _user(self, user_id: int) -> _User:
        """The user's state, with today's usage: the first look after midnight starts a new day."""
        user = self._users.setdefault(user_id, _User())
        today = self._today()
        if user.day != today:
            user.day, user.charged = today, 0.0
        return user

    def _is_unlimited(self, user_id: int, user: _User) -> bool:
        return user.unlimited or user_id in self._rules.unlimited_user_ids

    def _daily_seconds(self, user: _User) -> int:
        return self._rules.daily_seconds if user.daily_seconds is None else user.daily_seconds

    def _local_now(self) -> datetime:
        return self._now().astimezone(self._zone)

    def _today(self) -> date:
        return self._local_now().date()

    def _within_allowance(self, user_id: int) -> bool | None:
        """Commands are cheap, but each answer is a Bot API call: a flood from one user must not
        queue up ahead of everyone else's replies. True: answer; False: one "slow down" notice;
        None: stay silent until the flood calms down."""
        user, now = self._user(user_id), self._clock()
        user.command_allowance = min(COMMAND_BURST, user.command_allowance
                                     + (now - user.allowance_at) / COMMAND_REFILL_SECONDS)
        user.allowance_at = now
        if user.command_allowance >= 1:
            user.command_allowance -= 1
            user.warned_of_flood = False
            return True
        if user.warned_of_flood:
            return None
        user.warned_of_flood = True
        return False

    # --- commands ---------------------------------------------------------------------------

    def _converse(self, message: CommandReceived | TextReceived | UnsupportedReceived) -> None:
        allowed = self._within_allowance(message.user_id)
        if allowed is None:
            return
        match message:
            case _ if not allowed:
                text = replies.SLOW_DOWN
            case CommandReceived():
                text = self._answer_command(message)
            case TextReceived():
                text = replies.TEXT_ONLY
            case UnsupportedReceived():
                text = replies.UNSUPPORTED
        if text:
            self._reply(message.chat_id, text, message.message_id)

    def _answer_command(self, command: CommandReceived) -> str | None:
        """The answer, or None when it comes later (from the StorageActor's reply)."""
        if command.command in _ADMIN_COMMANDS and command.user_id in self._rules.admin_user_ids:
            return _ADMIN_COMMANDS[command.command](self, command)
        if command.command in _USER_COMMANDS:
            return _USER_COMMANDS[command.command](self, command)
        return replies.UNKNOWN_COMMAND

    def _help(self, command: CommandReceived) -> str:
        rules = self._rules
        return replies.help_text(rules.max_duration_seconds, rules.max_file_mb, rules.daily_seconds,
                                 rules.rate_limit_seconds, admin=command.user_id in rules.admin_user_ids)

    def _ask_storage_about(self, user_id: int, command: CommandReceived) -> None:
        self._storage.tell(DescribeUser(user_id, self._today(), command.chat_id, command.message_id,
                                        self.actor_ref))

    def _usage(self, command: CommandReceived) -> None:
        self._ask_storage_about(command.user_id, command)

    def _language(self, command: CommandReceived) -> str:
        user, wanted = self._user(command.user_id), command.argument.strip().lower()
        if not wanted:
            return replies.language_is(user.language, sorted(self._rules.languages))
        if wanted not in self._rules.languages and wanted != "auto":
            return replies.unknown_language(wanted, sorted(self._rules.languages))
        user.language = None if wanted == "auto" else wanted
        self._save_settings(command.user_id, user)
        return replies.language_set(user.language)

    def _transcribe_hint(self, command: CommandReceived) -> str:
        return replies.TRANSCRIBE_HINT

    def _auto(self, command: CommandReceived) -> str | None:
        if not command.in_group:
            return replies.AUTO_IN_GROUPS_ONLY
        if command.argument.strip().lower() not in ("on", "off"):
            return replies.auto_mode(command.chat_id not in self._on_request_chats, changed=False)
        self._sender.tell(CheckChatAdmin(command, self.actor_ref))  # the answer comes as ChatAdminChecked
        return None

    def _switch_group_mode(self, command: CommandReceived, is_admin: bool) -> str:
        if not is_admin:
            return replies.ADMINS_ONLY
        automatic = command.argument.strip().lower() == "on"
        if automatic:
            self._on_request_chats.discard(command.chat_id)
        else:
            self._on_request_chats.add(command.chat_id)
        self._storage.tell(SaveChatSettings(command.chat_id, automatic))
        return replies.auto_mode(automatic, changed=True)

    def _timestamps(self, command: CommandReceived) -> str:
        user, wanted = self._user(command.user_id), command.argument.strip().lower()
        if wanted in ("on", "off"):
            user.timestamps = wanted == "on"
            self._save_settings(command.user_id, user)
        return replies.timestamps(user.timestamps, changed=wanted in ("on", "off"))

    def _forget(self, command: CommandReceived) -> None:
        self._storage.tell(ForgetUser(command.user_id, self._today(), command.chat_id, command.message_id,
                                      self.actor_ref))

    def _grant(self, command: CommandReceived) -> str:
        return self._change_user(command, lambda user: setattr(user, "unlimited", True))

    def _revoke(self, command: CommandReceived) -> str:
        return self._change_user(command, lambda user: setattr(user, "unlimited", False))

    def _set_quota(self, command: CommandReceived) -> str:
        target, _, seconds = command.argument.partition(" ")
        if not seconds.strip().isdigit():
            return replies.ADMIN_USAGE
        return self._change_user(dataclasses.replace(command, argument=target),
                                 lambda user: setattr(user, "daily_seconds", int(seconds)))

    def _show_user(self, command: CommandReceived) -> str | None:
        if not command.argument.strip().isdigit():
            return replies.ADMIN_USAGE
        self._ask_storage_about(int(command.argument), command)
        return None

    def _change_user(self, command: CommandReceived, change: Callable[[_User], None]) -> str:
        if not command.argument.strip().isdigit():
            return replies.ADMIN_USAGE
        user_id = int(command.argument)
        user = self._user(user_id)
        change(user)
        self._save_settings(user_id, user)
        log.info("admin %s changed user %s: unlimited=%s daily_seconds=%s", command.user_id, user_id,
                 user.unlimited, user.daily_seconds)
        return replies.user_changed(user_id, user.unlimited, self._daily_seconds(user))

    def _save_settings(self, user_id: int, user: _User) -> None:
        self._storage.tell(SaveUserSettings(user_id, user.unlimited, user.daily_seconds, user.language,
                                            user.timestamps))

    def _describe(self, described: UserDescribed) -> str:
        user = self._user(described.user_id)
        return replies.usage(user.charged, self._daily_seconds(user), self._is_unlimited(described.user_id, user),
                             described.summary, self._local_now())

    def _apply_settings(self, states: tuple[UserState, ...]) -> None:
        loaded = {state.user_id: state for state in states}
        for user_id, user in self._users.items():
            state = loaded.get(user_id, UserState(user_id))
            user.unlimited, user.daily_seconds = state.unlimited, state.daily_seconds
            user.language, user.timestamps = state.language, state.timestamps

    def _reply(self, chat_id: int, text: str, reply_to: int) -> None:
        self._sender.tell(SendReply(chat_id, text, reply_to))


_USER_COMMANDS = {"start": QuotaActor._help, "help": QuotaActor._help, "usage": QuotaActor._usage,
                  "language": QuotaActor._language, "forget": QuotaActor._forget,
                  "timestamps": QuotaActor._timestamps, "transcribe": QuotaActor._transcribe_hint,
                  "auto": QuotaActor._auto}
_ADMIN_COMMANDS = {"grant": QuotaActor._grant, "revoke": QuotaActor._revoke, "setquota": QuotaActor._set_quota,
                   "user": QuotaActor._show_user}
