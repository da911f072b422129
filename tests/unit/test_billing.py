"""Billing with Telegram Stars: the signed payload and its checks (core.billing), the intake's reading of payments
(core.intake), and the QuotaActor's part (actors/billing.py) with fakes: pre-checkout answered at once, a credit's
balance and receipt, spending free seconds first, the pay button on a refusal, /buy, /usage, /paysupport, refunds."""
import dataclasses
from datetime import timedelta

import pytest

from actors import billing as billing_part
from actors.messages import (
    CallMade,
    ChargesListed,
    CommandReceived,
    ExpireBalance,
    JobAdmitted,
    ListCharges,
    LoadUnsentReceipts,
    LookUpPayment,
    MakeCall,
    PaymentLookedUp,
    ReceiptSent,
    RecordRefund,
    RecordUsage,
    RefundRecorded,
    ResultDelivered,
    SystemReady,
    TranscriptReady,
    UnsentReceipts,
    UserDescribed,
    VoiceReceived,
)
from actors.quota import QuotaActor, QuotaRules
from voicebot.adapters.metrics import Metrics
from voicebot.adapters.translations import load_languages
from voicebot.app.bootstrap import billing_rules
from voicebot.app.config import ConfigError, Settings
from voicebot.core.billing import (
    Balances,
    BillingRules,
    Charge,
    Credit,
    Decline,
    Pack,
    PaymentReceived,
    PaymentRefunded,
    PreCheckout,
    Refund,
    decline,
    paid_seconds,
    payload_key,
    read_payload,
    signed_payload,
)
from voicebot.core.calls import AnswerPreCheckout, Destination, RefundStars, SendInvoice, SendText
from voicebot.core.domain import Transcript
from voicebot.core.intake import UPDATE_TYPES, parse_update
from voicebot.core.replies import Wording

from helpers import FakeTime, make_job
from mailbox import RecordingMailbox, deliver, wait_until

WORDS = Wording()
KEY = payload_key("123:token")
PACK, BIG = Pack(60, 50), Pack(300, 200)
BILLING = BillingRules(enabled=True, packs=(BIG, PACK), support="@help")
RULES = QuotaRules(daily_seconds=60, rate_limit_seconds=0, max_duration_seconds=300, max_file_mb=20,
                   admin_user_ids=frozenset({1}))
NOW = FakeTime().wall


def query(payload: str, user_id: int = 7, amount: int = 50, currency: str = "XTR") -> PreCheckout:
    return PreCheckout("q1", user_id, currency, amount, payload)


# --- the payload and its checks -----------------------------------------------------------------

def test_a_payload_names_its_buyer_and_pack_and_fits_telegrams_128_bytes():
    payload = signed_payload(KEY, 2 ** 63 - 1, Pack(99_999, 10_000), NOW)
    assert len(payload.encode()) <= 128
    named = read_payload(KEY, payload)
    assert (named.user_id, named.minutes, named.stars, named.issued) == (2 ** 63 - 1, 99_999, 10_000,
                                                                         int(NOW.timestamp()))


def test_a_payload_altered_or_signed_with_another_key_is_unreadable():
    payload = signed_payload(KEY, 7, PACK, NOW)
    assert read_payload(KEY, payload.replace(".60.", ".600.")) is None
    assert read_payload(payload_key("456:other"), payload) is None
    assert read_payload(KEY, "") is None and read_payload(KEY, "v1.7.60.50.1.x" * 20) is None


@pytest.mark.parametrize(("checked", "reason"), [
    (query("v1.7.60.50.1700000000.forged"), Decline.INVALID),
    (query(signed_payload(KEY, 8, PACK, NOW)), Decline.NOT_YOURS),
    (query(signed_payload(KEY, 7, PACK, NOW - timedelta(hours=25))), Decline.STALE),
    (query(signed_payload(KEY, 7, PACK, NOW), amount=49), Decline.AMOUNT),
    (query(signed_payload(KEY, 7, PACK, NOW), currency="USD"), Decline.AMOUNT),
    (query(signed_payload(KEY, 7, Pack(60, 40), NOW), amount=40), Decline.NOT_SOLD),
    (query(signed_payload(KEY, 7, PACK, NOW - timedelta(hours=23))), None),
])
def test_a_pre_checkout_is_declined_for_each_reason_and_accepted_otherwise(checked, reason):
    assert decline(checked, BILLING, KEY, NOW) == reason


