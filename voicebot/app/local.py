"""`voicebot transcribe`: the configured model on local files, as an operator's smoke test.

Each file's line ends with its real-time factor (RTF): seconds spent decoding and transcribing
per second of audio, the figure to size a machine by (under 1 keeps up with speech). Files over
half a minute show a progress bar on stderr while they are transcribed, when stderr is a
terminal; a log file gets only the result lines."""
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from voicebot.adapters.audio import SAMPLE_RATE, decode
from voicebot.adapters.model_files import resolve_model
from voicebot.adapters.transcriber import Transcriber
from voicebot.app.config import Settings
from voicebot.app.transcribers import make_transcriber
from voicebot.core.domain import Segment
from voicebot.core.errors import JobError, ModelError

PROGRESS_AFTER_SECONDS = 30


def transcribe_files(settings: Settings, files: list[Path]) -> int:
    whisper = settings.whisper
    try:
        model_path = resolve_model(whisper.model)
    except ModelError as error:
        print(f"voicebot: {error}", file=sys.stderr)
        return 1
    max_seconds = settings.limits.max_duration_seconds
    # One file at a time: every core on it, unless whisper.cpu_threads says otherwise.
    transcriber = make_transcriber(settings, model_path, whisper.cpu_threads or os.cpu_count() or 1)
    started = time.monotonic()
    transcriber.load()
    print(f"model {whisper.model} loaded in {time.monotonic() - started:.1f} s", file=sys.stderr)
    try:
        failures = sum(not _transcribe_one(transcriber, path, max_seconds) for path in files)
    finally:
        transcriber.close()  # CTranslate2 aborts if a model outlives the interpreter
    return 1 if failures else 0


def _transcribe_one(transcriber: Transcriber, path: Path, max_seconds: float) -> bool:
    try:
        with path.open("rb"):   # says in words what keeps it from being read
            pass
        with _progress(path, max_seconds) as on_segment:
            started = time.monotonic()
            transcript = transcriber.transcribe(path, on_segment=on_segment)   # read as it is decoded
            seconds = time.monotonic() - started  # decoding included, as in the bot's jobs
    except OSError as error:
        print(f"{path}: cannot read: {error.strerror}", file=sys.stderr)
        return False
    except JobError as error:
        print(f"{path}: {error.reason.value.replace('_', ' ')}", file=sys.stderr)
        return False
    print(f"{path}: [{transcript.language}, {transcript.audio_seconds:.1f} s of audio in {seconds:.1f} s, "
          f"RTF {seconds / transcript.audio_seconds:.2f}] {transcript.text}")
    return True


@contextmanager
def _progress(path: Path, max_seconds: float) -> Iterator[Callable[[Segment], None] | None]:
    """An on_segment callback moving a bar over the seconds of audio done, or None when no bar is
    wanted: stderr is no terminal, or the file is short enough to be done before one is read."""
    stream = sys.stderr
    if not stream.isatty():
        yield None
        return
    try:
        # The length is known only once decoded; decoding again costs about 1% of transcribing.
        total = len(decode(path, max_seconds)) / SAMPLE_RATE
    except JobError:
        total = 0.0  # transcribe() meets the same error and reports it
    if total <= PROGRESS_AFTER_SECONDS:
        yield None
        return
    bar = _bar(path.name, total, stream)
    try:
        yield lambda segment: bar.show(min(segment.end, total))
    finally:
        bar.close()


def _bar(label: str, total: float, stream: TextIO):
    return _TqdmBar(label, total, stream) if _has_tqdm() else _LineBar(label, total, stream)


def _has_tqdm() -> bool:
    # tqdm comes with faster-whisper today, but nothing here promises it stays.
    return importlib.util.find_spec("tqdm") is not None


class _TqdmBar:
    def __init__(self, label: str, total: float, stream: TextIO):
        from tqdm import tqdm
        self._bar = tqdm(total=round(total, 1), desc=label, unit="s", file=stream, leave=False,
                         mininterval=0,  # segments come seconds apart: show each
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of audio "
                                    "[{elapsed}<{remaining}]")

    def show(self, done: float) -> None:
        self._bar.update(round(done, 1) - self._bar.n)

    def close(self) -> None:
        self._bar.close()


class _LineBar:
    """The plain fallback: one line rewritten in place with a carriage return."""

    def __init__(self, label: str, total: float, stream: TextIO):
        self._label = label
        self._total = total
        self._stream = stream
        self._width = 0

    def show(self, done: float) -> None:
        line = f"{self._label}: {done / self._total:4.0%} ({done:.0f}/{self._total:.0f} s of audio)"
        self._width = max(self._width, len(line))
        self._stream.write(f"\r{line}")
        self._stream.flush()

    def close(self) -> None:
        if self._width:
            self._stream.write("\r" + " " * self._width + "\r")  # leave the line clean for the result
            self._stream.flush()
