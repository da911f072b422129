"""Billing: the QuotaActor's part that sells minutes for Telegram Stars (core.billing) and keeps each user's bought
balance in its UserBook. Not an actor.

Pre-checkout is answered from memory at once (the signed payload says everything), through the outbox as a call
without a chat. A payment reaches this part only after the StorageActor stored it with its intake batch (credited
once by its charge id: a Credit), and the payer gets one receipt, marked sent once it went out (unsent ones go out
at the next start). A refund is Telegram's first: only once refundStarPayment said yes is it recorded, taking back
what is unspent of the payment's minutes, never more than the balance less what jobs under way hold of it; a
refunded_payment update records it too if it was not yet (made elsewhere, or a crash came between)."""
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from actors.base import tell_later
from actors.messages import (
    CallMade,
    ChargesListed,
    ExpireBalance,
    ListCharges,
    LoadUnsentReceipts,
    LookUpPayment,
    MakeCall,
    PaymentLookedUp,
    ReceiptSent,
    RecordRefund,
    RefundRecorded,
)
from actors.users import UserBook, is_channel
from voicebot.core.billing import (
    MAX_CHARGE_ID,
    Balances,
    BillingRules,
    Credit,
    Pack,
    PreCheckout,
    Refund,
    decline,
    signed_payload,
)
from voicebot.core.calls import AnswerPreCheckout, Destination, RefundStars, SendInvoice, SendText
from voicebot.core.domain import CommandReceived, Job
from voicebot.core.ports import NO_METRICS, Mailbox, Metrics
from voicebot.core.replies import Wording

log = logging.getLogger(__name__)

RECEIPTS_AFTER_RESTART_SECONDS = 60.0   # the sender has made the calls queued before a restart by then
OFFER_INTERVAL = timedelta(minutes=10)  # a user refused for the day's quota is offered a pack once in this long


