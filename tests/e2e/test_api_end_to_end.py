"""The transcription API beside the bot: `voicebot run` with [api] listen, a key made with `voicebot api key create`,
and the real `openai` client. One bot serves both doors with two workers, for the whole module (one start)."""
import re
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from openai import OpenAI, RateLimitError

from voicebot.sandbox import BotApiSandbox, SandboxUser

from botprocess import TOKEN, RunningBot, environment, voicebot, wait_final, write_config
from helpers import free_port, normalized

pytestmark = pytest.mark.e2e

ALICE = SandboxUser(701, "Alice")
API_BURST = 8   # requests sent at once, ahead of...
VOICES = 3      # ...voices from as many Telegram users, on a bot with 2 workers
KEY_NAME = "e2e-script"
# The Dispatcher's line per job it hands a worker: "job CHAT/MESSAGE (DOOR) goes to WORKER after ..."
STARTED = re.compile(r"job (-?\d+)/(\d+) \((telegram|api)\) goes to ")


@pytest.fixture(scope="module")
def sandbox():
    with BotApiSandbox(TOKEN) as running:
        yield running


@dataclass
class ServedBot:
    bot: RunningBot
    client: OpenAI
    metrics_url: str
    spent: OpenAI   # with a key of no minutes a day
    log: str | None = None   # its stderr, once stopped

    def stop(self) -> str:
        if self.log is None:
            returncode, self.log = self.bot.stop()
            assert returncode == 0, self.log
        return self.log


@pytest.fixture(scope="module")
def served(sandbox, tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    api, metrics = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    config = write_config(folder / "config.toml", sandbox, folder / "bot.db",
                          f'[whisper]\nworkers = 2\n[limits]\nrate_limit_seconds = 0\n[api]\nlisten = "{api}"\n'
                          f'[metrics]\nlisten = "{metrics}"\n')
    secret, spent = _create_key(config, KEY_NAME), _create_key(config, "e2e-spent", "--daily-minutes", "0")
    served = ServedBot(RunningBot(config, folder), _client(api, secret), f"http://{metrics}/metrics",
                       _client(api, spent))
    try:
        # Ready once both workers have their model: only then does a burst find both busy.
        assert _wait(lambda: _sample(served.metrics_url, "voicebot_workers_ready") == 2, 180), "workers not ready"
        yield served
    finally:
        log = served.stop()
        assert "Traceback" not in log and TOKEN.split(":")[1] not in log and "vb-" not in log


def test_the_api_answers_with_the_text_a_telegram_user_gets_for_the_same_file(sandbox, served, speech, tmp_path):
    upload = tmp_path / "voice.ogg"
    upload.write_bytes(speech.voice_note)
    telegram = wait_final(sandbox, ALICE.id, sandbox.send_voice(ALICE, speech.voice_note, speech.duration)).text
    with upload.open("rb") as file:
        text = served.client.audio.transcriptions.create(model="whisper-1", file=file, response_format="text")
    assert text.strip() == telegram
    with upload.open("rb") as file:
        events = list(served.client.audio.transcriptions.create(model="whisper-1", file=file, stream=True))
    # The text as it was heard, then the whole of it: the same words.
    assert [event.type for event in events][-1] == "transcript.text.done" and events[-1].text == telegram
    assert "".join(event.delta for event in events[:-1]).strip() == telegram
    with upload.open("rb") as file:
        verbose = served.client.audio.transcriptions.create(model="whisper-1", file=file,
                                                            response_format="verbose_json",
                                                            timestamp_granularities=["word", "segment"])
    assert speech.words in normalized(" ".join(word.word for word in verbose.words))
    assert all(earlier.start <= later.start for earlier, later in pairwise(verbose.words))
    assert verbose.words[-1].end <= verbose.duration + 0.5


def test_a_key_with_no_minutes_left_is_told_to_come_back_tomorrow(served, speech):
    with pytest.raises(RateLimitError) as refused:
        served.spent.audio.transcriptions.create(model="whisper-1", file=("voice.ogg", speech.voice_note))
    assert refused.value.status_code == 429 and refused.value.code == "insufficient_quota"
    assert 0 < int(refused.value.response.headers["Retry-After"]) <= 24 * 3600   # seconds to the day's end
    assert "daily" in refused.value.message


def test_two_browser_recordings_of_one_key_at_once_are_both_transcribed(served, speech_file, speech, tmp_path):
    # A browser's MediaRecorder WebM states no length in its header (ffmpeg into a pipe writes it alike): the first
    # request must not hold all that is left of the key's day while the second is refused as over its quota.
    source, _, _ = speech_file
    webm = tmp_path / "recording.webm"
    with webm.open("wb") as target:
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(source), "-c:a", "libopus", "-f", "webm",
                        "pipe:1"], stdout=target, check=True, timeout=120)
    answers: list = []

    def request() -> None:
        try:
            answers.append(served.client.audio.transcriptions.create(model="whisper-1", file=webm,
                                                                     response_format="text"))
        except RateLimitError as refused:
            answers.append(refused)

    both = [threading.Thread(target=request) for _ in range(2)]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join(timeout=300)
    assert len(answers) == 2 and all(isinstance(answer, str) for answer in answers), answers
    assert speech.words in normalized(answers[0]) and answers[0] == answers[1]


