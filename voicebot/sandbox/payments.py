"""Payments in Telegram Stars, as core.telegram.org documents them for digital goods.

The bot makes an invoice with sendInvoice (a message with ``invoice`` and a Pay button first in its keyboard) or
createInvoiceLink (a ``https://t.me/$...`` link); the currency is XTR, with exactly one price and no provider token
(the sandbox knows no payment providers, so it sells in Stars only). A test pays as a user with ``pay_invoice``
(an invoice message) or ``pay_invoice_link``: the bot gets a pre_checkout_query and must answer it with
answerPreCheckoutQuery within 10 seconds; the call waits for that answer and says what came of it
(PaymentOutcome). Once the bot said ok, the user's private chat with the bot gets a service message with
``successful_payment`` and the bot's Star transactions (getStarTransactions, oldest first) an incoming one whose id
is the telegram_payment_charge_id. An answer after the deadline, or a second one, is refused as Telegram refuses
it, and the payment does not happen. refundStarPayment gives a payment's Stars back once (Telegram refunds whole
payments), adds an outgoing transaction with the same id, and posts a ``refunded_payment`` service message;
``refund_by_telegram`` does the same without the bot, as a refund made elsewhere does. The same update delivered
twice is ``push_update({"message": sandbox.message(user.id, outcome.message_id)})``.

Error texts are Telegram's where it shows them; a title over 32 characters and a description over 255 are refused
with INVOICE_TITLE_INVALID and INVOICE_DESCRIPTION_INVALID, whose texts Telegram does not document."""
from __future__ import annotations

import copy
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from .chats import _user_json
from .keyboards import _reply_markup, _shown
from .methods import _BotMethods
from .protocol import _QUERY_INVALID, _ApiError, _bool_param, _Request
from .state import SandboxUser, _Invoice, _PreCheckout, _StarPayment

STARS = "XTR"
PRE_CHECKOUT_SECONDS = 10.0   # how long Telegram waits for answerPreCheckoutQuery
MAX_STARS = 10000             # the highest price of one invoice in Stars
MAX_TITLE_LENGTH = 32
MAX_DESCRIPTION_LENGTH = 255
MAX_PAYLOAD_BYTES = 128
MAX_TRANSACTIONS_PER_CALL = 100
INVOICE_LINK_PREFIX = "https://t.me/$"
_PRICE_ERROR = "Bad Request: Can't parse labeled price: "


@dataclass(frozen=True)
class PaymentOutcome:
    """What came of a user's attempt to pay: "paid" (charge_id, and message_id of the successful_payment message in
    their private chat with the bot), "declined" (error_message: the bot's reason, which the user was shown) or
    "timeout" (no answer within the deadline). query_id is the pre_checkout_query's id."""
    status: str
    query_id: str
    charge_id: str | None = None
    message_id: int | None = None
    error_message: str | None = None


