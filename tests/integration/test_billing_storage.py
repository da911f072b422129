"""Billing in storage, on SQLite and PostgreSQL: a payment stored with its intake batch and credited once by its
charge id, whatever is redelivered; every change of a balance a ledger row in the same transaction (the balance is
always the sum of its rows); a refund takes back what is unspent, once; an expired balance goes once; receipts not
sent are found at the next start. And the StorageActor: a batch's payment credited once, with the offset."""
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pykka
import pytest

from actors.messages import IntakeStored, StoreIntake
from actors.storage import StorageActor
from voicebot.adapters.storage import Storage
from voicebot.adapters.storage.models import Payment, Transaction, User, utc_now
from voicebot.app.cli import main
from voicebot.core.billing import (
    Balances,
    BillingRules,
    Credit,
    Pack,
    PaymentReceived,
    PaymentRefunded,
    Refund,
    payload_key,
    signed_payload,
)
from voicebot.core.domain import Transcript, UserSettings, VoiceReceived
from voicebot.core.errors import StorageError, TelegramError

from helpers import make_job
from mailbox import RecordingMailbox

pytest_plugins = ["databases"]

DAY = date(2026, 12, 4)
ANN = 7
KEY = payload_key("123:token")


def paid(charge_id: str = "ch1", stars: int = 50) -> PaymentReceived:
    return PaymentReceived(ANN, ANN, charge_id, "XTR", stars, signed_payload(KEY, ANN, Pack(60, stars), utc_now()))


def ledger_rows() -> list[tuple[str, float, int, str | None]]:
    return [(row.kind, row.balance_change, row.stars, row.charge_id)
            for row in Transaction.select().order_by(Transaction.id)]


def balance_is_the_sum_of_its_rows() -> bool:
    return User.get_by_id(ANN).bought_seconds == sum(change for _, change, _, _ in ledger_rows())


def test_a_payment_is_stored_and_credited_once_whatever_is_redelivered(storage):
    with storage.batch():
        assert storage.store_intake([VoiceReceived(make_job())], 11) == {make_job().key}
        [credit] = storage.store_payments([(paid(), 3600.0)])
    assert credit == Credit("ch1", ANN, ANN, 50, 3600.0, 3600.0)
    assert storage.saved_offset() == 11
    [again] = storage.store_payments([(paid(), 3600.0)])
    assert again.new is False and again.balance == 3600.0
    assert ledger_rows() == [("credit", 3600.0, 50, "ch1")] and balance_is_the_sum_of_its_rows()
    assert storage.balances() == Balances({ANN: (3600.0, None)}, credit.entry)


def test_a_payment_and_its_offset_are_kept_together_or_not_at_all(storage):
    with pytest.raises(StorageError), storage.batch():
        storage.store_payments([(paid(), 3600.0)])
        storage.store_intake([], 12)
        raise RuntimeError("the process dies before the commit")
    assert Payment.select().count() == 0 and storage.saved_offset() is None


def test_the_bought_part_of_a_use_comes_off_the_balance_with_its_row(storage):
    storage.store_payments([(paid(), 3600.0)])
    storage.record_usage(make_job(), DAY, "done", 100.0, Transcript("hi", "en", 1.0, 100.0, 1.0), bought_seconds=40.0)
    assert ledger_rows() == [("credit", 3600.0, 50, "ch1"), ("use", -40.0, 0, None)]
    assert User.get_by_id(ANN).bought_seconds == 3560.0 and balance_is_the_sum_of_its_rows()


def test_a_refund_takes_back_what_is_unspent_once_and_never_more_than_the_balance(storage):
    storage.store_payments([(paid("ch1"), 3600.0), (paid("ch2"), 3600.0)])
    storage.record_usage(make_job(), DAY, "done", 5000.0, Transcript("hi", "en", 1.0, 5000.0, 1.0),
                         bought_seconds=5000.0)
    first = storage.record_refund("ch1")
    assert first == Refund("ch1", ANN, ANN, 50, 2200.0, 0.0)
    assert storage.record_refund("ch1") == Refund("ch1", ANN, ANN, 50, 2200.0, 0.0, new=False)
    assert storage.record_refund("ch2") == Refund("ch2", ANN, ANN, 50, 0.0, 0.0), "minutes used stay used"
    assert storage.record_refund("unknown") is None
    assert [row[:3] for row in ledger_rows()] == [("credit", 3600.0, 50), ("credit", 3600.0, 50),
                                                  ("use", -5000.0, 0), ("refund", -2200.0, -50), ("refund", 0.0, -50)]
    assert balance_is_the_sum_of_its_rows()
    # Paid in one batch, at one time: listed by charge id then.
    assert [(charge.charge_id, charge.refunded) for charge in storage.charges(ANN)] == [("ch1", True), ("ch2", True)]


