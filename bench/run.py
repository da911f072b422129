"""voicebot against bare faster-whisper, side by side, on one machine (a benchmark, not a test).

    .venv/bin/python bench/run.py [--quick]

Everything runs in one go on this machine, with the same model (the bundled "base", int8, beam 5)
and the same real speech (../shared/audio/jfk.flac, or espeak-ng speech where it is missing),
sent as Telegram voice notes (OGG/Opus). The bot is `voicebot run` as a real process against
the local Bot API sandbox, with its default whisper settings (but a longer timeout, see
bot_config); the baselines are faster-whisper alone in this process, measured first, while no
bot runs:

  (a) the best bare setup: as many WhisperModels as the bot has workers, one CPU thread each,
      files decoded with faster_whisper.decode_audio and fed to transcribe() from a thread pool;
  (b) what most bots do: one WhisperModel with its default threads, one message after another.

Measured: throughput on short voice notes sent at once by different users, a 60 s and a 5 min
clip (--quick skips the 5 min one), latency on an idle bot, a forwarded voice answered from memory against
its first transcription, admission latency (bench/admission.py),
commands answered per second, memory of the bot process over many messages, and start-up time; and the
transcription API ([api] listen, the `openai` client): one request on an idle bot against bare transcribe() of
the same file, and a burst of requests sent at once with voice notes, each door's median and worst wait.
The bot's time for a workload runs from the first voice note sent to the last transcript
received, as the senders see it. Speed-ups are a baseline's seconds over the bot's.
Prints a table and writes bench/results/<timestamp>.json and .csv (and .png with matplotlib)."""
import argparse
import csv
import difflib
import gc
import itertools
import json
import os
import platform
import queue
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import admission  # noqa: E402  (bench/admission.py: this script's folder is on sys.path)
import ctranslate2  # noqa: E402
import faster_whisper  # noqa: E402
import numpy as np  # noqa: E402
from faster_whisper import WhisperModel, decode_audio  # noqa: E402
from openai import OpenAI  # noqa: E402

from tests.helpers import normalized  # noqa: E402  (the root is on sys.path)
from tests.media import long_passage, sox_wav, wav  # noqa: E402
from voicebot.adapters.model_files import resolve_model  # noqa: E402
from voicebot.adapters.speech import synthesize  # noqa: E402
from voicebot.app.config import Settings, worker_count, worker_threads  # noqa: E402
from voicebot.core.domain import FailureReason  # noqa: E402
from voicebot.core.errors import SpeechError  # noqa: E402
from voicebot.core.replies import Wording  # noqa: E402
from voicebot.sandbox import BotApiSandbox, SandboxEvent, SandboxUser, harness  # noqa: E402

ENGLISH_WORDING = Wording()   # what the bot says in English
JFK = ROOT.parent / "shared" / "audio" / "jfk.flac"
FALLBACK_SPEECH = ("And so, my fellow citizens, ask not what your town can do for you; ask what you can do "
                   "for your town. The library opens at nine and closes at six.")
RESULTS = ROOT / "bench" / "results"
TOKEN = "777000:bench-token"
SETTLE_SECONDS = 1.5  # a transcript over 4096 characters comes as more messages, sent right after the first
MEMORY_CHECKPOINT = 100
MEMORY_WAVE = 25  # sent at once, well under queue.max_pending
COMMAND_USERS = 500
BOT_TIMEOUT_SECONDS = 600
BOT_MAX_SECONDS = 600
FAILURE_REPLIES = tuple(ENGLISH_WORDING.failure(reason, BOT_MAX_SECONDS, Settings().limits.max_file_mb)
                        for reason in FailureReason)
STOP_SECONDS = 60  # SIGTERM first: running jobs get shutdown.grace_seconds (30 s) to finish
API_REQUESTS_AT_ONCE = 8   # the API burst, sent at once with...
API_VOICES_AT_ONCE = 4     # ...these voice notes, each from its own user
API_SINGLE_TRIES = 3       # one request on an idle bot, this many times: the median is reported
# The Dispatcher's line as it hands a job to a worker (actors/dispatcher.py).
HANDED_OUT = re.compile(r"job (-?\d+)/\d+ \((telegram|api)\) goes to \S+ after ([0-9.]+) s in the queue")


# --- what is measured


@dataclass
class Machine:
    cores: int
    cpu_model: str
    ram_gib: float
    load_average_before: float  # the 1-minute load when the run started: other work skews everything
    load_average_after: float = 0.0
    python: str = platform.python_version()
    faster_whisper: str = faster_whisper.__version__
    ctranslate2: str = ctranslate2.__version__


@dataclass
class Setup:
    model: str
    compute_type: str
    beam_size: int
    bot_workers: int
    bot_threads_per_worker: int
    pool_models: int  # (a): one per bot worker, one thread each


@dataclass
class Comparison:
    """One workload done three ways. Speed-ups are the baseline's seconds over the bot's."""
    workload: str
    messages: int
    audio_seconds: float
    bot_seconds: float
    pool_seconds: float        # (a)
    sequential_seconds: float  # (b)
    same_words_as_pool: bool | None  # bot's transcripts word for word (a)'s, whitespace folded; None:
    #                                  (a) sampled (see Text), so not even two runs of (a) need agree
    bot_failures: int  # answered with a failure reply (timeout, unreadable ...) instead of a transcript
    agreement: float | None = None   # the bot's words against (a)'s, in order (difflib), for one clip

    def per_minute(self, seconds: float) -> float:
        return 60 * self.messages / seconds


@dataclass
class Latency:
    """Seconds from the voice note reaching Telegram to what its sender sees."""
    clip: str
    audio_seconds: float
    to_status: float | None
    to_first_text: float | None  # the first "text so far" edit; only recordings over 20 s get them
    to_final: float
    bare_one_thread: float       # the same clip through one (a) model, alone
    bare_default_threads: float  # ... and through (b)


@dataclass
class Forwarded:
    """A voice note transcribed on an idle bot, then forwarded by another user and answered from memory (no
    download, no model): seconds from each send to its transcript, as each sender saw it."""
    clip: str
    first_seconds: float
    forwarded_seconds: float
    same_text: bool

    @property
    def share(self) -> float:
        return self.forwarded_seconds / self.first_seconds


