"""Takeover times of a standby bot node (a benchmark, not a test).

    .venv/bin/python bench/takeover.py [--kills 5]

Two `voicebot run` processes on one fresh PostgreSQL database, against the sandbox: one leads, one stands by.
A user sends a 3 s voice every 2 s throughout. Each round SIGKILLs the leader, measures how long the standby
takes to lead (its log line) and to put the first transcript of a voice sent after the kill into the chat,
then starts the killed node again as the new standby. At the end it checks that every voice was answered
exactly once (one reply each, one usage row each) and prints the median and the worst of each time.
"""
import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: the clips, the config)
from chaos import Node  # noqa: E402

from tests.databases import SERVER_URL, throwaway_database  # noqa: E402  (bench/run.py put the root on sys.path)
from voicebot.adapters.storage import Storage  # noqa: E402
from voicebot.core.replies import Wording  # noqa: E402
from voicebot.sandbox import BotApiSandbox, SandboxUser  # noqa: E402

ENGLISH_WORDING = Wording()   # what the bot says in English
LEADS = "this node leads now"
STANDING_BY = "models loaded for"   # a standby's models are loaded ahead: it is ready to take over
USER = SandboxUser(5151, "Lea")
SEND_EVERY_SECONDS = 2.0


def log_of(node: Node, folder: Path) -> str:
    return (folder / f"run-{node.lives}.log").read_text(errors="replace")


def wait_for(predicate, timeout: float, what: str) -> float:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return time.monotonic()


def is_transcript(sandbox: BotApiSandbox, message_id: int) -> bool:
    return any(m.reply_to == message_id and m.text and not ENGLISH_WORDING.is_status(m.text)
               for m in sandbox.messages(USER.id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    kills = parser.parse_args().kills
    with tempfile.TemporaryDirectory() as temp, throwaway_database(SERVER_URL, "voicebot_bench") as database, \
            BotApiSandbox(bench.TOKEN) as sandbox:
        folder = Path(temp)
        # Short voices, one every SEND_EVERY_SECONDS: well within what one worker keeps up with, so that
        # the time to the first new transcript is the takeover's, not a backlog's.
        clip = bench.voice_note(bench.speech_source(folder), folder, "voice", seconds=3)
        nodes = []
        for name in ("a", "b"):
            (folder / name).mkdir()
            settings = f"[whisper]\nworkers = 1\ncpu_threads = 1\n[quota]\nunlimited_user_ids = [{USER.id}]"
            config = bench.write_config(folder / name, sandbox, database, settings)
            nodes.append((Node("run", config, folder / name, "voicebot is running"), folder / name))
        stop_sending = threading.Event()
        try:
            leader, standby = nodes
            leader[0].start()
            standby[0].ready = STANDING_BY
            standby[0].start()

            sent: list[tuple[int, float]] = []

            def send_every_second():
                while not stop_sending.wait(SEND_EVERY_SECONDS):
                    sent.append((sandbox.send_voice(USER, clip.data, clip.duration), time.monotonic()))

            threading.Thread(target=send_every_second, daemon=True).start()
            to_lead, to_answer = [], []
            for round_number in range(1, kills + 1):
                time.sleep(3)   # voices under way when the kill comes
                killed_at = time.monotonic()
                leader[0].kill()
                led_at = wait_for(lambda node=standby: LEADS in log_of(*node), 60, "the standby to lead")
                first_after = wait_for(lambda since=killed_at: any(at > since and is_transcript(sandbox, message_id)
                                                                   for message_id, at in list(sent)),
                                       120, "an answer")
                to_lead.append(led_at - killed_at)
                to_answer.append(first_after - killed_at)
                print(f"kill {round_number}: led after {to_lead[-1]:.2f} s, first transcript of a voice sent "
                      f"after the kill {to_answer[-1]:.2f} s", flush=True)
                leader, standby = standby, leader
                standby[0].ready = STANDING_BY
                standby[0].start()
            stop_sending.set()
            for message_id, _ in sent:
                wait_for(lambda sent_id=message_id: is_transcript(sandbox, sent_id), 300, f"the answer to {message_id}")
            time.sleep(3)   # for anything sent twice to show up
            replies_each = [sum(m.reply_to == message_id for m in sandbox.messages(USER.id)) for message_id, _ in sent]
            storage = Storage(database)
            storage.open(migrate=False)
            usage_rows = len(storage.usages(USER.id))
            storage.close()
        finally:
            stop_sending.set()
            for node, _ in nodes:
                if node.process is not None and node.process.poll() is None:
                    node.stop()
    print(f"\n{len(sent)} voices, {kills} leaders killed: replies per voice {min(replies_each)}..{max(replies_each)}, "
          f"{usage_rows} usage rows")
    print(f"{'takeover, s':<44}{'median':>8}{'worst':>8}")
    print(f"{'  kill -9 -> the standby leads':<44}{statistics.median(to_lead):>8.2f}{max(to_lead):>8.2f}")
    print(f"{'  kill -9 -> first transcript of a new voice':<44}{statistics.median(to_answer):>8.2f}"
          f"{max(to_answer):>8.2f}")
    if set(replies_each) != {1} or usage_rows != len(sent):
        sys.exit("FAILED: a voice was not answered exactly once")


if __name__ == "__main__":
    main()