class Billing:
    def __init__(self, *, rules: BillingRules, payload_key: bytes, users: UserBook, sender: Mailbox,
                 storage: Mailbox, quota: Mailbox, now: Callable[[], datetime], metrics: Metrics = NO_METRICS,
                 balances: Balances | None = None):
        """`balances`: each user's bought balance and its expiry as stored; `quota`: the QuotaActor's Address,
        which a restarted QuotaActor keeps (answers to a dead one would be lost, or kill whoever tells them)."""
        self._rules = rules
        self._key = payload_key
        self._users = users
        self._sender = sender
        self._storage = storage
        self._quota = quota   # where the StorageActor's and the sender's answers go
        self._now = now
        self._metrics = metrics
        balances = balances or Balances({})
        for user_id, (seconds, until) in balances.seconds.items():
            user = users[user_id]
            user.bought, user.bought_until = seconds, _aware(until)
        self._included = balances.last_entry   # credits and refunds up to this ledger row are in those balances
        # Admins' /refund commands waiting for the ledger or Telegram: charge id -> (chat, message, words).
        self._refunding: dict[str, tuple[int, int, Wording]] = {}
        self._refunds_applied: set[str] = set()   # charge ids whose refund this balance book has taken back
        self._waiting: dict[tuple[int, int], Wording] = {}   # /paysupport's answers waiting for the ledger
        self._offered: dict[int, datetime] = {}   # user -> when a refusal last offered them a pack

    @property
    def enabled(self) -> bool:
        return self._rules.enabled

    # --- buying ---------------------------------------------------------------------------------

    def buy(self, command: CommandReceived, words: Wording) -> str | None:
        """/buy: the packs as invoices, under a line with the user's balance."""
        if command.in_group:
            return words.BUY_IN_PRIVATE
        self._sender.tell(SendText(Destination(command.chat_id, reply_to_message_id=command.message_id),
                                   words.buy_intro(self._users.bought(command.user_id))))
        for pack in self._rules.packs:
            self._sender.tell(self._invoice(Destination(command.chat_id), command.user_id, pack, words))
        return None

    def offer(self, job: Job, words: Wording) -> None:
        """A recording refused for the day's quota: the smallest pack, with its pay button, in a private chat; once in
        OFFER_INTERVAL."""
        pack = self._rules.smallest
        if not self.enabled or pack is None or is_channel(job.user_id) or job.chat_id != job.user_id:
            return
        if job.key.place or job.business is not None:
            return   # a guest's or a business chat's recording: not the place for an invoice
        now = self._now()
        self._offered = {user_id: at for user_id, at in self._offered.items() if now - at < OFFER_INTERVAL}
        if job.user_id in self._offered:
            return   # offered a moment ago: /buy shows every pack
        self._offered[job.user_id] = now
        self._sender.tell(self._invoice(Destination(job.chat_id, reply_to_message_id=job.message_id), job.user_id,
                                        pack, words))

    def _invoice(self, to: Destination, user_id: int, pack: Pack, words: Wording) -> SendInvoice:
        return SendInvoice(to, words.invoice_title(pack.minutes)[:32],
                           words.invoice_description(pack.minutes, self._rules.expire_days)[:255],
                           signed_payload(self._key, user_id, pack, self._now()), words.invoice_label(pack.minutes),
                           pack.stars)

    def pre_checkout(self, query: PreCheckout, words: Wording) -> None:
        """Yes or no at once: Telegram waits 10 s at most."""
        reason = decline(query, self._rules, self._key, self._now())
        if reason is not None:
            log.info("pre-checkout %s of user %s declined: %s", query.query_id, query.user_id, reason.value)
            self._metrics.precheckout_declined(reason.value)
        self._sender.tell(AnswerPreCheckout(query.query_id, None if reason is None else words.declined(reason)))

    def credited(self, credit: Credit, words: Wording) -> None:
        """A new payment, stored and credited in the ledger: the balance here follows, and the payer gets a receipt."""
        if self._known(credit.entry, credit.charge_id):
            return   # its receipt, if it has not gone out, goes with the others not sent (resume)
        user = self._users[credit.user_id]
        user.bought = self._users.bought(credit.user_id) + credit.seconds
        user.bought_until = _aware(credit.until)
        self._metrics.stars_earned(credit.stars)
        log.info("payment %s of user %s: %s stars, %.0f s credited", credit.charge_id, credit.user_id, credit.stars,
                 credit.seconds)
        self._send_receipt(credit, words)

    def _send_receipt(self, credit: Credit, words: Wording) -> None:
        text = (words.receipt(credit.stars, credit.seconds, self._users.bought(credit.user_id)) if credit.seconds > 0
                else words.NOT_CREDITED)
        self._sender.tell(MakeCall(SendText(Destination(credit.chat_id), text), self._quota, about=credit.charge_id))

    def resume(self, restarted: bool = False) -> None:
        """At start: receipts a crash kept from going out. After a restart of the QuotaActor alone, only once the
        receipts the one before it sent have had time to go out (their CallMade marks them sent), not again."""
        if restarted:
            tell_later(self._storage, LoadUnsentReceipts(self._quota), RECEIPTS_AFTER_RESTART_SECONDS)
        else:
            self._storage.tell(LoadUnsentReceipts(self._quota))

    def unsent(self, credits: tuple[Credit, ...], words_for: Callable[[int], Wording]) -> None:
        for credit in credits:
            log.info("payment %s of user %s: its receipt goes out now", credit.charge_id, credit.user_id)
            self._send_receipt(credit, words_for(credit.user_id))

    def expire_if_due(self, user_id: int) -> None:
        """A balance past its expiry goes, here and (with an "expire" row) in the ledger, once."""
        user = self._users[user_id]
        if user.bought > 0 and self._users.bought(user_id) == 0:
            log.info("user %s: %.0f bought seconds expired", user_id, user.bought)
            user.bought = 0.0
            self._storage.tell(ExpireBalance(user_id))

    # --- calls made, and refunds ---------------------------------------------------------------

    def call_made(self, made: CallMade) -> None:
        match made.call:
            case SendText() if made.about is not None:   # a receipt, maybe one a QuotaActor before a restart sent
                if made.error is None:
                    self._storage.tell(ReceiptSent(made.about))
                else:
                    log.warning("payment %s: the receipt did not go out (%s); it is sent at the next start",
                                made.about, made.error)
            case RefundStars(user_id, charge_id):
                self._refund_answered(user_id, charge_id, made)

    def refund_command(self, command: CommandReceived, words: Wording) -> str | None:
        """An admin's /refund CHARGE_ID: the payer looked up in the ledger, then Telegram asked."""
        charge_id = command.argument.strip()
        if not charge_id or len(charge_id) > MAX_CHARGE_ID or " " in charge_id:
            return words.REFUND_USAGE
        self._refunding[charge_id] = (command.chat_id, command.message_id, words)
        self._storage.tell(LookUpPayment(charge_id, self._quota))
        return None

    def payment_looked_up(self, found: PaymentLookedUp) -> None:
        if found.failed:
            self._tell_admin(found.charge_id, lambda words: words.TRY_AGAIN)   # the ledger could not be read
            return
        if found.payer is None:
            self._tell_admin(found.charge_id, lambda words: words.refund_unknown(found.charge_id))
            return
        log.info("refunding payment %s of user %s", found.charge_id, found.payer)
        self._sender.tell(MakeCall(RefundStars(found.payer, found.charge_id), self._quota))

    def _refund_answered(self, user_id: int, charge_id: str, made: CallMade) -> None:
        error = made.error
        if made.unanswered:   # made or not: if it was, its refunded_payment update records it
            log.warning("refund of payment %s of user %s: Telegram did not answer (%s)", charge_id, user_id, error)
            self._tell_admin(charge_id, lambda words: words.refund_unanswered(charge_id, error))
            return
        if error is not None:
            log.warning("refund of payment %s of user %s refused: %s", charge_id, user_id, error)
            self._tell_admin(charge_id, lambda words: words.refund_refused(charge_id, error))
            return
        self._storage.tell(RecordRefund(charge_id, self._quota, self._users.held_bought(user_id)))

    def refund_recorded(self, recorded: RefundRecorded, words_for: Callable[[int], Wording]) -> None:
        refund = recorded.refund
        if refund is None:
            log.error("billing: Telegram refunded payment %s, but the ledger could not record it; its "
                      "refunded_payment update records it", recorded.charge_id)
            self._tell_admin(recorded.charge_id, lambda words: words.TRY_AGAIN)
            return
        self.refunded(refund, words_for(refund.user_id))
        self._tell_admin(refund.charge_id, lambda words: words.refund_done(refund.charge_id, refund.user_id,
                                                                           refund.stars, refund.taken))

    def refunded(self, refund: Refund, words: Wording) -> None:
        """A refund in the ledger: the balance here takes back what it took, once, however often and in whatever
        order it is told (its row is in the balances loaded at start, or was taken back here already: the bot's own
        recording and that of Telegram's refunded_payment update come by different ways). Its first recording (its
        row written then: `new`) tells the payer, so no restart makes it twice; one recorded first by the
        operator's command told them itself."""
        if not (self._known(refund.entry, refund.charge_id) or refund.charge_id in self._refunds_applied):
            self._refunds_applied.add(refund.charge_id)
            user = self._users[refund.user_id]
            user.bought = max(0.0, user.bought - refund.taken)
            self._metrics.stars_refunded(refund.stars)
        if not refund.new:
            return
        log.info("payment %s of user %s refunded: %s stars, %.0f s taken back", refund.charge_id, refund.user_id,
                 refund.stars, refund.taken)
        self._sender.tell(SendText(Destination(refund.chat_id), words.refunded(refund.stars, refund.taken,
                                                                                self._users.bought(refund.user_id))))

    def _known(self, entry: int, charge_id: str) -> bool:
        """Whether a ledger row is in the balances this QuotaActor started with: told again after its restart."""
        if entry and entry <= self._included:
            log.info("payment %s: ledger row %d is in the balances loaded at start; not counted again", charge_id,
                     entry)
            return True
        return False

    def _tell_admin(self, charge_id: str, text: Callable[[Wording], str]) -> None:
        asked = self._refunding.pop(charge_id, None)
        if asked is not None:
            chat_id, message_id, words = asked
            self._sender.tell(SendText(Destination(chat_id, reply_to_message_id=message_id), text(words)))

    # --- /paysupport ---------------------------------------------------------------------------

    def paysupport(self, command: CommandReceived, words: Wording) -> str | None:
        """The user's payments and charge ids are theirs alone: listed only in their private chat with the bot."""
        if command.in_group:
            return words.PAYSUPPORT_IN_PRIVATE
        self._waiting[(command.chat_id, command.message_id)] = words
        self._storage.tell(ListCharges(command.user_id, command.chat_id, command.message_id, self._quota))
        return None

    def charges_listed(self, listed: ChargesListed, fallback: Wording) -> None:
        words = self._waiting.pop((listed.chat_id, listed.message_id), fallback)
        self._sender.tell(SendText(Destination(listed.chat_id, reply_to_message_id=listed.message_id),
                                   words.paysupport(self._rules.support, listed.charges)))


def _aware(moment: datetime | None) -> datetime | None:
    """A time as storage keeps it (UTC, naive) as the QuotaActor's clock tells it (UTC, aware)."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment
