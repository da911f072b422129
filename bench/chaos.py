"""The chaos run: many voices from many users while everything around the bot fails (a benchmark, not a test).

    .venv/bin/python bench/chaos.py [--voices 200] [--users 30] [--minutes 4] [--kills 10] [--payments 20] [--workers]

Sends the voices over the first part of the run, from users picked at random, to `voicebot run` on a fresh
PostgreSQL database through the sandbox, and meanwhile:
  - SIGKILLs the bot at random moments and starts it again at once (--kills times);
  - has users buy packs of minutes with Telegram Stars (--payments times; 0: billing stays off): each writes
    /buy and pays one of the invoices that come; some pay a moment before a kill (their successful_payment
    meets a dying bot), some right after one (their pre-checkout finds no bot: declined or timed out, and then
    never charged). Meanwhile the operator refunds payments with `voicebot billing refund` (the first try meets
    a 429; each refunded charge is refunded once more, which Telegram must refuse) and Telegram refunds one
    on its own;
  - has the Bot API answer bursts of 429 (with retry_after), 502 and dropped connections (with payments, 429s
    on sendInvoice, answerPreCheckoutQuery and refundStarPayment too), and throttle one chat with a long
    retry_after;
  - restarts PostgreSQL once (pg_ctlcluster);
  - with --workers: the bot node hands transcription to one `voicebot worker` over RabbitMQ; that worker is
    killed once and RabbitMQ restarted once.
Then it waits for every answer (and every receipt), stops the bot, and checks what the users and the database
show: every voice answered exactly once, one usage row each, nobody charged twice, no unfinished job left; and
that the ledger, the balances and Telegram's own Star transactions agree to the star: each payment made stored
and credited once with one receipt, no charge for a payment that did not go through, each refund recorded once,
every user.bought_seconds the sum of their ledger rows and what they bought less what they used, got refunded
and saw expire, and `voicebot billing reconcile` agreeing. Prints a table, and the longest wait with what
happened during it."""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: the clips, the chat log, the bot's config)

from tests.databases import SERVER_URL, throwaway_database  # noqa: E402  (bench/run.py put the root on sys.path)
from voicebot.core.replies import Wording  # noqa: E402
from voicebot.sandbox import BotApiSandbox, PaymentOutcome, SandboxUser, harness  # noqa: E402

ENGLISH_WORDING = Wording()   # what the bot says in English
BROKER = "amqp://guest:guest@127.0.0.1:5672/"
SETTLE_SECONDS = 5.0   # after the last answer, for anything sent twice to show up
ANSWER_TIMEOUT_SECONDS = 900
PACKS = {5: 10 * 60, 25: 60 * 60}   # what the bot sells: Stars -> seconds of the pack
BUY_LEAD_SECONDS = 15        # a buyer writes /buy this long before paying, for the invoices to be there by then
INVOICE_TIMEOUT_SECONDS = 300
BEFORE_KILL_SECONDS = 1.0    # paying this long before a kill: the successful_payment meets a dying bot
AFTER_KILL_SECONDS = 0.5     # and this long after one: the pre-checkout finds no bot
OPERATOR_REFUNDS = 2         # `voicebot billing refund` of this many payments, and one refund by Telegram itself
REFUND_TRIES = 10            # as an operator tries again after "try again later" (a 429, PostgreSQL restarting)
REFUND_RETRY_SECONDS = 3.0
CLI_TIMEOUT_SECONDS = 120


@dataclass
class Timeline:
    """What was done to the bot and when, for the table and for explaining the longest wait."""
    started: float = field(default_factory=time.monotonic)
    events: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str) -> None:
        with self.lock:
            self.events.append((time.monotonic(), what))
        print(f"[{time.monotonic() - self.started:7.1f} s] {what}", flush=True)

    def count(self, prefix: str) -> int:
        return sum(what.startswith(prefix) for _, what in self.events)

    def between(self, start: float, end: float) -> list[str]:
        return [f"{at - self.started:.0f} s {what}" for at, what in self.events if start <= at <= end]


