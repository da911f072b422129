"""The one bootstrap: builds a node from the settings, wiring the actors to the adapters, and runs it
until a signal or a give-up. A node is a bot node (`voicebot run`: intake, users, dispatch, replies,
and with no broker the WhisperActors too) or a worker node (`voicebot worker`: WhisperActors fed by
the broker). Both are started, checked, supervised and stopped the same way."""
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pykka

from actors.base import Address
from actors.dispatcher import Dispatcher
from actors.messages import (
    AnnounceReady,
    LoadChatLanguages,
    LoadChatVocabularies,
    LoadOffset,
    LoadOnRequestChats,
    LoadUnfinishedJobs,
    LoadUsers,
    Ping,
    ResumeUnfinished,
    SystemReady,
    WorkerLost,
)
from actors.node import NodeDispatcher
from actors.poller import TelegramPoller
from actors.quota import QuotaActor
from actors.remote import RemoteWorkers
from actors.sender import Pace, TelegramSender
from actors.storage import StorageActor
from actors.supervisor import ChildSpec, Supervisor
from actors.users import QuotaRules
from actors.webhook import TelegramWebhook
from actors.whisper import WhisperActor
from voicebot.adapters.files import DownloadFolder, LocalFiles
from voicebot.adapters.metrics import Metrics, MetricsServer
from voicebot.adapters.model_files import resolve_model
from voicebot.adapters.storage import Storage
from voicebot.adapters.storage.leadership import PING_SECONDS, Leadership, is_shared_database
from voicebot.adapters.telegram import TelegramClient
from voicebot.adapters.transcriber import Transcriber, supported_languages
from voicebot.adapters.translations import load_languages
from voicebot.adapters.webhook import WebhookServer
from voicebot.app.config import WEBHOOK_MODE, Settings, worker_count, worker_threads
from voicebot.app.job_intake import JobIntake
from voicebot.core.buttons import ButtonData, secret_of
from voicebot.core.errors import BrokerError, ModelError, StorageError, TelegramError
from voicebot.core.ports import BrokerLink, Fence
from voicebot.core.replies import ENGLISH, Languages, utc_now

log = logging.getLogger(__name__)

DOWNLOAD_ALLOWANCE_SECONDS = 120   # on top of whisper.timeout_seconds, before a worker node's job counts as stuck
STANDBY_POLL_SECONDS = 0.5         # how often a standby tries to take the lead
STOP_AFTER_DEPOSED_SECONDS = 30    # past the grace period, a deposed leader still stopping exits anyway
BOT, WORKER = "bot", "worker"


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


