"""Wiring: builds the actor system from the settings, and runs it until a signal or a give-up."""
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pykka

from actors.base import Address
from actors.dispatcher import Dispatcher
from actors.messages import LoadIntakeState, LoadOnRequestChats, LoadUsers, Ping, WorkerLost
from actors.poller import TelegramPoller
from actors.quota import QuotaActor, QuotaRules
from actors.remote import RemoteWorkers
from actors.sender import Pace, TelegramSender
from actors.storage import StorageActor
from actors.supervisor import ChildSpec, Supervisor
from actors.webhook import TelegramWebhook
from actors.whisper import WhisperActor
from voicebot.adapters.broker import BrokerLink
from voicebot.adapters.metrics import Metrics, MetricsServer
from voicebot.adapters.model_files import resolve_model
from voicebot.adapters.storage import Storage
from voicebot.adapters.telegram import TelegramClient
from voicebot.adapters.transcriber import Transcriber, supported_languages
from voicebot.app.config import WEBHOOK_MODE, Settings, worker_count, worker_threads
from voicebot.core.errors import BrokerError, ModelError, StorageError, TelegramError
from voicebot.core.replies import utc_now

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The bot cannot start; the text is one line telling the operator what to do."""


@dataclass
class Outcome:
    """How the bot ended: stopped on request (reason None) or given up (reason says why)."""
    finished: threading.Event = field(default_factory=threading.Event)
    reason: str | None = None

    def stop(self) -> None:
        self.finished.set()

    def give_up(self, reason: str) -> None:
        self.reason = reason
        self.finished.set()


class Bot:
    """The whole bot for one configuration: the checks before start, the actor system under its
    Supervisor, and the metrics endpoint."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.metrics = Metrics()
        self.outcome = Outcome()
        self._supervisor: pykka.ActorRef | None = None
        self._metrics_server: MetricsServer | None = None
        self._link: BrokerLink | None = None

    def start(self) -> None:
        """Checks, then starts every actor and waits until all are ready: StartupError if not."""
        telegram, model_path = self._prepare()
        if self.settings.metrics.listen:
            poll_within = self.settings.telegram.poll_timeout_seconds + 30
            self._metrics_server = MetricsServer(self.metrics, self.settings.metrics.listen,
                                                 lambda: self.metrics.healthy(poll_within)).start()
        self._supervisor = start_supervised(
            lambda supervisor: build_groups(self.settings, telegram, model_path, supervisor, self.metrics,
                                            self._link),
            self.outcome, self.metrics)
        if self.outcome.reason is not None:
            self.stop()
            raise StartupError(self.outcome.reason)
        workers = (f"worker nodes through {self._link.address}" if self._link is not None else
                   f"{worker_count(self.settings)} transcription workers")
        log.info("voicebot is running: %s mode, %s", self.settings.telegram.mode, workers)

    def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.stop(block=True)
        pykka.ActorRegistry.stop_all()
        if self._metrics_server is not None:
            self._metrics_server.stop()
        if self._link is not None:
            self._link.close()

    def _prepare(self) -> tuple[TelegramClient, str]:
        """Checks what can be checked before any actor starts: model, database, Bot API and token."""
        settings = self.settings
        if not settings.telegram.token:
            raise StartupError("TELEGRAM_BOT_TOKEN is not set: export it (or set telegram.token) and run again")
        try:
            # With a broker the worker nodes transcribe: this node loads no model.
            model_path = None if settings.broker.url else resolve_model(settings.whisper.model)
            storage = Storage(settings.database.url)
            storage.open()
            storage.close()
            if settings.broker.url:
                self._link = BrokerLink(settings.broker.url)
                self._link.check()
        except (ModelError, StorageError, BrokerError) as error:
            raise StartupError(str(error)) from None
        telegram = TelegramClient(settings.telegram.api_url, settings.telegram.token, metrics=self.metrics)
        try:
            telegram.get_me()
            # Polling and a webhook exclude each other: polling deletes any webhook; in webhook
            # mode the TelegramWebhook registers it once its server listens.
            if settings.telegram.mode != WEBHOOK_MODE:
                telegram.delete_webhook()
        except TelegramError as error:
            hint = "check TELEGRAM_BOT_TOKEN" if error.status in (401, 404) else "check telegram.api_url"
            raise StartupError(f"the Bot API at {settings.telegram.api_url} answered {error.description}: {hint}")
        return telegram, model_path


