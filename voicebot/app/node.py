"""A node's life: the checks before start, standing by while another bot node leads, the actors started under
a Supervisor and checked, the health the metrics endpoint reports, and the stop. A bot node (`voicebot run`) and
a worker node (`voicebot worker`) live it the same way; what each does differently is its `NodeKind`
(voicebot/app/bootstrap.py, which also wires each kind's actors)."""
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import pykka

from actors.base import Address
from actors.messages import Ping
from actors.supervisor import ChildSpec, Supervisor
from voicebot.adapters.files import DownloadFolder, LocalFiles
from voicebot.adapters.metrics import Metrics, MetricsServer
from voicebot.adapters.model_files import resolve_model
from voicebot.adapters.storage import Storage
from voicebot.adapters.storage.leadership import PING_SECONDS, Leadership, is_shared_database
from voicebot.adapters.telegram import TelegramClient
from voicebot.adapters.translations import load_languages
from voicebot.app.config import Settings
from voicebot.app.transcribers import Transcribers, worker_names
from voicebot.core.errors import BrokerError, ModelError, StorageError, TelegramError
from voicebot.core.ports import BrokerLink, Fence

log = logging.getLogger(__name__)

STANDBY_POLL_SECONDS = 0.5         # how often a standby tries to take the lead
STOP_AFTER_DEPOSED_SECONDS = 30    # past the grace period, a deposed leader still stopping exits anyway


class StartupError(Exception):
    """The node cannot start; the text is one line telling the operator what to do."""


@dataclass
class Outcome:
    """Whether the node gave up, and why; `finished` is set then. (A requested stop is a signal: see serve.)"""
    finished: threading.Event = field(default_factory=threading.Event)
    reason: str | None = None

    def give_up(self, reason: str) -> None:
        self.reason = reason
        self.finished.set()


class NodeKind(Protocol):
    """What a kind of node does differently; a Node does all the rest the same way for every kind."""

    elects_leader: bool    # nodes of this kind sharing a PostgreSQL database elect one leader; the others stand by
    keeps_database: bool   # the node's own database connection stays open while it runs
    token_note: str        # why the node needs the token, said when it is missing

    def check(self, settings: Settings) -> None:
        """StartupError when the settings lack what this kind of node needs."""

    def transcribes(self, settings: Settings) -> bool:
        """Whether the node runs WhisperActors, so loads the model."""

    def before_start(self, node: "Node", telegram: TelegramClient) -> None:
        """What the node does once it may act, before its actors start."""

    def groups(self, node: "Node", telegram: TelegramClient, supervisor: Address) -> list[list[ChildSpec]]:
        """The node's actors in start order, supervised by the Supervisor at `supervisor`."""

    def after_start(self, node: "Node") -> None:
        """What the node does once its actors are ready."""

    def before_stop(self, node: "Node") -> None:
        """What the node does first when it stops."""

    def healthy(self, node: "Node") -> bool:
        """Whether its actors do their work, for /healthz."""

    def running_line(self, node: "Node") -> str:
        """The line logged once the node runs."""


