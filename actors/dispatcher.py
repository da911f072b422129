"""Dispatcher: owns the bounded list of pending jobs and hands each to an idle WhisperActor."""
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from actors.api import TELEGRAM_DOOR, door_of, is_api_job
from actors.base import SupervisedActor
from actors.doorqueue import DoorQueue
from actors.messages import (
    AnswerFromMemory,
    DeliverResult,
    HelperLost,
    JobAdmitted,
    JobFailed,
    JobStarted,
    PostStatus,
    RefusedAsBusy,
    RequestRefused,
    Stopping,
    Transcribe,
    TranscriptReady,
    UpdateStatus,
    WorkerGone,
    WorkerLost,
    WorkerReady,
)
from actors.pool import WorkerPool
from voicebot.core.business import answered_in_chat, answered_to_owner, headed
from voicebot.core.buttons import ButtonData, keyboard
from voicebot.core.calls import Destination, Keyboard, SendText
from voicebot.core.domain import BusinessConnection, FailureReason, Job, JobKey, Transcript
from voicebot.core.guests import deep_link, is_guest
from voicebot.core.ports import NO_METRICS, Mailbox, Metrics
from voicebot.core.replies import Languages, Wording

log = logging.getLogger(__name__)

# A job under way when its process died is no evidence against its recording: it runs again, in quarantine (a
# process of its own, which gives a recording that kills it up after whisper.quarantine_tries). Only a job
# started this many times and never answered, whatever killed its processes, is given up here.
MAX_STARTS = 10


SPLIT_AFTER_SECONDS = 60   # a recording longer than this, on an idle bot, is split over the idle workers
BUSY_RETRY_SECONDS = 30.0   # when an API request refused as busy is told to try again


@dataclass(frozen=True, slots=True)
class HelpingWith:
    """A worker's work while it transcribes a piece of the job with this key, for the worker that split it."""
    key: JobKey


Assignment = Job | HelpingWith   # what a worker in the pool is busy with: a job of its own, or another's piece