def test_with_billing_off_every_pre_checkout_is_declined():
    assert decline(query(signed_payload(KEY, 7, PACK, NOW)), BillingRules(), KEY, NOW) is Decline.OFF


def test_a_payment_buys_its_packs_minutes_only_when_its_payload_verifies():
    payload = signed_payload(KEY, 7, PACK, NOW)
    assert paid_seconds(PaymentReceived(7, 7, "c1", "XTR", 50, payload), KEY) == 3600
    assert paid_seconds(PaymentReceived(8, 8, "c1", "XTR", 50, payload), KEY) == 0   # someone else's
    assert paid_seconds(PaymentReceived(7, 7, "c1", "XTR", 50, payload + "x"), KEY) == 0


# --- the intake ---------------------------------------------------------------------------------

def test_the_bot_asks_for_pre_checkout_queries():
    assert "pre_checkout_query" in UPDATE_TYPES


def test_the_intake_reads_a_pre_checkout_query_a_payment_and_a_refund():
    payer = {"id": 7, "first_name": "Ann", "language_code": "de"}
    assert parse_update({"pre_checkout_query": {"id": "q9", "from": payer, "currency": "XTR", "total_amount": 50,
                                                "invoice_payload": "v1.x"}}) == PreCheckout("q9", 7, "XTR", 50,
                                                                                            "v1.x", "de")
    paid = {"currency": "XTR", "total_amount": 50, "invoice_payload": "v1.x", "telegram_payment_charge_id": "ch1",
            "provider_payment_charge_id": "p"}
    message = {"message_id": 3, "chat": {"id": 7, "type": "private"}, "from": payer}
    assert parse_update({"message": {**message, "successful_payment": paid}}) == PaymentReceived(
        7, 7, "ch1", "XTR", 50, "v1.x", "de")
    assert parse_update({"message": {**message, "refunded_payment": paid}}) == PaymentRefunded(7, 7, "ch1", 50, "de")


@pytest.mark.parametrize(("charge_id", "amount"), [("", 50), ("x" * 256, 50), (None, 50), (5, 50), ("a\x00b", 50),
                                                   ("ch1", 2 ** 31), ("ch1", -1), ("ch1", "50")])
def test_a_payment_without_a_charge_id_or_amount_storage_could_keep_is_not_read(charge_id, amount):
    paid = {"currency": "XTR", "total_amount": amount, "invoice_payload": "p", "telegram_payment_charge_id": charge_id}
    assert parse_update({"message": {"message_id": 3, "chat": {"id": 7, "type": "private"},
                                     "successful_payment": paid}}) is None


# --- the QuotaActor's part ----------------------------------------------------------------------

@pytest.fixture
def fakes():
    return RecordingMailbox("dispatcher"), RecordingMailbox("sender"), RecordingMailbox("storage"), FakeTime()


def start_quota(fakes, billing=BILLING, balances=None, rules=RULES, last_entry=0, address=None):
    dispatcher, sender, storage, time = fakes
    return QuotaActor.start(rules=rules, dispatcher=dispatcher, sender=sender, storage=storage, users={},
                            now=time.now, clock=lambda: time.monotonic, billing=billing, payload_key=KEY,
                            balances=Balances(balances or {}, last_entry), address=address)


def command(text: str, user_id: int = 7, message_id: int = 5) -> CommandReceived:
    name, _, argument = text[1:].partition(" ")
    return CommandReceived(user_id, user_id, message_id, name, argument, False)


def test_a_pre_checkout_is_answered_at_once_without_the_database(fakes):
    _, sender, storage, time = fakes
    quota = start_quota(fakes)
    deliver(quota, query(signed_payload(KEY, 7, PACK, time.wall)), query("forged"))
    assert sender.of(AnswerPreCheckout) == [AnswerPreCheckout("q1"),
                                            AnswerPreCheckout("q1", WORDS.declined(Decline.INVALID))]
    assert storage.messages == []


def test_a_credit_raises_the_balance_and_sends_one_receipt_marked_sent_once_it_went_out(fakes):
    _, sender, storage, _ = fakes
    quota = start_quota(fakes, balances={7: (600.0, None)})
    deliver(quota, Credit("ch1", 7, 7, 50, 3600.0, 4200.0))
    [made] = sender.of(MakeCall)
    assert made.call == SendText(made.call.to, WORDS.receipt(50, 3600, 4200)) and made.call.to.chat_id == 7
    assert storage.of(ReceiptSent) == []
    deliver(quota, CallMade(made.call, about=made.about))
    assert storage.of(ReceiptSent) == [ReceiptSent("ch1")]


