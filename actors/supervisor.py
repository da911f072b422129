"""Supervisor: starts the children in dependency order, restarts the ones that die, stops them in reverse."""
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pykka

from actors.base import Address, tell_later
from actors.messages import CheckChildren, ChildFailed, Ping, Stopping, SystemReady
from voicebot.core.errors import one_line

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildSpec:
    name: str
    address: Address
    start: Callable[[], pykka.ActorRef]      # starts a fresh instance; called again on restart
    on_restart: Callable[[], None] | None = None
    stop_timeout: float = 10.0


class Supervisor(pykka.ThreadingActor):
    """Children come in groups: a group starts together (the WhisperActors load their models in
    parallel) and must be ready before the next group starts. A child that crashes, fails to
    start, or is found dead is restarted in its slot; past `max_restarts` in `window_seconds`
    the supervisor gives up, stops everything and calls `on_give_up` with one line of reason."""

    def __init__(self, groups: Sequence[Sequence[ChildSpec]], on_give_up: Callable[[str], None],
                 *, address: Address | None = None, max_restarts: int = 5, window_seconds: float = 60.0,
                 check_interval: float = 1.0,
                 start_timeout: float = 300.0, clock: Callable[[], float] = time.monotonic,
                 on_restarted: Callable[[str], None] | None = None):
        super().__init__()
        self._groups = groups
        self._address = address
        self._specs = {spec.name: spec for group in groups for spec in group}
        self._on_give_up = on_give_up
        self._max_restarts = max_restarts
        self._window = window_seconds
        self._check_interval = check_interval
        self._start_timeout = start_timeout
        self._clock = clock
        self._on_restarted = on_restarted
        self._refs: dict[str, pykka.ActorRef] = {}
        self._restarts: deque[float] = deque()
        self._stopping = False

    def on_start(self) -> None:
        if self._address is not None:
            self._address.bind(self.actor_ref)
        for group in self._groups:
            for spec in group:
                error = self._start_child(spec)
                if error:
                    self._give_up(error)
                    return
            for spec in group:
                error = self._wait_ready(spec)
                if error:
                    self._give_up(error)
                    return
        log.info("all actors ready: %s", ", ".join(self._refs))
        for spec in self._specs.values():
            spec.address.tell(SystemReady())
        self._schedule_check()

    def on_stop(self) -> None:
        self._stopping = True
        self._stop_children()

    def on_receive(self, message):
        match message:
            case ChildFailed(name, actor_urn, reason):
                current = self._refs.get(name)
                if current is not None and current.actor_urn == actor_urn:
                    self._restart(name, reason)
            case CheckChildren():
                for name, ref in list(self._refs.items()):
                    if not ref.is_alive():
                        self._restart(name, "found dead")
                self._schedule_check()
            case Ping():
                return None
            case _:
                log.error("supervisor got a message it does not handle: %r", message)

    def _start_child(self, spec: ChildSpec) -> str | None:
        """Starts the child and binds its address; the reason in one line if that failed."""
        try:
            ref = spec.start()
        except Exception as error:  # a factory's start-up barrier (an ask) may fail in any way
            return f"{spec.name} could not start: {one_line(error)}"
        self._refs[spec.name] = ref
        spec.address.bind(ref)
        return None

    def _wait_ready(self, spec: ChildSpec) -> str | None:
        try:
            return self._refs[spec.name].ask(Ping(), timeout=self._start_timeout)
        except pykka.Timeout:
            return f"{spec.name} did not start within {self._start_timeout:.0f} s"
        except pykka.ActorDeadError:
            return f"{spec.name} stopped while starting"

    def _restart(self, name: str, reason: str) -> None:
        if self._stopping:
            return
        now = self._clock()
        self._restarts.append(now)
        while self._restarts and self._restarts[0] < now - self._window:
            self._restarts.popleft()
        if len(self._restarts) > self._max_restarts:
            self._give_up(f"too many actor failures ({len(self._restarts)} in {self._window:.0f} s); "
                          f"last: {name}: {reason}")
            return
        log.warning("restarting %s (%s)", name, reason)
        spec = self._specs[name]
        self._refs[name].stop(block=False)
        error = self._start_child(spec)
        if error:
            self._give_up(error)
            return
        if spec.on_restart is not None:
            spec.on_restart()
        if self._on_restarted is not None:
            self._on_restarted(name)

    def _give_up(self, reason: str) -> None:
        self._stopping = True
        log.critical("giving up: %s", reason)
        self._stop_children()
        self._on_give_up(reason)

    def _stop_children(self) -> None:
        """Every child first hears that the system is stopping (the poller stops polling, the
        dispatcher stops handing out work); then groups stop in reverse order, the members of a
        group together, each within its stop_timeout: work under way may finish, the rest waits in
        the database for the next start."""
        for spec in self._specs.values():
            spec.address.tell(Stopping())
        for group in reversed(self._groups):
            stopping = [(spec, self._refs.pop(spec.name)) for spec in group if spec.name in self._refs]
            futures = [(spec, ref.stop(block=False)) for spec, ref in stopping]
            for spec, future in futures:
                try:
                    future.get(timeout=spec.stop_timeout)
                except pykka.Timeout:
                    log.warning("%s did not stop within %.0f s; leaving it", spec.name, spec.stop_timeout)
                spec.address.bind(None)

    def _schedule_check(self) -> None:
        if self._stopping:
            return
        tell_later(self.actor_ref, CheckChildren(), self._check_interval)
