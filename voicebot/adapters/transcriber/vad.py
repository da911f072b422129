"""What of a recording is speech, found by the Silero VAD faster-whisper ships: the pauses the model is spared,
and the pauses a long recording can be split at."""
import dataclasses
import os
from collections.abc import Callable

import numpy as np

from voicebot.adapters.audio import SAMPLE_RATE
from voicebot.core.domain import FailureReason, Segment, Word
from voicebot.core.errors import JobError
from voicebot.core.pauses import cut_segment

# onnxruntime, which runs the VAD, otherwise leaves a telemetry session file (.ses) in TMPDIR, the folder the
# bot's downloads live in: nothing the bot did not make is written there, and nothing about it is reported.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

MIN_SILENCE_SECONDS = 2   # pauses this long are not fed to the model (faster-whisper's vad_filter default)
_SPLIT_SILENCE_SECONDS = 0.3   # a pause this long between speech is where a long recording may be split


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
        """The segment (and its words) with its times in the recording, pauses included."""
        start, end = self._recorded(segment.start, segment.end)
        return Segment(start, end, segment.text,
                       tuple(Word(*self._recorded(word.start, word.end), word.text) for word in segment.words))

    def _recorded(self, start: float, end: float) -> tuple[float, float]:
        if self.timeline is not None:
            start = self.timeline.get_original_time(start)
            end = self.timeline.get_original_time(end, is_end=True)
        return round(start + self.offset, 2), round(end + self.offset, 2)

    def recorded_segments(self, segment: Segment) -> list[Segment]:
        """The segment in the recording's time, cut where it spans a pause the model did not hear (the model
        hears the speech joined up, and may make one segment across it): its words are shared out by where
        the cut falls in its speech, so that no subtitle or time mark lasts through the silence."""
        if self.timeline is None:
            return [self.recorded_segment(segment)]
        cuts = [end / SAMPLE_RATE for end in self.timeline.chunk_end_sample[:-1]
                if segment.start < end / SAMPLE_RATE < segment.end]
        pieces = _cut_at_words(segment, cuts) if segment.words else cut_segment(segment, cuts, 1 / SAMPLE_RATE)
        return [self.recorded_segment(piece) for piece in pieces]

    def recorded(self, on_segment: Callable[[Segment], None] | None) -> Callable[[Segment], None] | None:
        return None if on_segment is None else lambda segment: on_segment(self.recorded_segment(segment))


def _cut_at_words(segment: Segment, cuts: list[float]) -> list[Segment]:
    """A segment with timed words, cut where the pauses fall between them: each word goes with the speech it
    starts in, and each piece lasts from its first word's start to its last word's end."""
    pieces: list[list[Word]] = [[] for _ in range(len(cuts) + 1)]
    for word in segment.words:
        pieces[sum(1 for cut in cuts if cut <= word.start)].append(word)
    return [Segment(words[0].start, words[-1].end, "".join(word.text for word in words), tuple(words))
            for words in pieces if words]


def speech_in(samples: np.ndarray) -> Speech:
    """The recording's speech: JobError NO_SPEECH when there is none, before any model time is spent. A
    recording whose pauses add up to less than MIN_SILENCE_SECONDS is heard whole, exactly as transcribe()
    hears it."""
    from faster_whisper.vad import SpeechTimestampsMap

    chunks = speech_chunks(samples)
    if not chunks:
        raise JobError(FailureReason.NO_SPEECH, "no speech found")
    spoken = sum(chunk["end"] - chunk["start"] for chunk in chunks)
    if samples.size - spoken < MIN_SILENCE_SECONDS * SAMPLE_RATE:
        return Speech(samples)
    return Speech(np.concatenate([samples[chunk["start"]:chunk["end"]] for chunk in chunks]),
                  SpeechTimestampsMap(chunks, SAMPLE_RATE))


def speech_chunks(samples: np.ndarray, min_silence_seconds: float = MIN_SILENCE_SECONDS) -> list[dict]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return get_speech_timestamps(samples, VadOptions(min_silence_duration_ms=int(min_silence_seconds * 1000)))


def pauses(samples: np.ndarray) -> list[int]:
    """The middle of every pause of a third of a second or more between speech, where a cut splits no word."""
    chunks = speech_chunks(samples, min_silence_seconds=_SPLIT_SILENCE_SECONDS)
    return [(before["end"] + after["start"]) // 2 for before, after in zip(chunks, chunks[1:], strict=False)]
