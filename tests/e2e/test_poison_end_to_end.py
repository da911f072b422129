"""A process kill never costs an innocent user their transcript, and a recording that kills the process it is
transcribed in is given up alone: `voicebot run` kept running as a service manager does (started again at once
whenever it dies), SIGKILLed from outside, and fed a recording that truly kills its process (tests/e2e/hooks,
a test hook put on the bot's PYTHONPATH here only)."""
import itertools
import os
import threading
import time
from pathlib import Path

import pytest

from voicebot.core.domain import FailureReason, JobKey
from voicebot.sandbox import SandboxUser
from voicebot.sandbox.harness import environment
from voicebot.sandbox.harness import start_voicebot as voicebot

from botprocess import ENGLISH_WORDING, TOKEN, replies_to, statuses_recorded, stored, wait_final, write_config
from helpers import normalized
from mailbox import wait_until
from media import audio_file

pytestmark = pytest.mark.e2e

HOOKS = Path(__file__).parent / "hooks"
POISON = b"VOICEBOT-E2E-POISON"   # what the hook looks for (tests/e2e/hooks/sitecustomize.py)
USERS = [SandboxUser(801 + n, name) for n, name in enumerate(("Ada", "Ben", "Cleo", "Dev"))]


class KeptRunning:
    """The bot under a service manager with Restart=always: whenever its process dies it is started again at
    once. `deaths` counts the processes that died; kill() is the operator's (or the OOM killer's) SIGKILL."""

    def __init__(self, config: Path, folder: Path):
        self._config, self._folder = config, folder
        self._env = environment(TELEGRAM_BOT_TOKEN=TOKEN, PYTHONPATH=os.pathsep.join(
            [str(HOOKS), *filter(None, [os.environ.get("PYTHONPATH")])]))
        self._logs = itertools.count(1)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.deaths = 0
        self.process = self._start()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def kill(self) -> None:
        with self._lock:
            self.process.kill()
            self.process.wait(30)

    def stop(self) -> int:
        self._stopping.set()
        self._watcher.join()
        self.process.terminate()
        return self.process.wait(90)

    def log(self) -> str:
        return "".join(path.read_text() for path in sorted(self._folder.glob("bot-*.log")))

    def _start(self):
        return voicebot("run", "--config", str(self._config), env=self._env, cwd=self._folder,
                        log=self._folder / f"bot-{next(self._logs):02d}.log")

    def _watch(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                if self.process.poll() is not None:
                    self.deaths += 1
                    self.process = self._start()
            time.sleep(0.1)


@pytest.fixture
def config(tmp_path, sandbox, database):
    return write_config(tmp_path / "config.toml", sandbox, database, """
[whisper]
workers = 2
[limits]
rate_limit_seconds = 0
[quota]
daily_seconds = 3600
""")


@pytest.fixture(scope="module")
def long_note(speech_file, tmp_path_factory) -> tuple[bytes, int]:
    """The speech three times over: long enough to be under way while another recording kills the process."""
    source, _, seconds = speech_file
    return audio_file(source, "ogg", tmp_path_factory.mktemp("long"), repeat=3), seconds * 3


def test_a_recording_that_kills_its_process_is_given_up_alone_and_the_others_are_answered(
        sandbox, config, tmp_path, database, speech, long_note):
    bot = KeptRunning(config, tmp_path)
    try:
        warm = sandbox.send_voice(USERS[3], speech.voice_note, speech.duration)
        wait_final(sandbox, USERS[3].id, warm)   # the models are loaded
        # Both workers busy, so the poison waits its turn with its status stored (a kill between posting a
        # status and storing its id would leave it behind: a window no design closes), then kills the process
        # while Cleo's recording is under way beside it.
        ada = sandbox.send_voice(USERS[0], *long_note)
        assert wait_until(lambda: _starts(database, USERS[0], ada) and statuses_recorded(database), timeout=60)
        cleo = sandbox.send_voice(USERS[2], *long_note)
        assert wait_until(lambda: _starts(database, USERS[2], cleo) and statuses_recorded(database), timeout=60)
        poison = sandbox.send_voice(USERS[1], speech.voice_note + POISON, speech.duration)
        answers = {user.id: wait_final(sandbox, user.id, message_id, timeout=300)
                   for user, message_id in ((USERS[0], ada), (USERS[1], poison), (USERS[2], cleo))}
        time.sleep(3)   # anything sent twice would show by now
    finally:
        assert bot.stop() == 0, bot.log()
    assert bot.deaths == 1, "the poison killed the bot's process once, in its first run, and never again"
    assert answers[USERS[1].id].text == ENGLISH_WORDING.failure(FailureReason.WORKER_CRASHED, 300, 20)
    assert all(speech.words in normalized(answers[user.id].text) for user in (USERS[0], USERS[2]))
    for user, message_id in ((USERS[0], ada), (USERS[1], poison), (USERS[2], cleo)):
        assert len(replies_to(sandbox, user.id, message_id)) == 1
    log = bot.log()
    assert "died (try 2 of 2)" in log and "Traceback" not in log
    with stored(database) as storage:
        assert storage.unfinished_jobs() == []
        assert [row.status for row in storage.usages(USERS[1].id)] == ["worker_crashed"]


def test_under_repeated_sigkills_every_innocent_voice_gets_its_transcript_once(
        sandbox, config, tmp_path, database, speech):
    """Four SIGKILLs in about 30 s, each while voices are being transcribed; the first voice is caught under way
    by all four (its transcription started again after each restart, then killed again)."""
    bot = KeptRunning(config, tmp_path)
    sent = []
    try:
        warm = sandbox.send_voice(USERS[3], speech.voice_note, speech.duration)
        wait_final(sandbox, USERS[3].id, warm)
        started = time.monotonic()
        for round_ in range(4):
            for user in USERS[round_ % 2 * 2:round_ % 2 * 2 + 2]:
                sent.append((user, sandbox.send_voice(user, speech.voice_note, speech.duration)))
            starts = round_ + 1   # the first voice, under way at every kill
            assert wait_until(lambda starts=starts: _starts(database, *sent[0]) >= starts
                              and statuses_recorded(database), timeout=60), (
                f"kill {starts}: the first voice was started {_starts(database, *sent[0])} times\n{bot.log()}")
            bot.kill()
        killed_within = time.monotonic() - started
        answers = [wait_final(sandbox, user.id, message_id, timeout=600) for user, message_id in sent]
        time.sleep(3)
    finally:
        assert bot.stop() == 0, bot.log()
    # How fast the kills came is printed, not asserted: it depends on the machine's load. Each one came with the
    # first voice under way (the loop waited for its starts), which is what the test is about.
    print(f"4 SIGKILLs within {killed_within:.1f} s")
    assert bot.deaths == 4
    assert all(speech.words in normalized(answer.text) for answer in answers), [a.text for a in answers]
    assert all(len(replies_to(sandbox, user.id, message_id)) == 1 for user, message_id in sent)
    with stored(database) as storage:
        assert storage.unfinished_jobs() == []
        statuses = [row.status for user in USERS for row in storage.usages(user.id)]
    assert sorted(statuses) == ["done"] * (len(sent) + 1)


def _starts(database: str, user: SandboxUser, message_id: int) -> int:
    """How many times the job of the user's voice was started so far (0 when it is answered or not stored yet)."""
    with stored(database) as storage:
        return next((job.attempts for job in storage.unfinished_jobs()
                     if job.incoming.job.key == JobKey(user.id, message_id)), 0)