class Dispatcher(SupervisedActor):
    """Workers announce themselves with WorkerReady once their model is loaded, and again by
    returning a result; a job waits in `pending` until one is idle. Past `max_pending` waiting
    jobs of its door, a new one is refused at once with a polite "busy" reply.

    `doors`: what jobs come in by, "telegram" and, with the transcription API served, "api". Waiting jobs are
    kept per door and taken in turn (actors/doorqueue.py): while both doors have jobs waiting they alternate, so
    a burst of either door waits behind at most one job of the other per job taken of its own, and neither
    door's traffic fills the other's places in the queue.

    `workers` are the local WhisperActors by name. With a broker, `remote` (RemoteWorkers) reaches
    every other worker slot it announces; the worker nodes then count each job's attempts and give
    up on it themselves. An outcome is matched to its job by the job's key, so a second outcome of
    the same job (the broker ran it twice) is dropped: one answer per job."""

    def __init__(self, *, workers: dict[str, Mailbox], quota: Mailbox, sender: Mailbox, storage: Mailbox,
                 max_pending: int, max_duration_seconds: int, max_file_mb: int, file_threshold_chars: int = 8000,
                 supervisor: Mailbox | None = None, name: str = "dispatcher", metrics: Metrics = NO_METRICS,
                 remote: Mailbox | None = None, clock: Callable[[], float] = time.monotonic,
                 languages: Languages | None = None, buttons: ButtonData | None = None, bot_username: str = "",
                 keeps_transcripts: bool = True, doors: tuple[str, ...] = (TELEGRAM_DOOR,)):
        """`buttons`: what the buttons under a finished transcript carry (None: no buttons). `bot_username`: the
        bot's, for the deep link a guest post cut short gives to the whole text; without kept transcripts
        (`keeps_transcripts`) no link can fetch it later, and the whole text goes to the caller's chat at once."""
        super().__init__(name, supervisor)
        self._bot_username = bot_username
        self._keeps_transcripts = keeps_transcripts
        self._buttons = buttons
        self._workers = workers
        self._remote = remote
        self._pool: WorkerPool[Assignment] = WorkerPool()
        self._quota = quota
        self._sender = sender
        self._storage = storage
        self._limits = (max_duration_seconds, max_file_mb)
        self._file_threshold_chars = file_threshold_chars
        self._pending = DoorQueue(doors, door_of, max_pending)
        self._queued_status: set[JobKey] = set()   # jobs whose status still says "in queue"
        self._stopping = False   # then waiting jobs stay waiting: stored, they resume at next start
        self._metrics = metrics
        self._clock = clock
        self._languages = languages or Languages()
        self._admitted_at: dict[JobKey, float] = {}   # for the time each user waits for the answer
        self._crashed_workers: set[JobKey] = set()   # jobs whose WhisperActor died holding them: retried once
        self._ended: set[str] = set()   # business connections disabled or ended while their jobs were under way

    def handle(self, message):
        match message:
            case JobAdmitted(job, status_message_id):
                self._enqueue(job, status_message_id)
            case AnswerFromMemory(job, transcript, status_message_id):
                self._answer_from_memory(job, transcript, status_message_id)
            case WorkerReady(worker) if worker in self._workers or self._remote is not None:
                self._metrics.worker_ready(worker, True)
                self._pool.add(worker)
            case TranscriptReady() | JobFailed():
                self._outcome(message)
            case WorkerLost(worker):
                self._lost(worker)
            case WorkerGone(worker):
                # Its job, if any, stays out: the broker gives it to another worker, whose outcome ends it.
                self._metrics.worker_ready(worker, False)
                self._pool.gone(worker)
            case BusinessConnection(connection_id, is_enabled=False):
                self._disconnected(connection_id)
            case BusinessConnection(connection_id):
                self._ended.discard(connection_id)
            case Stopping():
                self._stopping = True
                for worker in self._pool.ready:
                    self._metrics.worker_ready(worker, False)
            case _:
                return NotImplemented
        self._dispatch()
        self._metrics.queue_changed(len(self._pending), self._pending.capacity)

    def _enqueue(self, job: Job, status_message_id: int | None = None) -> None:
        if self._knows(job.key):
            # Resumed after a restart of the sender or of this actor while it was waiting or running: once only.
            log.info("job %s/%s is waiting or running already; not queued twice", job.chat_id, job.message_id)
            self._retarget_status(job, status_message_id)
            return
        if self._pending.full_for(job):
            log.warning("backlog full (%d waiting): refused job %s/%s", len(self._pending), job.chat_id,
                        job.message_id)
            self._sender.tell(self._busy(job))
            self._metrics.job_finished(FailureReason.BUSY.value)
            self._quota.tell(RefusedAsBusy(job))
            return
        self._admitted_at[job.key] = self._clock()
        # The status goes out at once, busy or not: the user knows it arrived and where it stands.
        # A reply in an owner's business chat says "Processing…" only: the bot's queue is not their customer's.
        if (self._pending or not self._pool.has_idle) and not answered_in_chat(job):
            position = self._words(job).queued(self._pending.position_of_new(job),
                                               workers_online=bool(self._pool.ready))
            self._sender.tell(PostStatus(job.key, position, job.destination, status_message_id))
            if status_message_id is None:   # a resumed job's message is left as it is until its result
                self._queued_status.add(job.key)
        else:
            self._sender.tell(PostStatus(job.key, self._words(job).PROCESSING, job.destination, status_message_id))
        if self._remote is None and job.attempt > MAX_STARTS:
            log.error("job %s/%s was started %d times without an answer; giving up on it", job.chat_id,
                      job.message_id, job.attempt - 1)
            self._fail(job, FailureReason.INTERNAL)
            return
        self._pending.append(job)

    def _answer_from_memory(self, job: Job, transcript: Transcript, status_message_id: int | None) -> None:
        """The recording was transcribed before, as this job asks: its kept transcript is the answer, with the
        same buttons, and no worker is needed. Its status goes first all the same (at once: it waits for
        nothing), so that a job resumed after a crash edits the answer into that message rather than answering
        twice."""
        if self._knows(job.key):
            # Resumed while a transcription of it runs here (the sender was restarted): that one answers it.
            log.info("job %s/%s is waiting or running already; not answered from memory", job.chat_id,
                     job.message_id)
            self._retarget_status(job, status_message_id)
            return
        self._admitted_at[job.key] = self._clock()
        self._sender.tell(PostStatus(job.key, self._words(job).PROCESSING, job.destination, status_message_id))
        self._metrics.answered_from_memory()
        self._deliver(TranscriptReady(job, transcript, recalled=True))

    def _retarget_status(self, job: Job, status_message_id: int | str | None) -> None:
        """A restarted sender knows a stored status message by its id alone, as if it were in the job's own chat;
        the job's destination says where it really is (the owner's chat, a guest post, a channel's caption), so
        that the result goes there. Nothing is posted: the message exists."""
        if status_message_id is not None:
            self._sender.tell(PostStatus(job.key, self._words(job).PROCESSING, job.destination, status_message_id))

    def _dispatch(self) -> None:
        while self._pending and self._pool.has_idle and not self._stopping:
            job = self._pending.popleft()
            worker = self._pool.assign(job)
            waited = self._clock() - self._admitted_at.get(job.key, self._clock())
            self._metrics.job_waited(waited, door_of(job))
            log.info("job %s/%s (%s) goes to %s after %.1f s in the queue", job.chat_id, job.message_id, door_of(job),
                     worker, waited)
            if job.key in self._queued_status:
                self._queued_status.remove(job.key)
                self._sender.tell(UpdateStatus(job.key, self._words(job).PROCESSING))
            if worker in self._workers:
                self._storage.tell(JobStarted(job.key))   # a worker node counts the attempts it starts itself
                self._workers[worker].tell(Transcribe(job, self._helpers_for(job), quarantined=job.suspected))
            else:
                self._remote.tell(Transcribe(job))

    def _helpers_for(self, job: Job) -> tuple[tuple[str, Mailbox], ...]:
        """The idle workers, reserved to help with a long recording when nothing else waits (it is split over
        them); none for a short one, or on a busy bot, where each job keeps one worker."""
        if self._pending or job.suspected or (job.media.duration or 0) <= SPLIT_AFTER_SECONDS:
            return ()
        helpers = []
        while self._pool.has_idle:
            name = self._pool.assign(HelpingWith(job.key))
            helpers.append((name, self._workers[name]))
        return tuple(helpers)

    def _release_helpers(self, key: JobKey) -> None:
        while self._pool.finished_where(lambda work: isinstance(work, HelpingWith) and work.key == key) is not None:
            pass

    def _knows(self, key: JobKey) -> bool:
        return any(job.key == key for job in self._pending) or any(job.key == key for _, job in self._pool.running())

    def _outcome(self, outcome: TranscriptReady | JobFailed) -> None:
        own = self._finished(outcome.job)
        if own is None:
            log.info("job %s/%s: a second outcome arrived (the broker delivered it twice); dropped",
                     outcome.job.chat_id, outcome.job.message_id)
            return
        # Answered as the job was admitted here: a worker node's copy lacks what only this node knows (the
        # language its user is answered in, the forum topic).
        match dataclasses.replace(outcome, job=own):
            case TranscriptReady(job, transcript) as ready if transcript.text.strip():
                self._deliver(ready)
            case TranscriptReady(job):
                # Nothing was heard (noise, silence): a plain reply, not charged; Telegram would refuse an
                # empty message, and the job would never be answered.
                self._fail(job, FailureReason.NO_SPEECH)
            case JobFailed(job, reason):
                self._fail(job, reason)

    def _deliver(self, ready: TranscriptReady) -> None:
        job, transcript, words = ready.job, ready.transcript, self._words(ready.job)
        if job.business is not None and job.business.connection_id in self._ended:
            self._not_transcribed(job)
            return
        self._metrics.job_finished("done")
        self._answered(job)
        text = words.transcript(transcript, job.language, job.timestamps)
        text = headed(job, words, text) if answered_to_owner(job) else text
        as_file = len(text) > self._file_threshold_chars
        self._sender.tell(DeliverResult(job.key, text, as_file, ready, self._quota,
                                        words.TRANSCRIPT_FILE_CAPTION if as_file else "",
                                        words.BUSINESS_NOT_TRANSCRIBED if answered_in_chat(job)
                                        else words.failure(FailureReason.INTERNAL, *self._limits),
                                        self._keyboard(job, transcript, words), *self._rest_elsewhere(job, words)))

    def _rest_elsewhere(self, job: Job, words: Wording) -> tuple[str, Destination | None]:
        """What a guest post cut short says of the whole text, and where that goes too (None: the link fetches it)."""
        if not is_guest(job.key):
            return "", None
        if self._keeps_transcripts:
            return words.guest_rest(deep_link(self._bot_username, job.key)), None
        return words.guest_rest(f"https://t.me/{self._bot_username}"), Destination(job.user_id)

    def _finished(self, job: Job) -> Job | None:
        """Frees the worker the job was given to, and returns the job as it was given; None if the job is
        neither out nor waiting (answered already). A waiting one is a job resumed after this actor's restart
        whose first run went on: that run's outcome answers it."""
        running = self._pool.finished_where(lambda work: isinstance(work, Job) and work.key == job.key)
        if running is not None:
            self._release_helpers(job.key)
            return running
        waiting = next((pending for pending in self._pending if pending.key == job.key), None)
        if waiting is None:
            return None
        self._pending.remove(waiting)
        self._queued_status.discard(job.key)
        return waiting

    def _lost(self, worker: str) -> None:
        self._metrics.worker_ready(worker, False)
        job = self._pool.lost(worker)
        if isinstance(job, HelpingWith):
            # Its piece is done by the worker that split the recording, which keeps every piece.
            lead = next((name for name, work in self._pool.running() if isinstance(work, Job) and work.key == job.key),
                        None)
            if lead is not None:
                self._workers[lead].tell(HelperLost(job.key, worker))
            return
        if job is None:
            return
        self._release_helpers(job.key)
        if job.key not in self._crashed_workers:
            log.warning("%s died holding job %s/%s; retrying it in quarantine", worker, job.chat_id, job.message_id)
            self._crashed_workers.add(job.key)
            self._pending.appendleft(dataclasses.replace(job, attempt=job.attempt + 1))
        else:
            log.error("%s died holding job %s/%s again; giving up on it", worker, job.chat_id, job.message_id)
            self._fail(job, FailureReason.INTERNAL)

    def _keyboard(self, job: Job, transcript: Transcript, words: Wording) -> Keyboard | None:
        # A business job's buttons would be pressed where no job of the bot's own chats is: none.
        if self._buttons is None or job.business is not None:
            return None
        return keyboard(self._buttons, job.key, job.task, transcript, job.timestamps, words.BUTTONS)

    def _words(self, job: Job) -> Wording:
        return self._languages[job.interface_language]

    def _answered(self, job: Job) -> None:
        self._crashed_workers.discard(job.key)
        admitted_at = self._admitted_at.pop(job.key, None)
        if admitted_at is not None:
            self._metrics.job_answered(self._clock() - admitted_at, door_of(job))

    def _fail(self, job: Job, reason: FailureReason) -> None:
        self._metrics.job_finished(reason.value)
        self._answered(job)
        self._queued_status.discard(job.key)
        words = self._words(job)
        text = words.failure(reason, *self._limits)
        if answered_in_chat(job):
            # Why is the owner's to know (it may be their quota); their chat's "Processing…" just says it failed.
            self._sender.tell(self._notice(job, text))
            text = words.BUSINESS_NOT_TRANSCRIBED
        text = headed(job, words, text) if answered_to_owner(job) else text
        # A reply refused (its connection disabled meanwhile) ends the job all the same, never to be resumed.
        self._sender.tell(DeliverResult(job.key, text, outcome=JobFailed(job, reason), report_to=self._quota,
                                        refused_text=text if answered_in_chat(job) else ""))

    def _busy(self, job: Job) -> SendText | RequestRefused:
        """The refusal of a job the backlog has no place for: an API request's is its answer, when to try again."""
        if is_api_job(job.key):
            return RequestRefused(job.key, FailureReason.BUSY.value, self._words(job).BUSY, BUSY_RETRY_SECONDS)
        return self._notice(job, self._words(job).BUSY)

    def _notice(self, job: Job, text: str) -> SendText:
        """`text` about a job, said where it is answered; but a business chat's to its owner, headed."""
        if job.business is None:
            return SendText(job.destination, text)
        return SendText(Destination(job.business.owner_chat_id), headed(job, self._words(job), text))

    def _disconnected(self, connection_id: str) -> None:
        """Its owner disabled or ended a business connection: it stops at once. Its jobs waiting end now, those
        running once their worker is done (_deliver); no transcript goes out, nothing is charged."""
        self._ended.add(connection_id)
        for job in [job for job in self._pending if job.business and job.business.connection_id == connection_id]:
            self._pending.remove(job)
            self._queued_status.discard(job.key)
            self._not_transcribed(job)

    def _not_transcribed(self, job: Job) -> None:
        """A job of an ended business connection: its status says so, to the owner (a reply's is not edited: no
        call goes out on a disabled connection), and it ends as failed."""
        log.info("job %s/%s: its business connection was disabled; not answered", job.chat_id, job.message_id)
        self._metrics.job_finished(FailureReason.INTERNAL.value)
        self._answered(job)
        words = self._words(job)
        text = words.BUSINESS_DISCONNECTED
        text = headed(job, words, text) if answered_to_owner(job) else text
        self._sender.tell(DeliverResult(job.key, text, outcome=JobFailed(job, FailureReason.INTERNAL),
                                        report_to=self._quota, refused_text=text))
