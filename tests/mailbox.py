"""The "mock mailbox": a recording stand-in for any actor Address, and a helper to drive a real
actor message by message. See tests/README.md for the pattern."""
import threading
import time

import pykka

from actors.messages import IntakeFailed, IntakeStored, Ping, VoiceReceived


class RecordingMailbox:
    """Records every message told to it, in order; has the one method actors use: tell."""

    def __init__(self, name: str = "fake"):
        self.name = name
        self.messages: list[object] = []
        self._lock = threading.Lock()

    def tell(self, message: object) -> None:
        with self._lock:
            self.messages.append(message)

    def of(self, kind: type) -> list:
        with self._lock:
            return [message for message in self.messages if isinstance(message, kind)]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


class FakeStorage(RecordingMailbox):
    """Stores intake as the StorageActor does: answers IntakeStored (without the recordings whose
    keys are `known`: redelivered), or IntakeFailed for the first `down_for` batches."""

    def __init__(self, down_for: int = 0, known: frozenset = frozenset()):
        super().__init__("storage")
        self.down_for = down_for
        self.known = known

    def tell(self, message):
        super().tell(message)
        if self.down_for:
            self.down_for -= 1
            message.reply_to.tell(IntakeFailed("database is locked"))
            return
        fresh = tuple(m for m in message.messages if not (isinstance(m, VoiceReceived) and m.job.key in self.known))
        message.reply_to.tell(IntakeStored(fresh, message.next_offset))


def deliver(ref: pykka.ActorRef, *messages: object) -> None:
    """Tells the actor each message, then waits until it has handled them all: a Ping asked
    afterwards is answered only once everything before it in the mailbox is done."""
    for message in messages:
        ref.tell(message)
    ref.ask(Ping(), timeout=10)


def wait_until(condition, timeout: float = 5.0) -> bool:
    """For actors that act on their own (pollers, timers): polls `condition` until it holds."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()
