"""The one bootstrap: the two kinds of node, and the wiring of each kind's actors to the adapters. A node is a
bot node (`voicebot run`: intake, users, dispatch, replies, and with no broker the WhisperActors too) or a worker
node (`voicebot worker`: WhisperActors fed by the broker). Both are started, checked, supervised and stopped the
same way, by voicebot/app/node.py; a kind says what its node does differently, and which actors it runs."""
import logging
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pykka

from actors.api import API_DOOR, TELEGRAM_DOOR, ApiDoor, DoorRouting, RequestDoor, Uploads, answer_deadline
from actors.base import Address
from actors.dispatcher import Dispatcher
from actors.messages import (
    AnnounceReady,
    LoadBalances,
    LoadBusinessConnections,
    LoadChatSettings,
    LoadOffset,
    LoadUnfinishedJobs,
    LoadUsers,
    QueueLost,
    ResumeUnfinished,
    SystemReady,
    WorkerLost,
)
from actors.node import NodeDispatcher
from actors.outbox import Pace
from actors.poller import TelegramPoller
from actors.quota import QuotaActor
from actors.remote import RemoteWorkers
from actors.sender import TelegramSender
from actors.storage import StorageActor
from actors.supervisor import ChildSpec
from actors.users import QuotaRules
from actors.webhook import TelegramWebhook
from actors.whisper import WhisperActor
from voicebot.adapters.api_server import ApiServer
from voicebot.adapters.audio import stated_length
from voicebot.adapters.metrics import Metrics
from voicebot.adapters.storage import Storage
from voicebot.adapters.storage.api_keys import ApiKeys
from voicebot.adapters.telegram import TelegramClient
from voicebot.adapters.transcriber import supported_languages
from voicebot.adapters.webhook import WebhookServer
from voicebot.app.config import WEBHOOK_MODE, Settings, worker_count
from voicebot.app.job_intake import JobIntake
from voicebot.app.node import Node, StartupError, serve
from voicebot.app.transcribers import Transcribers, worker_names
from voicebot.core.billing import BillingRules, Pack, payload_key
from voicebot.core.buttons import ButtonData, secret_of
from voicebot.core.ports import AudioSource, BrokerLink, Fence, Mailbox
from voicebot.core.replies import ENGLISH, Languages, utc_now

log = logging.getLogger(__name__)

DOWNLOAD_ALLOWANCE_SECONDS = 120   # on top of whisper.timeout_seconds, before a worker node's job counts as stuck
API_ANSWER_MARGIN_SECONDS = 60     # the HTTP server's own deadline for an answer, past the ApiDoor's


