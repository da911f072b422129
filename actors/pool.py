"""WorkerPool: which transcription workers are ready, which of them are idle, and what each one runs.

Both dispatchers keep one: the bot node's Dispatcher (local WhisperActors, or the slots worker nodes
announce) and a worker node's NodeDispatcher. The pool only keeps the books; what happens to a job
whose worker died, and when to stop handing out jobs, is each dispatcher's own policy."""
from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

Work = TypeVar("Work")   # what a worker runs: the Dispatcher's Assignment (a job, or a piece of one), a RunJob


class WorkerPool(Generic[Work]):
    def __init__(self):
        self._ready: set[str] = set()
        self._idle: deque[str] = deque()
        self._running: dict[str, Work] = {}

    @property
    def ready(self) -> frozenset[str]:
        return frozenset(self._ready)

    @property
    def has_idle(self) -> bool:
        return bool(self._idle)

    def running(self) -> Iterator[tuple[str, Work]]:
        return iter(list(self._running.items()))

    def add(self, worker: str) -> None:
        """The worker said it is ready: it takes work as soon as it is not running any."""
        self._ready.add(worker)
        self._mark_idle(worker)

    def assign(self, work: Work) -> str:
        """Hands `work` to the longest idle worker (there must be one) and names it."""
        worker = self._idle.popleft()
        self._running[worker] = work
        return worker

    def finished(self, worker: str) -> Work | None:
        """The worker's work is done: what it ran (None if nothing), and it is idle again if still ready."""
        work = self._running.pop(worker, None)
        self._mark_idle(worker)
        return work

    def finished_where(self, matches: Callable[[Work], bool]) -> Work | None:
        """As finished(), for the worker running what `matches`; None when no worker runs such work."""
        worker = next((worker for worker, work in self._running.items() if matches(work)), None)
        return None if worker is None else self.finished(worker)

    def gone(self, worker: str) -> None:
        """The worker takes no more work; what it runs, if anything, stays booked to it."""
        self._ready.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)

    def lost(self, worker: str) -> Work | None:
        """The worker died: it takes no more work, and what it ran (None if nothing) is handed back."""
        self.gone(worker)
        return self._running.pop(worker, None)

    def _mark_idle(self, worker: str) -> None:
        if worker in self._ready and worker not in self._idle and worker not in self._running:
            self._idle.append(worker)
