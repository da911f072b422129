"""Admission and charging, the QuotaActor's half that decides who gets transcribed, from memory alone.

A job is admitted only if it fits the limits, the user's rate window and the day's quota. It goes with its
share of what is left of its user's day (`Job.max_seconds`: decoding stops there), held until it is settled,
and a share is never more than what the user's other unsettled jobs leave; so whatever lengths senders report,
the shares of the jobs under way add up to no more than what is left, and the decoded seconds, charged only
once the transcript was delivered and never more than the share, cannot overspend the day.

A recording transcribed before, as a job asks for it (a forwarded voice: see core.memory), is answered from memory:
with a model to remember by (`transcribed_by`), a job that passes the limits and its rate window is first looked up
in the StorageActor (RecallTranscript), and only one that is not found is held to the quota and goes to the
workers. One that is found goes to the Dispatcher with its kept transcript (AnswerFromMemory), costs nothing unless
`QuotaRules.charge_repeats`, which charges it, and holds its share, like a transcription."""
import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as datetime_time

from actors.api import is_api_job
from actors.messages import (
    AnswerFromMemory,
    JobAdmitted,
    JobClosed,
    JobFailed,
    RecallOverdue,
    RecallTranscript,
    RecordUsage,
    RequestRefused,
    TranscriptReady,
)
from actors.users import QuotaRules, ReplyAllowance, User, UserBook, is_channel
from voicebot.core.business import headed
from voicebot.core.calls import ChannelCaption, Destination, GuestChat, SendText
from voicebot.core.domain import FailureReason, Job, JobKey, PendingJob, Remembered, Task
from voicebot.core.memory import memory_key
from voicebot.core.ports import Mailbox, Metrics
from voicebot.core.replies import Languages, Wording

log = logging.getLogger(__name__)

SETTLED_REMEMBERED = 10_000   # far more jobs than can be under way at once
# A job with a reported length may decode that and a little more: a tenth more, and at least 5 s. Telegram's
# lengths are whole seconds and apps read them from a file's header, which may estimate (some MP3s); a sender
# may report any length, but a short one only shrinks its own share, never another job's.
SLACK_SECONDS = 5.0
SLACK_SHARE = 0.1
# A business connection's recordings under way at once, at most: its strangers have no rate window, and the
# owner's quota (or none, for an unlimited owner) would let them hold all of the queue.
MAX_UNSETTLED_PER_CONNECTION = 5
RECALL_DEADLINE_SECONDS = 10.0   # a look-up not answered by then is taken for a miss: the job is transcribed


@dataclass(slots=True)
class _Recall:
    """A job admitted but for the quota, whose recording is being looked up in memory."""
    job: Job
    status_message_id: int | None
    deadline: threading.Timer | None