class Node:
    """One voicebot process for one configuration: the checks before start, the actor system under its
    Supervisor, the broker link (when there is one) and the metrics endpoint."""

    def __init__(self, settings: Settings, kind: str = BOT):
        self.settings = settings
        self.kind = kind
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self.metrics = Metrics()
        self.languages = load_languages()
        self.outcome = Outcome()
        self._storage = Storage(settings.database.url)
        # Bot nodes sharing a PostgreSQL database elect one leader; the others stand by.
        self._leadership = (Leadership(settings.database.url, self.name)
                            if kind == BOT and is_shared_database(settings.database.url) else None)
        self._standing_by = False
        self._transcribers: Transcribers | None = None
        self._downloads = DownloadFolder()
        self._link: BrokerLink | None = None
        self._supervisor: pykka.ActorRef | None = None
        self._metrics_server: MetricsServer | None = None
        self._node = Address("node")   # a worker node's NodeDispatcher, which its broker intake tells each job

    def start(self, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Checks; on a shared database, stands by until this node leads; then starts every actor and waits
        until all are ready. StartupError if it cannot start; False if `should_stop` said so while standing by."""
        telegram, model_path = self._prepare()
        self._transcribers = Transcribers(self.settings, model_path)
        if self.settings.metrics.listen:
            self._metrics_server = MetricsServer(self.metrics, self.settings.metrics.listen, self._health).start()
        if self._leadership is not None and not self._stand_by(should_stop):
            return False
        if self.kind == BOT:
            self._take_the_lead(telegram)
        self._supervisor = start_supervised(
            lambda supervisor: self._groups(telegram, supervisor), self.outcome, self.metrics)
        if self.outcome.reason is not None:
            self.stop()
            raise StartupError(self.outcome.reason)
        if self.kind == WORKER:
            self._take_jobs()
        log.info("%s", self._running_line())
        return True

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
        if self._link is not None and self.kind == WORKER:
            self._link.stop_consuming(self.settings.shutdown.grace_seconds)   # running jobs may finish first
        if self._supervisor is not None:
            self._supervisor.stop(block=True)
        pykka.ActorRegistry.stop_all()
        if self._metrics_server is not None:
            self._metrics_server.stop()
        if self._link is not None:
            self._link.close()
        self._downloads.remove()
        if self._leadership is not None:
            self._leadership.close()   # last: a standby takes over once this node has stopped acting
        self._storage.close()

    def _prepare(self) -> tuple[TelegramClient, str | None]:
        """Checks what can be checked before any actor starts: model, database, broker, Bot API and token."""
        settings = self.settings
        if self.kind == WORKER and not settings.broker.url:
            raise StartupError("broker.url is not set: a worker node takes its jobs from the bot node's broker")
        if not settings.telegram.token:
            needed = ("" if self.kind == BOT else
                      ": the worker downloads recordings with the bot's token")
            raise StartupError(f"TELEGRAM_BOT_TOKEN is not set{needed}; export it (or set telegram.token) and "
                               f"run again")
        try:
            model_path = resolve_model(settings.whisper.model) if self._transcribes() else None
            self._storage.open()   # migrates if this node is the first to start
            if self.kind == BOT:
                self._storage.close()   # the StorageActor opens its own connection on its own thread
            if settings.broker.url:
                self._link = _connect_broker(settings.broker.url)
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
        local_files = LocalFiles(telegram.local_files_map)
        problem = local_files.problem()
        if problem is not None:
            raise StartupError(f"telegram.local_files_map: {problem}; mount the Bot API server's working "
                               f"directory there (a shared volume), or correct the map")
        return local_files

    def _check_bot_api(self) -> TelegramClient:
        telegram = TelegramClient(self.settings.telegram.api_url, self.settings.telegram.token, metrics=self.metrics,
                                  fence=self._leadership, local_files=self._local_files(),
                                  downloads=self._downloads)
        self._bot_api_call(telegram.get_me)
        return telegram

    def _bot_api_call(self, call: Callable[[], object]) -> None:
        try:
            call()
        except TelegramError as error:
            hint = "check TELEGRAM_BOT_TOKEN" if error.status in (401, 404) else "check telegram.api_url"
            raise StartupError(f"the Bot API at {self.settings.telegram.api_url} answered {error.description}: "
                               f"{hint}") from None

    def _stand_by(self, should_stop: Callable[[], bool]) -> bool:
        """Waits until this node holds the lead: True then, False if `should_stop` says so first."""
        self._standing_by = True
        self.metrics.leading(False)
        if self._try_to_lead("no other bot node leads"):
            return True
        log.info("standing by: another bot node leads; this one takes over when that node's database session ends")
        if self._transcribes():
            self._transcribers.load_ahead(_worker_addresses(self.settings))
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

    def _take_the_lead(self, telegram: TelegramClient) -> None:
        """What only the leader does, once it leads: Telegram's menus, and polling deletes any webhook
        (they exclude each other; in webhook mode the TelegramWebhook registers it once its server listens)."""
        self.metrics.leading(True)
        if self.settings.telegram.mode != WEBHOOK_MODE:
            self._bot_api_call(telegram.delete_webhook)
        self._bot_api_call(lambda: self._show_menus(telegram))

    def _transcribes(self) -> bool:
        """With a broker the worker nodes transcribe: a bot node loads no model then."""
        return self.kind == WORKER or not self.settings.broker.url

    def _groups(self, telegram: TelegramClient, supervisor: Address) -> list[list[ChildSpec]]:
        if self.kind == BOT:
            return bot_groups(self.settings, telegram, self._transcribers, supervisor, self.metrics, self._link,
                              self.languages, fence=self._leadership)
        return worker_groups(self.settings, telegram, self._transcribers, supervisor, self.metrics, self._link,
                             self.name, self._node, self.languages)

    def _show_menus(self, telegram: TelegramClient) -> None:
        """Telegram's own menus in every language the bot speaks; English for the rest."""
        for words in self.languages:
            code = None if words.language == ENGLISH else words.language
            telegram.set_menus(words.commands(), words.description(), words.short_description(), code)

    def _take_jobs(self) -> None:
        settings = self.settings
        job_seconds = settings.whisper.timeout_seconds + DOWNLOAD_ALLOWANCE_SECONDS
        intake = JobIntake(self._storage, self._link, self._node, settings.broker.max_attempts, job_seconds, self.name)
        self._link.consume_jobs(intake.take, worker_count(settings), job_seconds + 60)

    def _health(self) -> str | None:
        """What /healthz says: None when unhealthy; else a bot node's role on a shared database, or "ok"."""
        if self.kind == WORKER:
            return "ok" if self.metrics.any_worker_ready() else None
        if self._leadership is not None and self._standing_by:
            return "standby"
        leads = self._leadership is None or self._leadership.holds()
        if not (leads and self.metrics.healthy(self.settings.telegram.poll_timeout_seconds + 30)):
            return None
        return "ok" if self._leadership is None else "leader"

    def _running_line(self) -> str:
        workers = worker_count(self.settings)
        if self.kind == WORKER:
            return (f"worker node {self.name} is taking jobs from {self._link.address} with {workers} "
                    f"transcription workers")
        where = (f"worker nodes through {self._link.address}" if self._link is not None else
                 f"{workers} transcription workers")
        return f"voicebot is running: {self.settings.telegram.mode} mode, {where}"


class Transcribers:
    """Each WhisperActor's model, made as it starts. A standby makes the first ones ahead, loaded and warmed
    up, so that taking over costs no model load; a restarted WhisperActor always gets a fresh one."""

    def __init__(self, settings: Settings, model_path: str | None):
        self._settings = settings
        self._model_path = model_path
        self._ahead: dict[str, Transcriber] = {}

    def load_ahead(self, names) -> None:
        for name in names:
            transcriber = make_transcriber(self._settings, self._model_path)
            transcriber.load()
            transcriber.warm_up()
            self._ahead[name] = transcriber
        log.info("models loaded for %d transcription workers, ready to take over", len(self._ahead))

    def make(self, name: str) -> Transcriber:
        return self._ahead.pop(name, None) or make_transcriber(self._settings, self._model_path)


def bot_groups(settings: Settings, telegram: TelegramClient, transcribers: Transcribers, supervisor: Address,
               metrics: Metrics, link: BrokerLink | None, languages: Languages,
               fence: Fence | None = None) -> list[list[ChildSpec]]:
    """The bot node's actors in start order. With `link` (a broker), RemoteWorkers stands in for the
    WhisperActors. With `fence` (a leader's), no write and no Bot API call that changes anything goes out
    once it is down."""
    storage, sender, quota, dispatcher, poller, remote = (
        Address(name) for name in ("storage", "sender", "quota", "dispatcher", "poller", "remote"))
    workers = {} if link is not None else _worker_addresses(settings)
    limits, quota_settings = settings.limits, settings.quota
    buttons = ButtonData(secret_of(settings.telegram.token))   # the same on every node of the bot
    rules = QuotaRules(quota_settings.daily_seconds, limits.rate_limit_seconds, limits.max_duration_seconds,
                       limits.max_file_mb, quota_settings.timezone, frozenset(quota_settings.unlimited_user_ids),
                       frozenset(settings.admin.user_ids), frozenset(supported_languages()))
    zone = ZoneInfo(quota_settings.timezone)

    def today():
        return utc_now().astimezone(zone).date()

    def start_quota() -> pykka.ActorRef:
        users = storage.ask(LoadUsers(today()), timeout=60)
        on_request_chats = storage.ask(LoadOnRequestChats(), timeout=60)
        chat_languages = storage.ask(LoadChatLanguages(), timeout=60)
        chat_vocabularies = storage.ask(LoadChatVocabularies(), timeout=60)
        unfinished = storage.ask(LoadUnfinishedJobs(), timeout=60)
        if unfinished:
            log.info("resuming %d jobs not answered before the last stop", len(unfinished))
        return QuotaActor.start(rules, dispatcher, sender, storage, users, on_request_chats, tuple(unfinished),
                                supervisor, metrics=metrics, languages=languages, chat_languages=chat_languages,
                                chat_vocabularies=chat_vocabularies, buttons=buttons)

    def start_sender() -> pykka.ActorRef:
        status_messages = {pending.incoming.job.key: pending.status_message_id
                           for pending in storage.ask(LoadUnfinishedJobs(), timeout=60)
                           if pending.status_message_id is not None}
        return TelegramSender.start(_sending_client(settings, metrics, fence), storage, supervisor,
                                    pace=Pace(overall_per_second=settings.telegram.max_messages_per_second),
                                    status_messages=status_messages)

    def start_poller() -> pykka.ActorRef:
        return TelegramPoller.start(telegram, quota, storage, settings.telegram.poll_timeout_seconds,
                                    storage.ask(LoadOffset(), timeout=60), supervisor, metrics=metrics)

    def start_webhook() -> pykka.ActorRef:
        telegram_settings = settings.telegram
        endpoint = WebhookServer(telegram_settings.webhook_listen, urlsplit(telegram_settings.webhook_url).path,
                                 telegram_settings.webhook_secret, metrics)
        return TelegramWebhook.start(telegram, quota, storage, endpoint, telegram_settings.webhook_url,
                                     telegram_settings.webhook_secret, storage.ask(LoadOffset(), timeout=60),
                                     supervisor, metrics=metrics)

    transcription = (
        [whisper_spec(name, address, settings, transcribers, telegram, dispatcher, sender, supervisor, metrics,
                      languages)
         for name, address in workers.items()] if link is None else
        [ChildSpec("remote", remote, lambda: RemoteWorkers.start(
            link, dispatcher, sender, supervisor, grace_seconds=settings.shutdown.grace_seconds),
            stop_timeout=settings.shutdown.grace_seconds + 10)])
    return [
        [ChildSpec("storage", storage, lambda: StorageActor.start(
            Storage(settings.database.url, settings.storage.keep_transcripts, fence), today,
            settings.storage.retention_days, supervisor, metrics=metrics))],
        # A restarted sender or Dispatcher lost the jobs it held in memory: the QuotaActor resumes the stored
        # ones (those still under way are recognised), and a new Dispatcher hears again which workers there are.
        [ChildSpec("sender", sender, start_sender, on_restart=lambda: quota.tell(ResumeUnfinished()))],
        [ChildSpec("quota", quota, start_quota, on_restart=lambda: quota.tell(SystemReady()))],
        [ChildSpec("dispatcher", dispatcher, lambda: Dispatcher.start(
            workers, quota, sender, storage, settings.queue.max_pending, limits.max_duration_seconds,
            limits.max_file_mb, settings.output.file_threshold_chars, supervisor, metrics=metrics,
            remote=remote if link is not None else None, languages=languages, buttons=buttons),
            on_restart=lambda: _dispatcher_restarted(quota, [remote] if link is not None else list(workers.values())))],
        transcription,
        [ChildSpec("webhook", Address("webhook"), start_webhook) if settings.telegram.mode == WEBHOOK_MODE else
         ChildSpec("poller", poller, start_poller, stop_timeout=settings.telegram.poll_timeout_seconds + 15)],
    ]


def worker_groups(settings: Settings, telegram: TelegramClient, transcribers: Transcribers, supervisor: Address,
                  metrics: Metrics, link: BrokerLink, node_name: str, node: Address,
                  languages: Languages) -> list[list[ChildSpec]]:
    """A worker node's actors in start order: its NodeDispatcher (at `node`), then its WhisperActors."""
    workers = _worker_addresses(settings)
    return [
        [ChildSpec("node", node, lambda: NodeDispatcher.start(node_name, workers, link, supervisor,
                                                              metrics=metrics))],
        [whisper_spec(name, address, settings, transcribers, telegram, node, node, supervisor, metrics, languages)
         for name, address in workers.items()],
    ]


def whisper_spec(name: str, address: Address, settings: Settings, transcribers: Transcribers,
                 telegram: TelegramClient, dispatcher: Address, sender: Address, supervisor: Address, metrics: Metrics,
                 languages: Languages) -> ChildSpec:
    """A WhisperActor in its slot: restarted with a fresh model, and its dispatcher told the job it held is lost."""
    max_file_bytes = settings.limits.max_file_mb * 1024 * 1024
    return ChildSpec(
        name, address,
        lambda: WhisperActor.start(name, transcribers.make(name), telegram, dispatcher, sender,
                                   max_file_bytes, supervisor, metrics, languages),
        on_restart=lambda: dispatcher.tell(WorkerLost(name)),
        stop_timeout=settings.shutdown.grace_seconds)


def make_transcriber(settings: Settings, model_path: str, cpu_threads: int | None = None) -> Transcriber:
    """The configured model; `cpu_threads` overrides the share of the cores each WhisperActor gets."""
    whisper = settings.whisper
    return Transcriber(model_path, device=whisper.device, compute_type=whisper.compute_type,
                       cpu_threads=cpu_threads or worker_threads(settings), beam_size=whisper.beam_size,
                       language=whisper.language, timeout_seconds=whisper.timeout_seconds,
                       max_audio_seconds=settings.limits.max_duration_seconds)


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


def _dispatcher_restarted(quota: Address, workers) -> None:
    for worker in workers:
        worker.tell(AnnounceReady())
    quota.tell(ResumeUnfinished())


def _sending_client(settings: Settings, metrics: Metrics, fence: Fence | None) -> TelegramClient:
    """The sender's client: one attempt per call, since the sender tries again on its own timers, per chat."""
    return TelegramClient(settings.telegram.api_url, settings.telegram.token, attempts=1, metrics=metrics,
                          fence=fence)


def _connect_broker(url: str) -> BrokerLink:
    """Imported here, so that a node without a broker never loads Dramatiq and its clients."""
    from voicebot.adapters.broker import BrokerLink as DramatiqLink
    link = DramatiqLink(url)
    link.check()
    return link


def _worker_addresses(settings: Settings) -> dict[str, Address]:
    return {f"whisper-{number}": Address(f"whisper-{number}") for number in range(1, worker_count(settings) + 1)}


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


def run_bot(settings: Settings) -> int:
    """`voicebot run`: 0 after a requested stop, 1 when the bot could not start or gave up."""
    return serve(Node(settings, BOT))


def run_worker(settings: Settings) -> int:
    """`voicebot worker`: 0 after a requested stop, 1 when the node could not start or gave up."""
    return serve(Node(settings, WORKER))