def test_a_receipt_and_a_refund_notice_are_in_the_language_of_the_payers_app(fakes):
    dispatcher, sender, storage, time = fakes
    languages = load_languages()
    german = languages["de"]
    quota = QuotaActor.start(rules=RULES, dispatcher=dispatcher, sender=sender, storage=storage, users={},
                             now=time.now, clock=lambda: time.monotonic, billing=BILLING, payload_key=KEY,
                             languages=languages)
    deliver(quota, Credit("ch1", 7, 7, 50, 3600.0, 3600.0, language_code="de"),
            Refund("ch1", 8, 8, 50, 3600.0, 0.0, language_code="de"))
    assert sender.of(MakeCall)[0].call.text == german.receipt(50, 3600, 3600)
    assert sender.of(SendText)[-1].text == german.refunded(50, 3600, 0)


def test_the_free_seconds_go_first_then_the_bought_ones(fakes):
    dispatcher, _, storage, time = fakes
    quota = start_quota(fakes, balances={7: (100.0, None)})
    job = make_job(duration=120)   # 60 free seconds are not enough: 100 bought make it fit
    deliver(quota, VoiceReceived(job))
    [admitted] = dispatcher.of(JobAdmitted)
    assert admitted.job.max_seconds == 132
    deliver(quota, ResultDelivered(TranscriptReady(admitted.job, Transcript("hi", "en", 1.0, 120.0, 1.0)), True))
    [usage] = storage.of(RecordUsage)
    assert (usage.charged_seconds, usage.bought_seconds) == (120.0, 60.0)
    deliver(quota, UserDescribed(7, None, 7, 9))
    assert WORDS.bought_balance(40, None) in "\n".join(call.text for call in fakes[1].of(SendText))


def test_an_unlimited_user_never_touches_their_balance(fakes):
    dispatcher, _, storage, _ = fakes
    quota = start_quota(fakes, rules=dataclasses.replace(RULES, unlimited_user_ids=frozenset({7})),
                        balances={7: (100.0, None)})
    deliver(quota, VoiceReceived(make_job(duration=200)))
    [admitted] = dispatcher.of(JobAdmitted)
    deliver(quota, ResultDelivered(TranscriptReady(admitted.job, Transcript("hi", "en", 1.0, 200.0, 1.0)), True))
    assert storage.of(RecordUsage)[0].bought_seconds == 0


def test_an_expired_balance_is_not_spent_and_goes_from_the_ledger(fakes):
    dispatcher, sender, storage, time = fakes
    quota = start_quota(fakes, balances={7: (100.0, time.wall.replace(tzinfo=None) - timedelta(days=1))})
    deliver(quota, VoiceReceived(make_job(duration=120)))
    assert dispatcher.of(JobAdmitted) == []
    assert storage.of(ExpireBalance) == [ExpireBalance(7)]


def test_a_recording_over_quota_is_refused_with_the_smallest_packs_invoice(fakes):
    _, sender, _, _ = fakes
    deliver(start_quota(fakes), VoiceReceived(make_job(duration=120, message_id=4)))
    [refusal] = sender.of(SendText)
    [invoice] = sender.of(SendInvoice)
    assert "daily" in refusal.text
    assert (invoice.stars, invoice.to.chat_id, invoice.to.reply_to_message_id) == (PACK.stars, 7, 4)
    assert read_payload(KEY, invoice.payload).user_id == 7


def later(time, seconds: float) -> None:
    time.monotonic += seconds
    time.wall += timedelta(seconds=seconds)


def test_a_pack_is_offered_only_under_a_refusal_that_went_out_and_once_in_a_while(fakes):
    _, sender, _, time = fakes
    quota = start_quota(fakes)
    deliver(quota, *(command("/help", message_id=n) for n in range(5)),   # their answers use up the allowance
            VoiceReceived(make_job(duration=120, message_id=10)))
    assert sender.of(SendText)[-1].text == WORDS.SLOW_DOWN and sender.of(SendInvoice) == []
    later(time, 60)
    deliver(quota, *(VoiceReceived(make_job(duration=120, message_id=n)) for n in range(11, 14)))
    assert [call.text for call in sender.of(SendText)[-3:]] == [sender.of(SendText)[-1].text] * 3
    assert "daily" in sender.of(SendText)[-1].text
    assert len(sender.of(SendInvoice)) == 1, "one invoice for three refusals"
    later(time, billing_part.OFFER_INTERVAL.total_seconds())
    deliver(quota, VoiceReceived(make_job(duration=120, message_id=14)))
    assert len(sender.of(SendInvoice)) == 2


