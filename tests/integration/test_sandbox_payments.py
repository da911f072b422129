"""Payments in Telegram Stars in the sandbox, driven by the real pyTelegramBotAPI client over real HTTP: invoices and
invoice links, a user paying with the pre-checkout and its deadline, the successful_payment message, refunds with
Telegram's errors and the refunded_payment message, getStarTransactions and its paging, and injected faults."""
import json
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from telebot import TeleBot, apihelper, types

from voicebot.sandbox import BotApiSandbox, PaymentOutcome, SandboxUser

from helpers import serve

TOKEN = "123456:sandbox-payments-token"
ANN = SandboxUser(id=7, first_name="Ann", username="ann")
BOB = SandboxUser(id=8, first_name="Bob", language_code="de")
GROUP = -300
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
POLL_SECONDS = 10   # a long poll returns as soon as an update is there


@pytest.fixture
def sandbox():
    yield from serve(BotApiSandbox(TOKEN))


@pytest.fixture
def bot(sandbox):
    return TeleBot(TOKEN, threaded=False)


@pytest.fixture
def updates(sandbox, bot):
    """The bot's updates, once Ann and Bob have started it (a bot writes only to users who did)."""
    for user in (ANN, BOB):
        sandbox.send_text(user, "/start")
    reader = Updates(bot)
    assert [update.message.text for update in reader.pending()] == ["/start", "/start"]
    return reader


@pytest.fixture
def payer():
    """Users pay on a thread of their own: paying waits for the bot's answer to the pre-checkout query."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


class Updates:
    """The bot's side of getUpdates: each update once, in order, confirmed as it is read."""

    def __init__(self, bot: TeleBot, allowed_updates: list[str] | None = None):
        self.bot, self.offset, self.allowed_updates = bot, 0, allowed_updates

    def next(self) -> types.Update:
        for _ in range(3):
            updates = self.bot.get_updates(offset=self.offset, limit=1, long_polling_timeout=POLL_SECONDS,
                                           allowed_updates=self.allowed_updates)
            if updates:
                self.offset = updates[0].update_id + 1
                return updates[0]
        raise AssertionError("no update came")

    def pending(self) -> list[types.Update]:
        """What is there now, without a long poll (the client's get_updates takes 0 for its default, 10 s)."""
        params = {"offset": self.offset, "long_polling_timeout": 0}
        if self.allowed_updates is not None:
            params["allowed_updates"] = json.dumps(self.allowed_updates)
        updates = [types.Update.de_json(raw) for raw in apihelper._make_request(TOKEN, "getUpdates", params=params)]
        if updates:
            self.offset = updates[-1].update_id + 1
        return updates


def stars(amount: int = 50, label: str = "60 minutes") -> list[types.LabeledPrice]:
    return [types.LabeledPrice(label, amount)]


def invoice(bot: TeleBot, chat_id: int = ANN.id, amount: int = 50, payload: str = "v1.7.60.50") -> types.Message:
    return bot.send_invoice(chat_id, "60 minutes", "An hour of transcription", payload, None, "XTR", stars(amount))


def api_error(call, *args, **kwargs) -> apihelper.ApiTelegramException:
    with pytest.raises(apihelper.ApiTelegramException) as caught:
        call(*args, **kwargs)
    return caught.value


def pay(sandbox: BotApiSandbox, bot: TeleBot, updates: Updates, payer: ThreadPoolExecutor, user: SandboxUser = ANN,
        amount: int = 50, payload: str = "v1.7.60.50") -> tuple[PaymentOutcome, types.Message]:
    """`user` pays a new invoice of `amount` Stars, the bot says ok: the outcome and the successful_payment
    message the bot got."""
    message = invoice(bot, user.id, amount, payload)
    paying = payer.submit(sandbox.pay_invoice, user, user.id, message.message_id)
    bot.answer_pre_checkout_query(updates.next().pre_checkout_query.id, True)
    return paying.result(), updates.next().message


# --- invoices

