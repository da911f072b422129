"""`voicebot billing report` and `voicebot billing reconcile`, run through `voicebot.app.cli.main` on SQLite and
PostgreSQL: the report from ledger rows written through the models, reconcile against the sandbox's own list of
Star transactions, with payments made as users make them (pay_invoice, the bot saying yes)."""
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from telebot import apihelper, types

from voicebot.adapters.storage.models import Payment, Transaction, User
from voicebot.app import operator
from voicebot.app.cli import main
from voicebot.sandbox import BotApiSandbox, SandboxUser

from helpers import serve

pytest_plugins = ["databases"]

ZONE = "Pacific/Kiritimati"   # UTC+14: a day of the report is the operator's day, not UTC's
TOKEN = "123456:billing-report-token"
ANN = SandboxUser(id=7, first_name="Ann")
BOB = SandboxUser(id=8, first_name="Bob")


@pytest.fixture
def sandbox():
    for running in serve(BotApiSandbox(TOKEN)):
        for user in (ANN, BOB):
            running.send_text(user, "/start")   # a bot sends invoices only to users who started it
        yield running


@pytest.fixture
def config(db_url, tmp_path, sandbox, monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    path = tmp_path / "config.toml"
    path.write_text(f'[telegram]\napi_url = "{sandbox.url}"\n\n[database]\nurl = "{db_url}"\n\n'
                    f'[quota]\ntimezone = "{ZONE}"\n')
    return path


def voicebot(capsys, config, *args) -> tuple[int, str, str]:
    code = main(["--config", str(config), "billing", *args])
    out, err = capsys.readouterr()
    return code, out, err


def today() -> date:
    return datetime.now(ZoneInfo(ZONE)).date()


def at(days_ago: int, hour: int = 12, minute: int = 0) -> datetime:
    """A time on a day of the operator's, as the ledger stores it (UTC)."""
    local = datetime.combine(today() - timedelta(days=days_ago), time(hour, minute), ZoneInfo(ZONE))
    return local.astimezone(UTC).replace(tzinfo=None)


def row(user: int, when: datetime, kind: str, balance_change: float, stars: int = 0, seconds: float | None = None,
        charge_id: str | None = None) -> None:
    User.get_or_create(id=user, defaults={"first_seen": when})
    Transaction.create(user=user, created_at=when, kind=kind, balance_change=balance_change, stars=stars,
                       seconds=abs(balance_change) if seconds is None else seconds, charge_id=charge_id)


def payment(charge_id: str, user: int, stars: int, minutes: int, refunded: bool = False) -> None:
    """A payment as the ledger keeps it (the bot's intake writes it with its credit)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    Payment.create(charge_id=charge_id, user_id=user, chat_id=user, stars=stars, seconds=minutes * 60.0,
                   payload=f"v1.{user}.{minutes}.{stars}", paid_at=now, refunded_at=now if refunded else None)


def table(out: str) -> list[list[str]]:
    """The report's rows under its title and header, each split into its cells."""
    return [line.split() for line in out.splitlines()[2:]]


# --- report

def test_the_report_shows_each_day_in_the_operators_timezone_and_the_totals(storage, config, capsys):
    row(7, at(2), "credit", 3600.0, stars=50, charge_id="stx-ann")
    row(8, at(2, 13), "credit", 18000.0, stars=200, charge_id="stx-bob")
    row(7, at(1), "use", -600.0, seconds=900.0)            # 300 s of it were the day's free seconds
    row(7, at(1, 14), "use", 0.0, seconds=120.0)           # free seconds only: nothing bought is used
    row(8, at(1, 15), "refund", -18000.0, stars=-200, charge_id="stx-bob")
    row(7, at(0, 0, 30), "expire", -3000.0)                # 10:30 UTC the day before: today here

    code, out, err = voicebot(capsys, config, "report", "--days", "4")
    assert (code, err) == (0, "")
    first, last = today() - timedelta(days=3), today()
    assert out.splitlines()[0] == f"Telegram Stars and the minutes they bought, from {first} to {last} ({ZONE})"
    assert out.splitlines()[1].split() == ["day", "Stars", "taken", "Stars", "refunded", "min", "sold", "min", "used",
                                           "min", "taken", "back", "min", "expired", "min", "outstanding"]
    assert table(out) == [
        [str(first), "0", "0", "0.0", "0.0", "0.0", "0.0", "0.0"],
        [str(today() - timedelta(days=2)), "250", "0", "360.0", "0.0", "0.0", "0.0", "360.0"],
        [str(today() - timedelta(days=1)), "0", "200", "0.0", "10.0", "300.0", "0.0", "50.0"],
        [str(last), "0", "0", "0.0", "0.0", "0.0", "50.0", "0.0"],
        ["total", "250", "200", "360.0", "10.0", "300.0", "50.0", "0.0"]]


def test_balances_from_before_the_report_are_outstanding_from_its_first_day(storage, config, capsys):
    row(7, at(40), "credit", 3600.0, stars=50, charge_id="stx-old")
    row(7, at(1), "use", -1200.0)
    code, out, _ = voicebot(capsys, config, "report")   # 30 days by default: the payment is older
    assert code == 0
    rows = table(out)
    assert len(rows) == 31
    assert rows[0] == [str(today() - timedelta(days=29)), "0", "0", "0.0", "0.0", "0.0", "0.0", "60.0"]
    assert rows[-2][-1] == "40.0"
    assert rows[-1] == ["total", "0", "0", "0.0", "20.0", "0.0", "0.0", "40.0"]


def test_an_empty_ledger_reports_zeros_and_a_bad_day_count_is_refused(storage, config, capsys):
    code, out, _ = voicebot(capsys, config, "report", "--days", "1")
    assert (code, table(out)) == (0, [[str(today()), "0", "0", "0.0", "0.0", "0.0", "0.0", "0.0"],
                                      ["total", "0", "0", "0.0", "0.0", "0.0", "0.0", "0.0"]])
    with pytest.raises(SystemExit) as refused:
        voicebot(capsys, config, "report", "--days", "0")
    assert refused.value.code == 2
    assert "must be at least 1, got 0" in capsys.readouterr().err


# --- reconcile

def pay(sandbox: BotApiSandbox, user: SandboxUser, stars: int) -> str:
    """`user` pays an invoice of `stars` Stars as a user does, the bot saying yes: the charge id."""
    sent = apihelper.send_invoice(TOKEN, user.id, "Minutes", "Minutes of transcription", f"pack-{stars}", None, "XTR",
                                  [types.LabeledPrice("Minutes", stars)])
    with ThreadPoolExecutor(max_workers=1) as pool:
        paying = pool.submit(sandbox.pay_invoice, user, user.id, sent["message_id"])
        # The bot's side, asking for pre-checkout queries only (the rest is dropped, as Telegram drops it).
        [update] = apihelper._make_request(TOKEN, "getUpdates", params={
            "long_polling_timeout": 10, "allowed_updates": json.dumps(["pre_checkout_query"])})
        apihelper._make_request(TOKEN, "getUpdates", params={"offset": update["update_id"] + 1,
                                                             "long_polling_timeout": 0})
        apihelper.answer_pre_checkout_query(TOKEN, update["pre_checkout_query"]["id"], True)
        outcome = paying.result()
    assert outcome.status == "paid"
    return outcome.charge_id


def test_reconcile_says_what_agrees_when_the_ledger_has_what_telegram_has(storage, config, sandbox, capsys):
    ann_first, bob, ann_second = pay(sandbox, ANN, 50), pay(sandbox, BOB, 200), pay(sandbox, ANN, 30)
    apihelper.refund_star_payment(TOKEN, BOB.id, bob)
    payment(ann_first, ANN.id, 50, 60)
    payment(bob, BOB.id, 200, 300, refunded=True)
    payment(ann_second, ANN.id, 30, 30)
    sandbox.inject_fault("getStarTransactions", status=429, retry_after=1)   # waited out, as Telegram asks

    assert voicebot(capsys, config, "reconcile") == (
        0, "ledger and Telegram agree: 3 payments, 280 Stars, 1 refund\n", "")
    assert [call.status for call in sandbox.calls("getStarTransactions")] == [429, 200]


def test_reconcile_prints_each_difference_and_exits_1(storage, config, sandbox, capsys):
    kept, missing, refunded_there, refunded_here = (pay(sandbox, ANN, 50), pay(sandbox, BOB, 200),
                                                   pay(sandbox, ANN, 30), pay(sandbox, BOB, 40))
    sandbox.refund_by_telegram(refunded_there)
    payment(kept, ANN.id, 60, 60)                                # Telegram took 50
    payment(refunded_there, ANN.id, 30, 30)                      # its refund is not recorded
    payment(refunded_here, BOB.id, 40, 30, refunded=True)        # Telegram never gave these back
    payment("stx-never-paid", ANN.id, 50, 60)

    code, out, err = voicebot(capsys, config, "reconcile")
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        f"{kept}: 50 Stars at Telegram, 60 in the ledger",
        f"{missing}: Telegram has a payment of 200 Stars by user {BOB.id}; the ledger does not",
        f"{refunded_there}: refunded at Telegram, not in the ledger",
        f"{refunded_here}: refunded in the ledger, not at Telegram",
        f"stx-never-paid: the ledger has a payment of 50 Stars by user {ANN.id}; Telegram does not"]