def test_with_billing_off_nothing_is_offered_and_buy_is_unknown(fakes):
    _, sender, _, _ = fakes
    quota = start_quota(fakes, billing=BillingRules())
    deliver(quota, VoiceReceived(make_job(duration=120, message_id=4)), command("/buy"), command("/paysupport"))
    assert sender.of(SendInvoice) == []
    assert [call.text for call in sender.of(SendText)][1:] == [WORDS.UNKNOWN_COMMAND] * 2


def test_buy_shows_every_pack_as_an_invoice_under_the_balance(fakes):
    _, sender, _, _ = fakes
    deliver(start_quota(fakes, balances={7: (90.0, None)}), command("/buy"))
    assert [call.text for call in sender.of(SendText)] == [WORDS.buy_intro(90)]
    assert [(invoice.title, invoice.stars) for invoice in sender.of(SendInvoice)] == [
        (WORDS.invoice_title(300), 200), (WORDS.invoice_title(60), 50)]


def test_paysupport_lists_the_users_payments_with_their_charge_ids(fakes):
    _, sender, storage, time = fakes
    quota = start_quota(fakes)
    deliver(quota, command("/paysupport"))
    assert storage.of(ListCharges) == [ListCharges(7, 7, 5, quota)]
    deliver(quota, ChargesListed(7, (Charge("ch1", 50, 60, time.wall, refunded=True),), 7, 5))
    [answer] = sender.of(SendText)
    assert "@help" in answer.text and "ch1" in answer.text and "(refunded)" in answer.text


def test_paysupport_in_a_group_lists_nothing_there_and_asks_for_a_private_chat(fakes):
    _, sender, storage, _ = fakes
    deliver(start_quota(fakes), CommandReceived(-100, 7, 5, "paysupport", "", True))
    assert storage.of(ListCharges) == []
    assert [(call.to.chat_id, call.text) for call in sender.of(SendText)] == [(-100, WORDS.PAYSUPPORT_IN_PRIVATE)]


def test_an_admins_refund_asks_telegram_first_and_records_only_what_it_allowed(fakes):
    _, sender, storage, _ = fakes
    quota = start_quota(fakes, balances={2: (1000.0, None)})
    deliver(quota, command("/refund ch1", user_id=1), PaymentLookedUp("ch1", 2))
    assert storage.of(LookUpPayment)[0].charge_id == "ch1"
    [made] = sender.of(MakeCall)
    assert made.call == RefundStars(2, "ch1")
    deliver(quota, CallMade(made.call, "Bad Request: CHARGE_ALREADY_REFUNDED"))
    assert storage.of(RecordRefund) == []
    assert sender.of(SendText)[-1].text == WORDS.refund_refused("ch1", "Bad Request: CHARGE_ALREADY_REFUNDED")

    deliver(quota, command("/refund ch1", user_id=1, message_id=6), PaymentLookedUp("ch1", 2),
            CallMade(RefundStars(2, "ch1")))
    assert storage.of(RecordRefund) == [RecordRefund("ch1", quota)]
    deliver(quota, RefundRecorded("ch1", Refund("ch1", 2, 2, 50, 1000.0, 0.0)))
    told = [(call.to.chat_id, call.text) for call in sender.of(SendText)[-2:]]
    assert told == [(2, WORDS.refunded(50, 1000, 0)), (1, WORDS.refund_done("ch1", 2, 50, 1000))]
    deliver(quota, Refund("ch1", 2, 2, 50, 1000.0, 0.0, new=False))   # its refunded_payment update
    assert len(sender.of(SendText)) == 3, "told once"


def test_a_refund_while_a_job_holds_bought_seconds_leaves_them_to_the_job(fakes):
    dispatcher, sender, storage, _ = fakes
    quota = start_quota(fakes, balances={2: (1000.0, None)})
    deliver(quota, VoiceReceived(make_job(user_id=2, duration=250)))   # holds 275 s: 60 free and 215 bought
    [admitted] = dispatcher.of(JobAdmitted)
    deliver(quota, command("/refund ch1", user_id=1), PaymentLookedUp("ch1", 2), CallMade(RefundStars(2, "ch1")))
    assert storage.of(RecordRefund) == [RecordRefund("ch1", quota, 215.0)]
    deliver(quota, RefundRecorded("ch1", Refund("ch1", 2, 2, 50, 785.0, 215.0)),
            ResultDelivered(TranscriptReady(admitted.job, Transcript("hi", "en", 1.0, 250.0, 1.0)), True))
    assert storage.of(RecordUsage)[0].bought_seconds == 190.0, "the job is transcribed from what it held"


