"""The faster-whisper adapter: the only module that imports faster_whisper.

Transcribes as WhisperModel.transcribe() does, with its options, but runs the encoder on the
first 30 s window once instead of twice. transcribe() detects the language through
WhisperModel.detect_language(), which encodes that window and throws the output away, and then
generate_segments() encodes it again. Here the window generate_segments() decodes first is
encoded once, the language is read from that output (CTranslate2's detect_language takes encoder
output, as faster-whisper's own multilingual mode uses it), and the output is handed to
generate_segments() through its `encoder_output` parameter, which it uses for that window only.

The segments are those transcribe() gives for the same language. So are the language and its
probability for audio of 30 s or more, where both windows are the first 3000 mel frames. Under
30 s transcribe() detects on one mel frame more than it decodes (the last one, which
generate_segments() does not count as content), so its probability differs a little (by 0.0006
to 0.038 on the test clips) and in a near tie it could name the other language. Here the
language is measured on exactly the window that is decoded: one window cannot serve both.

This leans on faster-whisper internals (generate_segments, TranscriptionOptions, Tokenizer),
hence the exact pin in pyproject.toml; tests/test_transcriber.py fails if an upgrade changes them.
"""
import dataclasses
import inspect
import time
from collections.abc import Callable
from itertools import accumulate
from pathlib import Path

import numpy as np

from voicebot.adapters.audio import SAMPLE_RATE, decode
from voicebot.core.domain import FailureReason, Segment, Task, Transcript
from voicebot.core.errors import JobError

_WARM_UP_SECONDS = 1


_WHOLE_SAMPLES = 10 * 60 * SAMPLE_RATE   # up to this, the features are computed at once, as transcribe() does
_PIECE_FRAMES = 30_000                   # beyond it, this many frames (5 min) at a time