class BotKind:
    """A bot node (`voicebot run`): intake, users, dispatch, replies, and with no broker the WhisperActors too.
    Bot nodes sharing a PostgreSQL database elect one leader; the others stand by."""

    elects_leader = True
    keeps_database = False   # the StorageActor opens its own connection on its own thread
    token_note = ""

    def __init__(self):
        self._door = Address("api")   # the ApiDoor, which the transcription API's server hands requests to
        self._api_server: ApiServer | None = None

    def check(self, settings: Settings) -> None:
        if settings.api.listen and settings.broker.url:
            raise StartupError("api.listen is set, and so is broker.url: API requests are transcribed by the bot "
                               "node's own workers, and a bot node with a broker runs none; unset one of them")

    def transcribes(self, settings: Settings) -> bool:
        """With a broker the worker nodes transcribe: a bot node loads no model then."""
        return not settings.broker.url

    def before_start(self, node: Node, telegram: TelegramClient) -> None:
        """What only the leader does, once it leads: Telegram's menus, and polling deletes any webhook
        (they exclude each other; in webhook mode the TelegramWebhook registers it once its server listens)."""
        node.metrics.leading(True)
        if node.settings.telegram.mode != WEBHOOK_MODE:
            node.bot_api_call(telegram.delete_webhook)
        node.bot_api_call(lambda: _show_menus(telegram, node.languages, node.settings.billing.enabled))
        self._serve_api(node.settings)

    def groups(self, node: Node, telegram: TelegramClient, supervisor: Address) -> list[list[ChildSpec]]:
        return bot_groups(node.settings, telegram=telegram, transcribers=node.transcribers, supervisor=supervisor,
                          metrics=node.metrics, link=node.link, languages=node.languages, fence=node.fence,
                          door=self._door)

    def after_start(self, node: Node) -> None:
        pass

    def _serve_api(self, settings: Settings) -> None:
        """The transcription API (api.listen set), listening before the actors start, so that an address in use
        stops the start at once: a request that comes meanwhile waits for the ApiDoor in its Address."""
        if not settings.api.listen:
            return
        server = ApiServer(settings.api.listen, RequestDoor(self._door), ApiKeys(), model=settings.whisper.model,
                           languages=frozenset(supported_languages()),
                           max_file_bytes=settings.limits.max_file_mb * 1024 * 1024,
                           grace_seconds=settings.shutdown.grace_seconds, stated_length=stated_length,
                           answer_seconds=api_deadline(settings) + API_ANSWER_MARGIN_SECONDS)
        try:
            self._api_server = server.start()
        except OSError as error:
            raise StartupError(str(error)) from None

    def before_stop(self, node: Node) -> None:
        """The API takes no more requests; those under way have shutdown.grace_seconds to be answered, then are
        answered 503 (Retry-After), while the actors still run: what those jobs bring later is not charged."""
        if self._api_server is not None:
            self._api_server.stop()
            self._api_server = None

    def healthy(self, node: Node) -> bool:
        return node.metrics.healthy(node.settings.telegram.poll_timeout_seconds + 30)

    def running_line(self, node: Node) -> str:
        where = (f"worker nodes through {node.link.address}" if node.link is not None else
                 f"{worker_count(node.settings)} transcription workers")
        return f"voicebot is running: {node.settings.telegram.mode} mode, {where}"


class WorkerKind:
    """A worker node (`voicebot worker`): WhisperActors fed by the broker, through its NodeDispatcher."""

    elects_leader = False
    keeps_database = True    # its broker intake counts each job's attempts there
    token_note = ": the worker downloads recordings with the bot's token"

    def __init__(self):
        self._dispatcher = Address("node")   # the NodeDispatcher, which the broker intake tells each job

    def check(self, settings: Settings) -> None:
        if not settings.broker.url:
            raise StartupError("broker.url is not set: a worker node takes its jobs from the bot node's broker")

    def transcribes(self, settings: Settings) -> bool:
        return True

    def before_start(self, node: Node, telegram: TelegramClient) -> None:
        pass

    def groups(self, node: Node, telegram: TelegramClient, supervisor: Address) -> list[list[ChildSpec]]:
        return worker_groups(node.settings, telegram=telegram, transcribers=node.transcribers, supervisor=supervisor,
                             metrics=node.metrics, link=node.link, node_name=node.name, node=self._dispatcher,
                             languages=node.languages)

    def after_start(self, node: Node) -> None:
        """Takes jobs from the broker."""
        settings = node.settings
        job_seconds = settings.whisper.timeout_seconds + DOWNLOAD_ALLOWANCE_SECONDS
        intake = JobIntake(node.storage, node.link, self._dispatcher, settings.broker.max_attempts, job_seconds,
                           node.name)
        node.link.consume_jobs(intake.take, worker_count(settings), job_seconds + 60)

    def before_stop(self, node: Node) -> None:
        if node.link is not None:
            node.link.stop_consuming(node.settings.shutdown.grace_seconds)   # running jobs may finish first

    def healthy(self, node: Node) -> bool:
        return node.metrics.any_worker_ready()

    def running_line(self, node: Node) -> str:
        return (f"worker node {node.name} is taking jobs from {node.link.address} with "
                f"{worker_count(node.settings)} transcription workers")


def bot_node(settings: Settings) -> Node:
    return Node(settings, BotKind())


