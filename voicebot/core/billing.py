"""Billing with Telegram Stars: the packs of minutes an operator sells, the signed invoice payload that names the
buyer and the pack, and the pure checks a pre-checkout query and a payment get. Stdlib only.

A payload is `v1.<user>.<minutes>.<stars>.<issued>.<signature>`: the signature is an HMAC-SHA256 over the rest
with a key derived from the bot token, so every node of one bot (and the same bot after a restart) reads what
another issued, and nobody without the token can make one."""
import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

STARS = "XTR"                 # the currency of digital goods: Telegram Stars
MAX_STARS = 10_000            # Telegram's highest price of one invoice, in Stars
INVOICE_VALID_HOURS = 24      # an invoice paid later than this after it was issued is declined: /buy gives a new one
MAX_PAYLOAD_BYTES = 128       # Telegram's limit on an invoice payload
MAX_CHARGE_ID = 255           # a telegram_payment_charge_id longer than this is not real (storage's column)
BUY_COMMAND = "buy"
PAYSUPPORT_COMMAND = "paysupport"
REFUND_COMMAND = "refund"
_VERSION = "v1"
_SIGNATURE_BYTES = 16
_KEY_PURPOSE = b"voicebot invoice payload v1"


@dataclass(frozen=True, slots=True)
class Pack:
    """What the operator sells: `minutes` of transcription for `stars` Telegram Stars."""
    minutes: int
    stars: int

    @property
    def seconds(self) -> float:
        return self.minutes * 60.0


@dataclass(frozen=True, slots=True)
class BillingRules:
    """config [billing]: off by default, and then nothing of this is offered or accepted. `expire_days`: bought
    minutes expire this many days after the user's latest purchase (0: never); `support`: how to reach the
    operator, as /paysupport says."""
    enabled: bool = False
    packs: tuple[Pack, ...] = ()
    expire_days: int = 0
    support: str = ""

    def pack(self, minutes: int, stars: int) -> Pack | None:
        """The pack sold now for that many minutes at that price; None when none is (any more)."""
        return next((pack for pack in self.packs if pack.minutes == minutes and pack.stars == stars), None)

    @property
    def smallest(self) -> Pack | None:
        return min(self.packs, key=lambda pack: (pack.stars, pack.minutes), default=None)


NO_BILLING = BillingRules()


@dataclass(frozen=True, slots=True)
class InvoicePayload:
    """What an invoice names: who may pay it, the pack, and when it was issued (unix seconds)."""
    user_id: int
    minutes: int
    stars: int
    issued: int


class Decline(StrEnum):
    """Why a pre-checkout query is declined (the label of voicebot_precheckouts_declined_total)."""
    INVALID = "invalid"          # forged, altered or unreadable
    NOT_YOURS = "not_yours"      # issued to someone else
    STALE = "stale"              # issued more than INVOICE_VALID_HOURS ago
    NOT_SOLD = "not_sold"        # that pack is no longer sold at that price
    AMOUNT = "amount"            # not Stars, or not the payload's price
    OFF = "off"                  # billing is switched off


@dataclass(frozen=True, slots=True)
class PreCheckout:
    """A user is about to pay an invoice: Telegram waits at most 10 s for the bot's yes or no (query `query_id`)."""
    query_id: str
    user_id: int
    currency: str
    total_amount: int
    payload: str
    language_code: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentReceived:
    """A successful payment, as its service message in the payer's private chat with the bot tells it: Telegram
    holds the Stars; `charge_id` (telegram_payment_charge_id) names the payment for good."""
    chat_id: int
    user_id: int
    charge_id: str
    currency: str
    total_amount: int
    payload: str
    language_code: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentRefunded:
    """Telegram gave a payment's Stars back (a refund made by the bot, or elsewhere), as its service message
    tells it."""
    chat_id: int
    user_id: int
    charge_id: str
    total_amount: int
    language_code: str | None = None


@dataclass(frozen=True, slots=True)
class Credit:
    """What storing a payment did: a new payment (`new`) adds `seconds` to the buyer's balance, which is
    `balance` after it (expiring at `until`, None: never); a payment stored before adds nothing again."""
    charge_id: str
    user_id: int
    chat_id: int
    stars: int
    seconds: float
    balance: float
    until: datetime | None = None
    new: bool = True
    entry: int = field(default=0, compare=False)   # its "credit" row's id in the ledger (see Balances)
    language_code: str | None = None   # the payer's Telegram app's, as the payment's update said: the receipt's


