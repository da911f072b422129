"""RemoteWorkers: the bot node's end of the broker. To the Dispatcher it stands in for the local
WhisperActors: it takes Transcribe, and reports worker slots (WorkerReady / WorkerGone) from the
worker nodes' heartbeats and outcomes as they come back.

A slot is named after its node ("host-pid/2"). The broker, not the Dispatcher, picks the worker
that runs a job, so a slot is a unit of capacity, not an address: the Dispatcher never has more
jobs out than there are slots, and the broker hands each to whichever worker is free.

Outcomes and live text go from the broker's thread straight to the Dispatcher and the sender,
which stop after this actor: on shutdown it waits (up to the grace period) for the outcomes of
the jobs it handed out, so that they are delivered, as the local WhisperActors' are."""
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import pykka

from actors.base import SupervisedActor
from actors.messages import (
    AnnounceReady,
    CheckNodes,
    FlushOutbox,
    JobFailed,
    NodeStatus,
    ShowProgress,
    Transcribe,
    TranscriptReady,
    WorkerGone,
    WorkerReady,
)
from actors.wire import event_from_wire, job_to_wire
from voicebot.core.errors import BrokerError

log = logging.getLogger(__name__)

NODE_TIMEOUT_SECONDS = 10.0     # a node silent this long is gone (it reports every 3 s)
RETRY_SECONDS = 2.0
MAX_SLOTS_PER_NODE = 64         # far more WhisperActors than one machine runs
STOP_GRACE_SECONDS = 5.0        # handing an event to an actor takes no time: this is for the threads to end


class JobsOut:
    """The keys of jobs handed to the broker and not answered yet, shared with the broker's thread."""

    def __init__(self):
        self._keys: set = set()
        self._changed = threading.Condition()

    def add(self, key) -> None:
        with self._changed:
            self._keys.add(key)

    def answered(self, key) -> None:
        with self._changed:
            self._keys.discard(key)
            self._changed.notify_all()

    def wait_until_none(self, timeout: float) -> int:
        """Waits up to `timeout` seconds for every job to be answered; how many are still out."""
        with self._changed:
            self._changed.wait_for(lambda: not self._keys, timeout)
            return len(self._keys)


class RemoteWorkers(SupervisedActor):

    def __init__(self, *, link, dispatcher, sender, supervisor=None, name: str = "remote",
                 clock: Callable[[], float] = time.monotonic, grace_seconds: float = 0.0):
        super().__init__(name, supervisor)
        self._link = link
        self._dispatcher = dispatcher
        self._sender = sender
        self._clock = clock
        self._grace_seconds = grace_seconds
        self._out = JobsOut()
        self._nodes: dict[str, tuple[int, float]] = {}   # node -> (ready slots, last heard of)
        self._outbox: deque = deque()
        self._flush_timer = None
        self._check_timer = None

    def prepare(self) -> None:
        self._link.consume_events(self._on_event)
        self._check_timer = self.tell_self_later(CheckNodes(), NODE_TIMEOUT_SECONDS / 2)

    def on_stop(self) -> None:
        for timer in (self._flush_timer, self._check_timer):
            if timer is not None:
                timer.cancel()
        if self._out.wait_until_none(0) and self._grace_seconds:
            log.info("waiting up to %.0f s for the jobs out on worker nodes", self._grace_seconds)
            left = self._out.wait_until_none(self._grace_seconds)
            if left:
                log.warning("%d jobs still out on worker nodes; they are answered after the next start", left)
        self._link.stop_consuming(STOP_GRACE_SECONDS)

    def _on_event(self, payload: dict) -> None:
        """On the broker's thread: a payload that does not decode is logged and dropped."""
        try:
            event = event_from_wire(payload)
        except ValueError as error:
            log.error("dropped an event from the broker that does not decode: %s", error)
            return
        match event:
            case TranscriptReady(job) | JobFailed(job):
                self._dispatcher.tell(event)
                self._out.answered(job.key)
            case ShowProgress():
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
                self._check_timer = self.tell_self_later(CheckNodes(), NODE_TIMEOUT_SECONDS / 2)
            case _:
                return NotImplemented

    def _flush(self) -> None:
        while self._outbox:
            job = self._outbox[0]
            try:
                self._link.send_job(job_to_wire(job))
            except BrokerError as error:
                if self._flush_timer is None:
                    log.error("could not hand job %s/%s to the broker (%s); trying again in %.0f s", job.chat_id,
                              job.message_id, error, RETRY_SECONDS)
                    self._flush_timer = self.tell_self_later(FlushOutbox(), RETRY_SECONDS)
                return
            self._out.add(job.key)
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