def worker_node(settings: Settings) -> Node:
    return Node(settings, WorkerKind())


def run_bot(settings: Settings) -> int:
    """`voicebot run`: 0 after a requested stop, 1 when the bot could not start or gave up."""
    return serve(bot_node(settings))


def run_worker(settings: Settings) -> int:
    """`voicebot worker`: 0 after a requested stop, 1 when the node could not start or gave up."""
    return serve(worker_node(settings))


def billing_rules(settings: Settings) -> BillingRules:
    """config [billing] as core.billing has it."""
    billing = settings.billing
    return BillingRules(billing.enabled, tuple(Pack(pack["minutes"], pack["stars"]) for pack in billing.packs),
                        billing.expire_days, billing.support)


def bot_groups(settings: Settings, *, telegram: TelegramClient, transcribers: Transcribers, supervisor: Address,
               metrics: Metrics, link: BrokerLink | None, languages: Languages,
               fence: Fence | None = None, door: Address | None = None) -> list[list[ChildSpec]]:
    """The bot node's actors in start order. With `link` (a broker), RemoteWorkers stands in for the
    WhisperActors. With `fence` (a leader's), no write and no Bot API call that changes anything goes out
    once it is down. With api.listen, the ApiDoor at `door` takes the transcription API's requests: what the
    QuotaActor, the Dispatcher and the WhisperActors say of those jobs goes there (DoorRouting), and their
    uploads are the WhisperActors' recordings (Uploads)."""
    storage, sender, quota, dispatcher, poller, remote = (
        Address(name) for name in ("storage", "sender", "quota", "dispatcher", "poller", "remote"))
    door = door or Address("api")
    serves_api = bool(settings.api.listen)
    answers = DoorRouting(sender, door) if serves_api else sender   # where a job's refusal, status and result go
    recordings = Uploads(telegram) if serves_api else telegram
    workers = {} if link is not None else _worker_addresses(settings)
    limits, quota_settings = settings.limits, settings.quota
    buttons = ButtonData(secret_of(settings.telegram.token))   # the same on every node of the bot
    billing, invoice_key = billing_rules(settings), payload_key(settings.telegram.token)   # so is this key
    rules = QuotaRules(quota_settings.daily_seconds, limits.rate_limit_seconds, limits.max_duration_seconds,
                       limits.max_file_mb, quota_settings.timezone, frozenset(quota_settings.unlimited_user_ids),
                       frozenset(settings.admin.user_ids), frozenset(supported_languages()),
                       charge_repeats=quota_settings.charge_repeats,
                       channel_daily_seconds=quota_settings.channel_daily_seconds)
    # Answers from memory need kept transcripts: without them every look-up would miss. What transcribes is the
    # model and what shapes its output for every job alike (the configured language, the beam): a change of any
    # of them makes new transcripts, never an old one's answer.
    whisper = settings.whisper
    transcribed_by = (f"{whisper.model}|{whisper.language}|beam {whisper.beam_size}"
                      if settings.storage.keep_transcripts else None)
    zone = ZoneInfo(quota_settings.timezone)

    def today():
        return utc_now().astimezone(zone).date()

    def start_quota() -> pykka.ActorRef:
        users = storage.ask(LoadUsers(today()), timeout=60)
        chat_settings = storage.ask(LoadChatSettings(), timeout=60)
        connections = storage.ask(LoadBusinessConnections(), timeout=60)
        balances = storage.ask(LoadBalances(), timeout=60)
        unfinished = storage.ask(LoadUnfinishedJobs(), timeout=60)
        if unfinished:
            log.info("resuming %d jobs not answered before the last stop", len(unfinished))
        return QuotaActor.start(rules=rules, dispatcher=dispatcher, sender=answers, storage=storage, users=users,
                                chat_settings=chat_settings, business_connections=connections,
                                billing=billing, payload_key=invoice_key, balances=balances, address=quota,
                                resumed=tuple(unfinished), supervisor=supervisor,
                                metrics=metrics, languages=languages, buttons=buttons, transcribed_by=transcribed_by)

    def start_sender() -> pykka.ActorRef:
        # Not a business job's: its status may be in either of two chats, which only its resumption says.
        status_messages = {pending.incoming.job.key: pending.status_message_id
                           for pending in storage.ask(LoadUnfinishedJobs(), timeout=60)
                           if pending.status_message_id is not None and pending.incoming.job.business is None}
        return TelegramSender.start(_sending_client(settings, metrics, fence), storage=storage, supervisor=supervisor,
                                    pace=Pace(overall_per_second=settings.telegram.max_messages_per_second),
                                    status_messages=status_messages)

    def start_poller() -> pykka.ActorRef:
        return TelegramPoller.start(telegram=telegram, quota=quota, storage=storage,
                                    poll_timeout=settings.telegram.poll_timeout_seconds,
                                    offset=storage.ask(LoadOffset(), timeout=60), supervisor=supervisor,
                                    metrics=metrics)

    def start_webhook() -> pykka.ActorRef:
        telegram_settings = settings.telegram
        endpoint = WebhookServer(telegram_settings.webhook_listen, urlsplit(telegram_settings.webhook_url).path,
                                 telegram_settings.webhook_secret, metrics)
        return TelegramWebhook.start(telegram=telegram, quota=quota, storage=storage, endpoint=endpoint,
                                     url=telegram_settings.webhook_url, secret=telegram_settings.webhook_secret,
                                     offset=storage.ask(LoadOffset(), timeout=60), supervisor=supervisor,
                                     metrics=metrics)

    transcription = (
        [whisper_spec(name, address, settings, transcribers=transcribers, telegram=recordings,
                      dispatcher=dispatcher, sender=answers, supervisor=supervisor, metrics=metrics,
                      languages=languages)
         for name, address in workers.items()] if link is None else
        [ChildSpec("remote", remote, lambda: RemoteWorkers.start(
            link=link, dispatcher=dispatcher, sender=sender, supervisor=supervisor,
            job_seconds=settings.whisper.timeout_seconds + DOWNLOAD_ALLOWANCE_SECONDS,
            grace_seconds=settings.shutdown.grace_seconds, fence=fence),
            stop_timeout=settings.shutdown.grace_seconds + 10)])
    return [
        [ChildSpec("storage", storage, lambda: StorageActor.start(
            storage=Storage(settings.database.url, settings.storage.keep_transcripts, fence), today=today,
            retention_days=settings.storage.retention_days, supervisor=supervisor, metrics=metrics,
            billing=billing, payload_key=invoice_key))],
        # A restarted sender or Dispatcher lost the jobs it held in memory: the QuotaActor resumes the stored
        # ones (those still under way are recognised), and a new Dispatcher hears again which workers there are.
        [ChildSpec("sender", sender, start_sender, on_restart=lambda: quota.tell(ResumeUnfinished()))],
        [ChildSpec("quota", quota, start_quota,
                   on_restart=lambda: _quota_restarted(quota, door if serves_api else None))],
        [ChildSpec("dispatcher", dispatcher, lambda: Dispatcher.start(
            workers=workers, quota=quota, sender=answers, storage=storage, max_pending=settings.queue.max_pending,
            max_duration_seconds=limits.max_duration_seconds, max_file_mb=limits.max_file_mb,
            file_threshold_chars=settings.output.file_threshold_chars, supervisor=supervisor, metrics=metrics,
            remote=remote if link is not None else None, languages=languages, buttons=buttons,
            bot_username=telegram.username, keeps_transcripts=settings.storage.keep_transcripts,
            doors=(TELEGRAM_DOOR, API_DOOR) if serves_api else (TELEGRAM_DOOR,)),
            on_restart=lambda: _dispatcher_restarted(quota, [remote] if link is not None else list(workers.values()),
                                                     door if serves_api else None))],
        transcription,
        *([[ChildSpec("api", door, lambda: ApiDoor.start(quota=quota, uploads=recordings,
                                                         deadline_seconds=api_deadline(settings),
                                                         supervisor=supervisor, metrics=metrics, languages=languages))]]
          if serves_api else []),
        [ChildSpec("webhook", Address("webhook"), start_webhook) if settings.telegram.mode == WEBHOOK_MODE else
         ChildSpec("poller", poller, start_poller, stop_timeout=settings.telegram.poll_timeout_seconds + 15)],
    ]


