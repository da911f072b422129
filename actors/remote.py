"""RemoteWorkers: the bot node's end of the broker. To the Dispatcher it stands in for the local
WhisperActors: it takes Transcribe, and reports worker slots (WorkerReady / WorkerGone) from the
worker nodes' heartbeats and outcomes as they come back.

A slot is named after its node ("host-pid/2"). The broker, not the Dispatcher, picks the worker
that runs a job, so a slot is a unit of capacity, not an address: the Dispatcher never has more
jobs out than there are slots, and the broker hands each to whichever worker is free.

Outcomes and live text go from the broker's thread straight to the Dispatcher and the sender,
which stop after this actor: on shutdown it waits (up to the grace period) for the outcomes of
the jobs it handed out, so that they are delivered, as the local WhisperActors' are.

Only a node that leads (its `fence` holds) takes events off the broker. Once it no longer leads, an event
may be the outcome of the new leader's job, which only that node can answer: each event goes back on the
queue (TryLater: the broker has it again before the one taken is acknowledged), the node stops taking them,
hands out no job, and does not wait for outcomes on stop.

A job nothing is heard of (no live text, no outcome) for `job_seconds`, what a worker node gives one
delivery, plus OUTCOME_MARGIN_SECONDS, while a worker node is up, is handed to the broker once more, and
answered with a failure after as long again. The timer is here rather than in the Dispatcher because this
actor knows when a job reached the broker and hears its live text, and can hand it out again without
taking another worker slot; the answer goes through the Dispatcher, which answers each job once and drops
an outcome that comes after it."""
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import pykka

from actors.base import SupervisedActor
from actors.messages import (
    AnnounceReady,
    CheckNodes,
    FlushOutbox,
    JobFailed,
    NodeStatus,
    ShowProgress,
    StopTakingEvents,
    Transcribe,
    TranscriptReady,
    WorkerGone,
    WorkerReady,
)
from actors.wire import event_from_wire, job_to_wire
from voicebot.core.domain import FailureReason, Job, JobKey
from voicebot.core.errors import BrokerError, TryLater
from voicebot.core.ports import Fence

log = logging.getLogger(__name__)

NODE_TIMEOUT_SECONDS = 10.0     # a node silent this long is gone (it reports every 3 s)
RETRY_SECONDS = 2.0
MAX_SLOTS_PER_NODE = 64         # far more WhisperActors than one machine runs
STOP_GRACE_SECONDS = 5.0        # handing an event to an actor takes no time: this is for the threads to end
# On top of a worker node's time for one delivery: its retry delay, the broker's redelivery of a dead worker's
# job (Redis: 15 s), Dramatiq's backoff between deliveries.
OUTCOME_MARGIN_SECONDS = 60.0
SENDS_PER_JOB = 2               # a silent job is handed to the broker once more, then answered with a failure
FENCE_CHECK_SECONDS = 0.5       # while waiting for outcomes on stop, how often it checks that it still leads


@dataclass(slots=True)
class JobOut:
    """A job on the broker: when it was last heard of (handed out, or live text), and how often it went out."""
    job: Job
    heard: float
    sends: int = 1


class JobsOut:
    """The jobs handed to the broker and not answered yet, shared with the broker's thread."""

    def __init__(self):
        self._jobs: dict[JobKey, JobOut] = {}
        self._changed = threading.Condition()

    def add(self, job: Job, now: float) -> None:
        with self._changed:
            out = self._jobs.setdefault(job.key, JobOut(job, now))
            out.heard = now

    def heard(self, key: JobKey, now: float) -> None:
        with self._changed:
            if key in self._jobs:
                self._jobs[key].heard = now

    def heard_all(self, now: float) -> None:
        with self._changed:
            for out in self._jobs.values():
                out.heard = now

    def silent(self, now: float, seconds: float) -> list[tuple[Job, int]]:
        """The jobs not heard of for over `seconds`, with how often each went out."""
        with self._changed:
            return [(out.job, out.sends) for out in self._jobs.values() if now - out.heard > seconds]

    def sent_again(self, key: JobKey, now: float) -> None:
        with self._changed:
            if key in self._jobs:
                self._jobs[key].sends += 1
                self._jobs[key].heard = now

    def answered(self, key: JobKey) -> None:
        with self._changed:
            self._jobs.pop(key, None)
            self._changed.notify_all()

    def wait_until_none(self, timeout: float) -> int:
        """Waits up to `timeout` seconds for every job to be answered; how many are still out."""
        with self._changed:
            self._changed.wait_for(lambda: not self._jobs, timeout)
            return len(self._jobs)