def test_a_burst_of_requests_and_voices_at_once_are_all_answered_in_turn(sandbox, served, speech, tmp_path):
    upload = tmp_path / "voice.ogg"
    upload.write_bytes(speech.voice_note)
    answers: list[str] = []

    def request() -> None:
        with upload.open("rb") as file:
            answers.append(served.client.audio.transcriptions.create(model="whisper-1", file=file,
                                                                     response_format="text"))

    burst = [threading.Thread(target=request) for _ in range(API_BURST)]
    for thread in burst:
        thread.start()
    # The voices come once the burst fills the queue behind the two workers.
    assert _wait(lambda: _sample(served.metrics_url, "voicebot_queue_length") >= API_BURST - 2, 60)
    users = [SandboxUser(710 + n, f"User {n}") for n in range(VOICES)]
    voices = [(user, sandbox.send_voice(user, speech.voice_note, speech.duration)) for user in users]
    texts = [wait_final(sandbox, user.id, voice, timeout=300).text for user, voice in voices]
    for thread in burst:
        thread.join(timeout=300)
    assert len(answers) == API_BURST and len(set(answers)) == 1 and answers[0].strip() == texts[0]
    assert len(set(texts)) == 1   # every one answered, with the same words

    # The policy's bound, as the Dispatcher handed out the jobs: once the voices wait, each next voice goes to a
    # worker after at most one more request, though more requests came first and still waited.
    started = _started_doors(served.stop(), {user.id for user in users})
    voice_turns = [index for index, door in enumerate(started) if door == "telegram"]
    assert len(voice_turns) == VOICES
    requests_between = [started[before + 1:after].count("api") for before, after in pairwise(voice_turns)]
    assert requests_between and max(requests_between) <= 1, started
    # Requests still waited after the last voice went: the voices did not wait behind the whole burst, as one
    # queue in order of arrival would have made them.
    assert started[voice_turns[-1]:].count("api") >= 1, started


def _create_key(config: Path, name: str, *options: str) -> str:
    """`voicebot api key create NAME`: its secret."""
    create = voicebot("--config", str(config), "api", "key", "create", name, *options, env=environment(),
                      cwd=config.parent)
    secret, stderr = create.communicate(timeout=60)
    assert create.returncode == 0, stderr
    return secret.strip()


def _client(listen: str, secret: str) -> OpenAI:
    return OpenAI(api_key=secret, base_url=f"http://{listen}/v1", max_retries=0, timeout=300)


def _started_doors(log: str, voice_users: set[int]) -> list[str]:
    """The doors of the burst's jobs and the voices, in the order they went to a worker."""
    doors = []
    for chat, _, door in STARTED.findall(log):
        if door == "api" or int(chat) in voice_users:
            doors.append(door)
    return doors[-(API_BURST + VOICES):]


def _sample(url: str, name: str) -> float:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    return sum(float(value) for value in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE))


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except OSError:
            pass   # not listening yet
        time.sleep(0.2)
    return False

