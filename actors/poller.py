"""TelegramPoller: long-polls getUpdates and turns each update into a message for the QuotaActor.

An update is confirmed to Telegram only by asking for the next offset, so the poller asks for
it only after the StorageActor has stored the batch's recordings together with that offset:
a crash at any moment loses no recording, and a redelivered one is recognised.

A pre-checkout query is the exception: it needs no durability (one not answered simply fails, and nothing is
charged), and Telegram waits only 10 s for its answer, so it goes to the QuotaActor at once, never through the
StorageActor. While a batch waits to be stored (the database away), newer updates are looked at every
PEEK_SECONDS, unconfirmed, for the pre-checkouts among them."""
import logging

from actors.base import SupervisedActor
from actors.messages import IntakeFailed, IntakeOverdue, IntakeStored, PeekUpdates, PollNext, Stopping, StoreIntake
from voicebot.core.billing import PreCheckout
from voicebot.core.errors import TelegramError
from voicebot.core.intake import parse_update
from voicebot.core.ports import NO_METRICS, Mailbox, Metrics, UpdateSource

log = logging.getLogger(__name__)

_RETRY_DELAY_SECONDS = 2.0
STORE_TIMEOUT_SECONDS = 20.0   # a batch not stored by then is sent again
PEEK_SECONDS = 2.0             # how often updates newer than a batch waiting to be stored are looked at
_PEEK_POLL_TIMEOUT = 1         # the batch waiting is among them: getUpdates answers at once


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
        self._peek_timer = None
        self._answered: set[int] = set()   # update ids of pre-checkouts told already, not confirmed yet

    def prepare(self) -> None:
        self.actor_ref.tell(PollNext())

    def on_stop(self) -> None:
        for timer in (self._retry_timer, self._peek_timer):
            if timer is not None:
                timer.cancel()
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
                if self._peek_timer is not None:
                    self._peek_timer.cancel()
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
            case PeekUpdates(next_offset) if self._is_unstored(next_offset) and not self._stopping:
                self._peek(next_offset)
            case PeekUpdates():
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
        self._answered = {update_id for update_id in self._answered if update_id >= min(update_ids)}
        messages = tuple(incoming for incoming in self._answer_pre_checkouts(updates) if incoming is not None)
        self._unstored = StoreIntake(messages, max(update_ids) + 1, self.actor_ref)
        self._store(self._unstored)
        self._peek_timer = self.tell_self_later(PeekUpdates(self._unstored.next_offset), PEEK_SECONDS)

    def _answer_pre_checkouts(self, updates: list) -> list:
        """The updates' messages but pre-checkout queries, which go to the QuotaActor now (once each)."""
        kept = []
        for update in updates:
            incoming = parse_update(update)
            if not isinstance(incoming, PreCheckout):
                kept.append(incoming)
            elif update.get("update_id") not in self._answered:
                self._answered.add(update.get("update_id"))
                self._quota.tell(incoming)
        return kept

    def _peek(self, next_offset: int) -> None:
        """Updates after the batch waiting to be stored, asked for from the offset before it (so nothing is
        confirmed): only their pre-checkout queries are acted on now; the rest come with the next poll."""
        try:
            updates = self._telegram.get_updates(self._offset, _PEEK_POLL_TIMEOUT)
        except TelegramError as error:
            log.warning("looking for pre-checkout queries failed (%s)", error.description)
            updates = []
        self._answer_pre_checkouts([update for update in updates or () if isinstance(update, dict)
                                    and isinstance(update.get("update_id"), int)
                                    and update["update_id"] >= next_offset])
        self._peek_timer = self.tell_self_later(PeekUpdates(next_offset), PEEK_SECONDS)

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
