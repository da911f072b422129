"""TelegramPoller: long-polls getUpdates and turns each update into a message for the QuotaActor.

An update is confirmed to Telegram only by asking for the next offset, so the poller asks for
it only after the StorageActor has stored the batch's recordings together with that offset:
a crash at any moment loses no recording, and a redelivered one is recognised."""
import logging

from actors.base import SupervisedActor
from actors.messages import IntakeFailed, IntakeOverdue, IntakeStored, PollNext, Stopping, StoreIntake
from voicebot.core.errors import TelegramError
from voicebot.core.intake import parse_update
from voicebot.core.ports import NO_METRICS, Mailbox, Metrics, UpdateSource

log = logging.getLogger(__name__)

_RETRY_DELAY_SECONDS = 2.0
STORE_TIMEOUT_SECONDS = 20.0   # a batch not stored by then is sent again


class TelegramPoller(SupervisedActor):
    """One poll per PollNext message to itself, so a stop request is handled between polls."""

    def __init__(self, *, telegram: UpdateSource, quota: Mailbox, storage: Mailbox, poll_timeout: int,
                 offset: int | None = None, supervisor: Mailbox | None = None, name: str = "poller",
                 metrics: Metrics = NO_METRICS, store_timeout: float = STORE_TIMEOUT_SECONDS):
        super().__init__(name, supervisor)
        self._telegram = telegram
        self._quota = quota
        self._storage = storage
        self._poll_timeout = poll_timeout
        self._offset = offset
        self._unstored: StoreIntake | None = None
        self._retry_timer = None
        self._deadline = None
        self._store_timeout = store_timeout
        self._stopping = False
        self._metrics = metrics

    def prepare(self) -> None:
        self.actor_ref.tell(PollNext())

    def on_stop(self) -> None:
        if self._retry_timer is not None:
            self._retry_timer.cancel()
        self._cancel_deadline()

    def handle(self, message):
        match message:
            case Stopping():
                self._stopping = True
            case PollNext() if self._stopping:
                pass
            case PollNext() if self._unstored is not None:
                self._store(self._unstored)   # storing failed before: try again
            case PollNext():
                self._poll()
            case IntakeStored(messages, next_offset) if self._is_unstored(next_offset):
                self._unstored, self._offset = None, next_offset
                self._cancel_deadline()
                for incoming in messages:
                    self._quota.tell(incoming)
                self.actor_ref.tell(PollNext())
            case IntakeStored():
                pass   # a late answer to a batch sent again meanwhile, and stored then
            case IntakeOverdue(next_offset) if self._is_unstored(next_offset):
                log.warning("the batch of updates was not stored within %.0f s (the StorageActor may have been "
                            "restarted); sending it again", self._store_timeout)
                self._store(self._unstored)
            case IntakeOverdue():
                pass
            case IntakeFailed() if self._unstored is None:
                pass
            case IntakeFailed(reason):
                log.error("could not store updates (%s); trying again in %.0f s, nothing is confirmed meanwhile",
                          reason, _RETRY_DELAY_SECONDS)
                self._retry_timer = self.tell_self_later(PollNext(), _RETRY_DELAY_SECONDS)
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
        self._metrics.polled()
        update_ids = [update["update_id"] for update in updates or ()
                      if isinstance(update, dict) and isinstance(update.get("update_id"), int)]
        if not update_ids:
            self.actor_ref.tell(PollNext())
            return
        messages = tuple(incoming for incoming in map(parse_update, updates) if incoming is not None)
        self._unstored = StoreIntake(messages, max(update_ids) + 1, self.actor_ref)
        self._store(self._unstored)

    def _store(self, batch: StoreIntake) -> None:
        """Every wait for another actor has a deadline: a StorageActor that died with the batch in its
        mailbox (and was restarted empty) gets it again, instead of polling stopping for good."""
        self._cancel_deadline()
        self._storage.tell(batch)
        self._deadline = self.tell_self_later(IntakeOverdue(batch.next_offset), self._store_timeout)

    def _is_unstored(self, next_offset: int) -> bool:
        return self._unstored is not None and self._unstored.next_offset == next_offset

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
