"""Prometheus metrics and the health check: the only module that imports prometheus_client.

Metrics implements the core Metrics port. Every collaborator that measures something gets the one
Metrics object at start; each Metrics has its own registry, so tests and several bots in one process
never share counters."""
import logging
import threading
import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from voicebot.adapters.httpserver import BackgroundServer, GuardedHandler, GuardedServer, bind_address

log = logging.getLogger(__name__)

MAX_SCRAPERS = 16   # Prometheus scrapes with one connection; a few more for people and health checks

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_AUDIO = (1, 5, 10, 20, 30, 60, 120, 300, 600)
_RTF = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        registry = self.registry
        self.queue_length = Gauge("voicebot_queue_length", "Jobs waiting for a worker", registry=registry)
        self.queue_capacity = Gauge("voicebot_queue_capacity", "queue.max_pending", registry=registry)
        self.workers_ready = Gauge("voicebot_workers_ready", "WhisperActors ready for work", registry=registry)
        self.jobs = Counter("voicebot_jobs", "Jobs answered, by outcome", ["outcome"], registry=registry)
        self.rejections = Counter("voicebot_rejections", "Recordings refused before any work, by reason",
                                  ["reason"], registry=registry)
        self.transcription_seconds = Histogram("voicebot_transcription_seconds", "Time to transcribe one job",
                                               buckets=_SECONDS, registry=registry)
        self.memory_answers = Counter("voicebot_memory_answers",
                                      "Recordings transcribed before (forwarded copies) answered from a kept "
                                      "transcript, without the model", registry=registry)
        self.answer_seconds = Histogram("voicebot_answer_seconds",
                                        "From a recording's admission to its answer (queue, download, transcription)",
                                        ["door"], buckets=_SECONDS, registry=registry)
        self.wait_seconds = Histogram("voicebot_wait_seconds", "From a job's admission to a worker taking it, by door",
                                      ["door"], buckets=_SECONDS, registry=registry)
        for door_timed in (self.answer_seconds, self.wait_seconds):
            door_timed.labels("telegram")   # served from the start, as before the doors: a dashboard shows 0
        self.api_requests = Counter("voicebot_api_requests", "Transcription API requests answered, by key name and "
                                    "status", ["key", "status"], registry=registry)
        self.audio_seconds = Histogram("voicebot_audio_seconds", "Length of the audio transcribed",
                                       buckets=_AUDIO, registry=registry)
        self.real_time_factor = Histogram("voicebot_real_time_factor", "Transcription time / audio length",
                                          buckets=_RTF, registry=registry)
        self.telegram_seconds = Histogram("voicebot_telegram_call_seconds", "Bot API call latency, by method",
                                          ["method"], buckets=_SECONDS, registry=registry)
        self.telegram_errors = Counter("voicebot_telegram_errors", "Bot API calls that failed, by method",
                                       ["method", "status"], registry=registry)
        self.database_seconds = Histogram("voicebot_database_seconds", "Database operation latency",
                                          ["operation"], buckets=_SECONDS, registry=registry)
        self.model_load_seconds = Histogram("voicebot_model_load_seconds", "Time to load and warm up a model",
                                            buckets=_SECONDS, registry=registry)
        self.restarts = Counter("voicebot_actor_restarts", "Actors restarted by the supervisor, by actor",
                                ["actor"], registry=registry)
        self.last_poll = Gauge("voicebot_last_poll_timestamp_seconds", "When getUpdates last answered",
                               registry=registry)
        self.leader = Gauge("voicebot_leader", "1 while this bot node leads, 0 while it stands by",
                            registry=registry)
        self.stars_earned_total = Counter("voicebot_stars_earned", "Telegram Stars of payments credited",
                                          registry=registry)
        self.star_refunds = Counter("voicebot_star_refunds", "Payments whose Stars were given back",
                                    registry=registry)
        self.precheckouts_declined = Counter("voicebot_precheckouts_declined", "Pre-checkout queries declined, by "
                                             "reason", ["reason"], registry=registry)
        self.webhook_requests = Counter("voicebot_webhook_requests", "Webhook requests answered, by HTTP status",
                                        ["status"], registry=registry)
        # process_resident_memory_bytes, process_cpu_seconds_total …: the default registry has them, this
        # one only when asked, and the dashboard's memory panel needs them.
        ProcessCollector(registry=registry)
        self._last_poll_at = 0.0
        self._webhook_serving = False
        self._ready_workers: set[str] = set()
        self._lock = threading.Lock()

    # --- the Metrics port: what the actors and adapters report ------------------------------------

    def queue_changed(self, waiting: int, capacity: int) -> None:
        self.queue_length.set(waiting)
        self.queue_capacity.set(capacity)

    def job_finished(self, outcome: str) -> None:
        self.jobs.labels(outcome).inc()

    def job_refused(self, reason: str) -> None:
        self.rejections.labels(reason).inc()

    def job_answered(self, seconds: float, door: str = "telegram") -> None:
        self.answer_seconds.labels(door).observe(seconds)

    def job_waited(self, seconds: float, door: str) -> None:
        self.wait_seconds.labels(door).observe(seconds)

    def api_request(self, key_name: str, status: str) -> None:
        self.api_requests.labels(key_name, status).inc()

    def answered_from_memory(self) -> None:
        self.memory_answers.inc()

    def stars_earned(self, stars: int) -> None:
        self.stars_earned_total.inc(stars)

    def stars_refunded(self, stars: int) -> None:
        self.star_refunds.inc()

    def precheckout_declined(self, reason: str) -> None:
        self.precheckouts_declined.labels(reason).inc()

    def model_loaded(self, seconds: float) -> None:
        self.model_load_seconds.observe(seconds)

    def transcribed(self, audio_seconds: float, processing_seconds: float) -> None:
        self.transcription_seconds.observe(processing_seconds)
        self.audio_seconds.observe(audio_seconds)
        if audio_seconds > 0:
            self.real_time_factor.observe(processing_seconds / audio_seconds)

    def webhook_answered(self, status: int) -> None:
        self.webhook_requests.labels(str(status)).inc()

    def database_operation(self, operation: str):
        return self.database_seconds.labels(operation).time()

    def bot_api_called(self, method: str, seconds: float, error: str | None = None) -> None:
        self.telegram_seconds.labels(method).observe(seconds)
        if error is not None:
            self.telegram_errors.labels(method, error).inc()

    def actor_restarted(self, actor: str) -> None:
        self.restarts.labels(actor).inc()

    # --- what the health check looks at ---------------------------------------------------------

    def polled(self) -> None:
        self._last_poll_at = time.monotonic()
        self.last_poll.set_to_current_time()

    def webhook_serving(self, serving: bool) -> None:
        """The webhook's HTTP server takes updates (in webhook mode, the counterpart of polled)."""
        self._webhook_serving = serving

    def leading(self, leads: bool) -> None:
        self.leader.set(1 if leads else 0)

    def worker_ready(self, worker: str, ready: bool) -> None:
        with self._lock:
            (self._ready_workers.add if ready else self._ready_workers.discard)(worker)
            self.workers_ready.set(len(self._ready_workers))

    def healthy(self, poll_within_seconds: float) -> bool:
        """The bot node: polling recently or serving the webhook, and at least one worker ready."""
        receiving = self._webhook_serving or time.monotonic() - self._last_poll_at <= poll_within_seconds
        return self.any_worker_ready() and receiving

    def any_worker_ready(self) -> bool:
        """A worker node's health: at least one of its WhisperActors ready for work."""
        with self._lock:
            return bool(self._ready_workers)


class MetricsServer(BackgroundServer):
    """Serves /metrics (Prometheus text format) and /healthz on metrics.listen: 200 and the word `health()`
    gives ("ok", or a bot node's role: "leader", "standby"), or 503 "unhealthy" when it gives None."""

    def __init__(self, metrics: Metrics, listen: str, health: Callable[[], str | None]):
        self._metrics = metrics
        self._health = health
        server = GuardedServer(bind_address(listen), self._handler(), "metrics", MAX_SCRAPERS)
        super().__init__(server, "metrics")

    def start(self) -> "MetricsServer":
        super().start()
        log.info("metrics on http://%s/metrics, health on http://%s/healthz", self.address, self.address)
        return self

    def _handler(self):
        server = self

        class Handler(GuardedHandler):
            def do_GET(self):
                self.request_read()
                if self.path.split("?")[0] == "/healthz":
                    word = server._health()
                    self._answer(200 if word else 503, f"{word or 'unhealthy'}\n".encode(), "text/plain")
                elif self.path.split("?")[0] == "/metrics":
                    self._answer(200, generate_latest(server._metrics.registry), CONTENT_TYPE_LATEST)
                else:
                    self._answer(404, b"not found: try /metrics or /healthz\n", "text/plain")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