def build_groups(settings: Settings, telegram: TelegramClient, model_path: str | None, supervisor: Address,
                 metrics: Metrics, link: BrokerLink | None = None) -> list[list[ChildSpec]]:
    """The actors in start order. With `link` (a broker), RemoteWorkers stands in for the WhisperActors."""
    storage, sender, quota, dispatcher, poller, remote = (
        Address(name) for name in ("storage", "sender", "quota", "dispatcher", "poller", "remote"))
    workers = {} if link is not None else {f"whisper-{number}": Address(f"whisper-{number}")
                                           for number in range(1, worker_count(settings) + 1)}
    limits, quota_settings = settings.limits, settings.quota
    rules = QuotaRules(quota_settings.daily_seconds, limits.rate_limit_seconds, limits.max_duration_seconds,
                       limits.max_file_mb, quota_settings.timezone, frozenset(quota_settings.unlimited_user_ids),
                       frozenset(settings.admin.user_ids), frozenset(supported_languages()))
    zone = ZoneInfo(quota_settings.timezone)

    def today():
        return utc_now().astimezone(zone).date()

    def start_quota() -> pykka.ActorRef:
        users = storage.ask(LoadUsers(today()), timeout=60)
        on_request_chats = storage.ask(LoadOnRequestChats(), timeout=60)
        _, unfinished = storage.ask(LoadIntakeState(), timeout=60)
        if unfinished:
            log.info("resuming %d jobs not answered before the last stop", len(unfinished))
        return QuotaActor.start(rules, dispatcher, sender, storage, users, on_request_chats, tuple(unfinished),
                                supervisor, metrics=metrics)

    def start_poller() -> pykka.ActorRef:
        offset, _ = storage.ask(LoadIntakeState(), timeout=60)
        return TelegramPoller.start(telegram, quota, storage, settings.telegram.poll_timeout_seconds, offset,
                                    supervisor, metrics=metrics)

    def start_webhook() -> pykka.ActorRef:
        offset, _ = storage.ask(LoadIntakeState(), timeout=60)
        return TelegramWebhook.start(telegram, quota, storage, settings.telegram.webhook_url,
                                     settings.telegram.webhook_listen, settings.telegram.webhook_secret, offset,
                                     supervisor, metrics=metrics)

    def whisper_spec(name: str, address: Address) -> ChildSpec:
        return ChildSpec(
            name, address,
            lambda: WhisperActor.start(name, make_transcriber(settings, model_path), telegram, dispatcher, sender,
                                       rules.max_file_bytes, supervisor, metrics),
            on_restart=lambda: dispatcher.tell(WorkerLost(name)),
            stop_timeout=settings.shutdown.grace_seconds)

    return [
        [ChildSpec("storage", storage, lambda: StorageActor.start(
            Storage(settings.database.url, settings.storage.keep_transcripts), today,
            settings.storage.retention_days, supervisor, metrics=metrics))],
        [ChildSpec("sender", sender, lambda: TelegramSender.start(
            telegram, storage, supervisor, pace=Pace(overall_per_second=settings.telegram.max_messages_per_second)))],
        [ChildSpec("quota", quota, start_quota)],
        [ChildSpec("dispatcher", dispatcher, lambda: Dispatcher.start(
            workers, quota, sender, storage, settings.queue.max_pending, limits.max_duration_seconds,
            limits.max_file_mb, settings.output.file_threshold_chars, supervisor, metrics=metrics,
            remote=remote if link is not None else None))],
        [whisper_spec(name, address) for name, address in workers.items()] if link is None else
        [ChildSpec("remote", remote, lambda: RemoteWorkers.start(
            link, dispatcher, sender, supervisor, grace_seconds=settings.shutdown.grace_seconds),
            stop_timeout=settings.shutdown.grace_seconds + 10)],
        [ChildSpec("webhook", Address("webhook"), start_webhook) if settings.telegram.mode == WEBHOOK_MODE else
         ChildSpec("poller", poller, start_poller, stop_timeout=settings.telegram.poll_timeout_seconds + 15)],
    ]


def start_supervised(build_groups: Callable[[Address], list[list[ChildSpec]]], outcome: Outcome,
                     metrics: Metrics) -> pykka.ActorRef:
    """Starts a Supervisor over the groups `build_groups` makes for its address, and waits until every
    child is ready or the Supervisor gave up (then `outcome.reason` says why)."""
    address = Address("supervisor")
    supervisor = Supervisor.start(build_groups(address), on_give_up=outcome.give_up, address=address,
                                  on_restarted=lambda name: metrics.restarts.labels(name).inc())
    try:
        supervisor.ask(Ping())
    except pykka.ActorDeadError:
        pass
    return supervisor


def make_transcriber(settings: Settings, model_path: str) -> Transcriber:
    whisper = settings.whisper
    return Transcriber(model_path, device=whisper.device, compute_type=whisper.compute_type,
                       cpu_threads=worker_threads(settings), beam_size=whisper.beam_size,
                       language=whisper.language, timeout_seconds=whisper.timeout_seconds,
                       max_audio_seconds=settings.limits.max_duration_seconds)


def run_bot(settings: Settings) -> int:
    """`voicebot run`: 0 after a requested stop, 1 when the bot could not start or gave up."""
    return serve(Bot(settings))


def serve(node) -> int:
    """Starts `node` (a Bot or a WorkerNode), runs it until SIGINT/SIGTERM or until it gives up, and
    stops it: 0 after a requested stop, 1 after a give-up. StartupError if it could not start."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: node.outcome.stop())
    node.start()
    while not node.outcome.finished.wait(0.5):
        pass
    log.info("stopping: %s", node.outcome.reason or "signal received")
    node.stop()
    return 0 if node.outcome.reason is None else 1