class Node:
    """A voicebot process that can be killed and started again; each life logs to its own file."""

    def __init__(self, command: str, config: Path, folder: Path, ready: str):
        self._command, self._config, self._folder = command, config, folder
        self.ready = ready   # the log line that says it has started
        self.lives = 0
        self.process: subprocess.Popen | None = None
        self._log: Path | None = None

    def start(self, wait: bool = True) -> None:
        self.lives += 1
        log = self._log = self._folder / f"{self._command}-{self.lives}.log"
        self.process = harness.start_voicebot(self._command, "--config", str(self._config), cwd=self._folder,
                                              log=log, env=harness.environment(TELEGRAM_BOT_TOKEN=bench.TOKEN))
        deadline = time.monotonic() + 300
        while wait and self.ready not in log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"voicebot {self._command} did not start; its log:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)

    def up(self) -> bool:
        """Whether this life has started (said its ready line) and not been killed."""
        return self.process.poll() is None and self.ready in self._log.read_text(errors="replace")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        return harness.stop(self.process, bench.STOP_SECONDS, kill=True)


@dataclass
class Sent:
    user: SandboxUser
    message_id: int
    at: float
    seconds: float


def send_voices(sandbox: BotApiSandbox, clips: list, users: list[SandboxUser], count: int, over: float,
                sent: list[Sent], timeline: Timeline) -> None:
    for _ in range(count):
        clip, user = random.choice(clips), random.choice(users)
        sent.append(Sent(user, sandbox.send_voice(user, clip.data, clip.duration), time.monotonic(), clip.seconds))
        time.sleep(over / count)
    timeline.note(f"all {count} voices sent")


FAULT = "Bot API: "   # how the timeline's notes of injected Bot API faults begin
BURSTS = [("sendMessage", {"status": 429, "retry_after": 2, "times": 5}, "a burst of 429 on sendMessage"),
          ("editMessageText", {"status": 502, "times": 5}, "a burst of 502 on editMessageText"),
          ("getUpdates", {"drop": True, "times": 3}, "getUpdates connections dropped"),
          ("file", {"status": 500, "times": 2}, "downloads failing with 500")]
# With payments. Two 429s of 2 s would still leave time to answer a pre-checkout inside Telegram's 10 s.
PAYMENT_BURSTS = [("sendInvoice", {"status": 429, "retry_after": 2, "times": 3}, "a burst of 429 on sendInvoice"),
                  ("answerPreCheckoutQuery", {"status": 429, "retry_after": 2, "times": 2},
                   "a burst of 429 on answerPreCheckoutQuery"),
                  ("refundStarPayment", {"status": 429, "retry_after": 2, "times": 1},
                   "a 429 on refundStarPayment")]


def bot_api_faults(sandbox: BotApiSandbox, throttled: SandboxUser, over: float, payments: bool, timeline: Timeline,
                   stop: threading.Event) -> None:
    """Bursts over the first `over` seconds. A burst meets the next calls of its method whenever they come, so one
    is injected only once the last one of its method was met: faults of a method seldom called (sendInvoice,
    refundStarPayment) do not pile up into a wall."""
    bursts = BURSTS + PAYMENT_BURSTS if payments else BURSTS
    sandbox.inject_fault("sendMessage", status=429, retry_after=30, times=2, chat_id=throttled.id)
    sandbox.inject_fault("editMessageText", status=429, retry_after=30, times=2, chat_id=throttled.id)
    timeline.note(f"{FAULT}chat {throttled.id} throttled: 429 with retry_after 30 s, twice for each kind of call")
    while not stop.wait(over / 12) and time.monotonic() < timeline.started + over:
        ready = [burst for burst in bursts if not sandbox.faults_left(burst[0])]
        if ready:
            method, fault, what = random.choice(ready)
            sandbox.inject_fault(method, **fault)
            timeline.note(FAULT + what)


def kill_bot(bot: Node, moments: list[float], timeline: Timeline) -> None:
    for moment in moments:
        time.sleep(max(0.0, timeline.started + moment - time.monotonic()))
        bot.kill()
        timeline.note(f"bot killed (SIGKILL), life {bot.lives}")
        bot.start(wait=False)


