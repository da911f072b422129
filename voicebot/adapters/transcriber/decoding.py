"""The model on speech, as WhisperModel.transcribe() runs it, with its options, but with the encoder run on the
first 30 s window once instead of twice.

transcribe() detects the language through WhisperModel.detect_language(), which encodes that window and throws
the output away, and then generate_segments() encodes it again. Here the window generate_segments() decodes
first is encoded once, the language is read from that output (CTranslate2's detect_language takes encoder
output, as faster-whisper's own multilingual mode uses it), and the output is handed to generate_segments()
through its `encoder_output` parameter, which it uses for that window only.

The segments are those transcribe() gives for the same language. So are the language and its probability for
audio of 30 s or more, where both windows are the first 3000 mel frames. Under 30 s transcribe() detects on one
mel frame more than it decodes (the last one, which generate_segments() does not count as content), so its
probability differs a little (by 0.0006 to 0.038 on the test clips) and in a near tie it could name the other
language. Here the language is measured on exactly the window that is decoded: one window cannot serve both.

This leans on faster-whisper internals (generate_segments, TranscriptionOptions, Tokenizer), hence the exact pin
in pyproject.toml; tests/integration/test_transcriber.py fails if an upgrade changes them.
"""
import copy
import dataclasses
import inspect
import time
from collections.abc import Callable

import numpy as np

from voicebot.adapters.audio import SAMPLE_RATE
from voicebot.adapters.transcriber.features import log_mel
from voicebot.core.domain import FailureReason, Segment, Task, Transcript, Word
from voicebot.core.errors import JobError
from voicebot.core.text import vocabulary_words


@dataclasses.dataclass(frozen=True)
class Decoding:
    """What the model is asked beyond the language: its task, hotwords (a user's vocabulary), and whether to time
    each word (faster-whisper's word_timestamps: a little more work per window)."""
    task: Task = Task.TRANSCRIBE
    vocabulary: str | None = None
    words: bool = False


def decode_speech(model, samples: np.ndarray, language: str | None, deadline: float, *, beam_size: int,
                  timeout_seconds: float, on_segment: Callable[[Segment], None] | None = None,
                  decoding: Decoding | None = None) -> Transcript:
    """The WhisperModel `model` on `samples`: JobError TIMEOUT once past `deadline`, between two of its calls
    (one window's temperature fallback makes several) or between two segments."""
    from faster_whisper.tokenizer import Tokenizer

    decoding = decoding or Decoding()
    model = deadlined(model, deadline, timeout_seconds)
    started = time.monotonic()
    features = log_mel(model.feature_extractor, samples)
    encoder_output = None
    # As transcribe(): an English-only model is English, a pinned language is taken as
    # certain; only otherwise is the language detected, on the window decoded first.
    if not model.model.is_multilingual:
        language, probability = "en", 1.0
    elif language:
        probability = 1.0
    else:
        encoder_output = model.encode(first_window(model, features))
        language, probability = detect_language(model, encoder_output)
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task=decoding.task.value,
                          language=language)
    options = transcription_options(tokenizer, beam_size, decoding.vocabulary, decoding.words)
    pieces = model.generate_segments(features, tokenizer, options, log_progress=False,
                                     encoder_output=encoder_output)
    segments = []
    # generate_segments yields segments lazily: the deadline is checked between them.
    for piece in pieces:
        segment = Segment(piece.start, piece.end, piece.text,
                          tuple(Word(word.start, word.end, word.word) for word in piece.words or ()))
        segments.append(segment)
        if on_segment is not None:
            on_segment(segment)
        if time.monotonic() > deadline:
            raise JobError(FailureReason.TIMEOUT, f"over {timeout_seconds} s")
    return Transcript(
        text="".join(segment.text for segment in segments).strip(),
        language=language,
        language_probability=probability,
        audio_seconds=len(samples) / SAMPLE_RATE,
        processing_seconds=time.monotonic() - started,
        segments=tuple(segments),
    )


def deadlined(model, deadline: float, seconds: float):
    """The WhisperModel `model` with its CTranslate2 model behind Deadlined, as a copy of its own: its methods
    (generate_segments, encode, generate_with_fallback) reach the CTranslate2 model as `self.model`, so they are
    called on a shallow copy whose `model` is the deadlined one. The copy shares everything loaded (the
    CTranslate2 model, the tokenizer, the feature extractor); the WhisperModel the Transcriber holds is never
    changed, so nothing else that uses it, during a job or after one that failed, meets the deadline."""
    view = copy.copy(model)
    view.model = Deadlined(model.model, deadline, seconds)
    return view


class Deadlined:
    """The CTranslate2 model, refusing its next call (JobError TIMEOUT) once past the deadline: one window's
    temperature fallback calls it up to six times without yielding a segment in between."""
    _CALLS = frozenset({"encode", "generate", "detect_language"})

    def __init__(self, model, deadline: float, seconds: float):
        self._model, self._deadline, self._seconds = model, deadline, seconds

    def __getattr__(self, name: str):
        attribute = getattr(self._model, name)
        if name not in self._CALLS:
            return attribute

        def called(*args, **kwargs):
            if time.monotonic() > self._deadline:
                raise JobError(FailureReason.TIMEOUT, f"over {self._seconds:.0f} s")
            return attribute(*args, **kwargs)
        return called


def first_window(model, features: np.ndarray) -> np.ndarray:
    """The mel window generate_segments() decodes first (seek 0), padded to 30 s as it pads it.
    Its content ends one frame before the features do, hence `- 1`, as in generate_segments()."""
    from faster_whisper.audio import pad_or_trim

    content_frames = features.shape[-1] - 1
    return pad_or_trim(features[:, :min(model.feature_extractor.nb_max_frames, content_frames)])


def detect_language(model, encoder_output) -> tuple[str, float]:
    """The most probable language, read as WhisperModel.detect_language() reads it for one window:
    CTranslate2 ranks language tokens ("<|en|>") by probability."""
    token, probability = model.model.detect_language(encoder_output)[0][0]
    return token[2:-2], probability


def transcription_options(tokenizer, beam_size: int, hotwords: str | None = None, words: bool = False):
    """TranscriptionOptions as WhisperModel.transcribe() builds them, from its own default
    arguments, so temperature fallback, thresholds, prompting and suppressed tokens stay what
    transcribe() would use, through upgrades too (an option transcribe() has no argument for
    fails here with a KeyError)."""
    from faster_whisper import WhisperModel
    from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

    arguments = {name: parameter.default
                 for name, parameter in inspect.signature(WhisperModel.transcribe).parameters.items()}
    arguments["beam_size"] = beam_size
    # Words only, whatever a caller kept (a vocabulary stored before control tokens were taken out of it).
    arguments["hotwords"] = vocabulary_words(hotwords or "") or None
    arguments["word_timestamps"] = words
    # The two options transcribe() does not pass through as they come: the temperature becomes
    # a list to fall back along, and -1 in suppress_tokens the tokenizer's non-speech tokens.
    arguments["temperatures"] = list(arguments["temperature"])
    arguments["suppress_tokens"] = get_suppressed_tokens(tokenizer, list(arguments["suppress_tokens"]))
    return TranscriptionOptions(**{field.name: arguments[field.name]
                                   for field in dataclasses.fields(TranscriptionOptions)})
