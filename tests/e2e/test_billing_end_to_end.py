"""Billing with Telegram Stars: `voicebot run` against the sandbox, with the bundled model, on SQLite and PostgreSQL.

Ann's voice is over her daily quota: the refusal comes with an invoice for the smallest pack; she taps its Pay
button and pays, gets one receipt, and her next voice is transcribed from the minutes she bought. The same
successful_payment delivered again, and once more after a SIGKILL and a restart, credits nothing more. An invoice
with a forged payload and one issued more than a day ago are declined, with reasons she can read. The admin's
/refund gives her Stars back and takes back what is unspent of the pack; a second refund of the same charge, with
`voicebot billing refund`, is refused by Telegram and changes nothing. `voicebot billing reconcile` finds the ledger
and Telegram agree, and `voicebot billing report` shows the day's Stars and minutes."""
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from voicebot.core.billing import Decline, Pack, payload_key, signed_payload
from voicebot.sandbox import BotApiSandbox, SandboxUser
from voicebot.sandbox.harness import environment
from voicebot.sandbox.harness import start_voicebot as voicebot

from botprocess import ENGLISH_WORDING, TOKEN, RunningBot, assert_one_transcript, stored, wait_final, write_config
from mailbox import wait_until

pytestmark = pytest.mark.e2e
pytest_plugins = ["databases"]

ANN, ADMIN = SandboxUser(2601, "Ann", "ann"), SandboxUser(2602, "Olga", "olga")
PACK, BIG_PACK = Pack(minutes=1, stars=5), Pack(minutes=2, stars=9)
DAILY_SECONDS = 1   # any recording is over the day's quota


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def config(tmp_path, sandbox, database):
    return write_config(tmp_path / "config.toml", sandbox, database, f"""
[whisper]
workers = 1
[limits]
rate_limit_seconds = 0
[quota]
daily_seconds = {DAILY_SECONDS}
[admin]
user_ids = [{ADMIN.id}]
[billing]
enabled = true
packs = [{{minutes = {BIG_PACK.minutes}, stars = {BIG_PACK.stars}}}, {{minutes = {PACK.minutes}, stars = {PACK.stars}}}]
support = "@voicebot_help"
""")


def command(sandbox: BotApiSandbox, user: SandboxUser, text: str, timeout: float = 30) -> str:
    sent = sandbox.send_text(user, text)
    return wait_final(sandbox, user.id, sent, timeout).text


def invoices(sandbox: BotApiSandbox, chat_id: int, reply_to: int | None = None) -> list:
    """The bot's invoices in the chat (a message whose first button pays), those replying to `reply_to` if given."""
    return [message for message in sandbox.messages(chat_id)
            if (message.reply_markup or {}).get("inline_keyboard", [[{}]])[0][0].get("pay") is True
            and (reply_to is None or message.reply_to == reply_to)]


def texts(sandbox: BotApiSandbox, chat_id: int) -> list[str]:
    return [message.text for message in sandbox.messages(chat_id) if message.text]


def ledger(database: str) -> tuple[list, list, float]:
    """(payments, ledger rows but uses, Ann's balance) as the database holds them."""
    from voicebot.adapters.storage.models import Payment, Transaction, User
    with stored(database):
        payments = [(row.charge_id, row.stars, row.seconds, row.refunded_at is not None, row.refunded_seconds)
                    for row in Payment.select().order_by(Payment.paid_at)]
        rows = [(row.kind, row.stars, round(row.balance_change, 1)) for row in
                Transaction.select().where(Transaction.kind != "use").order_by(Transaction.id)]
        return payments, rows, User.get_by_id(ANN.id).bought_seconds


def forged_invoice(sandbox: BotApiSandbox, payload: str) -> int:
    """An invoice in Ann's chat that the bot never made (its payload is the test's), as Telegram would show it."""
    answer = requests.post(f"{sandbox.url}/bot{TOKEN}/sendInvoice", timeout=10, json={
        "chat_id": ANN.id, "title": "1 minute", "description": "An invoice", "payload": payload, "currency": "XTR",
        "prices": [{"label": "1 min", "amount": PACK.stars}]})
    assert answer.ok, answer.text
    return answer.json()["result"]["message_id"]


def cli(config, tmp_path, *args: str) -> tuple[int, str, str]:
    process = voicebot(*args, "--config", str(config), env=environment(TELEGRAM_BOT_TOKEN=TOKEN), cwd=tmp_path)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def redeliver(sandbox: BotApiSandbox, message_id: int) -> None:
    """The successful_payment update once more, as Telegram may deliver one again."""
    sandbox.push_update({"message": sandbox.message(ANN.id, message_id)})