def restart_postgresql(at: float, timeline: Timeline) -> None:
    time.sleep(at)
    version = sorted(path.name for path in Path("/etc/postgresql").iterdir())[-1]
    timeline.note("PostgreSQL restarting")
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True,
                   capture_output=True, timeout=120)
    timeline.note("PostgreSQL back")


def worker_faults(worker: Node, at: float, timeline: Timeline) -> None:
    time.sleep(at)
    worker.kill()
    timeline.note("worker node killed (SIGKILL)")
    worker.start(wait=False)
    time.sleep(at / 2)
    timeline.note("RabbitMQ restarting")
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
    timeline.note("RabbitMQ back")


@dataclass
class Purchase:
    """A buyer's try: /buy, then paying one of the invoices that came `pay_at` seconds into the run."""
    user: SandboxUser
    pay_at: float
    stars: int | None = None                # the invoice paid; None: no invoice came
    outcome: PaymentOutcome | None = None
    bot_down: bool = False                  # killed, or not started again, at some moment of the pre-checkout
    finished: bool = False                  # the buyer is done, whatever came of it


def purchases(users: list[SandboxUser], count: int, kill_moments: list[float], over: float) -> list[Purchase]:
    """One payment just before and one just after each kill while they last, the rest at random moments."""
    moments = [kill + offset for kill in kill_moments for offset in (-BEFORE_KILL_SECONDS, AFTER_KILL_SECONDS)]
    moments = moments[:count] + [random.uniform(0.05, 1.0) * over for _ in range(count - len(moments))]
    return [Purchase(random.choice(users), moment) for moment in sorted(moments)]


def invoices(sandbox: BotApiSandbox, chat_id: int, after: int) -> list[tuple[int, int]]:
    """The bot's invoices in a chat since message `after`: (message id, Stars)."""
    found = []
    for message in sandbox.messages(chat_id):
        shown = sandbox.message(chat_id, message.message_id) if message.message_id > after else None
        if shown and "invoice" in shown:
            found.append((message.message_id, shown["invoice"]["total_amount"]))
    return found


def buy_pack(sandbox: BotApiSandbox, bot: Node, purchase: Purchase, timeline: Timeline) -> None:
    """Write /buy, wait for the invoices, then pay one at the purchase's moment (pay_invoice waits for the
    pre-checkout's answer, up to Telegram's 10 s)."""
    try:
        pay(sandbox, bot, purchase, timeline)
    finally:
        purchase.finished = True


def pay(sandbox: BotApiSandbox, bot: Node, purchase: Purchase, timeline: Timeline) -> None:
    user = purchase.user
    time.sleep(max(0.0, timeline.started + purchase.pay_at - BUY_LEAD_SECONDS - time.monotonic()))
    asked = sandbox.send_text(user, "/buy")
    if not sandbox.wait_for(lambda: invoices(sandbox, user.id, asked), INVOICE_TIMEOUT_SECONDS):
        timeline.note(f"payment: user {user.id}'s /buy got no invoice in {INVOICE_TIMEOUT_SECONDS} s")
        return
    time.sleep(max(0.0, timeline.started + purchase.pay_at - time.monotonic()))
    message_id, purchase.stars = random.choice(invoices(sandbox, user.id, asked))
    life, up = bot.lives, bot.up()
    outcome = purchase.outcome = sandbox.pay_invoice(user, user.id, message_id)
    purchase.bot_down = not up or bot.lives != life or not bot.up()
    timeline.note(f"payment: user {user.id} paid {purchase.stars} ⭐ ({outcome.charge_id})" if outcome.charge_id
                  else f"payment: user {user.id}'s {purchase.stars} ⭐ {outcome.status} at pre-checkout, the bot "
                       f"{'down' if purchase.bot_down else 'up'}"
                       f"{f' ({outcome.error_message})' if outcome.error_message else ''}")