def test_a_refund_made_elsewhere_never_leaves_a_negative_balance_here(fakes):
    _, sender, _, _ = fakes
    quota = start_quota(fakes, balances={2: (1000.0, None)})
    deliver(quota, Refund("ch1", 2, 2, 50, 1000.0, -200.0, new=False), UserDescribed(2, None, 2, 9))
    assert WORDS.bought_balance(0, None) in sender.of(SendText)[-1].text


def test_a_refund_telegram_did_not_answer_or_a_ledger_not_read_is_not_called_refused_or_unknown(fakes):
    _, sender, storage, _ = fakes
    quota = start_quota(fakes, balances={2: (1000.0, None)})
    deliver(quota, command("/refund ch1", user_id=1), PaymentLookedUp("ch1", 2),
            CallMade(RefundStars(2, "ch1"), "Gateway Timeout", unanswered=True))
    assert storage.of(RecordRefund) == []
    assert sender.of(SendText)[-1].text == WORDS.refund_unanswered("ch1", "Gateway Timeout")
    deliver(quota, command("/refund ch2", user_id=1, message_id=6), PaymentLookedUp("ch2", None, failed=True))
    assert sender.of(SendText)[-1].text == WORDS.TRY_AGAIN


def test_a_refund_recorded_before_is_not_told_again_and_the_balance_follows_the_ledger(fakes):
    """Its refunded_payment update, after the operator's command recorded it (which told the payer), or after a
    restart of the QuotaActor that recorded it: the payer hears of it once, from its first recording."""
    _, sender, _, _ = fakes
    quota = start_quota(fakes, balances={2: (1000.0, None)})
    deliver(quota, Refund("ch1", 2, 2, 50, 400.0, 600.0, new=False), UserDescribed(2, None, 2, 9))
    [described] = sender.of(SendText)
    assert WORDS.bought_balance(600, None) in described.text


def test_a_refund_recorded_elsewhere_is_taken_back_here_once_however_often_it_is_told(fakes):
    """The operator's command recorded it; the bot hears of it from its refunded_payment update, and again from
    its own /refund of the same charge: the balance here loses what the refund took, once (not the ledger's
    balance of that moment, which may hold credits still on their way here)."""
    _, sender, _, _ = fakes
    quota = start_quota(fakes, balances={2: (1000.0, None)})
    refund = Refund("ch1", 2, 2, 50, 400.0, 660.0, new=False, entry=7)
    deliver(quota, refund, refund, UserDescribed(2, None, 2, 9))
    assert WORDS.bought_balance(600, None) in sender.of(SendText)[-1].text


def test_a_refund_told_first_by_its_second_recording_is_still_told_to_the_payer_once(fakes):
    """The bot's own recording reaches it at once; the refunded_payment update's, which claimed the refund first,
    comes later, with its intake batch: the payer hears of it from that one, and the balance loses it once."""
    _, sender, _, _ = fakes
    quota = start_quota(fakes, balances={2: (1000.0, None)})
    deliver(quota, Refund("ch1", 2, 2, 50, 400.0, 600.0, new=False, entry=7),
            Refund("ch1", 2, 2, 50, 400.0, 600.0, entry=7), UserDescribed(2, None, 2, 9))
    told, described = sender.of(SendText)
    assert told.text == WORDS.refunded(50, 400.0, 600.0)
    assert WORDS.bought_balance(600, None) in described.text


def test_refund_is_for_admins_only(fakes):
    _, sender, storage, _ = fakes
    deliver(start_quota(fakes), command("/refund ch1", user_id=7))
    assert storage.of(LookUpPayment) == [] and sender.of(SendText)[0].text == WORDS.UNKNOWN_COMMAND


# --- config [billing] ---------------------------------------------------------------------------

@pytest.mark.parametrize(("billing", "said"), [
    ({"enabled": True, "packs": []}, "needs at least one pack"),
    ({"packs": [{"minutes": 60, "stars": 10_001}]}, "Telegram's highest price is 10000 stars"),
    ({"packs": [{"minutes": 0, "stars": 5}]}, "positive whole numbers"),
    ({"packs": [{"minutes": 60, "stars": 5}, {"minutes": 60, "stars": 9}]}, "two packs of the same minutes"),
    ({"packs": [{"minutes": 60}]}, "positive whole numbers"),
    ({"expire_days": -1}, "must not be negative"),
    ({"expire_days": 10 ** 9}, "billing.expire_days must be at most 3650"),
])
def test_a_billing_config_that_cannot_sell_is_one_clear_line(billing, said):
    with pytest.raises(ConfigError, match=said):
        Settings().replace(billing=billing)