def test_minutes_bought_with_stars_are_credited_once_spent_after_the_free_ones_and_refunded_honestly(
        sandbox, config, tmp_path, database, speech):
    bot = RunningBot(config, tmp_path)
    try:
        assert command(sandbox, ANN, "/start", 180)
        refused = sandbox.send_voice(ANN, speech.voice_note, speech.duration)
        assert sandbox.wait_for(lambda: invoices(sandbox, ANN.id, refused), 30), sandbox.messages(ANN.id)
        [refusal] = [message for message in sandbox.messages(ANN.id) if message.reply_to == refused and message.text]
        assert "daily" in refusal.text
        [offer] = invoices(sandbox, ANN.id, refused)   # the smallest pack, with its pay button
        assert offer.reply_markup["inline_keyboard"][0][0]["text"] == f"Pay ⭐{PACK.stars}"

        paid = sandbox.pay_invoice(ANN, ANN.id, offer.message_id)
        assert paid.status == "paid", paid
        receipt = ENGLISH_WORDING.receipt(PACK.stars, PACK.seconds, PACK.seconds)
        assert sandbox.wait_for(lambda: receipt in texts(sandbox, ANN.id), 30), texts(sandbox, ANN.id)

        voice = sandbox.send_voice(ANN, speech.voice_note, speech.duration)
        wait_final(sandbox, ANN.id, voice, 180)
        assert_one_transcript(sandbox, ANN, voice, speech.words)
        assert wait_until(lambda: ledger(database)[2] < PACK.seconds, 10)
        payments, rows, balance = ledger(database)
        spent = PACK.seconds - balance
        assert speech.duration - DAILY_SECONDS - 2 < spent < speech.duration + 2, "the free second went first"
        assert rows == [("credit", PACK.stars, PACK.seconds)]
        left = ENGLISH_WORDING.bought_balance(balance, None)
        assert left in command(sandbox, ANN, "/usage")

        redeliver(sandbox, paid.message_id)
        assert left in command(sandbox, ANN, "/usage"), "nothing more credited"
        bot.process.kill()   # SIGKILL, and the same payment once more to the restarted bot
        bot.process.wait(30)
        bot = RunningBot(config, tmp_path)
        redeliver(sandbox, paid.message_id)
        assert left in command(sandbox, ANN, "/usage", 180), "nothing more credited"
        assert ledger(database) == (payments, rows, balance)
        assert texts(sandbox, ANN.id).count(receipt) == 1

        forged = forged_invoice(sandbox, f"v1.{ANN.id}.{BIG_PACK.minutes}.{PACK.stars}.{int(time.time())}.forged")
        declined = sandbox.pay_invoice(ANN, ANN.id, forged)
        assert (declined.status, declined.error_message) == ("declined", ENGLISH_WORDING.declined(Decline.INVALID))
        day_old = datetime.now(UTC) - timedelta(hours=25)
        stale = forged_invoice(sandbox, signed_payload(payload_key(TOKEN), ANN.id, PACK, day_old))
        declined = sandbox.pay_invoice(ANN, ANN.id, stale)
        assert (declined.status, declined.error_message) == ("declined", ENGLISH_WORDING.declined(Decline.STALE))

        assert command(sandbox, ADMIN, "/start")
        done = command(sandbox, ADMIN, f"/refund {paid.charge_id}")
        assert done == ENGLISH_WORDING.refund_done(paid.charge_id, ANN.id, PACK.stars, balance), done
        told = ENGLISH_WORDING.refunded(PACK.stars, balance, 0)
        assert sandbox.wait_for(lambda: told in texts(sandbox, ANN.id), 30), texts(sandbox, ANN.id)
        refunded = ledger(database)
        assert refunded == ([(paid.charge_id, PACK.stars, PACK.seconds, True, balance)],
                            rows + [("refund", -PACK.stars, -round(balance, 1))], 0.0)

        code, _, err = cli(config, tmp_path, "billing", "refund", paid.charge_id)
        assert code == 1 and "CHARGE_ALREADY_REFUNDED" in err and "nothing was changed" in err, err
        assert ledger(database) == refunded
        assert texts(sandbox, ANN.id).count(told) == 1

        code, out, err = cli(config, tmp_path, "billing", "reconcile")
        assert (code, out.strip()) == (0, "ledger and Telegram agree: 1 payment, 5 Stars, 1 refund"), err
        code, out, err = cli(config, tmp_path, "billing", "report", "--days", "1")
        total = out.splitlines()[-1].split()
        assert code == 0 and total[:5] == ["total", str(PACK.stars), str(PACK.stars), "1.0",
                                          f"{spent / 60:.1f}"] and total[-1] == "0.0", out + err
    finally:
        code, stderr = bot.stop()
    assert code == 0, stderr