def test_an_invoice_in_stars_is_a_message_with_a_pay_button(sandbox, bot, updates):
    message = invoice(bot, payload="v1.7.60.50.1764892800.sig")
    assert (message.invoice.title, message.invoice.description, message.invoice.currency,
            message.invoice.total_amount) == ("60 minutes", "An hour of transcription", "XTR", 50)
    [[button]] = message.reply_markup.keyboard
    assert (button.text, button.pay) == ("Pay ⭐50", True)
    [sent] = sandbox.messages(ANN.id)
    assert (sent.message_id, sent.reply_markup) == (message.message_id, {"inline_keyboard": [[
        {"text": "Pay ⭐50", "pay": True}]]})
    assert "payload" not in json.dumps(sandbox.message(ANN.id, message.message_id))   # only the bot knows it


def test_an_invoice_keeps_the_keyboard_the_bot_gives_it(sandbox, bot, updates):
    markup = types.InlineKeyboardMarkup()
    markup.row(types.InlineKeyboardButton("Buy 60 min for 50 ⭐", pay=True))
    markup.row(types.InlineKeyboardButton("Other packs", callback_data="packs"))
    message = bot.send_invoice(ANN.id, "60 minutes", "An hour", "p", "", "XTR", stars(), reply_markup=markup)
    assert [[button.text for button in row] for row in message.reply_markup.keyboard] == [
        ["Buy 60 min for 50 ⭐"], ["Other packs"]]


@pytest.mark.parametrize("make", ["send_invoice", "create_invoice_link"])
def test_invoices_are_checked_as_telegram_checks_them(sandbox, bot, updates, make):
    def refused(title="60 minutes", description="An hour", payload="p", provider_token=None, currency="XTR",
                prices=None) -> str:
        if make == "send_invoice":
            call = bot.send_invoice, ANN.id, title, description, payload, provider_token, currency
        else:
            call = bot.create_invoice_link, title, description, payload, provider_token, currency
        return api_error(*call, stars() if prices is None else prices).description

    assert refused(prices=stars(30) + stars(20, "tax")) == "Bad Request: STARS_INVOICE_INVALID"
    assert refused(provider_token="284685063:TEST:abc") == "Bad Request: STARS_INVOICE_INVALID"
    assert refused(currency="EUR", provider_token="284685063:TEST:abc") == "Bad Request: PAYMENT_PROVIDER_INVALID"
    assert refused(prices=stars(0)) == "Bad Request: Total price must be positive"
    assert refused(prices=stars(10001)) == "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID"
    assert refused(prices=[]) == "Bad Request: There must be at least one price"
    assert refused(prices=stars(5, "")) == \
        "Bad Request: Can't parse labeled price: LabeledPrice label must be non-empty"
    assert refused(title="") == 'Bad Request: Parameter "title" is required'
    assert refused(title="x" * 33) == "Bad Request: INVOICE_TITLE_INVALID"
    assert refused(description="x" * 256) == "Bad Request: INVOICE_DESCRIPTION_INVALID"
    assert refused(payload="ü" * 65) == "Bad Request: INVOICE_PAYLOAD_INVALID"   # 130 bytes
    assert sandbox.messages(ANN.id) == []
    # At the limits, all is well: 10000 Stars, a 32-character title, 255 characters of description, 128 bytes.
    if make == "send_invoice":
        message = bot.send_invoice(ANN.id, "x" * 32, "y" * 255, "ü" * 64, None, "XTR", stars(10000))
        assert message.invoice.total_amount == 10000
    else:
        assert bot.create_invoice_link("x" * 32, "y" * 255, "ü" * 64, None, "XTR", stars(10000)).startswith(
            "https://t.me/$")


def test_prices_that_are_no_labeled_prices_are_refused(sandbox, bot, updates):
    def refused(prices: str) -> str:
        return api_error(apihelper._make_request, TOKEN, "sendInvoice", params={
            "chat_id": ANN.id, "title": "t", "description": "d", "payload": "p", "currency": "XTR",
            "prices": prices}).description

    assert refused("[{") == "Bad Request: Can't parse prices JSON object"
    assert refused('{"label": "a", "amount": 5}') == "Bad Request: Expected an Array of labeled prices"
    assert refused('["a"]') == "Bad Request: Can't parse labeled price: LabeledPrice must be an Object"
    assert refused('[{"label": "a"}]') == 'Bad Request: Can\'t parse labeled price: Can\'t find field "amount"'
    assert refused('[{"label": "a", "amount": "five"}]') == \
        'Bad Request: Can\'t parse labeled price: Field "amount" must be a valid Number'


