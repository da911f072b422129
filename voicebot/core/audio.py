"""A recording decoded for the speech model, as the actors hold it: its length, and samples only the transcriber
looks into. A long recording split over several WhisperActors travels between them as AudioPieces."""
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, eq=False)
class DecodedAudio:
    """`samples`: the transcriber's own (numpy samples for faster-whisper), passed on unread by everyone else.
    Two are equal only when they are the same (samples have no plain equality)."""
    seconds: float
    samples: object = field(repr=False)


@dataclass(frozen=True, slots=True)
class AudioPiece:
    """A part of a split recording: where it starts in the recording (seconds), and its audio."""
    offset: float
    audio: DecodedAudio
