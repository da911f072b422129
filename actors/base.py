"""What every voicebot actor shares: a stable Address to be reached at, and supervision hooks."""
import logging
import threading
from collections import deque

import pykka

from actors.messages import ChildFailed, CrashOnNextMessage, Ping, Stopping, SystemReady
from voicebot.core.errors import one_line

log = logging.getLogger(__name__)

MAX_WAITING = 10_000   # messages kept for an actor being restarted; a restart takes moments


class Address:
    """A stable name for an actor slot. The Supervisor binds the running actor's ref to it and
    rebinds it after a restart, so senders keep their Address and never hold a dead ref.
    Tests pass any object with a `tell(message)` method instead: a recording fake.

    A message told while the slot has no live actor (it died, and its restart is under way) waits here
    and is handed to the new one, in order, as it is bound: nothing told in that moment is lost. Once the
    slot is closed (bound to None at shutdown) messages are dropped, as nobody will take them."""

    def __init__(self, name: str):
        self.name = name
        self._ref: pykka.ActorRef | None = None
        self._closed = False
        self._waiting: deque[object] = deque()
        self._lock = threading.Lock()

    def bind(self, ref: pykka.ActorRef | None) -> None:
        with self._lock:
            self._ref, self._closed = ref, ref is None
            waiting, self._waiting = self._waiting, deque()
            if waiting and ref is None:
                log.warning("%s stopped with %d messages for it undelivered", self.name, len(waiting))
            for message in waiting if ref is not None else ():
                self._tell_or_keep(ref, message)

    def ask(self, message: object, timeout: float | None = None):
        """For start-up barriers only: inside the pipeline, actors tell."""
        if self._ref is None:
            raise pykka.ActorDeadError(self.name)
        return self._ref.ask(message, timeout=timeout)

    def tell(self, message: object) -> None:
        with self._lock:
            if self._closed:
                log.warning("%s is not running; dropped %s", self.name, type(message).__name__)
                return
            self._tell_or_keep(self._ref, message)

    def _tell_or_keep(self, ref: pykka.ActorRef | None, message: object) -> None:
        try:
            if ref is None:
                raise pykka.ActorDeadError(self.name)
            ref.tell(message)
        except pykka.ActorDeadError:
            if len(self._waiting) >= MAX_WAITING:
                log.warning("%s is not running and %d messages wait for it; dropped %s", self.name,
                            len(self._waiting), type(message).__name__)
                return
            self._waiting.append(message)

    def __repr__(self) -> str:
        return f"Address({self.name!r})"


class SupervisedActor(pykka.ThreadingActor):
    """Answers Ping with its start-up error or None (the start-up barrier), reports its own
    crash to the Supervisor, and logs messages it does not understand instead of dropping them."""

    def __init__(self, name: str, supervisor=None):
        super().__init__()
        self.name = name
        self._supervisor = supervisor
        self.start_error: str | None = None
        self._crash_after_next = False

    def on_start(self) -> None:
        # An exception escaping on_start would kill the actor with a traceback and without
        # on_failure; instead the reason is kept, logged in one line, and told to the Supervisor.
        try:
            self.prepare()
        except Exception as error:
            self.start_error = f"{self.name} could not start: {one_line(error)}"
            log.error(self.start_error)
            if self._supervisor is not None:
                self._supervisor.tell(ChildFailed(self.name, self.actor_urn, self.start_error))

    def prepare(self) -> None:
        """Start-up work (open a database, load a model); runs on the actor's own thread."""

    def on_receive(self, message: object):
        if isinstance(message, Ping):
            return self.start_error
        if isinstance(message, CrashOnNextMessage):
            self._crash_after_next = True
            return None
        answer = self.handle(message)
        if self._crash_after_next:
            raise RuntimeError(f"{self.name}: crashed on purpose after {type(message).__name__} (a test hook)")
        if answer is NotImplemented and isinstance(message, (SystemReady, Stopping)):
            return None  # most actors have nothing to start or wind down
        if answer is NotImplemented:
            log.error("%s got a message it does not handle: %r", self.name, message)
            return None
        return answer

    def handle(self, message: object):
        """Subclasses match on the message type here; return NotImplemented for unknown ones."""
        return NotImplemented

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        if self._supervisor is not None:
            self._supervisor.tell(ChildFailed(self.name, self.actor_urn, one_line(exception_value)))

    def tell_self_later(self, message: object, delay: float) -> threading.Timer:
        return tell_later(self.actor_ref, message, delay)


def tell_later(ref: pykka.ActorRef, message: object, delay: float) -> threading.Timer:
    """Delivers `message` after `delay` seconds from a timer thread: a reminder that keeps the
    actor's mailbox free meanwhile, unlike a sleep in a handler."""
    def deliver() -> None:
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            pass  # stopped meanwhile: nothing left to remind

    timer = threading.Timer(delay, deliver)
    timer.daemon = True
    timer.start()
    return timer
