"""Throughput of one `voicebot worker` process, against the same batch in one process (a benchmark).

    .venv/bin/python bench/workers.py [--broker URL] [--voices N] [--seconds S] [--rounds R]

Sends N voice notes of S seconds (default 12 of 30 s: the README's capacity table assumes 30 s
on average), each from its own user, all at once, to two set-ups in turn on this machine:

  one process:   `voicebot run` with its own WhisperActors (broker.url empty);
  broker:        `voicebot run` as a bot node (no model) and one `voicebot worker` process,
                 joined by the broker (default RabbitMQ on 127.0.0.1:5672).

Both use the default whisper settings (workers and threads by the cores) and a fresh PostgreSQL
database, and run R times each (default 2), in turns. Time runs from the first voice sent to the
last transcript received. Prints a table and writes bench/results/workers-<timestamp>.json."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: the clips, the chat log, the bot's config and answers)

from tests.databases import SERVER_URL, throwaway_database  # noqa: E402  (bench/run.py put the root on sys.path)
from voicebot.app.config import Settings, worker_count  # noqa: E402
from voicebot.sandbox import BotApiSandbox  # noqa: E402


@contextmanager
def process(folder: Path, config: Path, command: str, ready: str) -> Iterator[subprocess.Popen]:
    """`voicebot COMMAND`, once its log says `ready`; stopped at the end."""
    with bench.voicebot_process(folder, config, command) as started:
        log_path, deadline = bench.log_file(folder, command), time.monotonic() + 300
        while ready not in log_path.read_text(errors="replace"):
            if started.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"voicebot {command} did not start")
            time.sleep(0.2)
        yield started


def measure(label: str, broker: str, clips: list, folder: Path) -> dict:
    with throwaway_database(SERVER_URL, "voicebot_bench") as database, BotApiSandbox(bench.TOKEN) as sandbox:
        log, users = bench.ChatLog(sandbox), bench.Users()
        config = bench.write_config(folder, sandbox, database, f'[broker]\nurl = "{broker}"')
        with process(folder, config, "run", "voicebot is running"):
            if broker:
                with process(folder, config, "worker", "is taking jobs"):
                    answers = bench.send_voices(sandbox, log, users, clips, timeout=1800)
            else:
                answers = bench.send_voices(sandbox, log, users, clips, timeout=1800)
    wall = max(a.final_at for a in answers) - min(a.sent_at for a in answers)
    audio = sum(clip.seconds for clip in clips)
    failures = sum(text.startswith(bench.FAILURE_REPLIES) for text in (a.text for a in answers))
    median = sorted(a.final_at - a.sent_at for a in answers)[len(answers) // 2]
    return {"setup": label, "voices": len(clips), "audio_seconds": round(audio, 1), "wall_seconds": round(wall, 2),
            "audio_seconds_per_second": round(audio / wall, 2),
            "voices_per_hour": round(len(clips) / wall * 3600),
            "median_seconds_to_transcript": round(median, 2),
            "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--voices", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="voicebot-workers-") as temp:
        folder = Path(temp)
        clip = bench.voice_note(bench.speech_source(folder), folder, "voice", seconds=args.seconds)
        clips = [clip] * args.voices
        setups = [("one process", ""), (f"bot node + 1 worker ({urlsplit(args.broker).scheme})", args.broker)]
        rows = []
        for round_number in range(args.rounds):   # A B, then B A: neither set-up always runs first
            for label, broker in setups if round_number % 2 == 0 else reversed(setups):
                rows.append(measure(label, broker, clips, folder))
    workers = worker_count(Settings())
    print(f"{args.voices} voice notes of {args.seconds:.0f} s at once; {os.cpu_count()} cores, "
          f"{workers} WhisperActors per process (whisper.workers = 0)")
    print(f"{'set-up':36} {'wall s':>8} {'audio s/s':>10} {'voices/h':>9} {'median s':>9} {'failed':>7}")
    for row in rows:
        print(f"{row['setup']:36} {row['wall_seconds']:8.1f} {row['audio_seconds_per_second']:10.2f} "
              f"{row['voices_per_hour']:9d} {row['median_seconds_to_transcript']:9.1f} {row['failures']:7d}")
    totals = {label: sum(row["wall_seconds"] for row in rows if row["setup"] == label) for label, _ in setups}
    (one, _), (remote, _) = setups
    print(f"broker / one process, all rounds: {totals[remote] / totals[one]:.3f} of the time")
    bench.RESULTS.mkdir(parents=True, exist_ok=True)
    target = bench.RESULTS / f"workers-{datetime.now():%Y%m%d-%H%M%S}.json"
    target.write_text(json.dumps({"machine": bench.machine().__dict__, "rows": rows}, indent=2))
    print(f"written: {target}")


if __name__ == "__main__":
    main()
