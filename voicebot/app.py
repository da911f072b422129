"""Wiring: builds the actor system from the settings, and runs it until a signal or a give-up."""
import logging
import os
import signal
import threading
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pykka

from actors.base import Address
from actors.dispatcher import Dispatcher
from actors.messages import LoadIntakeState, LoadOnRequestChats, LoadUsers, Ping, WorkerLost
from actors.poller import TelegramPoller
from actors.quota import QuotaActor, QuotaRules
from actors.sender import Pace, TelegramSender
from actors.storage import StorageActor
from actors.supervisor import ChildSpec, Supervisor
from actors.whisper import WhisperActor
from voicebot.config import Settings
from voicebot.model_files import ModelError, resolve_model
from voicebot.replies import utc_now
from voicebot.storage import Storage, StorageError
from voicebot.telegram import TelegramClient, TelegramError
from voicebot.transcriber import Transcriber, supported_languages

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


def worker_threads(settings: Settings) -> int:
    if settings.whisper.cpu_threads:
        return settings.whisper.cpu_threads
    return max(1, (os.cpu_count() or 1) // settings.whisper.workers)


def prepare(settings: Settings) -> tuple[TelegramClient, str]:
    """Checks what can be checked before any actor starts: model, database, Bot API and token."""
    if not settings.telegram.token:
        raise StartupError("TELEGRAM_BOT_TOKEN is not set: export it (or set telegram.token) and run again")
    try:
        model_path = resolve_model(settings.whisper.model)
        storage = Storage(settings.database.url)
        storage.open()
        storage.close()
    except (ModelError, StorageError) as error:
        raise StartupError(str(error)) from None
    telegram = TelegramClient(settings.telegram.api_url, settings.telegram.token)
    try:
        telegram.get_me()
        telegram.delete_webhook()  # polling and a webhook exclude each other
    except TelegramError as error:
        hint = "check TELEGRAM_BOT_TOKEN" if error.status in (401, 404) else "check telegram.api_url"
        raise StartupError(f"the Bot API at {settings.telegram.api_url} answered {error.description}: {hint}")
    return telegram, model_path


def start_system(settings: Settings, telegram: TelegramClient, model_path: str, outcome: Outcome) -> pykka.ActorRef:
    """Starts the Supervisor and waits until every actor is ready (or it gave up)."""
    supervisor = Supervisor.start(build_groups(settings, telegram, model_path, Address("supervisor")),
                                  on_give_up=outcome.give_up)
    try:
        supervisor.ask(Ping())
    except pykka.ActorDeadError:
        pass
    if outcome.reason is not None:
        stop_system(supervisor)
        raise StartupError(outcome.reason)
    return supervisor


def stop_system(supervisor: pykka.ActorRef) -> None:
    supervisor.stop(block=True)
    pykka.ActorRegistry.stop_all()


def build_groups(settings: Settings, telegram: TelegramClient, model_path: str,
                 supervisor: Address) -> list[list[ChildSpec]]:
    storage, sender, quota, dispatcher, poller = (
        Address(name) for name in ("storage", "sender", "quota", "dispatcher", "poller"))
    workers = {f"whisper-{number}": Address(f"whisper-{number}")
               for number in range(1, settings.whisper.workers + 1)}
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
                                supervisor)

    def start_poller() -> pykka.ActorRef:
        offset, _ = storage.ask(LoadIntakeState(), timeout=60)
        return TelegramPoller.start(telegram, quota, storage, settings.telegram.poll_timeout_seconds, offset,
                                    supervisor)

    def whisper_spec(name: str, address: Address) -> ChildSpec:
        return ChildSpec(
            name, address,
            lambda: WhisperActor.start(name, _transcriber(settings, model_path), telegram, dispatcher, sender,
                                       rules.max_file_bytes, supervisor),
            on_restart=lambda: dispatcher.tell(WorkerLost(name)),
            stop_timeout=settings.shutdown.grace_seconds)

    return [
        [ChildSpec("storage", storage, lambda: StorageActor.start(
            Storage(settings.database.url, settings.storage.keep_transcripts), today,
            settings.storage.retention_days, supervisor))],
        [ChildSpec("sender", sender, lambda: TelegramSender.start(
            telegram, storage, supervisor, pace=Pace(overall_per_second=settings.telegram.max_messages_per_second)))],
        [ChildSpec("quota", quota, start_quota)],
        [ChildSpec("dispatcher", dispatcher, lambda: Dispatcher.start(
            workers, quota, sender, storage, settings.queue.max_pending, limits.max_duration_seconds, limits.max_file_mb,
            settings.output.file_threshold_chars, supervisor))],
        [whisper_spec(name, address) for name, address in workers.items()],
        [ChildSpec("poller", poller, start_poller, stop_timeout=settings.telegram.poll_timeout_seconds + 15)],
    ]


def _transcriber(settings: Settings, model_path: str) -> Transcriber:
    whisper = settings.whisper
    return Transcriber(model_path, device=whisper.device, compute_type=whisper.compute_type,
                       cpu_threads=worker_threads(settings), beam_size=whisper.beam_size,
                       language=whisper.language, timeout_seconds=whisper.timeout_seconds,
                       max_audio_seconds=settings.limits.max_duration_seconds)


def run_bot(settings: Settings) -> int:
    """`voicebot run`: 0 after a requested stop, 1 when the bot could not start or gave up."""
    telegram, model_path = prepare(settings)
    outcome = Outcome()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: outcome.stop())
    supervisor = start_system(settings, telegram, model_path, outcome)
    log.info("voicebot is running: polling %s with %d transcription workers", settings.telegram.api_url,
             settings.whisper.workers)
    while not outcome.finished.wait(0.5):
        pass
    log.info("stopping: %s", outcome.reason or "signal received")
    stop_system(supervisor)
    return 0 if outcome.reason is None else 1
