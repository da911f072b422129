"""NodeDispatcher: a worker node's (`voicebot worker`) counterpart of the bot node's Dispatcher.

Jobs arrive from the broker (RunJob); each goes to an idle local WhisperActor, and what the actor
tells back (outcome, live text) goes to the bot node through the broker. A job's `done` future is
completed only once its outcome is sent, so the broker message is acknowledged after that: a node
killed at any moment leaves the job to be delivered to another worker."""
import logging
from collections import deque

from actors.base import SupervisedActor
from actors.messages import (
    JobFailed,
    NodeStatus,
    ReportNode,
    RunJob,
    ShowProgress,
    Stopping,
    Transcribe,
    TranscriptReady,
    WorkerLost,
    WorkerReady,
)
from actors.pool import WorkerPool
from actors.wire import event_to_wire
from voicebot.core.errors import BrokerError
from voicebot.core.ports import NO_METRICS, BrokerLink, Mailbox, Metrics

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 3.0
LIVE_TEXT_MAX_AGE_SECONDS = 30.0   # live text older than this is no news to anyone


class WorkerDied(Exception):
    """The job cannot finish here (its WhisperActor crashed, or the node is stopping); the broker should
    deliver it again."""


class NodeDispatcher(SupervisedActor):

    def __init__(self, *, node: str, workers: dict[str, Mailbox], link: BrokerLink, supervisor: Mailbox | None = None,
                 name: str = "node", metrics: Metrics = NO_METRICS):
        super().__init__(name, supervisor)
        self._node = node
        self._metrics = metrics
        self._workers = workers
        self._link = link
        self._pool: WorkerPool[RunJob] = WorkerPool()
        self._pending: deque[RunJob] = deque()
        self._stopping = False
        self._timer = None

    def prepare(self) -> None:
        self.actor_ref.tell(ReportNode())

    def on_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def handle(self, message):
        match message:
            case RunJob() if self._stopping:
                message.done.set_exception(WorkerDied(f"{self._node} is stopping"))
            case RunJob():
                self._pending.append(message)
            case WorkerReady(worker):
                self._metrics.worker_ready(worker, True)
                self._pool.add(worker)
                self._report()
            case TranscriptReady(_, _, worker) | JobFailed(_, _, worker):
                self._finished(worker, message)
            case ShowProgress():
                self._send(message, LIVE_TEXT_MAX_AGE_SECONDS)
            case WorkerLost(worker):
                self._lost(worker)
            case ReportNode():
                self._report()
                self._timer = self.tell_self_later(ReportNode(), HEARTBEAT_SECONDS)
            case Stopping():
                self._stop_taking_jobs()
            case _:
                return NotImplemented
        self._dispatch()

    def _dispatch(self) -> None:
        while self._pending and self._pool.has_idle and not self._stopping:
            run = self._pending.popleft()
            worker = self._pool.assign(run)
            log.info("job %s/%s started on %s", run.job.chat_id, run.job.message_id, worker)
            self._workers[worker].tell(Transcribe(run.job, quarantined=run.job.suspected))

    def _stop_taking_jobs(self) -> None:
        """As the bot node's Dispatcher: jobs under way may finish; those not started go back to the
        broker at once, for another worker node, instead of waiting for this one to stop."""
        self._stopping = True
        for worker in self._pool.ready:
            self._metrics.worker_ready(worker, False)
        while self._pending:
            self._pending.popleft().done.set_exception(WorkerDied(f"{self._node} is stopping"))
        self._report()

    def _finished(self, worker: str, outcome: TranscriptReady | JobFailed) -> None:
        run = self._pool.finished(worker)
        if run is None:
            return
        try:
            self._link.send_event(event_to_wire(outcome))
        except BrokerError as error:   # the job stays unacknowledged and runs again
            run.done.set_exception(error)
        else:
            run.done.set_result(outcome)

    def _lost(self, worker: str) -> None:
        self._metrics.worker_ready(worker, False)
        run = self._pool.lost(worker)
        if run is not None:
            run.done.set_exception(WorkerDied(f"{worker} crashed on job {run.job.chat_id}/{run.job.message_id}"))
        self._report()

    def _report(self) -> None:
        self._send(NodeStatus(self._node, 0 if self._stopping else len(self._pool.ready)), HEARTBEAT_SECONDS * 3)

    def _send(self, event, max_age_seconds: float) -> None:
        try:
            self._link.send_event(event_to_wire(event), max_age_seconds)
        except BrokerError as error:   # the next heartbeat or segment tries again
            log.warning("%s: could not send %s to the bot node: %s", self._node, type(event).__name__, error)
