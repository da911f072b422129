"""Memory of `voicebot run` on big files in local mode (a benchmark, not a test).

    .venv/bin/python bench/bigfiles.py

A bot against the sandbox in local mode (files on the server's disk, read from there) transcribes an 11 s
voice note (what transcribing that speech costs), a ~150 MB video with the same 11 s as its sound track,
then gets a 1 h audio file. For each it prints the bot's resident memory
when idle, its peak while it worked on the file (the kernel's high-water mark, reset before each), the
growth against the file's size, and the reply. The hour of audio runs with limits.max_duration_seconds =
3600 and whisper.timeout_seconds = 60, so it is decoded whole and then stopped by the timeout: its peak is
that of a whole hour's samples and features, not of a full transcription.
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: the speech, the config, memory readings)

from tests.media import big_video, ffmpeg  # noqa: E402  (bench/run.py put the root on sys.path)
from voicebot.core.replies import Wording  # noqa: E402
from voicebot.sandbox import BotApiSandbox, SandboxUser  # noqa: E402

ENGLISH_WORDING = Wording()   # what the bot says in English
USER = SandboxUser(4242, "Mo")
MIB = 1024 * 1024


def reset_peak(pid: int) -> None:
    """Sets the kernel's VmHWM of the process back to its current RSS ("5" to clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def wait_answer(sandbox: BotApiSandbox, message_id: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = next((m for m in sandbox.messages(USER.id) if m.reply_to == message_id), None)
        if answer is not None and answer.text and not ENGLISH_WORDING.is_status(answer.text):
            return answer.text
        time.sleep(0.1)
    raise RuntimeError(f"no answer to message {message_id} within {timeout:.0f} s")


def measure(process: subprocess.Popen, sandbox: BotApiSandbox, send) -> tuple[float, float, str]:
    time.sleep(2)   # settled
    _, idle = bench.resident_mib(process.pid)
    reset_peak(process.pid)
    text = wait_answer(sandbox, send(), 600)
    peak, _ = bench.resident_mib(process.pid)
    return idle, peak, text


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        source = bench.speech_source(folder)
        video = big_video(source, folder / "talk.mkv", 150)
        hour = folder / "hour.ogg"
        ffmpeg("-stream_loop", "-1", "-i", str(source), "-t", "3600", "-ac", "1", "-c:a", "libopus", "-b:a", "24k",
               str(hour))
        (folder / "server").mkdir()
        with BotApiSandbox(bench.TOKEN, local_dir=folder / "server") as sandbox:
            config = bench.harness.write_config(
                folder / "config.toml", sandbox.url, folder / "bot.db", poll_timeout_seconds=None,
                telegram="local_mode = true",
                extra=f"[limits]\nrate_limit_seconds = 0\nmax_file_mb = 2000\nmax_duration_seconds = 3600\n"
                      f"[whisper]\nworkers = 1\ntimeout_seconds = 60\n[quota]\nunlimited_user_ids = [{USER.id}]\n")
            with bench.voicebot_process(folder, config, "run") as process:
                while "voicebot is running" not in bench.log_file(folder, "run").read_text(errors="replace"):
                    time.sleep(0.2)
                voice = bench.voice_note(source, folder, "voice")
                for name, path, send in (
                        # The same speech as a voice note: what transcribing 11 s costs, whatever the file.
                        ("voice note, 11 s", voice.path, lambda: sandbox.send_voice(USER, voice.path, 11)),
                        ("video, 11 s of speech", video,
                         lambda: sandbox.send_video(USER, video, 11, mime_type="video/x-matroska",
                                                    file_name="talk.mkv")),
                        ("audio, 1 h", hour,
                         lambda: sandbox.send_audio(USER, hour, 3600, mime_type="audio/ogg", file_name="hour.ogg"))):
                    size = path.stat().st_size
                    idle, peak, text = measure(process, sandbox, send)
                    rows.append((name, size / MIB, idle, peak, text))
    print(f"\n{'file':<24}{'MiB':>8}{'idle RSS':>10}{'peak RSS':>10}{'growth':>8}{'÷ file':>8}  reply")
    for name, size, idle, peak, text in rows:
        print(f"{name:<24}{size:>8.0f}{idle:>10.0f}{peak:>10.0f}{peak - idle:>8.0f}{(peak - idle) / size:>8.2f}  "
              f"{text[:60]!r}")


if __name__ == "__main__":
    main()