class RemoteWorkers(SupervisedActor):

    def __init__(self, *, link, dispatcher, sender, job_seconds: float, supervisor=None, name: str = "remote",
                 clock: Callable[[], float] = time.monotonic, grace_seconds: float = 0.0, fence: Fence | None = None):
        """`job_seconds`: what a worker node gives one delivery of a job; `fence`: a leader's (None: the only
        bot node)."""
        super().__init__(name, supervisor)
        self._link = link
        self._dispatcher = dispatcher
        self._sender = sender
        self._silence_seconds = job_seconds + OUTCOME_MARGIN_SECONDS
        self._clock = clock
        self._grace_seconds = grace_seconds
        self._fence = fence
        self._taking_events = False
        self._out = JobsOut()
        self._nodes: dict[str, tuple[int, float]] = {}   # node -> (ready slots, last heard of)
        self._outbox: deque = deque()
        self._flush_timer = None
        self._check_timer = None

    def prepare(self) -> None:
        self._link.consume_events(self._on_event)
        self._taking_events = True
        self._check_timer = self.tell_self_later(CheckNodes(), NODE_TIMEOUT_SECONDS / 2)

    def on_stop(self) -> None:
        for timer in (self._flush_timer, self._check_timer):
            if timer is not None:
                timer.cancel()
        if self._out.wait_until_none(0) and self._grace_seconds and self._leads():
            log.info("waiting up to %.0f s for the jobs out on worker nodes", self._grace_seconds)
            left = self._wait_for_outcomes()
            if left:
                log.warning("%d jobs still out on worker nodes; they are answered after the next start", left)
        self._link.stop_consuming(STOP_GRACE_SECONDS)

    def _wait_for_outcomes(self) -> int:
        """Up to the grace period, while this node leads: how many jobs are still out then."""
        until = time.monotonic() + self._grace_seconds
        left = self._out.wait_until_none(0)
        while left and self._leads() and time.monotonic() < until:
            left = self._out.wait_until_none(min(FENCE_CHECK_SECONDS, until - time.monotonic()))
        return left

    def _leads(self) -> bool:
        return self._fence is None or self._fence.holds()

    def _on_event(self, payload: dict) -> None:
        """On the broker's thread: a payload that does not decode is logged and dropped; while this node does
        not lead, each goes back on the queue (TryLater) for the node that does."""
        if not self._leads():
            try:
                self.actor_ref.tell(StopTakingEvents())
            except pykka.ActorDeadError:
                pass   # stopping: it stops taking them itself
            raise TryLater("this node no longer leads; the event is left for the node that does")
        try:
            event = event_from_wire(payload)
        except ValueError as error:
            log.error("dropped an event from the broker that does not decode: %s", error)
            return
        match event:
            case TranscriptReady(job) | JobFailed(job):
                self._dispatcher.tell(event)
                self._out.answered(job.key)
            case ShowProgress(key):
                self._out.heard(key, self._clock())
                self._sender.tell(event)
            case NodeStatus():
                try:
                    self.actor_ref.tell(event)
                except pykka.ActorDeadError:
                    pass   # stopping: heartbeats no longer matter

    def handle(self, message):
        match message:
            case Transcribe(job):
                self._outbox.append(job)
                self._flush()
            case FlushOutbox():
                self._flush_timer = None
                self._flush()
            case NodeStatus(node, ready):
                self._node_reports(node, ready)
            case AnnounceReady():   # a restarted Dispatcher knows no slots: every one is announced again
                for node, (ready, _) in self._nodes.items():
                    self._resize(node, 0, ready)
            case CheckNodes():
                self._forget_silent_nodes()
                self._chase_silent_jobs()
                self._check_timer = self.tell_self_later(CheckNodes(), NODE_TIMEOUT_SECONDS / 2)
            case StopTakingEvents():
                self._stop_taking_events()
            case _:
                return NotImplemented

    def _stop_taking_events(self) -> None:
        if self._taking_events:
            self._taking_events = False
            log.warning("this node no longer leads: it takes no more events from the broker")
            self._link.stop_consuming(STOP_GRACE_SECONDS)

    def _chase_silent_jobs(self) -> None:
        """Hands each job out again that nothing was heard of for too long, then answers it with a failure."""
        if not self._leads():
            self._stop_taking_events()
            return
        now = self._clock()
        if not self._nodes:
            self._out.heard_all(now)   # no worker node is up to be at them: they wait in the broker meanwhile
            return
        for job, sends in self._out.silent(now, self._silence_seconds):
            if sends < SENDS_PER_JOB:
                log.warning("job %s/%s: nothing heard from the worker nodes for %.0f s; handing it out again",
                            job.chat_id, job.message_id, self._silence_seconds)
                self._out.sent_again(job.key, now)
                self._send_again(job)
            else:
                log.error("job %s/%s: nothing heard from the worker nodes for %.0f s after handing it out again; "
                          "answering it with a failure", job.chat_id, job.message_id, self._silence_seconds)
                self._out.answered(job.key)
                self._dispatcher.tell(JobFailed(job, FailureReason.INTERNAL, self.name))

    def _send_again(self, job: Job) -> None:
        try:
            self._link.send_job(job_to_wire(job))
        except BrokerError as error:   # its silence counts on: past it, it is answered with a failure
            log.error("could not hand job %s/%s to the broker again (%s)", job.chat_id, job.message_id, error)

    def _flush(self) -> None:
        while self._outbox and self._leads():   # a deposed node's jobs are resumed by the node that leads
            job = self._outbox[0]
            try:
                self._link.send_job(job_to_wire(job))
            except BrokerError as error:
                if self._flush_timer is None:
                    log.error("could not hand job %s/%s to the broker (%s); trying again in %.0f s", job.chat_id,
                              job.message_id, error, RETRY_SECONDS)
                    self._flush_timer = self.tell_self_later(FlushOutbox(), RETRY_SECONDS)
                return
            self._out.add(job, self._clock())
            self._outbox.popleft()

    def _node_reports(self, node: str, ready: int) -> None:
        if not 0 <= ready <= MAX_SLOTS_PER_NODE:
            # The broker is meant to be private, but a forged heartbeat must not make the bot send millions of
            # WorkerReady messages to itself.
            log.warning("worker node %s reported %d ready workers; counting at most %d", node, ready,
                        MAX_SLOTS_PER_NODE)
            ready = max(0, min(ready, MAX_SLOTS_PER_NODE))
        before, _ = self._nodes.get(node, (0, 0.0))
        if ready:
            self._nodes[node] = (ready, self._clock())
        else:
            self._nodes.pop(node, None)
        if before == 0 and ready:
            log.info("worker node %s is up with %d transcription workers", node, ready)
        elif before and not ready:
            log.info("worker node %s stopped taking jobs", node)
        self._resize(node, before, ready)

    def _forget_silent_nodes(self) -> None:
        now = self._clock()
        for node, (ready, heard) in list(self._nodes.items()):
            if now - heard > NODE_TIMEOUT_SECONDS:
                log.warning("worker node %s has not reported for %.0f s; counting it gone", node, now - heard)
                del self._nodes[node]
                self._resize(node, ready, 0)

    def _resize(self, node: str, before: int, after: int) -> None:
        for slot in range(before + 1, after + 1):
            self._dispatcher.tell(WorkerReady(f"{node}/{slot}"))
        for slot in range(after + 1, before + 1):
            self._dispatcher.tell(WorkerGone(f"{node}/{slot}"))
