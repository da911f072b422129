"""The chaos run: many voices from many users while everything around the bot fails (a benchmark, not a test).

    .venv/bin/python bench/chaos.py [--voices 200] [--users 30] [--minutes 4] [--kills 10] [--workers]

Sends the voices over the first part of the run, from users picked at random, to `voicebot run` on a fresh
PostgreSQL database through the sandbox, and meanwhile:
  - SIGKILLs the bot at random moments and starts it again at once (--kills times);
  - has the Bot API answer bursts of 429 (with retry_after), 502 and dropped connections, and throttle one
    chat with a long retry_after;
  - restarts PostgreSQL once (pg_ctlcluster);
  - with --workers: the bot node hands transcription to one `voicebot worker` over RabbitMQ; that worker is
    killed once and RabbitMQ restarted once.
Then it waits for every answer, stops the bot, and checks what the users and the database show: every voice
answered exactly once, one usage row each, nobody charged twice, no unfinished job left. Prints a table, and
the longest wait with what happened during it."""
import argparse
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: the clips, the chat log, the bot's config)

from tests.databases import SERVER_URL, throwaway_database  # noqa: E402  (bench/run.py put the root on sys.path)
from voicebot.core.replies import Wording  # noqa: E402
from voicebot.sandbox import BotApiSandbox, SandboxUser, harness  # noqa: E402

ENGLISH_WORDING = Wording()   # what the bot says in English
BROKER = "amqp://guest:guest@127.0.0.1:5672/"
SETTLE_SECONDS = 5.0   # after the last answer, for anything sent twice to show up
ANSWER_TIMEOUT_SECONDS = 900


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

    def start(self, wait: bool = True) -> None:
        self.lives += 1
        log = self._folder / f"{self._command}-{self.lives}.log"
        self.process = harness.start_voicebot(self._command, "--config", str(self._config), cwd=self._folder,
                                              log=log, env=harness.environment(TELEGRAM_BOT_TOKEN=bench.TOKEN))
        deadline = time.monotonic() + 300
        while wait and self.ready not in log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"voicebot {self._command} did not start; its log:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)

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


def bot_api_faults(sandbox: BotApiSandbox, throttled: SandboxUser, over: float, timeline: Timeline,
                   stop: threading.Event) -> None:
    bursts = [("sendMessage", {"status": 429, "retry_after": 2, "times": 5}, "a burst of 429 on sendMessage"),
              ("editMessageText", {"status": 502, "times": 5}, "a burst of 502 on editMessageText"),
              ("getUpdates", {"drop": True, "times": 3}, "getUpdates connections dropped"),
              ("file", {"status": 500, "times": 2}, "downloads failing with 500")]
    sandbox.inject_fault("sendMessage", status=429, retry_after=30, times=2, chat_id=throttled.id)
    sandbox.inject_fault("editMessageText", status=429, retry_after=30, times=2, chat_id=throttled.id)
    timeline.note(f"chat {throttled.id} throttled: 429 with retry_after 30 s, twice for each kind of call")
    while not stop.wait(over / 12):
        method, fault, what = random.choice(bursts)
        sandbox.inject_fault(method, **fault)
        timeline.note(what)


def kill_bot(bot: Node, kills: int, over: float, timeline: Timeline) -> None:
    for moment in sorted(random.uniform(0.05, 1.0) * over for _ in range(kills)):
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
        cursor.execute('SELECT COUNT(*) FROM "transaction" GROUP BY usage_id HAVING COUNT(*) > 1')
        charged_twice = len(cursor.fetchall())
        cursor.execute('SELECT COUNT(*) FROM job WHERE NOT finished')
        unfinished = cursor.fetchone()[0]
    keys = [(one.user.id, one.message_id) for one in sent]
    return {"usage rows, one each": sum(usage.get(key) == 1 for key in keys),
            "voices without a usage row": sum(key not in usage for key in keys),
            "voices with more than one usage row": sum(usage.get(key, 0) > 1 for key in keys),
            "usage rows charged twice": charged_twice, "unfinished jobs left": unfinished}


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
        broker = f'[broker]\nurl = "{BROKER}"\n' if args.workers else ""
        config = bench.write_config(folder, sandbox, database,
                                    f"[quota]\ndaily_seconds = 100000000\n[queue]\nmax_pending = 1000\n{broker}")
        log = bench.ChatLog(sandbox)
        users = [SandboxUser(50_000 + n, f"user{n}") for n in range(args.users)]
        bot = Node("run", config, folder, "voicebot is running")
        worker = Node("worker", config, folder, "is taking jobs") if args.workers else None
        if worker is not None:
            worker.start()
        bot.start()
        timeline.started = time.monotonic()
        timeline.note(f"bot running; sending {args.voices} voices from {args.users} users over {over:.0f} s")
        sent: list[Sent] = []
        stop_faults = threading.Event()
        chaos = [threading.Thread(target=send_voices, args=(sandbox, clips, users, args.voices, over, sent,
                                                            timeline)),
                 threading.Thread(target=bot_api_faults, args=(sandbox, users[0], over, timeline, stop_faults),
                                  daemon=True),
                 threading.Thread(target=kill_bot, args=(bot, args.kills, over, timeline)),
                 threading.Thread(target=restart_postgresql, args=(over * random.uniform(0.3, 0.7), timeline))]
        if worker is not None:
            chaos.append(threading.Thread(target=worker_faults, args=(worker, over * 0.4, timeline)))
        for thread in chaos:
            thread.start()
        for thread in chaos[2:]:
            thread.join()
        chaos[0].join()
        stop_faults.set()
        done = sandbox.wait_for(lambda: all(_is_answered(sandbox, one) for one in sent), ANSWER_TIMEOUT_SECONDS)
        timeline.note("every voice answered" if done else f"gave up waiting after {ANSWER_TIMEOUT_SECONDS} s")
        time.sleep(SETTLE_SECONDS)
        exit_code = bot.stop()
        if worker is not None:
            worker.stop()
        print(table(args, sandbox, log, sent, timeline, database_findings(database, sent), exit_code))
        return 0 if done else 1


def _is_answered(sandbox: BotApiSandbox, sent: Sent) -> bool:
    return any(message.text and not ENGLISH_WORDING.is_status(message.text) for message in answers(sandbox, sent))


def table(args, sandbox: BotApiSandbox, log: bench.ChatLog, sent: list[Sent], timeline: Timeline,
          database: dict[str, int], exit_code: int) -> str:
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
        ("bot SIGKILLed and restarted", timeline.count("bot killed")),
        ("Bot API fault bursts", sum(not what.startswith(("bot", "all", "PostgreSQL", "RabbitMQ", "worker",
                                                            "every", "gave")) for _, what in timeline.events)),
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
    parser.add_argument("--workers", action="store_true", help="a bot node and a worker node over RabbitMQ")
    parser.add_argument("--seed", type=int, default=7)
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