def test_billing_is_off_by_default_and_its_packs_are_read_as_packs():
    assert billing_rules(Settings()) == BillingRules(False, (Pack(60, 50), Pack(300, 200)))
    assert billing_rules(Settings().replace(billing={"enabled": True, "packs": [{"minutes": 10, "stars": 1}]})) == \
        BillingRules(True, (Pack(10, 1),))


def test_stars_refunds_and_declined_pre_checkouts_are_counted_for_prometheus():
    metrics = Metrics()
    metrics.stars_earned(50)
    metrics.stars_earned(200)
    metrics.stars_refunded(50)
    metrics.precheckout_declined(Decline.STALE.value)
    registry = metrics.registry
    assert registry.get_sample_value("voicebot_stars_earned_total") == 250
    assert registry.get_sample_value("voicebot_star_refunds_total") == 1
    assert registry.get_sample_value("voicebot_precheckouts_declined_total", {"reason": "stale"}) == 1


def test_receipts_a_crash_kept_from_going_out_are_sent_at_the_next_start(fakes):
    _, sender, storage, _ = fakes
    quota = start_quota(fakes, balances={7: (3600.0, None)})
    deliver(quota, SystemReady())
    assert storage.of(LoadUnsentReceipts) == [LoadUnsentReceipts(quota)]
    deliver(quota, UnsentReceipts((Credit("ch1", 7, 7, 50, 3600.0, 3600.0, new=True),)))
    [made] = sender.of(MakeCall)
    assert made.call.text == WORDS.receipt(50, 3600, 3600)
    deliver(quota, CallMade(made.call, "Forbidden: bot was blocked by the user", made.about))
    assert storage.of(ReceiptSent) == [], "tried again at the next start"


def test_a_credit_or_refund_the_balances_loaded_at_start_include_is_not_counted_again(fakes):
    """A QuotaActor restarted while a Credit or a Refund waited for it at its Address: the balances it loaded
    include them already (ledger rows up to 5)."""
    _, sender, _, _ = fakes
    quota = start_quota(fakes, balances={7: (3600.0, None)}, last_entry=5)
    deliver(quota, Credit("ch1", 7, 7, 50, 3600.0, 3600.0, entry=4), Refund("ch0", 7, 7, 50, 600.0, 3600.0, entry=5),
            UserDescribed(7, None, 7, 9))
    assert sender.of(MakeCall) == [] and WORDS.bought_balance(3600, None) in sender.of(SendText)[-1].text
    deliver(quota, Credit("ch2", 7, 7, 50, 3600.0, 7200.0, entry=6), UserDescribed(7, None, 7, 9))
    assert len(sender.of(MakeCall)) == 1 and WORDS.bought_balance(7200, None) in sender.of(SendText)[-1].text


def test_a_restarted_quota_actor_marks_its_predecessors_receipts_sent_and_sends_the_others_later(fakes, monkeypatch):
    _, sender, storage, _ = fakes
    address = RecordingMailbox("quota address")
    quota = start_quota(fakes, balances={7: (3600.0, None)}, address=address)
    deliver(quota, Credit("ch2", 7, 7, 50, 3600.0, 7200.0))
    assert sender.of(MakeCall)[0].reply_to is address, "its answer reaches whichever QuotaActor is running"
    monkeypatch.setattr(billing_part, "RECEIPTS_AFTER_RESTART_SECONDS", 0.2)
    deliver(quota, SystemReady(restarted=True),
            CallMade(SendText(Destination(7), WORDS.receipt(50, 3600, 3600)), about="ch1"))   # sent before it
    assert storage.of(ReceiptSent) == [ReceiptSent("ch1")] and storage.of(LoadUnsentReceipts) == []
    assert wait_until(lambda: storage.of(LoadUnsentReceipts) == [LoadUnsentReceipts(address)])


def test_with_billing_off_nothing_is_asked_at_start(fakes):
    _, _, storage, _ = fakes
    deliver(start_quota(fakes, billing=BillingRules()), SystemReady())
    assert storage.of(LoadUnsentReceipts) == []