# --- paying

def test_a_user_pays_once_the_bot_says_ok_and_the_bot_gets_the_successful_payment(sandbox, bot, updates, payer):
    message = invoice(bot, payload="v1.7.60.50.1764892800.sig")
    paying: Future = payer.submit(sandbox.pay_invoice, ANN, ANN.id, message.message_id)

    query = updates.next().pre_checkout_query
    assert (query.from_user.id, query.from_user.language_code, query.currency, query.total_amount,
            query.invoice_payload) == (ANN.id, "en", "XTR", 50, "v1.7.60.50.1764892800.sig")
    assert not paying.done()   # the payment waits for the bot
    assert bot.answer_pre_checkout_query(query.id, True) is True
    outcome = paying.result()
    assert (outcome.status, outcome.query_id, outcome.error_message) == ("paid", query.id, None)
    assert outcome.charge_id.startswith("stx")

    paid = updates.next().message
    assert (paid.chat.id, paid.chat.type, paid.from_user.id, paid.message_id) == (
        ANN.id, "private", ANN.id, outcome.message_id)
    assert paid.content_type == "successful_payment"
    payment = paid.successful_payment
    assert (payment.currency, payment.total_amount, payment.invoice_payload, payment.telegram_payment_charge_id) == (
        "XTR", 50, "v1.7.60.50.1764892800.sig", outcome.charge_id)
    assert payment.provider_payment_charge_id

    [transaction] = bot.get_star_transactions().transactions
    assert (transaction.id, transaction.amount, transaction.receiver) == (outcome.charge_id, 50, None)
    assert (transaction.source.type, transaction.source.transaction_type, transaction.source.user.id,
            transaction.source.invoice_payload) == ("user", "invoice_payment", ANN.id, "v1.7.60.50.1764892800.sig")
    assert "nanostar_amount" not in sandbox.star_transactions()[0]   # as Telegram: only when not 0


def test_a_declined_pre_checkout_takes_nothing_and_shows_the_user_the_reason(sandbox, bot, updates, payer):
    message = invoice(bot)
    paying = payer.submit(sandbox.pay_invoice, ANN, ANN.id, message.message_id)
    query = updates.next().pre_checkout_query
    error = api_error(bot.answer_pre_checkout_query, query.id, False)
    assert error.description == 'Bad Request: Parameter "error_message" is required'
    assert not paying.done()   # that answer was no answer

    assert bot.answer_pre_checkout_query(query.id, False, "This invoice is not valid; send /buy for a new one")
    assert paying.result() == PaymentOutcome("declined", query.id,
                                             error_message="This invoice is not valid; send /buy for a new one")
    assert api_error(bot.answer_pre_checkout_query, query.id, True).description == QUERY_INVALID
    assert updates.pending() == []
    assert bot.get_star_transactions().transactions == []


def test_an_answer_after_the_deadline_is_refused_and_the_payment_does_not_happen(sandbox, bot, updates, payer):
    message = invoice(bot)
    outcome = sandbox.pay_invoice(ANN, ANN.id, message.message_id, deadline=0.2)   # nobody answers
    query = updates.next().pre_checkout_query
    assert outcome == PaymentOutcome("timeout", query.id)
    assert api_error(bot.answer_pre_checkout_query, query.id, True).description == QUERY_INVALID
    assert api_error(bot.answer_pre_checkout_query, "12345", True).description == QUERY_INVALID
    assert updates.pending() == []
    assert sandbox.star_transactions() == []


