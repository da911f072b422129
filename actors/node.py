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
from actors.wire import event_to_wire
from voicebot.adapters.metrics import Metrics
from voicebot.core.errors import BrokerError

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 3.0
LIVE_TEXT_MAX_AGE_SECONDS = 30.0   # live text older than this is no news to anyone


class WorkerDied(Exception):
    """The WhisperActor holding the job crashed; the broker should deliver the job again."""


class NodeDispatcher(SupervisedActor):

    def __init__(self, node: str, workers: dict, link, supervisor=None, name: str = "node",
                 metrics: Metrics | None = None):
        super().__init__(name, supervisor)
        self._node = node
        self._metrics = metrics or Metrics()
        self._workers = workers
        self._link = link
        self._ready: set[str] = set()
        self._idle: deque[str] = deque()
        self._pending: deque[RunJob] = deque()
        self._running: dict[str, RunJob] = {}
        self._stopping = False
        self._timer = None

    def prepare(self) -> None:
        self.actor_ref.tell(ReportNode())

    def on_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def handle(self, message):
        match message:
            case RunJob():
                self._pending.append(message)
            case WorkerReady(worker):
                self._metrics.worker_ready(worker, True)
                self._ready.add(worker)
                self._mark_idle(worker)
                self._report()
            case TranscriptReady(job, _, worker) | JobFailed(job, _, worker):
                self._finished(worker, message)
            case ShowProgress():
                self._send(message, LIVE_TEXT_MAX_AGE_SECONDS)
            case WorkerLost(worker):
                self._lost(worker)
            case ReportNode():
                self._report()
                self._timer = self.tell_self_later(ReportNode(), HEARTBEAT_SECONDS)
            case Stopping():
                self._stopping = True
                for worker in self._ready:
                    self._metrics.worker_ready(worker, False)
                self._report()
            case _:
                return NotImplemented
        self._dispatch()

    def _dispatch(self) -> None:
        while self._pending and self._idle:
            worker, run = self._idle.popleft(), self._pending.popleft()
            self._running[worker] = run
            log.info("job %s/%s started on %s", run.job.chat_id, run.job.message_id, worker)
            self._workers[worker].tell(Transcribe(run.job))

    def _mark_idle(self, worker: str) -> None:
        if worker in self._ready and worker not in self._idle and worker not in self._running:
            self._idle.append(worker)

    def _finished(self, worker: str, outcome: TranscriptReady | JobFailed) -> None:
        run = self._running.pop(worker, None)
        self._mark_idle(worker)
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
        self._ready.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        run = self._running.pop(worker, None)
        if run is not None:
            run.done.set_exception(WorkerDied(f"{worker} crashed on job {run.job.chat_id}/{run.job.message_id}"))
        self._report()

    def _report(self) -> None:
        self._send(NodeStatus(self._node, 0 if self._stopping else len(self._ready)), HEARTBEAT_SECONDS * 3)

    def _send(self, event, max_age_seconds: float) -> None:
        try:
            self._link.send_event(event_to_wire(event), max_age_seconds)
        except BrokerError as error:   # the next heartbeat or segment tries again
            log.warning("%s: could not send %s to the bot node: %s", self._node, type(event).__name__, error)