class _PaymentsSide(_BotMethods):
    """Invoices, paying them (tests' side), pre-checkout with its deadline, refunds and the Star transactions."""

    def pay_invoice(self, user: SandboxUser, chat_id: int, message_id: int, *,
                    deadline: float = PRE_CHECKOUT_SECONDS) -> PaymentOutcome:
        """`user` pays the invoice in the bot's message `message_id` of chat `chat_id`: the bot gets a
        pre_checkout_query, and this waits up to `deadline` seconds for its answer (see PaymentOutcome)."""
        with self._cond:
            invoice = self._invoices.get((chat_id, message_id))
            if invoice is None:
                raise ValueError(f"no invoice of the bot in message {message_id} of chat {chat_id}")
            if 0 < chat_id != user.id:
                raise ValueError("an invoice in a private chat is its user's to pay")
            return self._pay(user, invoice, deadline)

    def pay_invoice_link(self, user: SandboxUser, link: str, *,
                         deadline: float = PRE_CHECKOUT_SECONDS) -> PaymentOutcome:
        """`user` opens an invoice link of createInvoiceLink and pays, as pay_invoice."""
        with self._cond:
            slug = link.removeprefix(INVOICE_LINK_PREFIX)
            invoice = self._invoices.get(slug) if slug != link else None
            if invoice is None:
                raise ValueError(f"no invoice link {link!r} of the bot")
            return self._pay(user, invoice, deadline)

    def refund_by_telegram(self, charge_id: str) -> int:
        """Telegram gives a payment's Stars back without the bot asking (as a refund made elsewhere): the same
        transaction and refunded_payment message as refundStarPayment; returns that message's id."""
        with self._cond:
            payment = self._star_payments.get(charge_id)
            if payment is None or payment.refunded:
                raise ValueError(f"no payment {charge_id!r} to refund")
            return self._refund(payment)

    def star_transactions(self) -> list[dict]:
        """The bot's Star transactions, oldest first, as getStarTransactions answers them."""
        with self._cond:
            return copy.deepcopy(self._star_transactions)

    # --- Bot API methods

    def _send_invoice(self, request: _Request) -> dict:
        invoice = _invoice(request)
        markup = _reply_markup(request) or {
            "inline_keyboard": [[{"text": f"Pay ⭐{invoice.total_amount}", "pay": True}]]}
        content = {"invoice": _invoice_json(invoice), **_shown(markup)}
        event = ("bot_invoice", f"[invoice {invoice.title}, {invoice.total_amount} {invoice.currency}]")
        with self._cond:
            message = self._bot_message(request, content, event, reply_markup=markup)
            self._invoices[(message["chat"]["id"], message["message_id"])] = invoice
            return copy.deepcopy(message)

    def _create_invoice_link(self, request: _Request) -> str:
        invoice = _invoice(request)
        with self._cond:
            slug = secrets.token_urlsafe(24)
            self._invoices[slug] = invoice
            return INVOICE_LINK_PREFIX + slug

    def _answer_pre_checkout_query(self, request: _Request) -> bool:
        """A query is answered once, before its deadline; later, or again, it is unknown."""
        ok = _bool_param(request, "ok")
        error_message = str(request.params.get("error_message") or "")
        if not ok and not error_message:
            raise _ApiError(400, 'Bad Request: Parameter "error_message" is required')
        with self._cond:
            query = self._pre_checkouts.get(str(request.params.get("pre_checkout_query_id", "")).strip())
            if query is None or query.answer is not None:
                raise _ApiError(400, _QUERY_INVALID)
            query.answer = (ok, None if ok else error_message)
            self._cond.notify_all()
            return True

    def _refund_star_payment(self, request: _Request) -> bool:
        user_id = _lenient_int(request.params.get("user_id"))
        if user_id <= 0:
            raise _ApiError(400, "Bad Request: Invalid user_id specified")
        charge_id = str(_required(request, "telegram_payment_charge_id"))
        with self._cond:
            payment = self._star_payments.get(charge_id)
            if payment is None:
                raise _ApiError(400, "Bad Request: CHARGE_NOT_FOUND")
            if payment.payer.id != user_id:
                raise _ApiError(400, "Bad Request: USER_ID_INVALID")
            if payment.refunded:
                raise _ApiError(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
            self._refund(payment)
            return True

    def _get_star_transactions(self, request: _Request) -> dict:
        # Read as the Bot API server reads them: garbage is 0, and each is kept within its range.
        offset = max(_lenient_int(request.params.get("offset")), 0)
        limit = request.params.get("limit")
        limit = MAX_TRANSACTIONS_PER_CALL if limit in (None, "") else _lenient_int(limit)
        limit = min(max(limit, 1), MAX_TRANSACTIONS_PER_CALL)
        with self._cond:
            return {"transactions": copy.deepcopy(self._star_transactions[offset:offset + limit])}

    # --- internals (callers hold the lock)

    def _pay(self, user: SandboxUser, invoice: _Invoice, deadline: float) -> PaymentOutcome:
        """Ask the bot, wait for its answer, and charge on ok. The lock is released while waiting."""
        self._known_users[user.id] = user
        query_id = str(next(self._pre_checkout_ids))
        query = _PreCheckout(user, invoice)
        self._pre_checkouts[query_id] = query
        self._queue_update({"pre_checkout_query": {
            "id": query_id, "from": _user_json(user), "currency": invoice.currency,
            "total_amount": invoice.total_amount, "invoice_payload": invoice.payload}})
        self._cond.wait_for(lambda: query.answer is not None or self._stopping, deadline)
        del self._pre_checkouts[query_id]   # its deadline is over: a late answer finds no query
        if query.answer is None:
            return PaymentOutcome("timeout", query_id)
        ok, error_message = query.answer
        if not ok:
            return PaymentOutcome("declined", query_id, error_message=error_message)
        charge_id, message_id = self._charge(user, invoice)
        return PaymentOutcome("paid", query_id, charge_id, message_id)

    def _charge(self, user: SandboxUser, invoice: _Invoice) -> tuple[str, int]:
        charge_id = "stx" + secrets.token_urlsafe(36)
        self._star_payments[charge_id] = _StarPayment(charge_id, user, invoice)
        paid = {"currency": invoice.currency, "total_amount": invoice.total_amount,
                "invoice_payload": invoice.payload, "telegram_payment_charge_id": charge_id,
                "provider_payment_charge_id": f"{user.id}_{len(self._star_payments)}"}
        message_id = self._service_message(user, {"successful_payment": paid})
        self._star_transactions.append(
            {"id": charge_id, "amount": invoice.total_amount, "date": int(time.time()),
             "source": _partner(user, invoice)})
        self._emit("user_payment", user.id, f"{invoice.total_amount} {invoice.currency} {charge_id}", message_id,
                   user)
        return charge_id, message_id

    def _refund(self, payment: _StarPayment) -> int:
        payment.refunded = True
        invoice, user = payment.invoice, payment.payer
        self._star_transactions.append(
            {"id": payment.charge_id, "amount": invoice.total_amount, "date": int(time.time()),
             "receiver": _partner(user, invoice)})
        refunded = {"currency": invoice.currency, "total_amount": invoice.total_amount,
                    "invoice_payload": invoice.payload, "telegram_payment_charge_id": payment.charge_id}
        message_id = self._service_message(user, {"refunded_payment": refunded})
        self._emit("payment_refund", user.id, f"{invoice.total_amount} {invoice.currency} {payment.charge_id}",
                   message_id, user)
        return message_id

    def _service_message(self, user: SandboxUser, content: dict) -> int:
        """A service message in `user`'s private chat with the bot, which the bot gets as a message update."""
        place = self._user_place(user, None, None)
        message = self._new_message(place.chat, place.sender, content, None)
        self._deliver(place, message)
        return message["message_id"]


def _invoice(request: _Request) -> _Invoice:
    """The invoice of sendInvoice or createInvoiceLink, checked in the order Telegram checks it."""
    title, description, payload, currency = (str(_required(request, name))
                                             for name in ("title", "description", "payload", "currency"))
    prices = _prices(_required(request, "prices"))
    total = sum(amount for _, amount in prices)
    if total <= 0:
        raise _ApiError(400, "Bad Request: Total price must be positive")
    if currency != STARS:
        raise _ApiError(400, "Bad Request: PAYMENT_PROVIDER_INVALID")
    if str(request.params.get("provider_token") or "") or len(prices) != 1:
        raise _ApiError(400, "Bad Request: STARS_INVOICE_INVALID")
    if total > MAX_STARS:
        raise _ApiError(400, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
    if len(title) > MAX_TITLE_LENGTH:
        raise _ApiError(400, "Bad Request: INVOICE_TITLE_INVALID")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise _ApiError(400, "Bad Request: INVOICE_DESCRIPTION_INVALID")
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise _ApiError(400, "Bad Request: INVOICE_PAYLOAD_INVALID")
    return _Invoice(title, description, payload, currency, total, str(request.params.get("start_parameter") or ""))


def _prices(value: Any) -> list[tuple[str, int]]:
    """The LabeledPrice objects of `prices` (JSON text, or in a JSON body already a list), as (label, amount)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _ApiError(400, "Bad Request: Can't parse prices JSON object") from None
    if not isinstance(value, list):
        raise _ApiError(400, "Bad Request: Expected an Array of labeled prices")
    prices = [_price(price) for price in value]
    if not prices:
        raise _ApiError(400, "Bad Request: There must be at least one price")
    return prices


def _price(price: Any) -> tuple[str, int]:
    if not isinstance(price, dict):
        raise _ApiError(400, _PRICE_ERROR + "LabeledPrice must be an Object")
    label, amount = price.get("label"), price.get("amount")
    for name, value in (("label", label), ("amount", amount)):
        if value is None:
            raise _ApiError(400, _PRICE_ERROR + f'Can\'t find field "{name}"')
    if not isinstance(label, str):
        raise _ApiError(400, _PRICE_ERROR + 'Field "label" must be of type String')
    if not label:
        raise _ApiError(400, _PRICE_ERROR + "LabeledPrice label must be non-empty")
    if isinstance(amount, bool) or not isinstance(amount, (int, str)) or not str(amount).lstrip("-").isdigit():
        raise _ApiError(400, _PRICE_ERROR + 'Field "amount" must be a valid Number')
    return label, int(amount)


def _invoice_json(invoice: _Invoice) -> dict:
    """The Invoice object of an invoice message."""
    return {"title": invoice.title, "description": invoice.description, "start_parameter": invoice.start_parameter,
            "currency": invoice.currency, "total_amount": invoice.total_amount}


def _partner(user: SandboxUser, invoice: _Invoice) -> dict:
    """The TransactionPartnerUser of a payment of an invoice and of its refund."""
    return {"type": "user", "transaction_type": "invoice_payment", "user": _user_json(user),
            "invoice_payload": invoice.payload}


def _required(request: _Request, name: str) -> Any:
    """A parameter the Bot API server requires: a string, or what a JSON body holds; absent or empty is refused."""
    value = request.params.get(name)
    if value is None or value == "":
        raise _ApiError(400, f'Bad Request: Parameter "{name}" is required')
    return value


def _lenient_int(value: object) -> int:
    """A number read as the Bot API server reads one: anything that is no whole number is 0."""
    try:
        return int(str(value).strip())
    except ValueError:
        return 0