class Cli:
    """`voicebot COMMAND... --config CONFIG` as the operator runs it beside the bot, with the bot's token."""

    def __init__(self, config: Path, folder: Path):
        self._config, self._folder = config, folder

    def run(self, *command: str) -> subprocess.CompletedProcess:
        process = harness.start_voicebot(*command, "--config", str(self._config), cwd=self._folder,
                                         env=harness.environment(TELEGRAM_BOT_TOKEN=bench.TOKEN))
        out, err = process.communicate(timeout=CLI_TIMEOUT_SECONDS)
        return subprocess.CompletedProcess(command, process.returncode, out, err)


@dataclass
class Refunds:
    """What the operator's and Telegram's refunds came to during the run."""
    by_operator: list[str] = field(default_factory=list)     # charge ids `voicebot billing refund` refunded
    by_telegram: list[str] = field(default_factory=list)     # and those Telegram refunded on its own
    tries: int = 0                                           # `voicebot billing refund` runs, the refused too
    refused_again: int = 0            # second refunds of a refunded charge that Telegram refused, nothing changed
    failures: list[str] = field(default_factory=list)        # what went wrong otherwise, one line each


def refund_some(sandbox: BotApiSandbox, cli: Cli, bought: list[Purchase], at: float, refunds: Refunds,
                timeline: Timeline) -> None:
    """At `at` seconds in (or once payments went through): the operator refunds a few payments, the first try
    meeting a 429, and tries each once more, which Telegram refuses; then Telegram refunds one on its own."""
    time.sleep(max(0.0, timeline.started + at - time.monotonic()))
    deadline = time.monotonic() + INVOICE_TIMEOUT_SECONDS
    while len(_paid(bought)) <= OPERATOR_REFUNDS and not all(one.finished for one in bought) \
            and time.monotonic() < deadline:
        time.sleep(1)
    charges = [purchase.outcome.charge_id for purchase in _paid(bought)]
    if not sandbox.faults_left("refundStarPayment"):
        sandbox.inject_fault("refundStarPayment", status=429, retry_after=2, times=1)
        timeline.note(f"{FAULT}a 429 on refundStarPayment")
    for charge_id in charges[:OPERATOR_REFUNDS]:
        if operator_refund(cli, charge_id, refunds, timeline):
            refunds.by_operator.append(charge_id)
            again = cli.run("billing", "refund", charge_id)
            refunds.tries += 1
            if again.returncode == 1 and "CHARGE_ALREADY_REFUNDED" in again.stderr and "nothing was" in again.stderr:
                refunds.refused_again += 1
            else:
                refunds.failures.append(f"refunding {charge_id} again: exit {again.returncode}, "
                                        f"{_last_line(again.stdout + again.stderr)}")
    if len(charges) > OPERATOR_REFUNDS:
        sandbox.refund_by_telegram(charges[OPERATOR_REFUNDS])
        refunds.by_telegram.append(charges[OPERATOR_REFUNDS])
        timeline.note(f"payment: Telegram refunded {charges[OPERATOR_REFUNDS]} on its own")


def operator_refund(cli: Cli, charge_id: str, refunds: Refunds, timeline: Timeline) -> bool:
    """`voicebot billing refund CHARGE_ID`, tried again as an operator would while it fails (Telegram's 429, the
    payment not stored yet, PostgreSQL restarting); True once it refunded."""
    for _ in range(REFUND_TRIES):
        done = cli.run("billing", "refund", charge_id)
        refunds.tries += 1
        timeline.note(f"payment: voicebot billing refund {charge_id}: exit {done.returncode}, "
                      f"{_last_line(done.stdout + done.stderr)}")
        if done.returncode == 0 or "CHARGE_ALREADY_REFUNDED" in done.stderr:
            return True   # refunded, by this try or by one whose answer the record did not follow (the bot records it)
        time.sleep(REFUND_RETRY_SECONDS)
    refunds.failures.append(f"refunding {charge_id}: no success in {REFUND_TRIES} tries")
    return False


