"""Assembly: a long recording split over idle WhisperActors, as the one that split it keeps its books: the
pieces (to do one itself if its helper dies), which helper has which, and the transcripts back so far."""
import time
from dataclasses import dataclass, field

from voicebot.core.audio import AudioPiece
from voicebot.core.domain import Job, Transcript


@dataclass
class Assembly:
    job: Job
    pieces: list[AudioPiece]               # in order
    helpers: dict[str, int]                # helper name -> the index of its piece
    language: str
    probability: float                     # of the language, detected on the first window
    deadline: float
    started: float = field(default_factory=time.monotonic)
    done: dict[int, Transcript] = field(default_factory=dict)

    def add(self, index: int, transcript: Transcript) -> None:
        self.done.setdefault(index, transcript)

    def piece_of(self, helper: str) -> int | None:
        """The index of the helper's piece, if it is not back yet."""
        index = self.helpers.get(helper)
        return None if index is None or index in self.done else index

    @property
    def complete(self) -> bool:
        return len(self.done) == len(self.pieces)

    def joined(self) -> Transcript:
        """The whole recording's transcript: the pieces' segments in order, times in the recording."""
        ordered = [self.done[index] for index in range(len(self.pieces))]
        segments = tuple(segment for transcript in ordered for segment in transcript.segments)
        return Transcript(text="".join(segment.text for segment in segments).strip(), language=self.language,
                          language_probability=self.probability,
                          audio_seconds=sum(transcript.audio_seconds for transcript in ordered),
                          processing_seconds=time.monotonic() - self.started, segments=segments)