def test_two_recording_one_refund_at_once_write_one_refund_row(storage, monkeypatch):
    """The operator's command and the bot's refunded_payment update of one charge, at the same moment: one
    takes the unspent minutes back, the other finds it done, and the balance never goes below zero."""
    storage.store_payments([(paid(), 3600.0)])
    expire = Storage._expire

    def slowly(self, user_id, now):   # each holds its transaction open a while after reading the payment
        expire(self, user_id, now)
        time.sleep(0.3)
    monkeypatch.setattr(Storage, "_expire", slowly)
    results = []
    threads = [threading.Thread(target=lambda: results.append(storage.record_refund("ch1"))) for _ in range(2)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert sorted(refund.new for refund in results) == [False, True]
    assert [row[:3] for row in ledger_rows()] == [("credit", 3600.0, 50), ("refund", -3600.0, -50)]
    assert User.get_by_id(ANN).bought_seconds == 0.0 and balance_is_the_sum_of_its_rows()


def test_a_refund_leaves_what_jobs_under_way_hold_and_a_use_never_takes_more_than_is_left(storage):
    storage.store_payments([(paid("ch1"), 3600.0)])
    refund = storage.record_refund("ch1", held=1000.0)   # a job under way was promised 1000 bought seconds
    assert (refund.taken, refund.balance) == (2600.0, 1000.0)
    storage.record_usage(make_job(), DAY, "done", 800.0, Transcript("hi", "en", 1.0, 800.0, 1.0), bought_seconds=800.0)
    assert User.get_by_id(ANN).bought_seconds == 200.0
    storage.store_payments([(paid("ch2"), 3600.0)])
    storage.record_refund("ch2")   # made elsewhere (the operator's command): it knows of no job under way
    # Its job was promised 500 bought seconds before that refund took all but 200 of them.
    storage.record_usage(make_job(message_id=2), DAY, "done", 500.0, Transcript("hi", "en", 1.0, 500.0, 1.0),
                         bought_seconds=500.0)
    assert User.get_by_id(ANN).bought_seconds == 0.0, "never below zero"
    assert ledger_rows()[-1][:2] == ("use", -200.0) and balance_is_the_sum_of_its_rows()


def test_bought_minutes_expire_after_the_latest_purchase_once(storage):
    [credit] = storage.store_payments([(paid(), 3600.0)], expire_days=30)
    assert credit.until is not None and timedelta(days=29) < credit.until - utc_now() <= timedelta(days=30)
    assert storage.expire_balance(ANN) == 3600.0, "not yet"
    User.update(bought_until=utc_now() - timedelta(seconds=1)).execute()
    assert storage.expire_balance(ANN) == 0.0
    assert storage.expire_balance(ANN) == 0.0
    assert [row[:2] for row in ledger_rows()] == [("credit", 3600.0), ("expire", -3600.0)]
    assert balance_is_the_sum_of_its_rows()


def test_receipts_not_sent_are_found_at_the_next_start(storage):
    storage.store_payments([(paid("ch1"), 3600.0), (paid("ch2"), 3600.0)])
    storage.receipt_sent("ch1")
    assert [credit.charge_id for credit in storage.unsent_receipts()] == ["ch2"]
    assert storage.payer("ch2") == ANN and storage.payer("nope") is None


def test_the_storage_actor_credits_a_batchs_payment_once_and_refunds_by_charge_id(db_url):
    actor = StorageActor.start(storage=Storage(db_url), today=lambda: DAY,
                               billing=BillingRules(True, (Pack(60, 50),)), payload_key=KEY)
    try:
        mailbox = RecordingMailbox()
        payment = paid()
        actor.ask(StoreIntake((payment,), 21, mailbox))
        actor.ask(StoreIntake((payment,), 22, mailbox))   # delivered again
        actor.ask(StoreIntake((PaymentRefunded(ANN, ANN, "ch1", 50),), 23, mailbox))
        first, second, refunded = mailbox.messages
        assert first == IntakeStored((Credit("ch1", ANN, ANN, 50, 3600.0, 3600.0),), 21)
        assert second == IntakeStored((), 22), "nothing credited again"
        assert refunded == IntakeStored((Refund("ch1", ANN, ANN, 50, 3600.0, 0.0),), 23)
    finally:
        pykka.ActorRegistry.stop_all()


def test_the_refund_of_a_payment_the_ledger_lacks_is_logged_and_not_passed_on(db_url, caplog):
    actor = StorageActor.start(storage=Storage(db_url), today=lambda: DAY, payload_key=KEY)
    try:
        mailbox = RecordingMailbox()
        actor.ask(StoreIntake((PaymentRefunded(ANN, ANN, "never-paid", 50),), 31, mailbox))
        assert mailbox.messages == [IntakeStored((), 31)]
        assert "never-paid, which the ledger does not have" in caplog.text
    finally:
        pykka.ActorRegistry.stop_all()


def test_the_same_payment_twice_in_one_batch_is_credited_once(tmp_path):
    actor = StorageActor.start(storage=Storage(f"sqlite:///{tmp_path / 'bot.db'}"), today=lambda: DAY, payload_key=KEY)
    try:
        mailbox = RecordingMailbox()
        payment = paid()
        actor.ask(StoreIntake((payment, payment), 41, mailbox))
        assert mailbox.messages == [IntakeStored((Credit("ch1", ANN, ANN, 50, 3600.0, 3600.0),), 41)]
    finally:
        pykka.ActorRegistry.stop_all()


def operators_config(db_url: str, tmp_path) -> Path:
    """The config an operator's command reads: the database, whose ledger holds payment ch1 (60 minutes)."""
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n')
    storage = Storage(db_url)
    storage.open()
    try:
        storage.store_payments([(paid(), 3600.0)])
    finally:
        storage.close()
    return config


def test_the_operators_refund_of_an_unknown_charge_or_without_a_token_is_one_line_and_changes_nothing(
        db_url, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN_FILE", raising=False)
    config = operators_config(db_url, tmp_path)
    assert main(["--config", str(config), "billing", "refund", "nope"]) == 1
    assert capsys.readouterr().err == ("voicebot: no payment with charge id nope in the ledger: check the id (the "
                                       "payer's /paysupport lists theirs)\n")
    assert main(["--config", str(config), "billing", "refund", "ch1"]) == 1
    assert "set TELEGRAM_BOT_TOKEN" in capsys.readouterr().err
    storage = Storage(db_url)
    storage.open()
    try:
        assert storage.record_refund("ch1").new, "nothing was recorded before"
    finally:
        storage.close()


def test_the_operators_refund_says_what_happened_when_telegram_does_not_answer_or_the_ledger_fails_after_its_yes(
        db_url, tmp_path, capsys, monkeypatch):
    from voicebot.adapters.telegram import TelegramClient
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:token")
    config = operators_config(db_url, tmp_path)

    def no_answer(self, call):
        raise TelegramError("refundStarPayment", "Gateway Timeout", 504)
    monkeypatch.setattr(TelegramClient, "perform", no_answer)
    assert main(["--config", str(config), "billing", "refund", "ch1"]) == 1
    said = capsys.readouterr().err
    assert "did not answer the refund of payment ch1" in said and "voicebot billing reconcile" in said
    assert "refused" not in said and "nothing was changed" not in said

    def lost(self, charge_id, held=0.0):
        raise StorageError("database is locked", transient=True)
    monkeypatch.setattr(TelegramClient, "perform", lambda self, call: True)
    monkeypatch.setattr(Storage, "record_refund", lost)
    assert main(["--config", str(config), "billing", "refund", "ch1"]) == 1
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and "its Stars went back to user 7" in said and "refunded_payment" in said


def test_the_operators_refund_tells_the_payer_once_in_the_language_they_chose(db_url, tmp_path, capsys, monkeypatch):
    from voicebot.adapters.telegram import TelegramClient
    from voicebot.adapters.translations import load_languages
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:token")
    config = operators_config(db_url, tmp_path)
    storage = Storage(db_url)
    storage.open()
    try:
        storage.save_user_settings(ANN, UserSettings(interface_language="uk"))
    finally:
        storage.close()
    made = []
    monkeypatch.setattr(TelegramClient, "perform", lambda self, call: made.append(call) or True)
    assert main(["--config", str(config), "billing", "refund", "ch1"]) == 0
    assert "refunded 50 stars of payment ch1 to user 7" in capsys.readouterr().out
    assert [type(call).__name__ for call in made] == ["RefundStars", "SendText"]
    assert (made[1].to.chat_id, made[1].text) == (ANN, load_languages()["uk"].refunded(50, 3600, 0))
