"""TelegramPoller: long-polls getUpdates and turns each update into a message for the QuotaActor."""
import logging

from actors.base import SupervisedActor
from actors.messages import PollNext
from voicebot.telegram import TelegramError
from voicebot.updates import parse_update

log = logging.getLogger(__name__)

_RETRY_DELAY_SECONDS = 2.0


class TelegramPoller(SupervisedActor):
    """One poll per PollNext message to itself, so a stop request is handled between polls."""

    def __init__(self, telegram, gatekeeper, poll_timeout: int, supervisor=None, name: str = "poller"):
        super().__init__(name, supervisor)
        self._telegram = telegram
        self._gatekeeper = gatekeeper
        self._poll_timeout = poll_timeout
        self._offset: int | None = None
        self._retry_timer = None

    def on_start(self) -> None:
        self.actor_ref.tell(PollNext())

    def on_stop(self) -> None:
        if self._retry_timer is not None:
            self._retry_timer.cancel()

    def handle(self, message):
        match message:
            case PollNext():
                self._poll()
            case _:
                return NotImplemented

    def _poll(self) -> None:
        try:
            updates = self._telegram.get_updates(self._offset, self._poll_timeout)
        except TelegramError as error:
            log.warning("polling the Bot API failed (%s); polling again in %.0f s",
                        error.description, _RETRY_DELAY_SECONDS)
            # A timer, not a sleep: the mailbox stays free for a stop request meanwhile.
            self._retry_timer = self.tell_self_later(PollNext(), _RETRY_DELAY_SECONDS)
            return
        for update in updates:
            self._accept(update)
        self.actor_ref.tell(PollNext())

    def _accept(self, update: dict) -> None:
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if isinstance(update_id, int):
            self._offset = max(self._offset or 0, update_id + 1)
        incoming = parse_update(update)
        if incoming is None:
            log.info("ignored update %s: nothing to answer", update_id)
            return
        self._gatekeeper.tell(incoming)