def worker_groups(settings: Settings, *, telegram: TelegramClient, transcribers: Transcribers, supervisor: Address,
                  metrics: Metrics, link: BrokerLink, node_name: str, node: Address,
                  languages: Languages) -> list[list[ChildSpec]]:
    """A worker node's actors in start order: its NodeDispatcher (at `node`), then its WhisperActors."""
    workers = _worker_addresses(settings)
    return [
        [ChildSpec("node", node, lambda: NodeDispatcher.start(node=node_name, workers=workers, link=link,
                                                              supervisor=supervisor, metrics=metrics))],
        [whisper_spec(name, address, settings, transcribers=transcribers, telegram=telegram, dispatcher=node,
                      sender=node, supervisor=supervisor, metrics=metrics, languages=languages)
         for name, address in workers.items()],
    ]


def whisper_spec(name: str, address: Address, settings: Settings, *, transcribers: Transcribers,
                 telegram: AudioSource, dispatcher: Address, sender: Mailbox, supervisor: Address, metrics: Metrics,
                 languages: Languages) -> ChildSpec:
    """A WhisperActor in its slot: restarted with a fresh model, and its dispatcher told the job it held is lost."""
    max_file_bytes = settings.limits.max_file_mb * 1024 * 1024
    return ChildSpec(
        name, address,
        lambda: WhisperActor.start(name=name, transcriber=transcribers.make(name), audio_source=telegram,
                                   dispatcher=dispatcher, sender=sender, max_file_bytes=max_file_bytes,
                                   supervisor=supervisor, metrics=metrics, languages=languages,
                                   quarantine=transcribers.quarantine()),
        on_restart=lambda: dispatcher.tell(WorkerLost(name)),
        stop_timeout=settings.shutdown.grace_seconds)


