"""Subtitle files (SubRip and WebVTT) from a transcript's segments, for a player to show over the recording.

Cues keep the recording's own time: a segment's start and end, as Whisper gives them, are where its words are
heard, so the file lines up with the audio or video it came from, with no offset to set. A cue shows at most
MAX_LINES lines of MAX_LINE characters, the common broadcast limits (Netflix-style ~42 characters by 2 lines):
what a viewer reads in the time a cue is on screen without losing the picture.
"""
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise

from voicebot.core.domain import Segment

MAX_LINE = 42
MAX_LINES = 2
# A segment Whisper gave no length (end <= start), or almost none, still stays long enough to be seen.
MIN_CUE_MS = 200
MAX_MS = 100 * 3_600_000 - 1   # 99:59:59.999


@dataclass(frozen=True, slots=True)
class _Cue:
    start_ms: int
    end_ms: int
    lines: tuple[str, ...]


def srt(segments: Sequence[Segment]) -> str:
    """SubRip: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, a blank line between cues."""
    return "\n".join(f"{number}\n{_timestamp(cue.start_ms, ',')} --> {_timestamp(cue.end_ms, ',')}\n"
                     + "".join(line + "\n" for line in cue.lines)
                     for number, cue in enumerate(_cues(segments), start=1))


def webvtt(segments: Sequence[Segment]) -> str:
    """WebVTT: the header, then cues `HH:MM:SS.mmm --> HH:MM:SS.mmm`, a blank line before each."""
    return "WEBVTT\n\n" + "\n".join(f"{_timestamp(cue.start_ms, '.')} --> {_timestamp(cue.end_ms, '.')}\n"
                                     + "".join(_vtt_text(line) + "\n" for line in cue.lines)
                                     for cue in _cues(segments))


def _vtt_text(line: str) -> str:
    # WebVTT reads `&` and `<` as the start of an entity or a tag; escaping `>` too means no `-->` in the text,
    # which would end the cue there.
    return html.escape(line, quote=False)


def _timestamp(milliseconds: int, decimal_mark: str) -> str:
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    seconds, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{decimal_mark}{milliseconds:03d}"


def _cues(segments: Sequence[Segment]) -> list[_Cue]:
    """What both formats show: the segments' words in cues that fit the limits, timed so that none overlap."""
    return _kept_apart([cue for segment in segments for cue in _segment_cues(segment)])


def _segment_cues(segment: Segment) -> list[_Cue]:
    """The cues a segment's text needs, its time shared among them by their characters: a reader needs
    the longer cue on screen longer, and speech takes about the same time per character."""
    cue_lines = _cue_lines(segment.text)
    if not cue_lines:
        return []
    start = _milliseconds(segment.start)
    end = max(_milliseconds(segment.end), start + MIN_CUE_MS)
    sizes = [len(" ".join(lines)) for lines in cue_lines]
    bounds = [start + (end - start) * characters // sum(sizes) for characters in accumulate(sizes, initial=0)]
    return [_Cue(cue_start, cue_end, lines)
            for (cue_start, cue_end), lines in zip(pairwise(bounds), cue_lines, strict=True)]


def _milliseconds(seconds: float) -> int:
    """A time as the files write it: from 0 (a time that is no finite number too) to the last the two-digit
    hours of HH:MM:SS hold."""
    if not math.isfinite(seconds):
        return 0
    return round(min(max(seconds, 0.0), MAX_MS / 1000) * 1000)


def _cue_lines(text: str) -> list[tuple[str, ...]]:
    """The lines of each cue: as few cues as the words fit in, the lines of each as even as they go."""
    lines = _filled_lines(_words(text), MAX_LINE)
    cues = [lines[first:first + MAX_LINES] for first in range(0, len(lines), MAX_LINES)]
    return [_balanced([word for line in cue for word in line.split(" ")], len(cue)) for cue in cues]


def _words(text: str) -> list[str]:
    """The text's words (any whitespace between them, line breaks included, is one space: a blank line would
    end an SRT cue early); a word longer than a line, or text in a script written without spaces, is cut
    into line-long pieces."""
    return [word[first:first + MAX_LINE] for word in text.split() for first in range(0, len(word), MAX_LINE)]


def _filled_lines(words: list[str], width: int) -> list[str]:
    """Each line filled with as many words as fit in `width`: the fewest lines the words can take."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _balanced(words: list[str], line_count: int) -> tuple[str, ...]:
    """The words in `line_count` lines at most, as narrow as they go: two lines of similar length read better
    than a full line over a short one."""
    narrowest = next(width for width in range(1, MAX_LINE + 1)
                     if len(_filled_lines(words, width)) <= line_count)
    return tuple(_filled_lines(words, narrowest))


def _kept_apart(cues: list[_Cue]) -> list[_Cue]:
    """Each cue starting after the one before and ending by the next one's start. Whisper's segments may overlap
    or start together, and a player stacks overlapping cues on screen; cues that would start in the same
    millisecond are moved a millisecond apart, so that each can end after it starts."""
    starts = list(accumulate((cue.start_ms for cue in cues), lambda previous, start: max(start, previous + 1)))
    ends = [max(cue.end_ms, start + 1) for cue, start in zip(cues, starts, strict=True)]
    clamped_ends = [min(end, next_start) for end, next_start in zip(ends[:-1], starts[1:], strict=True)] + ends[-1:]
    return [_Cue(start, end, cue.lines) for cue, start, end in zip(cues, starts, clamped_ends, strict=True)]
