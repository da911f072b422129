"""TelegramWebhook: takes the updates Telegram POSTs (webhook mode) and turns each into a message
for the QuotaActor, in place of the TelegramPoller.

Telegram counts an update as delivered once the request is answered 200, so a request is answered
only after the StorageActor has stored its recording: a crash at any moment loses nothing, a 5xx
makes Telegram send the update again, and a redelivered one is recognised by the StorageActor.

Nothing here moves the saved getUpdates offset: requests come concurrently and out of order, and an
update answered 5xx is still pending at Telegram while later ones are taken, so an offset made from
them could skip it after a switch back to polling. The offset the poller saved lies below every
update still pending, and those taken through the webhook are gone from Telegram."""
import functools
import logging
from dataclasses import dataclass
from http import HTTPStatus

import pykka

from actors.base import SupervisedActor
from actors.messages import IntakeAnswered, IntakeFailed, IntakeStored, Stopping, StoreIntake, UpdatePosted
from voicebot.core.billing import PreCheckout
from voicebot.core.errors import TelegramError
from voicebot.core.intake import UPDATE_TYPES, parse_update
from voicebot.core.ports import NO_METRICS, Mailbox, Metrics, WebhookEndpoint, WebhookRegistry

log = logging.getLogger(__name__)

STORE_TIMEOUT_SECONDS = 20.0


class TelegramWebhook(SupervisedActor):
    """Owns the HTTP server it is given: starts it, registers the webhook once it listens, and stops it. Each
    request's thread hands its update over with UpdatePosted and waits for the status decided here."""

    def __init__(self, *, telegram: WebhookRegistry, quota: Mailbox, storage: Mailbox, endpoint: WebhookEndpoint,
                 url: str, secret: str, offset: int | None = None, supervisor: Mailbox | None = None,
                 name: str = "webhook", metrics: Metrics = NO_METRICS, store_timeout: float = STORE_TIMEOUT_SECONDS):
        super().__init__(name, supervisor)
        self._telegram = telegram
        self._quota = quota
        self._storage = storage
        self._endpoint = endpoint
        self._url = url
        self._secret = secret
        self._offset = offset
        self._store_timeout = store_timeout
        self._metrics = metrics
        self._serving = False
        self._stopping = False

    def prepare(self) -> None:
        self._confirm_polled_updates()
        self._endpoint.start(functools.partial(_hand_over, self.actor_ref, self._store_timeout))
        self._serving = True
        try:
            # Registered only now that the server listens, so Telegram's first delivery finds it.
            self._telegram.set_webhook(self._url, self._secret, UPDATE_TYPES)
        except TelegramError:
            self._stop_server()   # free the port at once: a restarted actor binds it again
            raise
        self._metrics.webhook_serving(True)

    def on_stop(self) -> None:
        self._stop_server()   # the webhook stays registered: Telegram keeps the updates meanwhile

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        self._stop_server()   # so the restarted actor can listen on the same port
        super().on_failure(exception_type, exception_value, traceback)

    def handle(self, message):
        match message:
            case Stopping():
                self._stopping = True
                self._metrics.webhook_serving(False)
            case UpdatePosted(_, answer) if self._stopping:
                answer.set(HTTPStatus.SERVICE_UNAVAILABLE)   # Telegram sends it again after the restart
            case UpdatePosted(None, answer):
                answer.set(HTTPStatus.OK)                    # nothing for the bot in it
            case UpdatePosted(PreCheckout() as query, answer):
                # Not stored: Telegram waits 10 s for its answer, and one not answered fails, charging nothing.
                self._quota.tell(query)
                answer.set(HTTPStatus.OK)
            case UpdatePosted(incoming, answer):
                self._storage.tell(StoreIntake((incoming,), None, _IntakeReply(self.actor_ref, answer)))
            case IntakeAnswered(IntakeStored(messages), answer):
                for incoming in messages:
                    self._quota.tell(incoming)
                answer.set(HTTPStatus.OK)
            case IntakeAnswered(IntakeFailed(reason), answer):
                log.error("could not store an update from the webhook (%s); answered 500, Telegram sends it again",
                          reason)
                answer.set(HTTPStatus.INTERNAL_SERVER_ERROR)
            case _:
                return NotImplemented

    def _confirm_polled_updates(self) -> None:
        """The poller confirms a stored batch only by asking for the next one, so coming from polling,
        its last batch is still pending and Telegram would send it again through the webhook (the
        recordings would be recognised, the commands answered twice). Asking once for the saved
        offset confirms it. With a webhook registered there is nothing to confirm (and getUpdates
        would be refused)."""
        if self._offset is not None and not self._telegram.webhook_url():
            self._telegram.confirm_updates(self._offset)

    def _stop_server(self) -> None:
        self._metrics.webhook_serving(False)
        if self._serving:
            self._endpoint.stop()
            self._serving = False


@dataclass(frozen=True)
class _IntakeReply:
    """StoreIntake's reply_to for one request: the StorageActor's answer comes back to the webhook
    actor paired with the request's pending answer (requests are stored concurrently)."""
    webhook: pykka.ActorRef
    answer: pykka.ThreadingFuture

    def tell(self, outcome: IntakeStored | IntakeFailed) -> None:
        try:
            self.webhook.tell(IntakeAnswered(outcome, self.answer))
        except pykka.ActorDeadError:
            # Stopped meanwhile: a stored recording resumes at the next start, and Telegram
            # sends the update again (recognised then), since it is not answered 200.
            self.answer.set(HTTPStatus.SERVICE_UNAVAILABLE)


def _hand_over(webhook: pykka.ActorRef, timeout: float, update: dict) -> HTTPStatus:
    """Runs on the HTTP server's request threads: hands the update to the actor and waits for the
    status it decides. Without one in time the answer is 503, and Telegram sends the update again."""
    answer = pykka.ThreadingFuture()
    try:
        webhook.tell(UpdatePosted(parse_update(update), answer))
        return answer.get(timeout=timeout)
    except pykka.ActorDeadError:
        return HTTPStatus.SERVICE_UNAVAILABLE
    except pykka.Timeout:
        log.warning("webhook: an update was not stored within %.0f s; answered 503, Telegram sends it again",
                    timeout)
        return HTTPStatus.SERVICE_UNAVAILABLE
