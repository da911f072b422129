"""The faster-whisper adapter: the only module that imports faster_whisper."""
import time

import numpy as np

from voicebot.audio import SAMPLE_RATE, decode
from voicebot.domain import FailureReason, JobError, Segment, Transcript

_WARM_UP_SECONDS = 1


class Transcriber:
    """One loaded model; used by one WhisperActor at a time, so it needs no locking."""

    def __init__(self, model: str, *, device: str = "cpu", compute_type: str = "int8",
                 cpu_threads: int = 1, beam_size: int = 5, language: str | None = None,
                 timeout_seconds: float = 120, max_audio_seconds: float = 300):
        self._model_name = model
        self._device = device
        self._compute_type = compute_type
        self._cpu_threads = cpu_threads
        self._beam_size = beam_size
        self._language = language or None
        self._timeout_seconds = timeout_seconds
        self._max_audio_seconds = max_audio_seconds
        self._model = None

    def load(self) -> None:
        from faster_whisper import WhisperModel
        self._model = WhisperModel(self._model_name, device=self._device, compute_type=self._compute_type,
                                   cpu_threads=self._cpu_threads)

    def close(self) -> None:
        """Frees the model now, on this thread: CTranslate2 aborts the process if a model is
        still alive when the interpreter tears down."""
        self._model = None

    def warm_up(self) -> None:
        """Runs the model once so the first user does not pay for lazy initialisation."""
        silence = np.zeros(_WARM_UP_SECONDS * SAMPLE_RATE, dtype=np.float32)
        self._transcribe_samples(silence, language="en")

    def transcribe(self, audio: bytes, language: str | None = None) -> Transcript:
        samples = decode(audio, self._max_audio_seconds)
        return self._transcribe_samples(samples, language or self._language)

    def _transcribe_samples(self, samples: np.ndarray, language: str | None) -> Transcript:
        started = time.monotonic()
        deadline = started + self._timeout_seconds
        pieces, info = self._model.transcribe(samples, beam_size=self._beam_size, language=language)
        segments = []
        # faster-whisper yields segments lazily: the deadline is checked between them.
        for piece in pieces:
            segments.append(Segment(piece.start, piece.end, piece.text))
            if time.monotonic() > deadline:
                raise JobError(FailureReason.TIMEOUT, f"over {self._timeout_seconds} s")
        return Transcript(
            text="".join(segment.text for segment in segments).strip(),
            language=info.language,
            language_probability=info.language_probability,
            audio_seconds=len(samples) / SAMPLE_RATE,
            processing_seconds=time.monotonic() - started,
            segments=tuple(segments),
        )