def log_mel(extractor, samples: np.ndarray) -> np.ndarray:
    """The log-Mel features faster-whisper's FeatureExtractor gives for `samples`. For a long recording a
    piece at a time: all at once its STFT of an hour takes some 3 GB (complex frames, their magnitudes)
    beside the 115 MB of features. Each frame depends on its 400 samples alone, and the one step over the
    whole (the floor 8 below the loudest value) comes after, so the pieces join into the same features."""
    if samples.size <= _WHOLE_SAMPLES:
        return extractor(samples)
    n_fft, hop = extractor.n_fft, extractor.hop_length
    # As extractor(): 160 zeros after the samples, then the STFT's centring (reflected n_fft // 2 each side).
    padded = np.pad(np.concatenate([samples, np.zeros(160, dtype=np.float32)]), n_fft // 2, mode="reflect")
    frames = (padded.size - n_fft) // hop   # the STFT's frames but the last, which extractor() drops
    window = np.hanning(n_fft + 1)[:-1].astype("float32")
    features = np.empty((extractor.mel_filters.shape[0], frames), dtype=np.float32)
    for first in range(0, frames, _PIECE_FRAMES):
        last = min(first + _PIECE_FRAMES, frames)
        piece = padded[first * hop:(last - 1) * hop + n_fft]
        stft = extractor.stft(piece, n_fft, hop, window=window, center=False, return_complex=True)
        magnitudes = np.abs(stft.astype("complex64")) ** 2
        features[:, first:last] = np.log10(np.clip(extractor.mel_filters @ magnitudes, a_min=1e-10, a_max=None))
    np.maximum(features, features.max() - 8.0, out=features)
    features += 4.0
    features /= 4.0
    return features


def supported_languages() -> tuple[str, ...]:
    """The language codes Whisper knows, for validating what users pin."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES
    return tuple(_LANGUAGE_CODES)


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
        _speech_chunks(silence)   # loads the VAD model too
        self._transcribe_samples(silence, language="en", deadline=time.monotonic() + self._timeout_seconds)

    def transcribe(self, audio: Path | bytes, language: str | None = None,
                   on_segment: Callable[[Segment], None] | None = None,
                   max_seconds: float | None = None, task: Task = Task.TRANSCRIBE,
                   vocabulary: str | None = None) -> Transcript:
        """`on_segment` is called with each segment as soon as it is decoded, for live progress. Decoding
        stops past `max_seconds` (what is left of the user's day) as it does past the global limit. `task`:
        Whisper's own (TRANSLATE: the speech in English); `vocabulary`: names and terms given to it as hotwords."""
        started = time.monotonic()
        deadline = self.deadline()   # decoding the file counts too
        samples = self.decode(audio, max_seconds, deadline)
        transcript = self.transcribe_piece(samples, language or self._language, deadline, on_segment=on_segment,
                                           speech=speech_in(samples), task=task, vocabulary=vocabulary)
        return dataclasses.replace(transcript, processing_seconds=time.monotonic() - started)

    def deadline(self) -> float:
        """When a job starting now is over whisper.timeout_seconds (time.monotonic())."""
        return time.monotonic() + self._timeout_seconds

    def decode(self, audio: Path | bytes, max_seconds: float | None = None, deadline: float | None = None):
        """The recording's samples, up to the global limit or `max_seconds` (what is left of the user's day:
        JobError OVER_QUOTA past it)."""
        cap = self._max_audio_seconds if max_seconds is None else min(self._max_audio_seconds, max_seconds)
        try:
            return decode(audio, cap, deadline)
        except JobError as error:
            if error.reason is FailureReason.TOO_LONG and cap < self._max_audio_seconds:
                raise JobError(FailureReason.OVER_QUOTA, f"longer than the {cap:.0f} s left today") from None
            raise

    def split(self, samples: np.ndarray, pieces: int) -> list[tuple[float, np.ndarray]]:
        """The recording in up to `pieces` parts of about equal length, cut in the middle of pauses the VAD
        found (never inside speech): (offset in seconds, samples) each, in order."""
        gaps = _pauses(samples)
        cuts = sorted({min(gaps, key=lambda gap: abs(gap - samples.size * number // pieces))
                       for number in range(1, pieces)} if gaps else set())
        bounds = [0, *cuts, samples.size]
        return [(start / SAMPLE_RATE, samples[start:end]) for start, end in zip(bounds, bounds[1:], strict=False)
                if end > start]

    def language_of(self, samples: np.ndarray) -> tuple[str, float]:
        """The language detected on the first window and its probability, as a whole recording's would be."""
        model = self._model
        if not model.model.is_multilingual:
            return "en", 1.0
        features = log_mel(model.feature_extractor, speech_in(samples).samples)
        return _detect_language(model, model.encode(_first_window(model, features)))

    def transcribe_piece(self, samples: np.ndarray, language: str | None, deadline: float, offset: float = 0.0,
                         on_segment: Callable[[Segment], None] | None = None, speech: "Speech | None" = None,
                         task: Task = Task.TRANSCRIBE, vocabulary: str | None = None) -> Transcript:
        """`samples` (a whole recording, or a piece of one starting `offset` s in) through the model, with
        every time in the recording's own; a piece without speech is an empty transcript."""
        started = time.monotonic()
        if speech is None:
            try:
                speech = speech_in(samples)
            except JobError:
                return Transcript("", language or "", 0.0, samples.size / SAMPLE_RATE, 0.0)
        shift = speech.shifted(offset)
        transcript = self._transcribe_samples(speech.samples, language, deadline, shift.recorded(on_segment),
                                              _Decoding(task, vocabulary or None))
        return dataclasses.replace(transcript, audio_seconds=samples.size / SAMPLE_RATE,
                                   processing_seconds=time.monotonic() - started,
                                   segments=tuple(piece for segment in transcript.segments
                                                  for piece in shift.recorded_segments(segment)))

    def _transcribe_samples(self, samples: np.ndarray, language: str | None, deadline: float,
                            on_segment: Callable[[Segment], None] | None = None,
                            decoding: "_Decoding | None" = None) -> Transcript:
        """The model on `samples`: JobError TIMEOUT once past `deadline`, between two of its calls (one window's
        temperature fallback makes several) or between two segments."""
        model = self._model
        real = model.model
        model.model = _Deadlined(real, deadline, self._timeout_seconds)
        try:
            return self._decode_speech(model, samples, language, deadline, on_segment, decoding or _Decoding())
        finally:
            model.model = real

    def _decode_speech(self, model, samples: np.ndarray, language: str | None, deadline: float,
                       on_segment: Callable[[Segment], None] | None, decoding: "_Decoding") -> Transcript:
        from faster_whisper.tokenizer import Tokenizer

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
            encoder_output = model.encode(_first_window(model, features))
            language, probability = _detect_language(model, encoder_output)
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task=decoding.task.value,
                              language=language)
        options = _transcription_options(tokenizer, self._beam_size, decoding.vocabulary)
        pieces = model.generate_segments(features, tokenizer, options, log_progress=False,
                                         encoder_output=encoder_output)
        segments = []
        # generate_segments yields segments lazily: the deadline is checked between them.
        for piece in pieces:
            segment = Segment(piece.start, piece.end, piece.text)
            segments.append(segment)
            if on_segment is not None:
                on_segment(segment)
            if time.monotonic() > deadline:
                raise JobError(FailureReason.TIMEOUT, f"over {self._timeout_seconds} s")
        return Transcript(
            text="".join(segment.text for segment in segments).strip(),
            language=language,
            language_probability=probability,
            audio_seconds=len(samples) / SAMPLE_RATE,
            processing_seconds=time.monotonic() - started,
            segments=tuple(segments),
        )


@dataclasses.dataclass(frozen=True)
class _Decoding:
    """What the model is asked beyond the language: its task, and hotwords (a user's vocabulary)."""
    task: Task = Task.TRANSCRIBE
    vocabulary: str | None = None


MIN_SILENCE_SECONDS = 2   # pauses this long are not fed to the model (faster-whisper's vad_filter default)


@dataclasses.dataclass(frozen=True)
class Speech:
    """What of a recording the model hears: all of it, or its speech without its pauses, with the map back
    to the recording's own time (`timeline`; None when nothing was cut)."""
    samples: np.ndarray
    timeline: object = None   # faster_whisper.vad.SpeechTimestampsMap
    offset: float = 0.0       # where these samples start in the recording (a piece of a split one)

    def shifted(self, offset: float) -> "Speech":
        return dataclasses.replace(self, offset=offset)

    def recorded_segment(self, segment: Segment) -> Segment:
        """The segment with its times in the recording, pauses included."""
        if self.timeline is None:
            start, end = segment.start, segment.end
        else:
            start = self.timeline.get_original_time(segment.start)
            end = self.timeline.get_original_time(segment.end, is_end=True)
        return Segment(round(start + self.offset, 2), round(end + self.offset, 2), segment.text)

    def recorded_segments(self, segment: Segment) -> list[Segment]:
        """The segment in the recording's time, cut where it spans a pause the model did not hear (the model
        hears the speech joined up, and may make one segment across it): its words are shared out by where
        the cut falls in its speech, so that no subtitle or time mark lasts through the silence."""
        if self.timeline is None:
            return [self.recorded_segment(segment)]
        cuts = [end / SAMPLE_RATE for end in self.timeline.chunk_end_sample[:-1]
                if segment.start < end / SAMPLE_RATE < segment.end]
        return [self.recorded_segment(piece) for piece in _cut_at(segment, cuts)]

    def recorded(self, on_segment: Callable[[Segment], None] | None) -> Callable[[Segment], None] | None:
        return None if on_segment is None else lambda segment: on_segment(self.recorded_segment(segment))


_SENTENCE_ENDS = (".", "!", "?", "…", "。", "！", "？")
_SENTENCE_REACH = 0.2   # a sentence's end this near (a share of the segment's text) is where a pause falls


def _cut_at(segment: Segment, cuts: list[float]) -> list[Segment]:
    """The segment in pieces at `cuts` (times inside it, in order). Its speech is taken as evenly paced, and a
    pause as falling between two sentences if one ends near where that puts it, else between two words."""
    words = segment.text.split()
    if not cuts or len(words) < 2:
        return [segment]
    ends = list(accumulate(len(word) + 1 for word in words))   # where each word ends in the text
    per_second = ends[-1] / (segment.end - segment.start)
    pieces, first, start = [], 0, segment.start
    for cut in cuts:
        last = _boundary_near(words, ends, first, (cut - segment.start) * per_second)
        if last > first:
            # Just before the cut the speech before the pause ends; just after it the next speech starts.
            pieces.append(Segment(start, cut - 1 / SAMPLE_RATE, " " + " ".join(words[first:last])))
            first = last
        start = cut + 1 / SAMPLE_RATE
    if first < len(words):
        pieces.append(Segment(start, segment.end, " " + " ".join(words[first:])))
    return pieces


def _boundary_near(words: list[str], ends: list[int], first: int, position: float) -> int:
    """How many words come before the pause at `position` (characters into the text), at least `first`."""
    if position <= 0:
        return first
    boundaries = range(first, len(words) + 1)

    def distance(count: int) -> float:
        return abs((ends[count - 1] if count else 0) - position)
    reach = _SENTENCE_REACH * ends[-1]
    sentences = [count for count in boundaries
                 if count and words[count - 1].endswith(_SENTENCE_ENDS) and distance(count) <= reach]
    return min(sentences or boundaries, key=distance)


def speech_in(samples: np.ndarray) -> Speech:
    """The recording's speech, found by the Silero VAD faster-whisper ships: JobError NO_SPEECH when there is
    none, before any model time is spent. A recording whose pauses add up to less than MIN_SILENCE_SECONDS
    is heard whole, exactly as transcribe() hears it."""
    from faster_whisper.vad import SpeechTimestampsMap

    chunks = _speech_chunks(samples)
    if not chunks:
        raise JobError(FailureReason.NO_SPEECH, "no speech found")
    spoken = sum(chunk["end"] - chunk["start"] for chunk in chunks)
    if samples.size - spoken < MIN_SILENCE_SECONDS * SAMPLE_RATE:
        return Speech(samples)
    return Speech(np.concatenate([samples[chunk["start"]:chunk["end"]] for chunk in chunks]),
                  SpeechTimestampsMap(chunks, SAMPLE_RATE))


def _speech_chunks(samples: np.ndarray, min_silence_seconds: float = MIN_SILENCE_SECONDS) -> list[dict]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return get_speech_timestamps(samples, VadOptions(min_silence_duration_ms=int(min_silence_seconds * 1000)))


def _pauses(samples: np.ndarray) -> list[int]:
    """The middle of every pause of a third of a second or more between speech, where a cut splits no word."""
    chunks = _speech_chunks(samples, min_silence_seconds=0.3)
    return [(before["end"] + after["start"]) // 2 for before, after in zip(chunks, chunks[1:], strict=False)]


class _Deadlined:
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


def _first_window(model, features: np.ndarray) -> np.ndarray:
    """The mel window generate_segments() decodes first (seek 0), padded to 30 s as it pads it.
    Its content ends one frame before the features do, hence `- 1`, as in generate_segments()."""
    from faster_whisper.audio import pad_or_trim

    content_frames = features.shape[-1] - 1
    return pad_or_trim(features[:, :min(model.feature_extractor.nb_max_frames, content_frames)])


def _detect_language(model, encoder_output) -> tuple[str, float]:
    """The most probable language, read as WhisperModel.detect_language() reads it for one window:
    CTranslate2 ranks language tokens ("<|en|>") by probability."""
    token, probability = model.model.detect_language(encoder_output)[0][0]
    return token[2:-2], probability


def _transcription_options(tokenizer, beam_size: int, hotwords: str | None = None):
    """TranscriptionOptions as WhisperModel.transcribe() builds them, from its own default
    arguments, so temperature fallback, thresholds, prompting and suppressed tokens stay what
    transcribe() would use, through upgrades too (an option transcribe() has no argument for
    fails here with a KeyError)."""
    from faster_whisper import WhisperModel
    from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

    arguments = {name: parameter.default
                 for name, parameter in inspect.signature(WhisperModel.transcribe).parameters.items()}
    arguments["beam_size"] = beam_size
    arguments["hotwords"] = hotwords
    # The two options transcribe() does not pass through as they come: the temperature becomes
    # a list to fall back along, and -1 in suppress_tokens the tokenizer's non-speech tokens.
    arguments["temperatures"] = list(arguments["temperature"])
    arguments["suppress_tokens"] = get_suppressed_tokens(tokenizer, list(arguments["suppress_tokens"]))
    return TranscriptionOptions(**{field.name: arguments[field.name]
                                   for field in dataclasses.fields(TranscriptionOptions)})