@dataclass
class Unheard:
    """A clip with no speech on it, alone on an idle bot: the time to its answer, against the 11 s speech
    note's alone (as the latency table has it), and the answer."""
    clip: str
    audio_seconds: float
    bot_seconds: float
    speech_note_seconds: float
    reply: str


@dataclass
class Commands:
    users: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.users / self.seconds


@dataclass
class Memory:
    """Resident memory of the bot process and its children, MiB, read from /proc."""
    messages: int
    idle_peak: float  # loading the models in parallel peaks higher than they stay
    idle_rss: float
    peak_at_checkpoint: float  # VmHWM after MEMORY_CHECKPOINT messages
    rss_at_checkpoint: float
    peak_at_end: float
    rss_at_end: float

    @property
    def growth(self) -> float:
        return self.rss_at_end - self.rss_at_checkpoint


@dataclass
class DoorWaits:
    """One door's senders, all at once with the other door's: seconds from sending to the answer as each sender
    saw it, and in the bot's queue (its log: admission to a worker taking the job), median and worst."""
    door: str
    senders: int
    answer_median: float
    answer_worst: float
    queue_median: float
    queue_worst: float


@dataclass
class ApiFigures:
    """The transcription API: one request on an idle bot (median of API_SINGLE_TRIES, sent to answered) against
    bare transcribe() of the same file by one (a) model, and a burst of both doors at once."""
    clip: str
    request_seconds: float
    bare_seconds: float
    same_text_as_telegram: bool
    doors: list[DoorWaits] = field(default_factory=list)


@dataclass
class Results:
    started_at: str
    quick: bool
    machine: Machine
    setup: Setup
    throughput: list[Comparison] = field(default_factory=list)
    latency: list[Latency] = field(default_factory=list)
    unheard: list[Unheard] = field(default_factory=list)
    forwarded: Forwarded | None = None
    phrases_kept: dict[str, str] = field(default_factory=dict)   # workload -> "k of n" phrases in the transcript
    admission_us: dict[str, tuple[float, float]] = field(default_factory=dict)  # path -> (p50, p99)
    commands: Commands | None = None
    memory: Memory | None = None
    startup_seconds: list[float] = field(default_factory=list)  # one per bot process started
    api: ApiFigures | None = None
    transcripts: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # workload -> bot/pool texts
    errors: dict[str, str] = field(default_factory=dict)  # part -> what went wrong; the other parts still ran


# --- the machine and the clips