def test_a_bot_that_leaves_pre_checkout_query_out_of_allowed_updates_never_sees_the_payment(sandbox, bot, updates):
    narrow = Updates(bot, allowed_updates=["message", "callback_query"])
    narrow.offset = updates.offset
    narrow.pending()   # the bot's setting from now on
    message = invoice(bot)
    assert sandbox.pay_invoice(ANN, ANN.id, message.message_id, deadline=0.2).status == "timeout"
    assert narrow.pending() == []


def test_anyone_in_a_group_pays_its_invoice_and_its_payment_is_in_their_chat_with_the_bot(sandbox, bot, updates,
                                                                                           payer):
    sandbox.send_text(BOB, "/buy", chat_id=GROUP)
    updates.next()
    message = invoice(bot, GROUP)
    paying = payer.submit(sandbox.pay_invoice, BOB, GROUP, message.message_id)
    query = updates.next().pre_checkout_query
    assert (query.from_user.id, query.from_user.language_code) == (BOB.id, "de")
    bot.answer_pre_checkout_query(query.id, True)
    assert paying.result().status == "paid"
    paid = updates.next().message
    assert (paid.chat.id, paid.from_user.id, paid.successful_payment.total_amount) == (BOB.id, BOB.id, 50)


def test_only_the_bots_invoices_are_paid_and_a_private_chats_by_its_user(sandbox, bot, updates):
    message = invoice(bot)
    with pytest.raises(ValueError, match="its user's to pay"):
        sandbox.pay_invoice(BOB, ANN.id, message.message_id)
    with pytest.raises(ValueError, match="no invoice"):
        sandbox.pay_invoice(ANN, ANN.id, message.message_id + 1)
    with pytest.raises(ValueError, match="no invoice link"):
        sandbox.pay_invoice_link(ANN, "https://t.me/$nothing")


def test_an_invoice_link_is_paid_like_an_invoice_message(sandbox, bot, updates, payer):
    link = bot.create_invoice_link("300 minutes", "Five hours", "v1.8.300.200", None, "XTR", stars(200))
    assert link.startswith("https://t.me/$")
    paying = payer.submit(sandbox.pay_invoice_link, BOB, link)
    query = updates.next().pre_checkout_query
    assert (query.from_user.id, query.total_amount, query.invoice_payload) == (BOB.id, 200, "v1.8.300.200")
    bot.answer_pre_checkout_query(query.id, True)
    outcome = paying.result()
    paid = updates.next().message
    assert (paid.chat.id, paid.successful_payment.telegram_payment_charge_id, paid.message_id) == (
        BOB.id, outcome.charge_id, outcome.message_id)


def test_the_same_successful_payment_can_be_delivered_again(sandbox, bot, updates, payer):
    outcome, first = pay(sandbox, bot, updates, payer)
    sandbox.push_update({"message": sandbox.message(ANN.id, outcome.message_id)})
    [again] = updates.pending()
    assert (again.message.message_id, again.message.successful_payment.telegram_payment_charge_id) == (
        first.message_id, outcome.charge_id)


# --- refunds

def test_a_refund_gives_the_stars_back_once_and_the_bot_gets_the_refunded_payment(sandbox, bot, updates, payer):
    outcome, _ = pay(sandbox, bot, updates, payer, amount=50, payload="v1.7.60.50.1.sig")

    assert api_error(bot.refund_star_payment, BOB.id, outcome.charge_id).description == "Bad Request: USER_ID_INVALID"
    assert api_error(bot.refund_star_payment, ANN.id, "stxnothing").description == "Bad Request: CHARGE_NOT_FOUND"
    assert api_error(bot.refund_star_payment, 0, outcome.charge_id).description == \
        "Bad Request: Invalid user_id specified"
    assert len(bot.get_star_transactions().transactions) == 1   # none of those refunded anything

    assert bot.refund_star_payment(ANN.id, outcome.charge_id) is True
    refunded = updates.next().message
    assert (refunded.chat.id, refunded.from_user.id) == (ANN.id, ANN.id)
    assert (refunded.refunded_payment.currency, refunded.refunded_payment.total_amount,
            refunded.refunded_payment.invoice_payload, refunded.refunded_payment.telegram_payment_charge_id) == (
        "XTR", 50, "v1.7.60.50.1.sig", outcome.charge_id)

    assert api_error(bot.refund_star_payment, ANN.id, outcome.charge_id).description == \
        "Bad Request: CHARGE_ALREADY_REFUNDED"
    assert updates.pending() == []
    paid, refund = bot.get_star_transactions().transactions
    assert (refund.id, refund.amount, refund.source) == (outcome.charge_id, 50, None)
    assert (refund.receiver.type, refund.receiver.transaction_type, refund.receiver.user.id) == (
        "user", "invoice_payment", ANN.id)
    assert paid.source.user.id == ANN.id and refund.date >= paid.date