def test_a_payment_the_bot_stores_while_reconcile_reads_is_no_difference(storage, config, sandbox, capsys, monkeypatch):
    paid_now = pay(sandbox, ANN, 50)   # at Telegram; the bot stores it a moment later, between the two reads
    monkeypatch.setattr(operator, "time", SimpleNamespace(sleep=lambda seconds: payment(paid_now, ANN.id, 50, 60)))
    assert voicebot(capsys, config, "reconcile") == (0, "ledger and Telegram agree: 1 payment, 50 Stars, 0 refunds\n",
                                                     "")


def test_reconcile_reads_every_page_of_telegrams_list(storage, config, sandbox, capsys):
    charges = [pay(sandbox, ANN, 1 + n) for n in range(51)]
    for charge in charges:
        sandbox.refund_by_telegram(charge)   # 102 transactions: two pages of getStarTransactions
    for n, charge in enumerate(charges):
        payment(charge, ANN.id, 1 + n, 1, refunded=True)

    assert voicebot(capsys, config, "reconcile") == (
        0, f"ledger and Telegram agree: 51 payments, {sum(range(1, 52))} Stars, 51 refunds\n", "")
    assert [call.params.get("offset") for call in sandbox.calls("getStarTransactions")] == [None, "100"]


def test_reconcile_without_a_token_or_with_a_wrong_one_says_what_to_check(storage, config, capsys, monkeypatch):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    assert voicebot(capsys, config, "reconcile") == (1, "", (
        "voicebot: reconciling reads Telegram's Star transactions: set TELEGRAM_BOT_TOKEN (or "
        "TELEGRAM_BOT_TOKEN_FILE)\n"))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "654321:not-this-bot")
    code, out, err = voicebot(capsys, config, "reconcile")
    assert (code, out) == (1, "")
    assert err == ("voicebot: could not read Telegram's Star transactions (Unauthorized): nothing was compared; "
                   "check TELEGRAM_BOT_TOKEN and telegram.api_url\n")
    assert "not-this-bot" not in err
