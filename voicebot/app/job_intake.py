"""A worker node's intake: each job the broker delivers is counted in the shared database first, then run
on the node's WhisperActors. A job started more than broker.max_attempts times (it killed its workers each
time) is answered with a failure and moved to the dead-letter queue; a job answered already is skipped."""
import concurrent.futures
import dataclasses
import logging

from actors.messages import JobFailed, RunJob
from actors.node import WorkerDied
from actors.wire import event_to_wire, job_from_wire
from voicebot.adapters.storage import Storage
from voicebot.core.domain import FailureReason, Job
from voicebot.core.errors import BrokerError, DeadLetter, StorageError, TryLater
from voicebot.core.ports import BrokerLink, Mailbox

log = logging.getLogger(__name__)


class JobIntake:
    """Takes each job the broker delivers (on a broker thread): counts the attempt, then runs the
    job on the node's WhisperActors and returns once its outcome is sent, which acknowledges it."""

    def __init__(self, storage: Storage, link: BrokerLink, node: Mailbox, max_attempts: int, job_seconds: float,
                 node_name: str):
        self._storage = storage
        self._link = link
        self._node = node
        self._max_attempts = max_attempts
        self._job_seconds = job_seconds
        self._node_name = node_name

    def take(self, payload: dict) -> None:
        try:
            job = job_from_wire(payload)
        except ValueError as error:
            log.error("dead-lettered a message that is not a job: %s", error)
            raise DeadLetter(str(error)) from None
        attempts = self._count_attempt(job)
        if attempts is None:
            log.info("job %s/%s is answered already; skipped", job.chat_id, job.message_id)
        elif attempts > self._max_attempts:
            self._give_up(job, attempts)
        else:
            self._run(dataclasses.replace(job, attempt=attempts))   # started before here: it runs in quarantine

    def _count_attempt(self, job: Job) -> int | None:
        try:
            return self._storage.job_started(job.key)
        except StorageError as error:
            raise TryLater(f"database: {error}") from None

    def _give_up(self, job: Job, attempts: int) -> None:
        log.error("job %s/%s was started %d times and its workers died each time: dead-lettered",
                  job.chat_id, job.message_id, attempts - 1)
        try:
            self._link.send_event(event_to_wire(JobFailed(job, FailureReason.WORKER_CRASHED, self._node_name)))
        except BrokerError as error:
            raise TryLater(str(error)) from None
        raise DeadLetter(f"job {job.chat_id}/{job.message_id}")

    def _run(self, job: Job) -> None:
        done = concurrent.futures.Future()
        self._node.tell(RunJob(job, done))
        try:
            done.result(timeout=self._job_seconds)
        except (WorkerDied, BrokerError) as error:
            raise TryLater(str(error)) from None
        except concurrent.futures.TimeoutError:
            raise TryLater(f"no outcome for job {job.chat_id}/{job.message_id} in {self._job_seconds} s") from None