def _quota_restarted(quota: Address, door: Address | None) -> None:
    """The stored jobs are resumed; the API's requests, whose AdmitRequests may have been lost in the old
    QuotaActor's mailbox, are answered (`door`): a job of theirs that was admitted runs on undelivered."""
    quota.tell(SystemReady(restarted=True))
    if door is not None:
        door.tell(QueueLost())


def api_deadline(settings: Settings) -> float:
    """How long an API request waits for its job at most (actors.api.answer_deadline)."""
    return answer_deadline(settings.whisper.timeout_seconds, settings.queue.max_pending, worker_count(settings))


def _dispatcher_restarted(quota: Address, workers, door: Address | None) -> None:
    """The stored jobs are resumed; the API's requests, whose jobs are not stored, are answered (`door`)."""
    for worker in workers:
        worker.tell(AnnounceReady())
    quota.tell(ResumeUnfinished())
    if door is not None:
        door.tell(QueueLost())


def _sending_client(settings: Settings, metrics: Metrics, fence: Fence | None) -> TelegramClient:
    """The sender's client: one attempt per call, since the sender tries again on its own timers, per chat."""
    return TelegramClient(settings.telegram.api_url, settings.telegram.token, attempts=1, metrics=metrics,
                          fence=fence)


def _worker_addresses(settings: Settings) -> dict[str, Address]:
    return {name: Address(name) for name in worker_names(settings)}


def _show_menus(telegram: TelegramClient, languages: Languages, billing: bool = False) -> None:
    """Telegram's own menus in every language the bot speaks; English for the rest. `billing`: with /buy and
    /paysupport."""
    for words in languages:
        code = None if words.language == ENGLISH else words.language
        telegram.set_menus(words.commands(billing), words.description(), words.short_description(), code)