def _paid(bought: list[Purchase]) -> list[Purchase]:
    return [purchase for purchase in bought if purchase.outcome and purchase.outcome.status == "paid"]


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(nothing printed)"


def answers(sandbox: BotApiSandbox, sent: Sent) -> list:
    return [message for message in sandbox.messages(sent.user.id) if message.reply_to == sent.message_id]


def final_at(sandbox: BotApiSandbox, log: bench.ChatLog, sent: Sent) -> float | None:
    """When the voice's answer first stood in its chat: its reply sent, or edited from a status into it."""
    ours = {message.message_id for message in answers(sandbox, sent)}
    finals = [event.at for event in log.bot_events(sent.user.id, sent.at)
              if event.message_id in ours and not ENGLISH_WORDING.is_status(event.text)]
    return min(finals) if finals else None


def database_findings(url: str, sent: list[Sent]) -> dict[str, int]:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute('SELECT chat_id, message_id, COUNT(*) FROM "usage" GROUP BY chat_id, message_id')
        usage = {(chat, message): rows for chat, message, rows in cursor.fetchall()}
        # Credits and refunds are ledger rows of no usage.
        cursor.execute('SELECT COUNT(*) FROM "transaction" WHERE usage_id IS NOT NULL GROUP BY usage_id '
                       'HAVING COUNT(*) > 1')
        charged_twice = len(cursor.fetchall())
        cursor.execute('SELECT COUNT(*) FROM job WHERE NOT finished')
        unfinished = cursor.fetchone()[0]
    keys = [(one.user.id, one.message_id) for one in sent]
    return {"usage rows, one each": sum(usage.get(key) == 1 for key in keys),
            "voices without a usage row": sum(key not in usage for key in keys),
            "voices with more than one usage row": sum(usage.get(key, 0) > 1 for key in keys),
            "usage rows charged twice": charged_twice, "unfinished jobs left": unfinished}


class StoredPayment(NamedTuple):
    """A row of the payment table."""
    user_id: int
    stars: int
    seconds: float
    refunded: bool
    taken_back: float   # what its refund took back of the balance


@dataclass
class Ledger:
    """The database's side of the payments, read once the bot has stopped."""
    payments: dict[str, StoredPayment]                          # by charge id
    rows: Counter                                               # (charge id, kind) -> ledger rows
    by_kind: dict[tuple[int, str], tuple[float, int]]           # (user, kind) -> (balance change, Stars), summed
    balances: dict[int, float]                                  # user -> user.bought_seconds


def read_ledger(url: str) -> Ledger:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT charge_id, user_id, stars, seconds, refunded_at IS NOT NULL, refunded_seconds "
                       "FROM payment")
        payments = {charge_id: StoredPayment(*rest) for charge_id, *rest in cursor.fetchall()}
        cursor.execute('SELECT charge_id, kind, COUNT(*) FROM "transaction" WHERE charge_id IS NOT NULL '
                       'GROUP BY charge_id, kind')
        rows = Counter({(charge_id, kind): count for charge_id, kind, count in cursor.fetchall()})
        cursor.execute('SELECT user_id, kind, SUM(balance_change), SUM(stars) FROM "transaction" '
                       'GROUP BY user_id, kind')
        by_kind = {(user, kind): (change, stars) for user, kind, change, stars in cursor.fetchall()}
        cursor.execute('SELECT id, bought_seconds FROM "user"')
        balances = dict(cursor.fetchall())
    return Ledger(payments, rows, by_kind, balances)


def receipt_start(stars: int) -> str:
    """How the receipt for a pack begins, up to the balance it tells (which depends on what came before)."""
    seconds = PACKS[stars]
    return os.path.commonprefix([ENGLISH_WORDING.receipt(stars, seconds, 0),
                                 ENGLISH_WORDING.receipt(stars, seconds, 3600)])


def receipts_amiss(sandbox: BotApiSandbox, bought: list[Purchase]) -> int:
    """Payments made without their receipt, and receipts beyond one per payment, counted by user and pack."""
    due = Counter((purchase.user.id, purchase.stars) for purchase in _paid(bought))
    got = Counter((user_id, stars) for user_id in {purchase.user.id for purchase in bought}
                  for message in sandbox.messages(user_id) for stars in PACKS
                  if message.text and message.text.startswith(receipt_start(stars)))
    return sum(abs(due[key] - got[key]) for key in due | got)


