"""`voicebot transcribe`: the configured model on local files, as an operator's smoke test."""
import os
import sys
import time
from pathlib import Path

from voicebot.config import Settings
from voicebot.domain import JobError
from voicebot.model_files import ModelError, resolve_model
from voicebot.transcriber import Transcriber


def transcribe_files(settings: Settings, files: list[Path]) -> int:
    whisper = settings.whisper
    try:
        model_path = resolve_model(whisper.model)
    except ModelError as error:
        print(f"voicebot: {error}", file=sys.stderr)
        return 1
    transcriber = Transcriber(model_path, device=whisper.device, compute_type=whisper.compute_type,
                              cpu_threads=whisper.cpu_threads or os.cpu_count() or 1, beam_size=whisper.beam_size,
                              language=whisper.language, timeout_seconds=whisper.timeout_seconds,
                              max_audio_seconds=settings.limits.max_duration_seconds)
    started = time.monotonic()
    transcriber.load()
    print(f"model {whisper.model} loaded in {time.monotonic() - started:.1f} s", file=sys.stderr)
    failures = sum(not _transcribe_one(transcriber, path) for path in files)
    return 1 if failures else 0


def _transcribe_one(transcriber: Transcriber, path: Path) -> bool:
    try:
        transcript = transcriber.transcribe(path.read_bytes())
    except OSError as error:
        print(f"{path}: cannot read: {error.strerror}", file=sys.stderr)
        return False
    except JobError as error:
        print(f"{path}: {error.reason.value.replace('_', ' ')}", file=sys.stderr)
        return False
    print(f"{path}: [{transcript.language}, {transcript.audio_seconds:.1f} s of audio in "
          f"{transcript.processing_seconds:.1f} s] {transcript.text}")
    return True
