"""QuotaActor: owns all per-user state and decides, from memory alone, who gets transcribed."""
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from actors.base import SupervisedActor
from actors.messages import (CommandReceived, JobAdmitted, JobFailed, RecordUsage, SendReply, TextReceived,
                             TranscriptReady, UnsupportedReceived, VoiceReceived)
from voicebot import replies
from voicebot.domain import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class QuotaRules:
    daily_seconds: int
    rate_limit_seconds: int
    max_duration_seconds: int
    max_file_mb: int

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024


class QuotaActor(SupervisedActor):
    """Admits a job only if it fits the limits, the user's rate window and the day's quota.
    Seconds are reserved at admission and charged (with the decoded duration) only on success."""

    def __init__(self, rules: QuotaRules, dispatcher, sender, storage, charged_today: dict[int, float],
                 supervisor=None, name: str = "quota", now: Callable[[], datetime] = replies.utc_now,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(name, supervisor)
        self._rules = rules
        self._dispatcher = dispatcher
        self._sender = sender
        self._storage = storage
        self._now = now
        self._clock = clock
        self._day: date = now().date()
        self._charged: dict[int, float] = dict(charged_today)
        self._reserved: dict[int, float] = {}
        self._last_admitted: dict[int, float] = {}

    def handle(self, message):
        match message:
            case VoiceReceived(job):
                self.admit(job)
            case CommandReceived():
                self._answer_command(message)
            case TextReceived(chat_id, _, message_id):
                self._reply(chat_id, replies.TEXT_ONLY, message_id)
            case UnsupportedReceived(chat_id, _, message_id):
                self._reply(chat_id, replies.UNSUPPORTED, message_id)
            case TranscriptReady(job, transcript):
                self._release(job)
                self._charge(job.user_id, transcript.audio_seconds)
                self._storage.tell(RecordUsage(job, self._today(), "done", transcript.audio_seconds, transcript))
            case JobFailed(job, reason):
                self._release(job)
                self._storage.tell(RecordUsage(job, self._today(), reason.value))
            case _:
                return NotImplemented

    def admit(self, job: Job) -> None:
        refusal = self._refusal(job)
        if refusal is not None:
            log.info("refused job %s/%s of user %s: %s", job.chat_id, job.message_id, job.user_id,
                     refusal.split(".")[0])
            self._reply(job.chat_id, refusal, job.message_id)
            return
        self._reserved[job.user_id] = self._reserved.get(job.user_id, 0.0) + (job.media.duration or 0)
        self._last_admitted[job.user_id] = self._clock()
        self._dispatcher.tell(JobAdmitted(job))

    def _refusal(self, job: Job) -> str | None:
        """The reply that refuses this job, or None when it may go ahead."""
        rules, media = self._rules, job.media
        if media.duration is not None and media.duration > rules.max_duration_seconds:
            return replies.too_long(media.duration, rules.max_duration_seconds)
        if media.file_size is not None and media.file_size > rules.max_file_bytes:
            return replies.too_big(media.file_size, rules.max_file_mb)
        wait = self._rate_wait(job.user_id)
        if wait > 0:
            return replies.rate_limited(wait)
        used = self._used(job.user_id)
        if used + (media.duration or 0) > rules.daily_seconds or used >= rules.daily_seconds:
            return replies.quota_exceeded(rules.daily_seconds - used, rules.daily_seconds, media.duration,
                                          self._now())
        return None

    def _rate_wait(self, user_id: int) -> float:
        last = self._last_admitted.get(user_id)
        if last is None:
            return 0.0
        return max(0.0, last + self._rules.rate_limit_seconds - self._clock())

    def _used(self, user_id: int) -> float:
        return self._charged_map().get(user_id, 0.0) + self._reserved.get(user_id, 0.0)

    def _charge(self, user_id: int, seconds: float) -> None:
        charged = self._charged_map()
        charged[user_id] = charged.get(user_id, 0.0) + seconds

    def _release(self, job: Job) -> None:
        left = self._reserved.get(job.user_id, 0.0) - (job.media.duration or 0)
        if left > 0:
            self._reserved[job.user_id] = left
        else:
            self._reserved.pop(job.user_id, None)

    def _charged_map(self) -> dict[int, float]:
        # Usage is kept per day: the first look after midnight starts an empty day, no reset job.
        today = self._today()
        if today != self._day:
            self._day, self._charged = today, {}
        return self._charged

    def _today(self) -> date:
        return self._now().date()

    def _answer_command(self, command: CommandReceived) -> None:
        rules = self._rules
        match command.command:
            case "start" | "help":
                text = replies.help_text(rules.max_duration_seconds, rules.max_file_mb, rules.daily_seconds,
                                         rules.rate_limit_seconds)
            case "usage":
                text = replies.usage(self._charged_map().get(command.user_id, 0.0), rules.daily_seconds,
                                     self._now())
            case _:
                text = replies.UNKNOWN_COMMAND
        self._reply(command.chat_id, text, command.message_id)

    def _reply(self, chat_id: int, text: str, reply_to: int) -> None:
        self._sender.tell(SendReply(chat_id, text, reply_to))