BALANCE_TOLERANCE = 0.01   # seconds: floating-point sums of a few rows


def payment_findings(sandbox: BotApiSandbox, bought: list[Purchase], refunds: Refunds, ledger: Ledger,
                     reconciled: subprocess.CompletedProcess) -> list[tuple[str, object]]:
    paid = {purchase.outcome.charge_id for purchase in _paid(bought)}
    statuses = Counter(purchase.outcome.status if purchase.outcome else "no invoice" for purchase in bought)
    late = Counter(purchase.bot_down for purchase in bought
                   if purchase.outcome and purchase.outcome.status == "timeout")
    transactions = sandbox.star_transactions()
    taken = {one["id"]: one["amount"] for one in transactions if "source" in one}
    given_back = {one["id"]: one["amount"] for one in transactions if "receiver" in one}
    in_ledger = {kind: sum(stars for (_, row_kind), (_, stars) in ledger.by_kind.items() if row_kind == kind)
                 for kind in ("credit", "refund")}
    stored = {charge_id: (payment.stars, payment.refunded) for charge_id, payment in ledger.payments.items()}
    differ = sum(stored.get(charge_id) != (taken.get(charge_id), charge_id in given_back)
                 for charge_id in set(taken) | set(stored))
    return [
        ("payments tried (/buy, then pay an invoice)", len(bought)),
        ("payments made (Telegram took the Stars)", len(paid)),
        ("declined at pre-checkout", statuses["declined"]),
        ("timed out at pre-checkout: the bot down (killed, restarting) / up", f"{late[True]} / {late[False]}"),
        ("/buy that brought no invoice", statuses["no invoice"]),
        ("charged without a payment made (Telegram or ledger)",
         len(set(taken) - paid) + len(set(ledger.payments) - paid)),
        ("payments stored and credited exactly once",
         sum(charge_id in ledger.payments and ledger.rows[(charge_id, "credit")] == 1 for charge_id in paid)),
        ("payments made but not in the ledger", len(paid - set(ledger.payments))),
        ("payments credited more than once", sum(n > 1 for (_, kind), n in ledger.rows.items() if kind == "credit")),
        ("receipts missing or extra (one per payment)", receipts_amiss(sandbox, bought)),
        ("refunds: by the operator (runs of voicebot billing refund) / by Telegram",
         f"{len(refunds.by_operator)} ({refunds.tries}) / {len(refunds.by_telegram)}"),
        ("second refunds of a charge refused by Telegram, nothing changed", refunds.refused_again),
        ("refunds recorded more than once", sum(n > 1 for (_, kind), n in ledger.rows.items() if kind == "refund")),
        ("refunded: in Telegram / in the ledger",
         f"{len(given_back)} / {sum(payment.refunded for payment in ledger.payments.values())}"),
        ("Stars in Telegram: taken - refunded = kept",
         f"{sum(taken.values())} - {sum(given_back.values())} = {sum(taken.values()) - sum(given_back.values())}"),
        ("Stars in the ledger: credits - refunds = kept",
         f"{in_ledger['credit']} - {-in_ledger['refund']} = {in_ledger['credit'] + in_ledger['refund']}"),
        ("charges whose Stars or refund differ (Telegram vs ledger)", differ),
        ("balance mismatches: user.bought_seconds vs the sum of their rows", unbalanced_rows(ledger)),
        ("balance mismatches: vs bought - used - refunded - expired", balance_mismatches(bought, ledger)),
        ("voicebot billing reconcile", f"exit {reconciled.returncode}: "
                                       f"{_last_line(reconciled.stdout + reconciled.stderr)}"),
    ]


