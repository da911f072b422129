"""The quarantine over real child processes: the real model transcribes as it does in the bot's own process, a
recording that kills its child is given up after the tries and nothing else dies, a child that hangs is
stopped, and a child never outlives the process that started it."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from voicebot.adapters.model_files import resolve_model
from voicebot.adapters.quarantine import ProcessQuarantine
from voicebot.adapters.transcriber import Transcriber
from voicebot.core.domain import FailureReason, Transcript
from voicebot.core.errors import JobError

from helpers import SHARED_AUDIO
from mailbox import wait_until


class KillsItsProcess:
    """A transcriber whose recordings kill the process they are transcribed in, as a poison recording would."""

    def load(self):
        pass

    def transcribe(self, audio, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)


class Hangs:
    """A transcriber stuck in native code: it never returns."""

    def load(self):
        pass

    def transcribe(self, audio, *args, **kwargs):
        time.sleep(3600)


@pytest.fixture
def recording(tmp_path) -> Path:
    path = tmp_path / "voice.ogg"
    path.write_bytes(b"OggS-pretend")
    return path


def test_a_recording_in_quarantine_is_transcribed_as_in_the_bots_own_process():
    jfk = SHARED_AUDIO / "jfk.flac"
    if not jfk.is_file():
        pytest.skip(f"{jfk} is missing")
    model = resolve_model("base")
    quarantine = ProcessQuarantine(Transcriber(model, cpu_threads=1), tries=2, timeout_seconds=120)
    heard = []
    apart = quarantine.transcribe(jfk, on_segment=heard.append)
    own = Transcriber(model, cpu_threads=1)
    own.load()
    try:
        here = own.transcribe(jfk)
    finally:
        own.close()
    assert isinstance(apart, Transcript) and apart.text == here.text and apart.segments == here.segments
    assert tuple(heard) == apart.segments   # live text comes through the pipe as it is recognised


def test_a_recording_that_kills_its_child_every_time_is_given_up_after_the_tries(recording):
    started = time.monotonic()
    with pytest.raises(JobError) as raised:
        ProcessQuarantine(KillsItsProcess(), tries=2, timeout_seconds=60).transcribe(recording)
    assert raised.value.reason is FailureReason.WORKER_CRASHED and "2 times" in str(raised.value)
    assert time.monotonic() - started < 30   # each death is seen at once, not at a timeout


def test_a_child_that_hangs_is_stopped_at_its_deadline(recording):
    started = time.monotonic()
    with pytest.raises(JobError) as raised:
        ProcessQuarantine(Hangs(), tries=2, timeout_seconds=1, start_allowance_seconds=4).transcribe(recording)
    assert raised.value.reason is FailureReason.TIMEOUT   # a timeout, not a crash: not tried again
    assert time.monotonic() - started < 15


def test_a_child_dies_with_the_process_that_started_it(tmp_path, recording):
    """The bot killed while a child transcribes: the child goes too, so no transcription runs for nobody and a
    kill of the bot is never taken for the recording's doing."""
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(f"""
        import os, sys, threading, time
        sys.path[:0] = {sys.path!r}
        import multiprocessing
        from pathlib import Path
        from test_quarantine import Hangs
        from voicebot.adapters.quarantine import ProcessQuarantine
        if __name__ == "__main__":
            quarantine = ProcessQuarantine(Hangs(), tries=1, timeout_seconds=600)
            threading.Thread(target=quarantine.transcribe, args=(Path({str(recording)!r}),), daemon=True).start()
            while not multiprocessing.active_children():
                time.sleep(0.05)
            Path({str(pid_file)!r}).write_text(str(multiprocessing.active_children()[0].pid))
            time.sleep(600)
    """)
    bot = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parent)
    try:
        assert wait_until(pid_file.exists, timeout=60)
        child = int(pid_file.read_text())
        time.sleep(2)   # the child has started its own interpreter and set its death signal
        bot.kill()
        bot.wait(10)
        assert wait_until(lambda: not _alive(child), timeout=10), "the child outlived the bot"
    finally:
        bot.kill()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"   # a zombie waits only for its reaper
