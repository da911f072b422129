"""The Transcriber: one loaded faster-whisper model, and what the WhisperActors ask of it (the Transcriber port):
a whole recording, or a long one decoded, split at pauses and transcribed a piece at a time."""
import dataclasses
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np

from voicebot.adapters.audio import SAMPLE_RATE, decode
from voicebot.adapters.transcriber.decoding import Decoding, decode_speech, detect_language, first_window
from voicebot.adapters.transcriber.features import log_mel
from voicebot.adapters.transcriber.vad import Speech, pauses, speech_chunks, speech_in
from voicebot.core.audio import AudioPiece, DecodedAudio
from voicebot.core.domain import FailureReason, Segment, Task, Transcript
from voicebot.core.errors import JobError
from voicebot.core.pauses import recording_cuts

_WARM_UP_SECONDS = 1


def supported_languages() -> tuple[str, ...]:
    """The language codes Whisper knows, for validating what users pin."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES
    return tuple(_LANGUAGE_CODES)


def decoded(samples: np.ndarray) -> DecodedAudio:
    """Samples (16 kHz mono float32) as the audio the actors hold."""
    return DecodedAudio(samples.size / SAMPLE_RATE, samples)


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
        self._warm = False

    def load(self) -> None:
        """Loads the model, unless it is loaded already (a standby node loads its models ahead)."""
        if self._model is not None:
            return
        from faster_whisper import WhisperModel
        self._model = WhisperModel(self._model_name, device=self._device, compute_type=self._compute_type,
                                   cpu_threads=self._cpu_threads)

    def close(self) -> None:
        """Frees the model now, on this thread: CTranslate2 aborts the process if a model is
        still alive when the interpreter tears down."""
        self._model = None
        self._warm = False

    def warm_up(self) -> None:
        """Runs the model once so the first user does not pay for lazy initialisation."""
        if self._warm:
            return
        self._warm = True
        silence = np.zeros(_WARM_UP_SECONDS * SAMPLE_RATE, dtype=np.float32)
        speech_chunks(silence)   # loads the VAD model too
        self._transcribe_samples(silence, language="en", deadline=time.monotonic() + self._timeout_seconds)

    def transcribe(self, audio: Path | bytes, language: str | None = None,
                   on_segment: Callable[[Segment], None] | None = None,
                   max_seconds: float | None = None, task: Task = Task.TRANSCRIBE,
                   vocabulary: str | None = None, words: bool = False) -> Transcript:
        """`on_segment` is called with each segment as soon as it is decoded, for live progress. Decoding
        stops past `max_seconds` (what is left of the user's day) as it does past the global limit. `task`:
        Whisper's own (TRANSLATE: the speech in English); `vocabulary`: names and terms given to it as hotwords;
        `words`: each segment's words timed too."""
        started = time.monotonic()
        deadline = self.deadline()   # decoding the file counts too
        recording = self.decode(audio, max_seconds, deadline)
        transcript = self._transcribe_speech(recording, speech_in(recording.samples), language or self._language,
                                             deadline, on_segment, Decoding(task, vocabulary or None, words))
        return dataclasses.replace(transcript, processing_seconds=time.monotonic() - started)

    def deadline(self) -> float:
        """When a job starting now is over whisper.timeout_seconds (time.monotonic())."""
        return time.monotonic() + self._timeout_seconds

    def decode(self, audio: Path | bytes, max_seconds: float | None = None,
               deadline: float | None = None) -> DecodedAudio:
        """The recording, up to the global limit (JobError TOO_LONG past it), and no longer than `max_seconds` (the
        job's share of its user's day: JobError OVER_QUOTA past it). Decoding costs little beside the model, so it
        goes on past the share to the global limit: a recording longer than both is told it is too long."""
        recording = decoded(decode(audio, self._max_audio_seconds, deadline))
        if max_seconds is not None and recording.seconds > max_seconds:
            raise JobError(FailureReason.OVER_QUOTA, f"{recording.seconds:.0f} s, past its share, {max_seconds:.0f} s")
        return recording

    def split(self, audio: DecodedAudio, pieces: int) -> list[AudioPiece]:
        """The recording in up to `pieces` parts of about equal length, cut in the middle of pauses the VAD
        found (never inside speech), in order."""
        samples = audio.samples
        bounds = [0, *recording_cuts(pauses(samples), samples.size, pieces), samples.size]
        return [AudioPiece(start / SAMPLE_RATE, decoded(samples[start:end])) for start, end in pairwise(bounds)
                if end > start]

    def language_of(self, audio: DecodedAudio) -> tuple[str, float]:
        """The language detected on the first window and its probability, as a whole recording's would be."""
        model = self._model
        if not model.model.is_multilingual:
            return "en", 1.0
        features = log_mel(model.feature_extractor, speech_in(audio.samples).samples)
        return detect_language(model, model.encode(first_window(model, features)))

    def transcribe_piece(self, piece: AudioPiece, language: str | None, deadline: float,
                         on_segment: Callable[[Segment], None] | None = None, task: Task = Task.TRANSCRIBE,
                         vocabulary: str | None = None, words: bool = False) -> Transcript:
        """A piece of a recording (or the whole one, from 0 s) through the model, with every time in the
        recording's own; a piece without speech is an empty transcript."""
        started = time.monotonic()
        try:
            speech = speech_in(piece.audio.samples)
        except JobError:
            return Transcript("", language or "", 0.0, piece.audio.seconds, 0.0)
        transcript = self._transcribe_speech(piece.audio, speech.shifted(piece.offset), language, deadline,
                                             on_segment, Decoding(task, vocabulary or None, words))
        return dataclasses.replace(transcript, processing_seconds=time.monotonic() - started)

    def _transcribe_speech(self, audio: DecodedAudio, speech: Speech, language: str | None, deadline: float,
                           on_segment: Callable[[Segment], None] | None, decoding: Decoding) -> Transcript:
        """The model on the speech of `audio`, with every time in the recording's own."""
        transcript = self._transcribe_samples(speech.samples, language, deadline, speech.recorded(on_segment),
                                              decoding)
        return dataclasses.replace(transcript, audio_seconds=audio.seconds,
                                   segments=tuple(piece for segment in transcript.segments
                                                  for piece in speech.recorded_segments(segment)))

    def _transcribe_samples(self, samples: np.ndarray, language: str | None, deadline: float,
                            on_segment: Callable[[Segment], None] | None = None,
                            decoding: Decoding | None = None) -> Transcript:
        """The model on `samples` as they are (see decoding.py): JobError TIMEOUT once past `deadline`."""
        return decode_speech(self._model, samples, language, deadline, beam_size=self._beam_size,
                             timeout_seconds=self._timeout_seconds, on_segment=on_segment, decoding=decoding)