def unbalanced_rows(ledger: Ledger) -> int:
    """Users whose user.bought_seconds is not the sum of their ledger rows' balance_change."""
    summed = Counter()
    for (user_id, _), (change, _) in ledger.by_kind.items():
        summed[user_id] += change
    return sum(abs(balance - summed[user_id]) > BALANCE_TOLERANCE for user_id, balance in ledger.balances.items())


def balance_mismatches(bought: list[Purchase], ledger: Ledger) -> int:
    """Users whose balance is not what they paid for (the packs, as Telegram charged them) less what the ledger
    says they used, had taken back by refunds, and saw expire."""
    expected = Counter()
    for purchase in _paid(bought):
        expected[purchase.user.id] += PACKS[purchase.stars]
    for payment in ledger.payments.values():
        expected[payment.user_id] -= payment.taken_back
    for (user_id, kind), (change, _) in ledger.by_kind.items():
        if kind in ("use", "expire"):
            expected[user_id] += change   # negative: what was used, what expired
    return sum(abs(ledger.balances.get(user_id, 0.0) - seconds) > BALANCE_TOLERANCE
               for user_id, seconds in expected.items()) + sum(
        abs(balance) > BALANCE_TOLERANCE for user_id, balance in ledger.balances.items() if user_id not in expected)


def run(args) -> int:
    random.seed(args.seed)
    over = args.minutes * 60 * 0.6   # voices and faults in the first 60 %; the rest is for the answers
    timeline = Timeline()
    with tempfile.TemporaryDirectory(prefix="voicebot-chaos-") as temp, \
            throwaway_database(SERVER_URL, "voicebot_chaos") as database, BotApiSandbox(bench.TOKEN) as sandbox:
        folder = Path(temp)
        source = bench.speech_source(folder)
        clips = [bench.voice_note(source, folder, f"voice{n}", tempo=tempo) for n, tempo in
                 enumerate((1.0, 1.3, 1.6, 2.0))]
        config = bench.write_config(folder, sandbox, database, sections(args))
        log = bench.ChatLog(sandbox)
        users = [SandboxUser(50_000 + n, f"user{n}") for n in range(args.users)]
        kill_moments = sorted(random.uniform(0.05, 1.0) * over for _ in range(args.kills))
        bought = purchases(users, args.payments, kill_moments, over)
        bot = Node("run", config, folder, "voicebot is running")
        worker = Node("worker", config, folder, "is taking jobs") if args.workers else None
        if worker is not None:
            worker.start()
        bot.start()
        timeline.started = time.monotonic()
        timeline.note(f"bot running; sending {args.voices} voices from {args.users} users over {over:.0f} s"
                      f"{f', and {args.payments} payments' if args.payments else ''}")
        sent: list[Sent] = []
        refunds = Refunds()
        cli = Cli(config, folder)
        stop_faults = threading.Event()
        chaos = [threading.Thread(target=send_voices, args=(sandbox, clips, users, args.voices, over, sent,
                                                            timeline)),
                 threading.Thread(target=bot_api_faults, args=(sandbox, users[0], over, bool(bought), timeline,
                                                               stop_faults), daemon=True),
                 threading.Thread(target=kill_bot, args=(bot, kill_moments, timeline)),
                 threading.Thread(target=restart_postgresql, args=(over * random.uniform(0.3, 0.7), timeline)),
                 *(threading.Thread(target=buy_pack, args=(sandbox, bot, purchase, timeline)) for purchase in bought)]
        if worker is not None:
            chaos.append(threading.Thread(target=worker_faults, args=(worker, over * 0.4, timeline)))
        if bought:
            chaos.append(threading.Thread(target=refund_some, args=(sandbox, cli, bought,
                                                                    over * random.uniform(0.5, 0.9), refunds,
                                                                    timeline)))
        for thread in chaos:
            thread.start()
        for thread in chaos[2:]:
            thread.join()
        chaos[0].join()
        stop_faults.set()
        done = sandbox.wait_for(lambda: all(_is_answered(sandbox, one) for one in sent)
                                and not receipts_amiss(sandbox, bought), ANSWER_TIMEOUT_SECONDS)
        timeline.note(f"every voice answered{', every receipt sent' if bought else ''}" if done
                      else f"gave up waiting after {ANSWER_TIMEOUT_SECONDS} s")
        time.sleep(SETTLE_SECONDS)
        exit_code = bot.stop()
        if worker is not None:
            worker.stop()
        payments = payment_findings(sandbox, bought, refunds, read_ledger(database),
                                    cli.run("billing", "reconcile")) if bought else []
        print(table(args, sandbox, log, sent, timeline, database_findings(database, sent), payments, exit_code))
        for failure in refunds.failures:
            print(f"refund trouble: {failure}")
        return 0 if done else 1