class Admission:
    def __init__(self, *, rules: QuotaRules, users: UserBook, allowance: ReplyAllowance, dispatcher: Mailbox,
                 sender: Mailbox, storage: Mailbox, clock: Callable[[], float], metrics: Metrics,
                 languages: Languages, quota: Mailbox | None = None, transcribed_by: str | None = None,
                 remind: Callable[[object, float], threading.Timer] | None = None,
                 offer: Callable[[Job], None] | None = None):
        """`quota`: where the StorageActor's answers go; `transcribed_by`: the model transcripts are made with
        (whisper.model), which answers from memory must have been made with too (None: none are);
        `remind(message, seconds)`: tells the QuotaActor `message` later; `offer(job)`: what a user refused for
        the day's quota is offered (minutes to buy: actors/billing.py)."""
        self._offer = offer
        self._rules = rules
        self._users = users
        self._allowance = allowance
        self._dispatcher = dispatcher
        self._sender = sender
        self._storage = storage
        self._clock = clock
        self._metrics = metrics
        self._languages = languages
        # What each admitted, unsettled job holds of its user's day (None: nothing, its user had no limit).
        self._holds: dict[JobKey, float | None] = {}
        self._settled: OrderedDict[JobKey, None] = OrderedDict()   # the latest settled jobs, not settled twice
        self._quota = quota
        self._transcribed_by = transcribed_by
        self._remind = remind
        self._recalls: dict[JobKey, _Recall] = {}   # jobs looked up in memory, not answered by the StorageActor yet

    def admit(self, job: Job, resumed: PendingJob | None = None, pressed: bool = False) -> None:
        """A job resumed after a restart was admitted before: the rate window does not apply again. A `pressed`
        one (English, under a transcript) has a rate window of its own, apart from recordings', which its press
        took already (press_refusal). A job that may be answered from memory is held to the quota only once it
        is not (recalled)."""
        user = self._users[job.user_id]
        if job.key in self._recalls:
            log.info("job %s/%s is being looked up already; not twice", job.chat_id, job.message_id)
            return
        admitted = self._as_admitted(job, user, resumed)
        key = self._memory_key(admitted)
        # A channel has no rate window: its posts come from its admins, and its own allowance bounds them. Nor
        # has a business chat's recording: its owner did not send it, and the window is theirs (actors/business.py).
        unwindowed = resumed or pressed or is_channel(job.user_id) or job.business is not None
        refusal = (None if resumed else self._crowded(job)) or self._refusal(
            job, user, None if unwindowed else user.last_admitted, quota=key is None)
        if refusal is not None:
            self._refuse(job, refusal)
            return
        if resumed is None:
            # A new job for a key settled before (/transcribe again, English pressed again): settled anew.
            self._settled.pop(job.key, None)
        if not (pressed or is_channel(job.user_id) or job.business is not None):   # nor opens their window
            user.last_admitted = self._clock()
        status_message_id = resumed.status_message_id if resumed else None
        if key is None:
            self._go_ahead(admitted, status_message_id)
            return
        deadline = self._remind(RecallOverdue(job.key), RECALL_DEADLINE_SECONDS) if self._remind else None
        self._recalls[job.key] = _Recall(admitted, status_message_id, deadline)
        self._storage.tell(RecallTranscript(admitted, key, self._quota))

    def admit_request(self, job: Job) -> None:
        """An API request's job (core.api), as its program asked for it (its language, task and prompt), held to
        the limits and its key's quota but to no rate window: its requests are bounded by that quota and by the
        queue. Never answered from memory: an upload has no Telegram file id to know a copy by."""
        refusal = self._refusal(job, self._users[job.user_id], None)
        if refusal is not None:
            self._refuse(job, refusal)
            return
        self._go_ahead(job, None)

    def _crowded(self, job: Job) -> tuple[str, str] | None:
        """("busy", reply) when a business chat's recording would take more of the queue than its connection
        may hold: strangers writing to an owner have no rate window, and must not fill everyone's queue."""
        if job.business is None:
            return None
        unsettled = sum(1 for key in (*self._holds, *self._recalls) if key.place == job.key.place)
        if unsettled >= MAX_UNSETTLED_PER_CONNECTION and job.key not in self._holds:
            return FailureReason.BUSY.value, self._words(job).BUSY
        return None

    def recalled(self, job: Job, remembered: Remembered | None) -> None:
        """The StorageActor looked the job's recording up: found, the job is answered with the transcript kept
        of it (charged only with charge_repeats, and then refused by the quota as a transcription is); not found,
        it is held to the quota and transcribed."""
        recall = self._recalls.pop(job.key, None)
        if recall is None:
            return   # overdue, and transcribed meanwhile
        if recall.deadline is not None:
            recall.deadline.cancel()
        job = recall.job
        if remembered is None:
            refusal = self._over_quota(job, job.media.duration)
            if refusal is not None:
                self._refuse(job, refusal)
                return
            self._go_ahead(job, recall.status_message_id)
            return
        transcript = dataclasses.replace(remembered.transcript, processing_seconds=0.0)   # no model ran for it
        share = None
        if self._rules.charge_repeats and not self._users.is_unlimited(job.user_id):
            refusal = self._over_quota(job, transcript.audio_seconds)
            if refusal is not None:
                self._refuse(job, refusal)
                return
            share = self._holds.get(job.key) or transcript.audio_seconds
        if remembered.sender_id is not None:
            # A copy of their recording: the /forget of whoever sent it first reaches this answer too.
            job = dataclasses.replace(job, media=dataclasses.replace(job.media, sender_id=remembered.sender_id))
        job = dataclasses.replace(job, max_seconds=share)
        self._hold(job, share)
        log.info("job %s/%s user %s: recording transcribed before; answered from memory", job.chat_id,
                 job.message_id, job.user_id)
        self._dispatcher.tell(AnswerFromMemory(job, transcript, recall.status_message_id))

    def recall_overdue(self, key: JobKey) -> None:
        recall = self._recalls.get(key)
        if recall is not None:
            log.warning("job %s/%s: no answer from memory within %.0f s; transcribing it", key.chat_id,
                        key.message_id, RECALL_DEADLINE_SECONDS)
            recall.deadline = None
            self.recalled(recall.job, None)

    def _as_admitted(self, job: Job, user: User, resumed: PendingJob | None) -> Job:
        """The job as its user's settings make it (the task, the language pinned, timestamps), without its share."""
        task = Task.TRANSLATE if user.settings.translate else job.task
        # A translation (English, pressed) is told the recording's language, not what the presser pinned.
        language = job.language if job.task is Task.TRANSLATE else user.settings.language
        return dataclasses.replace(job, language=language, timestamps=user.settings.timestamps, task=task,
                                   attempt=resumed.attempts + 1 if resumed else job.attempt)

    def _go_ahead(self, job: Job, status_message_id: int | None) -> None:
        """To the workers, with its share of the day."""
        share = self._share(job)
        self._hold(job, share)
        self._dispatcher.tell(JobAdmitted(dataclasses.replace(job, max_seconds=share), status_message_id))

    def _hold(self, job: Job, share: float | None) -> None:
        if self._holds.get(job.key) is None:
            self._holds[job.key] = share
            self._users[job.user_id].reserved += share or 0.0

    def _memory_key(self, job: Job) -> str | None:
        """What the job's transcript is kept under and recalled by; None: it is never answered from memory."""
        return None if self._transcribed_by is None else memory_key(job, self._transcribed_by)

    def under_way(self, key: JobKey) -> bool:
        """Whether the job `key` was admitted and is not settled yet: its answer may be out already, but what
        it cost and said is not recorded."""
        return key in self._holds

    def press_refusal(self, job: Job) -> str | None:
        """Why a press that would start `job` is refused (limits, its rate window, the quota), in words short
        enough for a notice; None: it may go ahead."""
        user = self._users[job.user_id]
        refusal = self._refusal(job, user, user.last_pressed)
        if refusal is None:
            user.last_pressed = self._clock()   # the window is this press's from now: a second one waits
            return None
        self._metrics.job_refused(refusal[0])
        return refusal[1]

    def refuse_unstorable(self, job: Job) -> None:
        """The database could not take the recording: nothing was stored, nothing is charged."""
        self._refuse_with(job, self._words(job).NOT_STORED)

    def _refuse(self, job: Job, refusal: tuple[str, str]) -> None:
        reason, text = refusal
        log.info("refused job %s/%s of user %s: %s", job.chat_id, job.message_id, job.user_id, reason)
        self._metrics.job_refused(reason)
        if is_api_job(job.key):   # its program waits on the answer, every time: no allowance, nothing stored
            self._sender.tell(RequestRefused(job.key, reason, text, self._seconds_to_day_end() if reason == "quota"
                                             else None))
            return
        told = self._refuse_with(job, text)
        # Only under the refusal itself: a flood of recordings over quota is not a flood of invoices.
        if reason == "quota" and told and self._offer is not None:   # the offer knows who may buy
            self._offer(job)

    def _refuse_with(self, job: Job, text: str) -> bool:
        """The job ends before any work, with `text` said to the user, as often as their allowance lets; whether
        it was (not a "slow down" instead, nor silence)."""
        # A channel's refusal is a line under its own post, not a message that could flood anyone.
        allowed = True if is_channel(job.user_id) else self._allowance.take(job.user_id)
        if allowed is not None:
            text = text if allowed else self._words(job).SLOW_DOWN
            self._sender.tell(SendText(_refused_to(job), headed(job, self._words(job), text) if job.business else text))
        self._storage.tell(JobClosed(job.key))
        return bool(allowed)

    def _words(self, job: Job) -> Wording:
        return self._languages[job.interface_language]

    def settle(self, outcome: TranscriptReady | JobFailed, delivered: bool) -> None:
        """The user has the answer: charge a transcript, record either; the job is done then.
        An answer that could not be delivered is not recorded: the job is resumed at next start."""
        job = outcome.job
        if job.key in self._settled:
            log.info("job %s/%s is settled already; not charged or recorded twice", job.chat_id, job.message_id)
            return
        user = self._release(job)
        if not delivered:
            log.warning("job %s/%s: the answer could not be delivered; it stays for the next start",
                        job.chat_id, job.message_id)
            return
        self._remember_settled(job.key)
        match outcome:
            case TranscriptReady(_, transcript, recalled=True) if not self._rules.charge_repeats:
                # Kept for this job too: its buttons, and the next copy of the recording, find it.
                self._storage.tell(RecordUsage(job, self._users.today(), "done", 0.0, transcript,
                                               self._memory_key(job)))
            case TranscriptReady(_, transcript):
                # Never more than was left when it was admitted, whatever its length turned out to be.
                charged = transcript.audio_seconds if job.max_seconds is None else min(transcript.audio_seconds,
                                                                                       job.max_seconds)
                bought = self._bought_part(job, charged)
                user.charged += charged
                user.bought -= bought
                self._storage.tell(RecordUsage(job, self._users.today(), "done", charged, transcript,
                                               self._memory_key(job), bought_seconds=bought))
            case JobFailed(_, reason):
                self._storage.tell(RecordUsage(job, self._users.today(), reason.value))

    def _bought_part(self, job: Job, charged: float) -> float:
        """What of `charged` seconds comes from the user's bought balance: the day's free seconds go first, and
        an unlimited user never touches their balance."""
        if self._users.is_unlimited(job.user_id):
            return 0.0
        return min(max(0.0, charged - self._users.free_left(job.user_id)), self._users.bought(job.user_id))

    def refused_as_busy(self, job: Job) -> None:
        """The Dispatcher's backlog was full: the job never started, and is recorded as such."""
        self._release(job)
        self._storage.tell(RecordUsage(job, self._users.today(), FailureReason.BUSY.value))

    def _refusal(self, job: Job, user: User, window_opened: float | None,
                 quota: bool = True) -> tuple[str, str] | None:
        """(reason, reply) refusing this job, or None when it may go ahead; `window_opened`: when the rate window
        that applies opened (None: none applies); `quota`: whether the day's quota is checked now."""
        rules, media, words = self._rules, job.media, self._words(job)
        if media.duration is not None and media.duration > rules.max_duration_seconds:
            return "too_long", words.too_long(media.duration, rules.max_duration_seconds)
        if media.file_size is not None and media.file_size > rules.max_file_bytes:
            return "too_big", words.too_big(media.file_size, rules.max_file_mb)
        if window_opened is not None:
            wait = window_opened + rules.rate_limit_seconds - self._clock()
            if wait > 0:
                return "rate_limited", words.rate_limited(wait)
        return self._over_quota(job, media.duration) if quota else None

    def _over_quota(self, job: Job, length: float | None) -> tuple[str, str] | None:
        """("quota", reply) when a recording of `length` seconds (None: not known) does not fit in what is left of
        the user's day; None when it does, or they have no limit."""
        if self._users.is_unlimited(job.user_id):
            return None
        daily, left = self._users.daily_seconds(job.user_id), self._seconds_left(job)
        if (length or 0) > left or left <= 0:
            return "quota", self._words(job).quota_exceeded(left, daily, length, self._users.local_now(),
                                                            channel=is_channel(job.user_id))
        return None

    def _seconds_to_day_end(self) -> float:
        """Until the quota's day ends (its midnight, in quota.timezone), when a day's quota is whole again."""
        now = self._users.local_now()
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime_time(), now.tzinfo)
        return midnight.timestamp() - now.timestamp()   # a day of a clock change is not 24 h long

    def _seconds_left(self, job: Job) -> float:
        """What is left for `job`: of the day's free seconds and then of the bought balance, neither charged nor
        held by the user's other unsettled jobs."""
        return (self._users.free_left(job.user_id) + self._users.bought(job.user_id) - self._users[job.user_id].reserved
                + (self._holds.get(job.key) or 0.0))

    def _share(self, job: Job) -> float | None:
        """The most `job` may decode, which it holds until it is settled (None: no limit but the global one). A
        job re-admitted while it is still under way (its sender restarted) keeps the share it holds: its first
        run may still be using it. Else its reported length and some slack, within what is left; all that is left
        when it reports none."""
        if self._users.is_unlimited(job.user_id):
            return None
        held = self._holds.get(job.key)
        if held is not None:
            return held
        left = self._seconds_left(job)
        if job.media.duration is None:
            return left
        return min(left, job.media.duration + max(SLACK_SECONDS, job.media.duration * SLACK_SHARE))

    def _release(self, job: Job) -> User:
        user = self._users[job.user_id]
        user.reserved = max(0.0, user.reserved - (self._holds.pop(job.key, None) or 0.0))
        return user

    def _remember_settled(self, key: JobKey) -> None:
        self._settled[key] = None
        if len(self._settled) > SETTLED_REMEMBERED:
            self._settled.popitem(last=False)


def _refused_to(job: Job) -> Destination | GuestChat | ChannelCaption:
    """Where a refusal goes: where the job is answered, but a business chat's goes to its owner, never to whoever
    wrote to them."""
    if job.business is not None:
        return Destination(job.business.owner_chat_id)
    return job.destination