def test_a_refund_made_elsewhere_reaches_the_bot_the_same_way(sandbox, bot, updates, payer):
    outcome, _ = pay(sandbox, bot, updates, payer)
    message_id = sandbox.refund_by_telegram(outcome.charge_id)
    refunded = updates.next().message
    assert (refunded.message_id, refunded.refunded_payment.telegram_payment_charge_id) == (message_id,
                                                                                           outcome.charge_id)
    assert api_error(bot.refund_star_payment, ANN.id, outcome.charge_id).description == \
        "Bad Request: CHARGE_ALREADY_REFUNDED"
    with pytest.raises(ValueError, match="no payment"):
        sandbox.refund_by_telegram(outcome.charge_id)


# --- the transaction list

def test_star_transactions_come_oldest_first_in_pages(sandbox, bot, updates, payer):
    charges = [pay(sandbox, bot, updates, payer, amount=amount)[0].charge_id for amount in (10, 20, 30)]
    bot.refund_star_payment(ANN.id, charges[1])
    listed = [(t.id, t.amount, t.source is not None) for t in bot.get_star_transactions().transactions]
    assert listed == [(charges[0], 10, True), (charges[1], 20, True), (charges[2], 30, True), (charges[1], 20, False)]

    assert [t.id for t in bot.get_star_transactions(offset=1, limit=2).transactions] == charges[1:]
    assert [t.id for t in bot.get_star_transactions(offset=3, limit=100).transactions] == [charges[1]]
    assert bot.get_star_transactions(offset=4).transactions == []
    # As the Bot API server reads them: a limit past 100 is 100, one below 1 is 1, a negative offset 0.
    raw = apihelper._make_request(TOKEN, "getStarTransactions", params={"offset": -5, "limit": 1000})
    assert [t["id"] for t in raw["transactions"]] == [*charges, charges[1]]
    raw = apihelper._make_request(TOKEN, "getStarTransactions", params={"offset": 2, "limit": 0})
    assert [t["id"] for t in raw["transactions"]] == [charges[2]]


# --- faults

def test_injected_flood_limits_answer_the_payment_methods_too(sandbox, bot, updates, payer):
    sandbox.inject_fault("sendInvoice", status=429, retry_after=3)
    error = api_error(invoice, bot)
    assert (error.error_code, error.result_json["parameters"]["retry_after"]) == (429, 3)
    message = invoice(bot)

    paying = payer.submit(sandbox.pay_invoice, ANN, ANN.id, message.message_id)
    query = updates.next().pre_checkout_query
    sandbox.inject_fault("answerPreCheckoutQuery", status=429, retry_after=1)
    assert api_error(bot.answer_pre_checkout_query, query.id, True).error_code == 429
    assert not paying.done()   # refused, so not answered: the bot may try again within the deadline
    bot.answer_pre_checkout_query(query.id, True)
    outcome = paying.result()
    assert outcome.status == "paid"

    for method, call in (("refundStarPayment", lambda: bot.refund_star_payment(ANN.id, outcome.charge_id)),
                         ("getStarTransactions", bot.get_star_transactions)):
        sandbox.inject_fault(method, status=429, retry_after=2)
        assert api_error(call).error_code == 429
        assert sandbox.faults_left(method) == 0
    assert len(bot.get_star_transactions().transactions) == 1   # the refused refund refunded nothing
    assert bot.refund_star_payment(ANN.id, outcome.charge_id) is True
