"""The job broker between the bot node and the worker nodes, through Dramatiq: the only module that
imports dramatiq. Two queues: jobs (bot node -> workers) and events (outcomes, live text and
heartbeats, workers -> bot node). Payloads are JSON-ready dicts (see actors.wire)."""
import logging
from collections.abc import Callable

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker

from voicebot.core.errors import BrokerError, DeadLetter, TryLater, one_line, without_password

log = logging.getLogger(__name__)

JOBS_QUEUE = "voicebot-jobs"
EVENTS_QUEUE = "voicebot-events"
# Redis has no connection that dies with a worker: a worker silent this long is taken for dead and
# its unacknowledged jobs go back to the queue (checked on 5% of broker calls, about every second).
REDIS_DEAD_WORKER_MS = 15_000
REDIS_MAINTENANCE_CHANCE = 50_000
POLL_MS = 250               # how long an idle consumer waits for news; bounds the added latency
EVENT_RETRIES = 5
RETRY_DELAY_MS = 2000
CLOSE_GRACE_SECONDS = 5     # for the consumer threads to let go of their connections before they close


class BrokerLink:
    """One process's connection to the broker: sends jobs and events, and consumes one of the queues."""

    def __init__(self, url: str):
        self._url = url
        self._broker = _connect(url)
        self._job_handler: Callable[[dict], None] | None = None
        self._event_handler: Callable[[dict], None] | None = None
        # A worker that dies mid-job is not an exception here: the broker redelivers the job, and
        # the worker node counts deliveries itself (DeadLetter past broker.max_attempts).
        self._jobs = dramatiq.Actor(
            self._on_job, broker=self._broker, actor_name="transcribe", queue_name=JOBS_QUEUE, priority=0,
            options={"throws": (DeadLetter,), "max_retries": 1000, "min_backoff": 1000, "max_backoff": 10_000})
        self._events = dramatiq.Actor(
            self._on_event, broker=self._broker, actor_name="event", queue_name=EVENTS_QUEUE, priority=0,
            options={"max_retries": EVENT_RETRIES, "min_backoff": 500, "max_backoff": 5000})
        self._worker: dramatiq.Worker | None = None

    @property
    def address(self) -> str:
        return without_password(self._url)

    def check(self) -> None:
        """Raises BrokerError unless the broker answers."""
        try:
            if isinstance(self._broker, RedisBroker):
                self._broker.client.ping()
            else:
                self._broker.get_queue_message_counts(JOBS_QUEUE)
        except Exception as error:  # pika and redis raise many types for "not reachable"
            raise BrokerError(f"cannot reach broker.url {self.address} ({one_line(error)}): check that the "
                              f"broker runs there and that the URL and its credentials are right") from None

    def send_job(self, payload: dict) -> None:
        self._send(self._jobs, payload, None)

    def send_event(self, payload: dict, max_age_seconds: float | None = None) -> None:
        """`max_age_seconds`: the event is dropped unread past that age (heartbeats, live text)."""
        self._send(self._events, payload, max_age_seconds)

    def consume_jobs(self, handler: Callable[[dict], None], threads: int, time_limit_seconds: float) -> None:
        """`time_limit_seconds`: Dramatiq interrupts a handler that runs longer (and retries the job)."""
        self._jobs.options["time_limit"] = int(time_limit_seconds * 1000)
        self._job_handler = handler
        self._start_worker(JOBS_QUEUE, threads)

    def consume_events(self, handler: Callable[[dict], None]) -> None:
        # One thread: events (live text, then the outcome) reach the handler in the order they were sent.
        self._event_handler = handler
        self._start_worker(EVENTS_QUEUE, 1)

    def dead_letters(self) -> int:
        """Jobs in the dead-letter queue."""
        if isinstance(self._broker, RedisBroker):
            return self._broker.client.zcard(f"{self._broker.namespace}:{JOBS_QUEUE}.XQ")
        return self._broker.get_queue_message_counts(JOBS_QUEUE)[2]

    def stop_consuming(self, grace_seconds: float) -> None:
        """Takes no more messages; waits up to `grace_seconds` for those being handled."""
        if self._worker is not None:
            self._worker.stop(timeout=int(grace_seconds * 1000))
            self._worker = None

    def close(self) -> None:
        self.stop_consuming(CLOSE_GRACE_SECONDS)
        try:
            self._broker.close()
        except Exception as error:  # closing a broken connection may fail: nothing left to lose
            log.debug("closing the broker connection: %s", one_line(error))

    def _start_worker(self, queue: str, threads: int) -> None:
        self._worker = dramatiq.Worker(self._broker, queues={queue}, worker_threads=threads, worker_timeout=POLL_MS)
        # Take only what the threads can work on, so waiting jobs stay in the broker for other workers.
        self._worker.queue_prefetch = threads
        self._worker.start()

    def _send(self, actor: dramatiq.Actor, payload: dict, max_age_seconds: float | None) -> None:
        options = {} if max_age_seconds is None else {"max_age": int(max_age_seconds * 1000)}
        try:
            actor.send_with_options(args=(payload,), **options)
        except Exception as error:  # pika, redis and dramatiq errors alike: the broker is not there
            raise BrokerError(f"broker {self.address}: {one_line(error)}") from None

    def _on_job(self, payload: dict) -> None:
        _handle(self._job_handler, payload, "job")

    def _on_event(self, payload: dict) -> None:
        _handle(self._event_handler, payload, "event")


def _handle(handler: Callable[[dict], None], payload: dict, what: str) -> None:
    try:
        handler(payload)
    except TryLater as reason:
        log.warning("%s put back on the queue: %s", what, reason)
        raise dramatiq.Retry(str(reason), delay=RETRY_DELAY_MS) from None


def _connect(url: str) -> dramatiq.Broker:
    if url.startswith(("redis://", "rediss://")):
        return RedisBroker(url=url, heartbeat_timeout=REDIS_DEAD_WORKER_MS,
                           maintenance_chance=REDIS_MAINTENANCE_CHANCE)
    # Publisher confirms: a send returns only once RabbitMQ has the message.
    return RabbitmqBroker(url=url, confirm_delivery=True)