class Node:
    """One voicebot process for one configuration: the checks before start, the actor system under its
    Supervisor, the broker link (when there is one) and the metrics endpoint."""

    def __init__(self, settings: Settings, kind: NodeKind):
        self.settings = settings
        self.kind = kind
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self.metrics = Metrics()
        self.languages = load_languages()
        self.outcome = Outcome()
        self.storage = Storage(settings.database.url)
        self.link: BrokerLink | None = None
        self.transcribers: Transcribers | None = None
        self._leadership = (Leadership(settings.database.url, self.name)
                            if kind.elects_leader and is_shared_database(settings.database.url) else None)
        self._standing_by = False
        self._downloads = DownloadFolder()
        self._supervisor: pykka.ActorRef | None = None
        self._metrics_server: MetricsServer | None = None

    def start(self, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Checks; on a shared database, stands by until this node leads; then starts every actor and waits
        until all are ready. StartupError if it cannot start; False if `should_stop` said so while standing by."""
        telegram, model_path = self._prepare()
        self.transcribers = Transcribers(self.settings, model_path)
        if self.settings.metrics.listen:
            self._metrics_server = MetricsServer(self.metrics, self.settings.metrics.listen, self._health).start()
        if self._leadership is not None and not self._stand_by(should_stop):
            return False
        self.kind.before_start(self, telegram)
        self._supervisor = start_supervised(
            lambda supervisor: self.kind.groups(self, telegram, supervisor), self.outcome, self.metrics)
        if self.outcome.reason is not None:
            self.stop()
            raise StartupError(self.outcome.reason)
        self.kind.after_start(self)
        log.info("%s", self.kind.running_line(self))
        return True

    @property
    def fence(self) -> Fence | None:
        """A leader's: once it is down, no write and no Bot API call that changes anything goes out."""
        return self._leadership

    @property
    def deposed(self) -> bool:
        """This node led, and no longer does."""
        return self._leadership is not None and not self._standing_by and not self._leadership.holds()

    def check_lead(self) -> None:
        """A leader whose lease has run out gives up: its fence is down already, so it acts no more."""
        if self.deposed and self.outcome.reason is None:
            self.outcome.give_up("this node no longer leads: its database session ended or stopped answering "
                                 "(another bot node may have taken over); stepping down")

    def stop(self) -> None:
        self.kind.before_stop(self)
        if self._supervisor is not None:
            self._supervisor.stop(block=True)
        pykka.ActorRegistry.stop_all()
        if self._metrics_server is not None:
            self._metrics_server.stop()
        if self.link is not None:
            self.link.close()
        self._downloads.remove()
        if self._leadership is not None:
            self._leadership.close()   # last: a standby takes over once this node has stopped acting
        self.storage.close()

    def bot_api_call(self, call: Callable[[], object]) -> None:
        """Makes a call the node cannot start without: StartupError, with what to check, if it fails."""
        try:
            call()
        except TelegramError as error:
            hint = "check TELEGRAM_BOT_TOKEN" if error.status in (401, 404) else "check telegram.api_url"
            raise StartupError(f"the Bot API at {self.settings.telegram.api_url} answered {error.description}: "
                               f"{hint}") from None

    def _prepare(self) -> tuple[TelegramClient, str | None]:
        """Checks what can be checked before any actor starts: model, database, broker, Bot API and token."""
        settings = self.settings
        self.kind.check(settings)
        if not settings.telegram.token:
            raise StartupError(f"TELEGRAM_BOT_TOKEN is not set{self.kind.token_note}; export it (or set "
                               f"telegram.token) and run again")
        try:
            model_path = resolve_model(settings.whisper.model) if self.kind.transcribes(settings) else None
            self.storage.open()   # migrates if this node is the first to start
            if not self.kind.keeps_database:
                self.storage.close()   # the StorageActor opens its own connection on its own thread
            if settings.broker.url:
                self.link = _connect_broker(settings.broker.url)
        except (ModelError, StorageError, BrokerError) as error:
            raise StartupError(str(error)) from None
        swept = self._downloads.sweep()
        if swept:
            log.info("removed the downloads of %d processes that did not stop cleanly", swept)
        return self._check_bot_api(), model_path

    def _local_files(self) -> LocalFiles | None:
        """In local mode, the Bot API server's directory as seen from here, checked; None otherwise."""
        telegram = self.settings.telegram
        if not telegram.local_mode:
            return None
        local_files = LocalFiles(telegram.local_files_map, telegram.token)
        problem = local_files.problem()
        if problem is not None:
            raise StartupError(f"telegram.local_files_map: {problem}; mount the Bot API server's working "
                               f"directory there (a shared volume), or correct the map")
        return local_files

    def _check_bot_api(self) -> TelegramClient:
        telegram = TelegramClient(self.settings.telegram.api_url, self.settings.telegram.token, metrics=self.metrics,
                                  fence=self._leadership, local_files=self._local_files(),
                                  downloads=self._downloads)
        self.bot_api_call(telegram.get_me)
        return telegram

    def _stand_by(self, should_stop: Callable[[], bool]) -> bool:
        """Waits until this node holds the lead: True then, False if `should_stop` says so first."""
        self._standing_by = True
        self.metrics.leading(False)
        if self._try_to_lead("no other bot node leads"):
            return True
        log.info("standing by: another bot node leads; this one takes over when that node's database session ends")
        if self.kind.transcribes(self.settings):
            self.transcribers.load_ahead(worker_names(self.settings))
        while not should_stop():
            time.sleep(STANDBY_POLL_SECONDS)
            if self._try_to_lead("the leader's database session ended"):
                return True
        return False

    def _try_to_lead(self, why: str) -> bool:
        try:
            if not self._leadership.try_acquire():
                return False
        except StorageError as error:
            log.warning("standing by, the database unreachable: %s", error)
            return False
        self._standing_by = False
        self.metrics.leading(True)
        threading.Thread(target=self._keep_the_lead, name="leadership", daemon=True).start()
        log.info("this node leads now (term %d): %s", self._leadership.term, why)
        return True

    def _keep_the_lead(self) -> None:
        while self._leadership.renew():
            time.sleep(PING_SECONDS)

    def _health(self) -> str | None:
        """What /healthz says: None when unhealthy; else a node's role on a shared database, or "ok"."""
        if self._leadership is not None and self._standing_by:
            return "standby"
        leads = self._leadership is None or self._leadership.holds()
        if not (leads and self.kind.healthy(self)):
            return None
        return "ok" if self._leadership is None else "leader"


def start_supervised(build_groups: Callable[[Address], list[list[ChildSpec]]], outcome: Outcome,
                     metrics: Metrics) -> pykka.ActorRef:
    """Starts a Supervisor over the groups `build_groups` makes for its address, and waits until every
    child is ready or the Supervisor gave up (then `outcome.reason` says why)."""
    address = Address("supervisor")
    supervisor = Supervisor.start(build_groups(address), on_give_up=outcome.give_up, address=address,
                                  on_restarted=metrics.actor_restarted)
    try:
        supervisor.ask(Ping())
    except pykka.ActorDeadError:
        pass
    return supervisor


def serve(node: Node) -> int:
    """Starts the node, runs it until SIGINT/SIGTERM or until it gives up, and stops it: 0 after a
    requested stop, 1 after a give-up. StartupError if it could not start."""
    # The handler only notes the signal: it runs on the main thread between two bytecodes, and taking a lock
    # there (Event.set does) deadlocks when the signal lands while that thread holds the lock in Event.wait,
    # which left a worker node deaf to SIGTERM for good.
    signalled: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _: signalled.append(number))
    if node.start(should_stop=lambda: bool(signalled)):
        while not signalled and not node.outcome.finished.wait(0.5):
            node.check_lead()
    log.info("stopping: %s", node.outcome.reason or "signal received")
    if node.deposed:
        # Its database may be cut off, and an actor waiting on it would hold the stop up: the process ends
        # anyway, and a service manager starts it again as a standby.
        watchdog = threading.Timer(node.settings.shutdown.grace_seconds + STOP_AFTER_DEPOSED_SECONDS, os._exit, (1,))
        watchdog.daemon = True
        watchdog.start()
    node.stop()
    return 0 if node.outcome.reason is None else 1


def _connect_broker(url: str) -> BrokerLink:
    """Imported here, so that a node without a broker never loads Dramatiq and its clients."""
    from voicebot.adapters.broker import BrokerLink as DramatiqLink
    link = DramatiqLink(url)
    link.check()
    return link