def sections(args) -> str:
    """The config's sections beyond bench/run.py's: no daily limit in sight, a deep queue, billing with payments,
    the broker with --workers."""
    packs = ", ".join(f"{{minutes = {seconds // 60}, stars = {stars}}}" for stars, seconds in PACKS.items())
    return "".join(["[quota]\ndaily_seconds = 100000000\n[queue]\nmax_pending = 1000\n",
                    f"[billing]\nenabled = true\npacks = [{packs}]\n" if args.payments else "",
                    f'[broker]\nurl = "{BROKER}"\n' if args.workers else ""])


def _is_answered(sandbox: BotApiSandbox, sent: Sent) -> bool:
    return any(message.text and not ENGLISH_WORDING.is_status(message.text) for message in answers(sandbox, sent))


def table(args, sandbox: BotApiSandbox, log: bench.ChatLog, sent: list[Sent], timeline: Timeline,
          database: dict[str, int], payments: list[tuple[str, object]], exit_code: int) -> str:
    replied = [answers(sandbox, one) for one in sent]
    finals = [[m for m in messages if m.text and not ENGLISH_WORDING.is_status(m.text)] for messages in replied]
    failures = sum(any(m.text.startswith(bench.FAILURE_REPLIES) for m in final) for final in finals)
    waits = [(at - one.at, one) for one in sent if (at := final_at(sandbox, log, one)) is not None]
    longest, slowest = max(waits, key=lambda wait: wait[0]) if waits else (0.0, None)
    rows = [
        ("voices sent", len(sent)),
        ("users", args.users),
        ("answered exactly once (one reply, a transcript or a failure)",
         sum(len(messages) == 1 and len(final) == 1 for messages, final in zip(replied, finals, strict=True))),
        ("answered with a failure reply", failures),
        ("duplicates (more than one reply to a voice)", sum(len(messages) > 1 for messages in replied)),
        ("losses (no answer)", sum(not final for final in finals)),
        *database.items(),
        *payments,
        ("bot SIGKILLed and restarted", timeline.count("bot killed")),
        ("Bot API fault bursts", timeline.count(FAULT)),
        ("PostgreSQL restarts", timeline.count("PostgreSQL restarting")),
        ("worker node killed", timeline.count("worker node killed")),
        ("RabbitMQ restarts", timeline.count("RabbitMQ restarting")),
        ("median wait for the answer, s", round(sorted(w for w, _ in waits)[len(waits) // 2], 1) if waits else "-"),
        ("longest wait for the answer, s", round(longest, 1)),
        ("the bot's exit code after SIGTERM", exit_code),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["", f"chaos run: {'bot node + worker node over RabbitMQ' if args.workers else 'one process'}, "
                 f"PostgreSQL, {args.minutes} min", ""]
    lines += [f"{label:<{width}}  {value}" for label, value in rows]
    if slowest is not None:
        during = timeline.between(slowest.at, slowest.at + longest)
        lines += ["", f"the longest wait (user {slowest.user.id}, message {slowest.message_id}, sent at "
                      f"{slowest.at - timeline.started:.0f} s) spanned: {'; '.join(during) or 'nothing injected'}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", type=int, default=200)
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=4)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--payments", type=int, default=20, help="packs bought with Stars; 0: billing stays off")
    parser.add_argument("--workers", action="store_true", help="a bot node and a worker node over RabbitMQ")
    parser.add_argument("--seed", type=int, default=7)
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
