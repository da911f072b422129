"""Cutting at pauses, in plain times and words: where a long recording is split over several models, and how a
segment the model made across a pause it never heard is cut back into the speech either side of it.

The transcriber finds the pauses (a voice activity detector); what is decided from them is here."""
from collections.abc import Sequence
from itertools import accumulate

from voicebot.core.domain import Segment

_SENTENCE_ENDS = (".", "!", "?", "…", "。", "！", "？")
_SENTENCE_REACH = 0.2   # a sentence's end this near (a share of the segment's text) is where a pause falls


def recording_cuts(pauses: Sequence[int], length: int, pieces: int) -> list[int]:
    """Where to cut a recording `length` long into up to `pieces` parts of about equal length: at the pause
    nearest each equal share, in order, without repeats (fewer pauses, fewer parts; none, no cut). Positions
    are in the recording's own units (samples), pauses the middle of each."""
    if not pauses:
        return []
    return sorted({min(pauses, key=lambda pause: abs(pause - length * number // pieces))
                   for number in range(1, pieces)})


def cut_segment(segment: Segment, cuts: Sequence[float], gap: float) -> list[Segment]:
    """The segment in pieces at `cuts` (times inside it, in order). Its speech is taken as evenly paced, and a
    pause as falling between two sentences if one ends near where that puts it, else between two words. The
    piece before a cut ends `gap` seconds before it and the next starts `gap` after it (one sample)."""
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
            pieces.append(Segment(start, cut - gap, " " + " ".join(words[first:last])))
            first = last
        start = cut + gap
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
