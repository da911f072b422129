"""`voicebot worker`: a transcription node. It runs WhisperActors fed by the broker and sends what
they produce back to the bot node; it talks to the Bot API only to download the recordings.

Each job taken off the broker is counted in the shared database first: a job that has been
delivered more than broker.max_attempts times (it killed its workers) is answered with a failure
and moved to the dead-letter queue; a job answered already is skipped."""
import concurrent.futures
import logging
import os
import socket

import pykka

from actors.base import Address
from actors.messages import JobFailed, RunJob, WorkerLost
from actors.node import NodeDispatcher, WorkerDied
from actors.supervisor import ChildSpec
from actors.whisper import WhisperActor
from actors.wire import event_to_wire, job_from_wire
from voicebot.adapters.broker import BrokerLink
from voicebot.adapters.metrics import Metrics, MetricsServer
from voicebot.adapters.model_files import resolve_model
from voicebot.adapters.storage import Storage
from voicebot.adapters.telegram import TelegramClient
from voicebot.app.bootstrap import Outcome, StartupError, make_transcriber, serve, start_supervised
from voicebot.app.config import Settings, worker_count
from voicebot.core.domain import FailureReason, Job
from voicebot.core.errors import BrokerError, DeadLetter, ModelError, StorageError, TelegramError, TryLater

log = logging.getLogger(__name__)

DOWNLOAD_ALLOWANCE_SECONDS = 120   # on top of whisper.timeout_seconds, before a job counts as stuck


class JobIntake:
    """Takes each job the broker delivers (on a broker thread): counts the delivery, then runs the
    job on the node's WhisperActors and returns once its outcome is sent, which acknowledges it."""

    def __init__(self, storage: Storage, link: BrokerLink, node, max_attempts: int, job_seconds: float,
                 node_name: str):
        self._storage = storage
        self._link = link
        self._node = node
        self._max_attempts = max_attempts
        self._job_seconds = job_seconds
        self._node_name = node_name

    def take(self, payload: dict) -> None:
        try:
            job = job_from_wire(payload)
        except ValueError as error:
            log.error("dead-lettered a message that is not a job: %s", error)
            raise DeadLetter(str(error)) from None
        deliveries = self._count_delivery(job)
        if deliveries is None:
            log.info("job %s/%s is answered already; skipped", job.chat_id, job.message_id)
        elif deliveries > self._max_attempts:
            self._give_up(job, deliveries)
        else:
            self._run(job)

    def _count_delivery(self, job: Job) -> int | None:
        try:
            return self._storage.take_delivery(job.key)
        except StorageError as error:
            raise TryLater(f"database: {error}") from None

    def _give_up(self, job: Job, deliveries: int) -> None:
        log.error("job %s/%s was delivered %d times and its workers died each time: dead-lettered",
                  job.chat_id, job.message_id, deliveries - 1)
        try:
            self._link.send_event(event_to_wire(JobFailed(job, FailureReason.WORKER_CRASHED, self._node_name)))
        except BrokerError as error:
            raise TryLater(str(error)) from None
        raise DeadLetter(f"job {job.chat_id}/{job.message_id}")

    def _run(self, job: Job) -> None:
        done = concurrent.futures.Future()
        self._node.tell(RunJob(job, done))
        try:
            done.result(timeout=self._job_seconds)
        except (WorkerDied, BrokerError) as error:
            raise TryLater(str(error)) from None
        except concurrent.futures.TimeoutError:
            raise TryLater(f"no outcome for job {job.chat_id}/{job.message_id} in {self._job_seconds} s") from None


class WorkerNode:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self.outcome = Outcome()
        self._job_seconds = settings.whisper.timeout_seconds + DOWNLOAD_ALLOWANCE_SECONDS
        self._storage = Storage(settings.database.url)
        self._link: BrokerLink | None = None
        self._supervisor: pykka.ActorRef | None = None
        self._node = Address("node")
        self._metrics = Metrics()
        self._metrics_server: MetricsServer | None = None

    def start(self) -> None:
        telegram, model_path = self._prepare()
        if self.settings.metrics.listen:
            self._metrics_server = MetricsServer(self._metrics, self.settings.metrics.listen,
                                                 self._metrics.any_worker_ready).start()
        self._supervisor = start_supervised(lambda supervisor: self._groups(telegram, model_path, supervisor),
                                            self.outcome, self._metrics)
        if self.outcome.reason is not None:
            self.stop()
            raise StartupError(self.outcome.reason)
        intake = JobIntake(self._storage, self._link, self._node, self.settings.broker.max_attempts,
                           self._job_seconds, self.name)
        self._link.consume_jobs(intake.take, worker_count(self.settings), self._job_seconds + 60)
        log.info("worker node %s is taking jobs from %s with %d transcription workers", self.name,
                 self._link.address, worker_count(self.settings))

    def stop(self) -> None:
        if self._link is not None:
            self._link.stop_consuming(self.settings.shutdown.grace_seconds)
        if self._supervisor is not None:
            self._supervisor.stop(block=True)
        pykka.ActorRegistry.stop_all()
        if self._link is not None:
            self._link.close()
        if self._metrics_server is not None:
            self._metrics_server.stop()
        self._storage.close()

    def _prepare(self) -> tuple[TelegramClient, str]:
        settings = self.settings
        if not settings.broker.url:
            raise StartupError("broker.url is not set: a worker node takes its jobs from the bot node's broker")
        if not settings.telegram.token:
            raise StartupError("TELEGRAM_BOT_TOKEN is not set: the worker downloads recordings with the bot's "
                               "token; export it and run again")
        try:
            model_path = resolve_model(settings.whisper.model)
            self._storage.open()   # migrates if this node is the first to start
            self._link = BrokerLink(settings.broker.url)
            self._link.check()
        except (ModelError, StorageError, BrokerError) as error:
            raise StartupError(str(error)) from None
        telegram = TelegramClient(settings.telegram.api_url, settings.telegram.token, metrics=self._metrics)
        try:
            telegram.get_me()
        except TelegramError as error:
            raise StartupError(f"the Bot API at {settings.telegram.api_url} answered {error.description}: "
                               f"check TELEGRAM_BOT_TOKEN and telegram.api_url") from None
        return telegram, model_path

    def _groups(self, telegram: TelegramClient, model_path: str, supervisor: Address) -> list[list[ChildSpec]]:
        settings, node = self.settings, self._node
        workers = {f"whisper-{number}": Address(f"whisper-{number}")
                   for number in range(1, worker_count(settings) + 1)}
        max_file_bytes = settings.limits.max_file_mb * 1024 * 1024

        def whisper_spec(name: str, address: Address) -> ChildSpec:
            return ChildSpec(
                name, address,
                lambda: WhisperActor.start(name, make_transcriber(settings, model_path), telegram, node, node,
                                           max_file_bytes, supervisor, self._metrics),
                on_restart=lambda: node.tell(WorkerLost(name)),
                stop_timeout=settings.shutdown.grace_seconds)

        return [
            [ChildSpec("node", node, lambda: NodeDispatcher.start(self.name, workers, self._link, supervisor,
                                                                  metrics=self._metrics))],
            [whisper_spec(name, address) for name, address in workers.items()],
        ]


def run_worker(settings: Settings) -> int:
    """`voicebot worker`: 0 after a requested stop, 1 when the node could not start or gave up."""
    return serve(WorkerNode(settings))