def machine() -> Machine:
    cpu = next((line.split(":", 1)[1].strip() for line in _proc_lines("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor() or "unknown")
    ram_kib = next((int(line.split()[1]) for line in _proc_lines("/proc/meminfo")
                    if line.startswith("MemTotal:")), 0)
    return Machine(os.cpu_count() or 1, cpu, round(ram_kib / 2**20, 1), os.getloadavg()[0])


def _proc_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path  # OGG/Opus 48 kHz mono, as Telegram voice notes are
    seconds: float

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @property
    def duration(self) -> int:
        """What the sender's app reports."""
        return max(1, round(self.seconds))


def speech_source(folder: Path) -> Path:
    if JFK.is_file():
        return JFK
    print(f"{JFK} is missing: using espeak-ng speech instead", file=sys.stderr)
    try:
        spoken = synthesize(FALLBACK_SPEECH, words_per_minute=150)
    except SpeechError as error:
        sys.exit(f"bench: no speech to use: {error}")
    source = folder / "speech.wav"
    source.write_bytes(spoken)
    return source


PHRASES = ("the river is wide and cold", "please open the kitchen window", "my brother plays the piano")
PAUSE_SECONDS = 25
NOTHING = {"silence 20 s": ("20", "sine", "0"), "pink noise 15 s": ("15", "pinknoise", "vol", "0.3"),
           "hum 50 Hz 15 s": ("15", "sine", "50", "vol", "0.5"), "tones 15 s": ("15", "sine", "440:880", "vol", "0.3"),
           "brown noise 15 s": ("15", "brownnoise", "vol", "0.3")}


def pause_note(folder: Path) -> Clip:
    """Three espeak-ng phrases with PAUSE_SECONDS of silence between them, as a voice note."""
    silence = np.zeros(PAUSE_SECONDS * 16000, dtype=np.float32)
    parts = []
    for phrase in PHRASES:
        (folder / "phrase.wav").write_bytes(synthesize(phrase))
        parts += [decode_audio(str(folder / "phrase.wav")), silence]
    return _clip_of(np.concatenate(parts[:-1]), folder, "3 phrases, 25 s pauses")


def passage_note(folder: Path) -> Clip:
    """About three minutes of espeak-ng speech with a known text: sentences, none repeated."""
    text = long_passage(2300)
    (folder / "passage.wav").write_bytes(synthesize(text, words_per_minute=150))
    return voice_note(folder / "passage.wav", folder, "3 min of speech")


def nothing_notes(folder: Path) -> list[Clip]:
    """sox's silence, noise, hum and tones as voice notes."""
    clips = []
    for name, synth in NOTHING.items():
        target = folder / f"{name.replace(' ', '-')}.wav"
        seconds, *sound = synth
        target.write_bytes(sox_wav(float(seconds), *sound))
        clips.append(voice_note(target, folder, name))
    return clips


def _clip_of(samples: np.ndarray, folder: Path, name: str) -> Clip:
    target = folder / f"{name.replace(' ', '-')}.wav"
    target.write_bytes(wav(samples))
    return voice_note(target, folder, name)


def voice_note(source: Path, folder: Path, name: str, *, tempo: float = 1.0, seconds: float | None = None) -> Clip:
    """The speech as a voice note: played at `tempo`, or looped and cut to `seconds`."""
    target = folder / f"{name}.ogg"
    shape = ["-stream_loop", "-1", "-i", str(source), "-t", str(seconds)] if seconds else [
        "-i", str(source), "-filter:a", f"atempo={tempo}"]
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *shape, "-ac", "1", "-ar", "48000", "-c:a", "libopus",
                    "-b:a", "24k", str(target)], check=True, timeout=300)
    return Clip(name, target, len(decode_audio(str(target))) / 16000)


# --- (a) and (b): faster-whisper on its own


@dataclass(frozen=True)
class Text:
    text: str
    # A window failed transcribe()'s quality checks and was decoded again by random sampling
    # (temperature fallback), as Whisper does on repeated speech: no two runs need agree then.
    sampled: bool


class BareWhisper:
    """The baselines' models, loaded and warmed up before any timing, as the bot's are."""

    def __init__(self, model_path: str, setup: Setup):
        self._beam_size = setup.beam_size

        def load(threads: int) -> WhisperModel:
            return WhisperModel(model_path, device="cpu", compute_type=setup.compute_type, cpu_threads=threads)

        self.pool = [load(1) for _ in range(setup.pool_models)]
        self.default = load(0)  # 0: CTranslate2 picks the thread count, as WhisperModel's default does
        silence = np.zeros(16000, dtype=np.float32)
        for model in [*self.pool, self.default]:
            list(model.transcribe(silence, beam_size=self._beam_size, language="en")[0])

    def close(self) -> None:
        # CTranslate2 aborts the process if a model is still alive when the interpreter tears down.
        self.pool, self.default = [], None
        gc.collect()

    def transcribe(self, model: WhisperModel, clip: Clip) -> Text:
        segments, _ = model.transcribe(decode_audio(str(clip.path)), beam_size=self._beam_size)
        segments = list(segments)
        return Text("".join(segment.text for segment in segments).strip(),
                    any(segment.temperature > 0 for segment in segments))

    def pooled(self, clips: list[Clip]) -> tuple[float, list[Text]]:
        """(a): every clip submitted at once; each thread borrows an idle model."""
        idle: queue.SimpleQueue = queue.SimpleQueue()
        for model in self.pool:
            idle.put(model)

        def one(clip: Clip) -> Text:
            model = idle.get()
            try:
                return self.transcribe(model, clip)
            finally:
                idle.put(model)

        started = time.perf_counter()
        with ThreadPoolExecutor(len(self.pool)) as threads:
            texts = list(threads.map(one, clips))
        return time.perf_counter() - started, texts

    def sequential(self, clips: list[Clip]) -> tuple[float, list[Text]]:
        """(b): one model, one message after another."""
        started = time.perf_counter()
        texts = [self.transcribe(self.default, clip) for clip in clips]
        return time.perf_counter() - started, texts


@dataclass
class BareTimes:
    """Everything the baselines are needed for, measured before any bot runs."""
    batch: tuple[float, list[Text]]
    batch_sequential: tuple[float, list[Text]]
    single: dict[str, tuple[float, list[Text]]]             # clip name -> (a) with one model, one thread
    single_default: dict[str, tuple[float, list[Text]]]     # clip name -> (b)


def measure_bare(model_path: str, setup: Setup, batch: list[Clip], singles: list[Clip]) -> BareTimes:
    bare = BareWhisper(model_path, setup)
    try:
        return BareTimes(bare.pooled(batch), bare.sequential(batch),
                         {clip.name: bare.pooled([clip]) for clip in singles},
                         {clip.name: bare.sequential([clip]) for clip in singles})
    finally:
        bare.close()


# --- the bot: a process against the sandbox


def write_config(folder: Path, sandbox: BotApiSandbox, database: str | Path, extra: str = "",
                 limits: str = "") -> Path:
    """FOLDER/config.toml for a bench bot: no rate limit and no overall pace, which would measure
    Telegram's limits, not the bot; the bot's own long-poll timeout. `extra`: further sections;
    `limits`: further keys of [limits]; both as TOML text."""
    return harness.write_config(folder / "config.toml", sandbox.url, database, poll_timeout_seconds=None,
                                telegram="max_messages_per_second = 1000",
                                extra=f"[limits]\nrate_limit_seconds = 0\n{limits}\n{extra}")


def bot_config(folder: Path, sandbox: BotApiSandbox) -> Path:
    # Default whisper settings but the timeout, so that a slow machine still gives a time for the
    # 5 min clip (the table notes when it ran over the default); 600 s as the longest recording
    # because the 5 min clip decodes to a few milliseconds over the default 300 s cap.
    return write_config(folder, sandbox, folder / "bot.db", f"[whisper]\ntimeout_seconds = {BOT_TIMEOUT_SECONDS}",
                        limits=f"max_duration_seconds = {BOT_MAX_SECONDS}")


@contextmanager
def running_bot(sandbox: BotApiSandbox, folder: Path, config: Path | None = None) -> Iterator[subprocess.Popen]:
    """`voicebot run` in its own folder (with bot_config unless `config`); stopped however the block ends
    (SIGTERM, then kill)."""
    with voicebot_process(folder, config or bot_config(folder, sandbox), "run") as process:
        yield process


@contextmanager
def voicebot_process(folder: Path, config: Path, command: str) -> Iterator[subprocess.Popen]:
    """`voicebot COMMAND --config CONFIG` with the bench token, its log in FOLDER/COMMAND.log;
    stopped however the block ends (SIGTERM, then kill)."""
    log_path = log_file(folder, command)
    process = harness.start_voicebot(command, "--config", str(config), cwd=folder, log=log_path,
                                     env=harness.environment(TELEGRAM_BOT_TOKEN=TOKEN))
    try:
        yield process
    except BaseException:
        print(f"bench: the log of voicebot {command} ends with:\n{_tail(log_path)}", file=sys.stderr)
        raise
    finally:
        harness.stop(process, STOP_SECONDS, kill=True)


def log_file(folder: Path, command: str) -> Path:
    return folder / f"{command}.log"


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class ChatLog:
    """What the sandbox saw happen, by chat, with times. The sandbox calls the listener under its
    lock, so recording only appends; wait_for predicates run under the same lock."""

    def __init__(self, sandbox: BotApiSandbox):
        self._sandbox = sandbox
        self._events: dict[int, list[SandboxEvent]] = {}
        sandbox.add_listener(self._record)

    def _record(self, event: SandboxEvent) -> None:
        self._events.setdefault(event.chat_id, []).append(event)

    def bot_events(self, chat_id: int, since: float) -> list[SandboxEvent]:
        return [event for event in self._events.get(chat_id, ())
                if event.at >= since and event.kind in ("bot_message", "bot_edit")]

    def first_reply_at(self, chat_id: int, since: float) -> float | None:
        return next((event.at for event in self.bot_events(chat_id, since)), None)

    def wait(self, predicate, timeout: float, what: str) -> None:
        if not self._sandbox.wait_for(predicate, timeout):
            raise RuntimeError(f"gave up after {timeout:.0f} s waiting for {what}")


@dataclass
class Answer:
    """A voice note's replies, as its sender saw them arrive."""
    sent_at: float
    status_at: float | None
    first_text_at: float | None
    final_at: float | None  # the last part of the transcript
    text: str


def answer(log: ChatLog, chat_id: int, sent_at: float) -> Answer:
    events = log.bot_events(chat_id, sent_at)
    status = next((event.at for event in events if ENGLISH_WORDING.is_status(event.text)), None)
    text_so_far = next((event.at for event in events if event.text.startswith(ENGLISH_WORDING.PROCESSING + "\n")), None)
    finals = [event for event in events if not ENGLISH_WORDING.is_status(event.text)]
    return Answer(sent_at, status, text_so_far, finals[-1].at if finals else None,
                  " ".join(event.text for event in finals))


class Users:
    """A new user (and so a new private chat) for every message: no quota or pace is shared."""

    def __init__(self):
        self._ids = itertools.count(10_000)

    def next(self) -> SandboxUser:
        user_id = next(self._ids)
        return SandboxUser(user_id, f"user{user_id}")


def send_voices(sandbox: BotApiSandbox, log: ChatLog, users: Users, clips: list[Clip],
                timeout: float) -> list[Answer]:
    """Sends every clip at once, each from a new user; waits for every final transcript."""
    sent = []
    for clip in clips:
        user = users.next()
        sent.append((user.id, time.monotonic()))
        sandbox.send_voice(user, clip.data, clip.duration)

    def all_final() -> bool:
        return all(answer(log, chat, at).final_at is not None for chat, at in sent)

    log.wait(all_final, timeout, f"{len(clips)} transcripts")
    time.sleep(SETTLE_SECONDS)
    return [answer(log, chat, at) for chat, at in sent]


@contextmanager
def started_bot(sandbox: BotApiSandbox, log: ChatLog, users: Users, folder: Path,
                config: Path | None = None) -> Iterator[tuple[subprocess.Popen, float]]:
    """The bot, started with a /start already waiting, and the seconds until it answered that:
    imports, database, the workers' models loaded (in parallel) and warmed up, the first poll."""
    user = users.next()
    sandbox.send_text(user, "/start")
    started = time.monotonic()
    with running_bot(sandbox, folder, config) as process:
        log.wait(lambda: log.first_reply_at(user.id, started) is not None or process.poll() is not None,
                 300, "the answer to /start")
        if process.poll() is not None:
            raise RuntimeError(f"the bot exited with code {process.returncode}")
        yield process, log.first_reply_at(user.id, started) - started


# --- the measurements


def bot_throughput(sandbox: BotApiSandbox, log: ChatLog, users: Users, workload: str, clips: list[Clip],
                   pooled: tuple[float, list[Text]], sequential: tuple[float, list[Text]],
                   results: Results) -> tuple[Comparison, list[Answer]]:
    """The clips sent at once; the bot's time runs from the first send to the last final reply."""
    answers = send_voices(sandbox, log, users, clips, timeout=120 + 3 * sum(clip.seconds for clip in clips))
    bot_seconds = max(a.final_at for a in answers) - min(a.sent_at for a in answers)
    bot_texts = [a.text for a in answers]
    pool_texts = [text.text for text in pooled[1]]
    results.transcripts[workload] = {"bot": bot_texts, "pool": pool_texts,
                                     "sequential": [text.text for text in sequential[1]]}
    same = None if any(text.sampled for text in pooled[1]) else (
        [_words(text) for text in bot_texts] == [_words(text) for text in pool_texts])
    failures = sum(text.startswith(FAILURE_REPLIES) for text in bot_texts)
    comparison = Comparison(workload, len(clips), round(sum(clip.seconds for clip in clips), 1), bot_seconds,
                            pooled[0], sequential[0], same, failures)
    return comparison, answers


def _words(text: str) -> str:
    return " ".join(text.split())


def bot_latency(sent: Answer, clip: Clip, bare: BareTimes) -> Latency:
    def since_sent(at: float | None) -> float | None:
        return None if at is None else at - sent.sent_at

    return Latency(f"{clip.seconds:.0f} s voice note", round(clip.seconds, 1), since_sent(sent.status_at),
                   since_sent(sent.first_text_at), since_sent(sent.final_at),
                   bare.single[clip.name][0], bare.single_default[clip.name][0])


def forwarded_voice(sandbox: BotApiSandbox, log: ChatLog, users: Users, clip: Clip) -> Forwarded:
    """One user sends the clip; once its transcript is out, another forwards that voice (same file_id and
    file_unique_id, as Telegram keeps them) and is answered from memory. Both alone on an idle bot."""
    first_user, second_user = users.next(), users.next()
    sent_at = time.monotonic()
    voice = sandbox.send_voice(first_user, clip.data, clip.duration)
    log.wait(lambda: answer(log, first_user.id, sent_at).final_at is not None, 120, "the first transcript")
    time.sleep(SETTLE_SECONDS)   # its usage row, which the copy is answered from, is written meanwhile
    forwarded_at = time.monotonic()
    sandbox.forward_message(second_user, voice, from_chat_id=first_user.id)
    log.wait(lambda: answer(log, second_user.id, forwarded_at).final_at is not None, 120, "the forwarded answer")
    first, copy = answer(log, first_user.id, sent_at), answer(log, second_user.id, forwarded_at)
    return Forwarded(f"{clip.seconds:.0f} s voice note", first.final_at - first.sent_at,
                     copy.final_at - copy.sent_at, copy.text == first.text)


def commands_per_second(sandbox: BotApiSandbox, log: ChatLog, users: Users, count: int) -> Commands:
    """`count` users send /usage at once: how fast the bot answers updates that need no model."""
    senders = [users.next() for _ in range(count)]
    started = time.monotonic()
    for user in senders:
        sandbox.send_text(user, "/usage")
    log.wait(lambda: all(log.first_reply_at(user.id, started) is not None for user in senders), 300,
             f"{count} answers to /usage")
    return Commands(count, max(log.first_reply_at(user.id, started) for user in senders) - started)


def admission_latency(quick: bool) -> dict[str, tuple[float, float]]:
    random.seed(1)
    users = admission.known_users(10_000)
    decisions = 2_000 if quick else 20_000
    return {"decision (QuotaActor.admit)": admission.percentiles(admission.direct(users, decisions)),
            "mailbox trip (tell -> JobAdmitted)": admission.percentiles(admission.through_mailbox(users, decisions))}


def resident_mib(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of a process plus its children, in MiB. The children's peaks are summed,
    which overstates a peak they did not reach together; voicebot starts none today."""
    peak = rss = 0.0
    for process in [pid, *_descendants(pid)]:
        fields = dict(line.split(":", 1) for line in _proc_lines(f"/proc/{process}/status") if ":" in line)
        peak += int(fields.get("VmHWM", "0 kB").split()[0]) / 1024
        rss += int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
    return round(peak, 1), round(rss, 1)


def _descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass  # the thread ended meanwhile, or this is no Linux
    return children + [grandchild for child in children for grandchild in _descendants(child)]


def memory_over_messages(sandbox, log, users, process: subprocess.Popen, clip: Clip, total: int) -> Memory:
    idle = resident_mib(process.pid)
    at_checkpoint = None
    for sent in range(0, total, MEMORY_WAVE):
        wave = min(MEMORY_WAVE, total - sent)
        send_voices(sandbox, log, users, [clip] * wave, timeout=60 + 10 * wave)
        if at_checkpoint is None and sent + wave >= MEMORY_CHECKPOINT:
            at_checkpoint = resident_mib(process.pid)
        print(f"  memory: {sent + wave}/{total} messages", file=sys.stderr)
    at_end = resident_mib(process.pid)
    return Memory(total, *idle, *at_checkpoint, *at_end)


# --- the run


def run(quick: bool) -> Results:
    settings = Settings()
    whisper = settings.whisper
    setup = Setup(whisper.model, whisper.compute_type, whisper.beam_size, worker_count(settings),
                  worker_threads(settings), worker_count(settings))
    results = Results(datetime.now().isoformat(timespec="seconds"), quick, machine(), setup)
    with tempfile.TemporaryDirectory(prefix="voicebot-bench-") as temporary:
        folder = Path(temporary)
        step("making the clips")
        source = speech_source(folder)
        # Different tempos give distinct clips of real speech; looping would repeat the words, and
        # Whisper decodes repeated text by random sampling (see Text), which no two runs share.
        short = [voice_note(source, folder, f"short-{tempo}", tempo=tempo) for tempo in (1.0, 0.8, 1.2, 0.9)]
        once = short[0]
        batch = [short[number % len(short)] for number in range(4 if quick else 12)]
        long = [voice_note(source, folder, "60 s", seconds=60)]
        if not quick:
            long.append(voice_note(source, folder, "5 min", seconds=300))
        tiny = voice_note(source, folder, "tiny", seconds=3)
        # How the bot listens: pauses it need not hear, recordings with nothing to hear, speech it splits.
        pauses, passage, nothing = pause_note(folder), passage_note(folder), nothing_notes(folder)

        step("bare faster-whisper: (a) a pool of one-thread models, (b) one model with default threads")
        bare = measure_bare(resolve_model(whisper.model), setup, batch, [once, *long, pauses, passage])
        with part(results, "admission"):
            step("admission latency (bench/admission.py)")
            results.admission_us = admission_latency(quick)
        with part(results, "bot"):
            step("the bot: start-up, throughput, latency, commands")
            bot_run(results, batch, once, long, bare, folder / "bot", Listening(pauses, passage, nothing))
        with part(results, "api"):
            step("the transcription API: one request against bare transcribe(), then both doors at once")
            results.api = api_run(once, bare, folder / "api")
        with part(results, "memory"):
            step("the bot again: memory over many short messages")
            memory_run(results, tiny, 120 if quick else 300, folder / "memory")
    results.machine.load_average_after = os.getloadavg()[0]
    return results


@contextmanager
def part(results: Results, name: str) -> Iterator[None]:
    """A part that fails is reported, and the others still run: a long run is not lost to one."""
    try:
        yield
    except Exception as error:  # noqa: BLE001
        results.errors[name] = f"{type(error).__name__}: {error}"
        print(f"bench: {name} failed: {results.errors[name]}", file=sys.stderr)


@dataclass
class Listening:
    """The clips about what the bot hears (see run)."""
    pauses: Clip
    passage: Clip
    nothing: list[Clip]


def bot_run(results: Results, batch: list[Clip], short: Clip, long: list[Clip], bare: BareTimes,
            folder: Path, listening: Listening) -> None:
    folder.mkdir()
    users = Users()
    with BotApiSandbox(TOKEN) as sandbox:
        log = ChatLog(sandbox)
        with started_bot(sandbox, log, users, folder) as (_, startup):
            results.startup_seconds.append(startup)
            seconds = [clip.seconds for clip in batch]
            workload = f"{len(batch)} voice notes of {min(seconds):.0f}-{max(seconds):.0f} s"
            comparison, _ = bot_throughput(sandbox, log, users, workload, batch, bare.batch,
                                           bare.batch_sequential, results)
            results.throughput.append(comparison)
            # Each of these starts on an idle bot: the one before it was answered.
            [alone] = send_voices(sandbox, log, users, [short], timeout=120)
            results.latency.append(bot_latency(alone, short, bare))
            results.forwarded = forwarded_voice(sandbox, log, users, short)
            for clip in long:
                comparison, [alone] = bot_throughput(sandbox, log, users, f"one {clip.name} clip", [clip],
                                                     bare.single[clip.name], bare.single_default[clip.name],
                                                     results)
                results.throughput.append(comparison)
                if clip is long[0]:
                    results.latency.append(bot_latency(alone, clip, bare))
            listen(sandbox, log, users, listening, bare, results)
            results.commands = commands_per_second(sandbox, log, users, COMMAND_USERS)


def listen(sandbox: BotApiSandbox, log: ChatLog, users: Users, listening: Listening, bare: BareTimes,
           results: Results) -> None:
    """Each alone on an idle bot: the pause note and the long passage against bare transcribe() with one
    thread (a) and all cores (b), and the clips without speech against the 11 s speech note."""
    for clip in (listening.pauses, listening.passage):
        workload = f"one note: {clip.name}"
        comparison, [alone] = bot_throughput(sandbox, log, users, workload, [clip], bare.single[clip.name],
                                             bare.single_default[clip.name], results)
        comparison.agreement = _agreement(alone.text, bare.single[clip.name][1][0].text)
        results.throughput.append(comparison)
        if clip is listening.pauses:
            results.phrases_kept[workload] = _phrases_kept(alone.text)
    speech_note = next(lat.to_final for lat in results.latency if lat.audio_seconds < 20)
    for clip in listening.nothing:
        [alone] = send_voices(sandbox, log, users, [clip], timeout=120)
        results.unheard.append(Unheard(clip.name, round(clip.seconds, 1), alone.final_at - alone.sent_at,
                                       speech_note, alone.text))


def _phrases_kept(text: str) -> str:
    """How many of PHRASES the transcript holds (most of a phrase's words, in any case and punctuation), and
    how many of all their words."""
    heard = set(normalized(text).split())
    found = [sum(word in heard for word in phrase.split()) for phrase in PHRASES]
    kept = sum(count >= 0.75 * len(phrase.split()) for count, phrase in zip(found, PHRASES, strict=True))
    return f"{kept} of {len(PHRASES)} (words: {sum(found)} of {sum(len(p.split()) for p in PHRASES)})"


def _agreement(text: str, reference: str) -> float:
    """The share of words two transcripts have in common, in order; case and punctuation aside."""
    return difflib.SequenceMatcher(None, normalized(reference).split(), normalized(text).split(),
                                   autojunk=False).ratio()


def api_run(clip: Clip, bare: BareTimes, folder: Path) -> ApiFigures:
    """A bot serving the API (a key made with the CLI): one request at a time on the idle bot, then
    API_REQUESTS_AT_ONCE requests and API_VOICES_AT_ONCE voice notes sent at once."""
    folder.mkdir()
    users = Users()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        listen = f"127.0.0.1:{probe.getsockname()[1]}"
    with BotApiSandbox(TOKEN) as sandbox:
        log = ChatLog(sandbox)
        config = write_config(folder, sandbox, folder / "bot.db", f'[api]\nlisten = "{listen}"\n'
                              f"[whisper]\ntimeout_seconds = {BOT_TIMEOUT_SECONDS}")
        secret = subprocess.run([sys.executable, "-m", "voicebot", "--config", str(config), "api", "key", "create",
                                 "bench"], cwd=folder, env=harness.environment(), capture_output=True, text=True,
                                check=True).stdout.strip()
        client = OpenAI(api_key=secret, base_url=f"http://{listen}/v1", max_retries=0, timeout=BOT_TIMEOUT_SECONDS)
        with started_bot(sandbox, log, users, folder, config):
            singles = [_api_request(client, clip) for _ in range(API_SINGLE_TRIES)]
            [voice] = send_voices(sandbox, log, users, [clip], timeout=120)
            doors = both_doors(sandbox, log, users, client, clip)
    # The bot has stopped: its log is whole. The burst's jobs are its last ones of each door.
    handed_out = HANDED_OUT.findall(log_file(folder, "run").read_text(errors="replace"))
    for door in doors:
        waits = [float(seconds) for _, name, seconds in handed_out if name == door.door][-door.senders:]
        door.queue_median, door.queue_worst = statistics.median(waits), max(waits)
    return ApiFigures(f"{clip.seconds:.0f} s voice note", statistics.median(seconds for seconds, _ in singles),
                      bare.single[clip.name][0], all(text.strip() == voice.text for _, text in singles), doors)


def _api_request(client: OpenAI, clip: Clip) -> tuple[float, str]:
    """(seconds from sending to the answer, its text)."""
    started = time.monotonic()
    text = client.audio.transcriptions.create(model="whisper-1", file=(f"{clip.name}.ogg", clip.data),
                                              response_format="text")
    return time.monotonic() - started, text


def both_doors(sandbox: BotApiSandbox, log: ChatLog, users: Users, client: OpenAI, clip: Clip) -> list[DoorWaits]:
    """The API burst and the voice notes sent at once; each sender's seconds to its answer."""
    api_seconds: list[float] = []
    burst = [threading.Thread(target=lambda: api_seconds.append(_api_request(client, clip)[0]))
             for _ in range(API_REQUESTS_AT_ONCE)]
    for thread in burst:
        thread.start()
    answers = send_voices(sandbox, log, users, [clip] * API_VOICES_AT_ONCE, timeout=BOT_TIMEOUT_SECONDS)
    for thread in burst:
        thread.join(BOT_TIMEOUT_SECONDS)
    if len(api_seconds) != API_REQUESTS_AT_ONCE:
        raise RuntimeError(f"{API_REQUESTS_AT_ONCE - len(api_seconds)} API requests got no answer")
    voice_seconds = [answer.final_at - answer.sent_at for answer in answers]
    return [DoorWaits(door, len(seconds), statistics.median(seconds), max(seconds), 0.0, 0.0)
            for door, seconds in (("api", api_seconds), ("telegram", voice_seconds))]


def memory_run(results: Results, clip: Clip, total: int, folder: Path) -> None:
    folder.mkdir()
    users = Users()
    with BotApiSandbox(TOKEN) as sandbox:
        log = ChatLog(sandbox)
        with started_bot(sandbox, log, users, folder) as (process, startup):
            results.startup_seconds.append(startup)
            results.memory = memory_over_messages(sandbox, log, users, process, clip, total)


def step(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


# --- the output


def table(results: Results) -> str:
    m, s = results.machine, results.setup
    lines = [f"voicebot bench {results.started_at}{' (quick)' if results.quick else ''}: {m.cores} cores, "
             f"{m.cpu_model}, {m.ram_gib} GiB; load average {m.load_average_before:.2f} before, "
             f"{m.load_average_after:.2f} after",
             f"model {s.model} {s.compute_type}, beam {s.beam_size}; bot: {s.bot_workers} workers x "
             f"{s.bot_threads_per_worker} thread(s); (a) {s.pool_models} models x 1 thread, thread pool; "
             f"(b) 1 model, default threads, one after another", ""]
    lines += _throughput_table(results.throughput) + [""]
    lines += _latency_table(results.latency) + [""]
    if results.forwarded:
        lines += [_forwarded_row(results.forwarded), ""]
    if results.unheard:
        lines += _unheard_table(results.unheard) + [""]
    lines += [f"{workload}: {kept} phrases in the bot's transcript" for workload, kept in results.phrases_kept.items()]
    lines += [f"{c.workload}: the bot's words agree {c.agreement:.1%} with (a)'s" for c in results.throughput
              if c.agreement is not None] + [""]
    if results.admission_us:
        lines.append(f"{'admission, 10,000 known users':<40}{'p50 µs':>10}{'p99 µs':>10}")
        lines += [f"  {path:<38}{p50:>10.1f}{p99:>10.1f}" for path, (p50, p99) in results.admission_us.items()]
        lines.append("")
    if results.commands:
        c = results.commands
        lines.append(f"commands: {c.users} users send /usage at once: all answered in {c.seconds:.2f} s, "
                     f"{c.per_second:.0f} updates/s")
    if results.memory:
        mem = results.memory
        lines.append(f"memory of `voicebot run` ({s.bot_workers} workers), MiB: started, peak {mem.idle_peak:.0f}, "
                     f"resident {mem.idle_rss:.0f}; after "
                     f"{MEMORY_CHECKPOINT} messages peak {mem.peak_at_checkpoint:.0f}, resident "
                     f"{mem.rss_at_checkpoint:.0f}; after {mem.messages}: peak {mem.peak_at_end:.0f}, resident "
                     f"{mem.rss_at_end:.0f} (growth {mem.growth:+.0f} MiB over {mem.messages - MEMORY_CHECKPOINT})")
    if results.api:
        lines += _api_lines(results.api)
    if results.startup_seconds:
        lines.append("start-up, process start to the answer to /start: "
                     + ", ".join(f"{seconds:.1f} s" for seconds in results.startup_seconds))
    lines += [f"FAILED {name}: {error}" for name, error in results.errors.items()]
    return "\n".join(lines)


def _api_lines(api: ApiFigures) -> list[str]:
    lines = [f"API, one request on an idle bot ({api.clip}): {api.request_seconds:.2f} s sent to answered; bare "
             f"transcribe() (a) {api.bare_seconds:.2f} s ({api.request_seconds / api.bare_seconds:.2f}x); "
             f"{'same' if api.same_text_as_telegram else 'NOT the same'} text as the Telegram answer",
             f"{'both doors at once, seconds:':<36}{'answer p50':>11}{'worst':>8}{'queue p50':>11}{'worst':>8}"]
    lines += [f"  {door.senders:>2} {door.door:<31}{door.answer_median:>11.2f}{door.answer_worst:>8.2f}"
              f"{door.queue_median:>11.2f}{door.queue_worst:>8.2f}" for door in api.doors]
    return lines + [""]


def _throughput_table(comparisons: list[Comparison]) -> list[str]:
    lines = [f"{'':<30}{'':>5}{'':>8}{'seconds':^24}{'messages/minute':^24}{'bot speed-up':^16}{'same words':>11}",
             f"{'throughput':<30}{'msgs':>5}{'audio s':>8}" + f"{'bot':>8}{'(a)':>8}{'(b)':>8}" * 2
             + f"{'vs (a)':>8}{'vs (b)':>8}{'as (a)':>11}"]
    for c in comparisons:
        seconds = (c.bot_seconds, c.pool_seconds, c.sequential_seconds)
        lines.append(f"{c.workload:<30}{c.messages:>5}{c.audio_seconds:>8.0f}"
                     + "".join(f"{value:>8.1f}" for value in seconds)
                     + "".join(f"{c.per_minute(value):>8.1f}" for value in seconds)
                     + f"{c.pool_seconds / c.bot_seconds:>7.2f}x{c.sequential_seconds / c.bot_seconds:>7.2f}x"
                     + f"{_same(c.same_words_as_pool) if not c.bot_failures else f'{c.bot_failures} FAILED':>11}")
    default_timeout = Settings().whisper.timeout_seconds
    lines += [f"note: the bot took {c.bot_seconds:.0f} s on the {c.workload}, over the default "
              f"whisper.timeout_seconds ({default_timeout} s, {BOT_TIMEOUT_SECONDS} s here): "
              "with the defaults it would have answered with a timeout"
              for c in comparisons if c.messages == 1 and c.bot_seconds > default_timeout]
    return lines


def _forwarded_row(f: Forwarded) -> str:
    return (f"{'forwarded, from memory':<30}{f.forwarded_seconds:>8.3f} s against {f.first_seconds:.2f} s for the "
            f"first transcription of the {f.clip} ({f.share:.1%}){'' if f.same_text else ', TEXT DIFFERS'}")


def _unheard_table(unheard: list[Unheard]) -> list[str]:
    lines = [f"{'no speech, idle bot':<30}{'audio s':>8}{'answer s':>9}{'÷ 11 s note':>12}  reply"]
    lines += [f"{u.clip:<30}{u.audio_seconds:>8.0f}{u.bot_seconds:>9.2f}{u.bot_seconds / u.speech_note_seconds:>11.2f}x"
              f"  {u.reply[:60]!r}" for u in unheard]
    return lines


def _same(same: bool | None) -> str:
    return "sampled" if same is None else "yes" if same else "NO"


def _maybe(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"


def _latency_table(latencies: list[Latency]) -> list[str]:
    lines = [f"{'latency, idle bot, seconds':<30}{'audio s':>8}{'status':>8}{'1st text':>9}{'final':>8}"
             f"{'bare (a)':>10}{'bare (b)':>10}"]
    for lat in latencies:
        lines.append(f"{lat.clip:<30}{lat.audio_seconds:>8.0f}{_maybe(lat.to_status):>8}{_maybe(lat.to_first_text):>9}"
                     f"{lat.to_final:>8.2f}{lat.bare_one_thread:>10.2f}{lat.bare_default_threads:>10.2f}")
    return lines


def rows(results: Results) -> list[tuple[str, str, str, float | str]]:
    """(section, item, measure, value): the CSV, one figure a row."""
    out: list[tuple[str, str, str, float | str]] = []
    for key, value in asdict(results.machine).items():
        out.append(("machine", "", key, value))
    for key, value in asdict(results.setup).items():
        out.append(("setup", "", key, value))
    for c in results.throughput:
        for way, seconds in (("bot", c.bot_seconds), ("pool (a)", c.pool_seconds),
                             ("sequential (b)", c.sequential_seconds)):
            out += [("throughput", c.workload, f"{way} seconds", round(seconds, 3)),
                    ("throughput", c.workload, f"{way} messages/minute", round(c.per_minute(seconds), 2))]
        out += [("throughput", c.workload, "audio seconds", c.audio_seconds),
                ("throughput", c.workload, "speed-up vs (a)", round(c.pool_seconds / c.bot_seconds, 3)),
                ("throughput", c.workload, "speed-up vs (b)", round(c.sequential_seconds / c.bot_seconds, 3)),
                ("throughput", c.workload, "same words as (a)", _same(c.same_words_as_pool)),
                ("throughput", c.workload, "bot failure replies", c.bot_failures)]
    for u in results.unheard:
        out += [("no speech", u.clip, "answer seconds", round(u.bot_seconds, 3)),
                ("no speech", u.clip, "answer / 11 s speech note", round(u.bot_seconds / u.speech_note_seconds, 3)),
                ("no speech", u.clip, "reply", u.reply)]
    out += [("throughput", c.workload, "word agreement with (a)", round(c.agreement, 4)) for c in results.throughput
            if c.agreement is not None]
    out += [("throughput", workload, "phrases kept", kept) for workload, kept in results.phrases_kept.items()]
    if results.forwarded:
        f = results.forwarded
        out += [("forwarded", f.clip, "first transcription seconds", round(f.first_seconds, 3)),
                ("forwarded", f.clip, "answer from memory seconds", round(f.forwarded_seconds, 4)),
                ("forwarded", f.clip, "from memory / first", round(f.share, 4)),
                ("forwarded", f.clip, "same text", f.same_text)]
    for lat in results.latency:
        for key, value in asdict(lat).items():
            if key != "clip":
                out.append(("latency", lat.clip, key, "" if value is None else round(value, 3)))
    for path, (p50, p99) in results.admission_us.items():
        out += [("admission", path, "p50 µs", round(p50, 1)), ("admission", path, "p99 µs", round(p99, 1))]
    if results.commands:
        out += [("commands", "/usage", "users", results.commands.users),
                ("commands", "/usage", "seconds", round(results.commands.seconds, 3)),
                ("commands", "/usage", "updates/s", round(results.commands.per_second, 1))]
    if results.memory:
        out += [("memory", "voicebot run", f"{key} MiB" if key != "messages" else key, value)
                for key, value in asdict(results.memory).items()]
        out.append(("memory", "voicebot run", "growth MiB", round(results.memory.growth, 1)))
    if results.api:
        api = results.api
        out += [("api", api.clip, "one request seconds", round(api.request_seconds, 3)),
                ("api", api.clip, "bare transcribe (a) seconds", round(api.bare_seconds, 3)),
                ("api", api.clip, "same text as Telegram", api.same_text_as_telegram)]
        for door in api.doors:
            out += [("api burst", door.door, measure, round(value, 3)) for measure, value in (
                ("senders", door.senders), ("answer p50 seconds", door.answer_median),
                ("answer worst seconds", door.answer_worst), ("queue p50 seconds", door.queue_median),
                ("queue worst seconds", door.queue_worst))]
    out += [("startup", f"run {number}", "seconds", round(seconds, 2))
            for number, seconds in enumerate(results.startup_seconds, 1)]
    out += [("errors", name, "error", error) for name, error in results.errors.items()]
    return out


def write(results: Results, text: str) -> list[Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / datetime.now().strftime("%Y%m%d-%H%M%S")
    document = asdict(results)
    document["table"] = text.splitlines()
    stem.with_suffix(".json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    with stem.with_suffix(".csv").open("w", newline="") as target:
        writer = csv.writer(target)
        writer.writerow(["section", "item", "measure", "value"])
        writer.writerows(rows(results))
    written = [stem.with_suffix(".json"), stem.with_suffix(".csv")]
    if chart(results, stem.with_suffix(".png")):
        written.append(stem.with_suffix(".png"))
    return written


def chart(results: Results, target: Path) -> bool:
    """Seconds of audio done per second, three ways, per workload (messages per minute would put
    a 5 min clip off the scale); False without matplotlib or anything to draw."""
    try:
        import matplotlib
        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    if not results.throughput:
        return False
    ways = (("bot", "bot_seconds"), ("(a) model pool", "pool_seconds"), ("(b) one model", "sequential_seconds"))
    figure, axis = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(ways)
    for index, (label, attribute) in enumerate(ways):
        axis.bar([position + index * width for position in range(len(results.throughput))],
                 [c.audio_seconds / getattr(c, attribute) for c in results.throughput], width, label=label)
    axis.set_xticks([position + width for position in range(len(results.throughput))],
                    [c.workload for c in results.throughput])
    axis.set_ylabel("seconds of audio transcribed per second")
    m = results.machine
    axis.set_title(f"voicebot vs bare faster-whisper: {m.cores} cores, {m.cpu_model} ({results.started_at})")
    axis.legend()
    figure.tight_layout()
    figure.savefig(target, dpi=120)
    plt.close(figure)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="4 voice notes instead of 12, no 5 min clip, 120 messages for memory instead of 300")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("bench: ffmpeg is needed to make the clips (apt-get install ffmpeg)")
    # A SIGTERM to the benchmark unwinds through the `finally`s, which stop the bots it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = run(args.quick)
    text = table(results)
    print(text)
    for path in write(results, text):
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