@dataclass(frozen=True, slots=True)
class Refund:
    """What recording a refund did: `taken` seconds of the balance taken back (never more than was left), which
    is `balance` after it; `new`: False when it was recorded before, and nothing changed."""
    charge_id: str
    user_id: int
    chat_id: int
    stars: int
    taken: float
    balance: float
    new: bool = True
    entry: int = field(default=0, compare=False)   # its "refund" row's id in the ledger (see Balances)
    language_code: str | None = None   # the payer's Telegram app's, as a refunded_payment update said


@dataclass(frozen=True, slots=True)
class Balances:
    """Every user's bought balance as stored, {user_id: (seconds, when it expires; None: never)}, and the ledger's
    latest row they include: a credit or refund with an entry up to it is in them already (told again to a
    QuotaActor restarted meanwhile, it must not count twice)."""
    seconds: dict[int, tuple[float, datetime | None]]
    last_entry: int = 0


@dataclass(frozen=True, slots=True)
class Charge:
    """A payment as /paysupport lists it to its payer."""
    charge_id: str
    stars: int
    minutes: int
    paid_at: datetime
    refunded: bool


def payload_key(token: str) -> bytes:
    """The key invoice payloads are signed with: derived from the bot token, the same on every node."""
    return hmac.new(token.encode(), _KEY_PURPOSE, hashlib.sha256).digest()


def signed_payload(key: bytes, user_id: int, pack: Pack, issued: datetime) -> str:
    """The invoice payload naming `user_id` and `pack`, issued at `issued`."""
    body = f"{_VERSION}.{user_id}.{pack.minutes}.{pack.stars}.{int(issued.timestamp())}"
    return f"{body}.{_signature(key, body)}"


def read_payload(key: bytes, payload: str) -> InvoicePayload | None:
    """What a payload names, if it is one this bot signed; None for one forged, altered or unreadable."""
    if not isinstance(payload, str) or len(payload.encode(errors="replace")) > MAX_PAYLOAD_BYTES:
        return None
    body, _, signature = payload.rpartition(".")
    if not hmac.compare_digest(_signature(key, body).encode(), signature.encode(errors="replace")):
        return None
    version, *numbers = body.split(".")
    if version != _VERSION or len(numbers) != 4 or not all(_is_integer(number) for number in numbers):
        return None
    return InvoicePayload(*(int(number) for number in numbers))


def decline(query: PreCheckout, rules: BillingRules, key: bytes, now: datetime) -> Decline | None:
    """Why the pre-checkout query is declined; None: the user may pay."""
    if not rules.enabled:
        return Decline.OFF
    named = read_payload(key, query.payload)
    if named is None:
        return Decline.INVALID
    if named.user_id != query.user_id:
        return Decline.NOT_YOURS
    if now.timestamp() - named.issued > INVOICE_VALID_HOURS * 3600:
        return Decline.STALE
    if query.currency != STARS or query.total_amount != named.stars:
        return Decline.AMOUNT
    if rules.pack(named.minutes, named.stars) is None:
        return Decline.NOT_SOLD
    return None


def paid_seconds(payment: PaymentReceived, key: bytes) -> float:
    """What a payment buys: its pack's minutes, if the payload verifies as this payer's at this price (it was
    checked at pre-checkout, so only a forgery after that fails); else nothing (stored, logged, refunded)."""
    named = read_payload(key, payment.payload)
    if (named is None or named.user_id != payment.user_id or payment.currency != STARS
            or payment.total_amount != named.stars):
        return 0.0
    return named.minutes * 60.0


def expiry(paid_at: datetime, expire_days: int) -> datetime | None:
    """When minutes bought at `paid_at` expire (None: never)."""
    return paid_at + timedelta(days=expire_days) if expire_days > 0 else None


def _signature(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(errors="replace"), hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _is_integer(text: str) -> bool:
    return text.isascii() and (text.isdigit() or (text.startswith("-") and text[1:].isdigit()))
