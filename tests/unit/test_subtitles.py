"""The subtitle files the bot makes, read back with the parsers players use (srt, webvtt-py): the words as said,
in cues a viewer can read, at the times they are heard."""
import html
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise

import pytest
import srt
import webvtt
from hypothesis import given
from hypothesis import strategies as st

from voicebot.core import subtitles
from voicebot.core.domain import Segment


@dataclass(frozen=True)
class Shown:
    """A cue as a player shows it: from `start` to `end` seconds, these lines."""
    start: float
    end: float
    lines: list[str]


def from_srt(segments: list[Segment]) -> list[Shown]:
    return [Shown(cue.start / timedelta(seconds=1), cue.end / timedelta(seconds=1), cue.content.split("\n"))
            for cue in srt.parse(subtitles.srt(segments))]


def from_webvtt(segments: list[Segment]) -> list[Shown]:
    # strict: a malformed cue block is an error, not a cue silently left out. A player decodes the entities.
    return [Shown(caption.start_time.in_milliseconds() / 1000, caption.end_time.in_milliseconds() / 1000,
                  [html.unescape(line) for line in caption.text.split("\n")])
            for caption in webvtt.from_string(subtitles.webvtt(segments), strict=True)]


both_formats = pytest.mark.parametrize("shown", [from_srt, from_webvtt], ids=["srt", "webvtt"])


def words_shown(cues: list[Shown]) -> list[str]:
    return [word for cue in cues for line in cue.lines for word in line.split()]


def words_said(segments: list[Segment]) -> list[str]:
    return [word for segment in segments for word in segment.text.split()]


def assert_readable(cues: list[Shown]):
    for cue in cues:
        assert 1 <= len(cue.lines) <= subtitles.MAX_LINES, cue
        assert all(0 < len(line) <= subtitles.MAX_LINE for line in cue.lines), cue


def assert_in_turn(cues: list[Shown]):
    for cue in cues:
        assert 0 <= cue.start < cue.end, cue
    for cue, following in pairwise(cues):
        assert cue.end <= following.start, (cue, following)


SPEECH = [
    Segment(0.0, 3.2, " Good morning everyone, and thank you for coming."),
    Segment(3.2, 11.8, " Today I want to talk about the budget for next year, which we have been discussing"
                       " for several weeks now, and about what it means for each of the teams here."),
    Segment(11.8, 13.0, " Questions at the end, please."),
]


def test_a_subrip_file_numbers_its_cues_from_one_with_comma_milliseconds_and_blank_lines_between():
    segments = [Segment(0.0, 1.5, " Hello."), Segment(3661.25, 3662.0, " Still here?")]

    assert subtitles.srt(segments) == ("1\n00:00:00,000 --> 00:00:01,500\nHello.\n"
                                       "\n"
                                       "2\n01:01:01,250 --> 01:01:02,000\nStill here?\n")


def test_a_webvtt_file_starts_with_its_header_and_a_blank_line_and_times_cues_with_a_dot():
    segments = [Segment(0.0, 1.5, " Hello."), Segment(3661.25, 3662.0, " Still here?")]

    assert subtitles.webvtt(segments) == ("WEBVTT\n"
                                          "\n"
                                          "00:00:00.000 --> 00:00:01.500\nHello.\n"
                                          "\n"
                                          "01:01:01.250 --> 01:01:02.000\nStill here?\n")


@both_formats
def test_the_cues_show_every_word_said_in_order(shown):
    assert words_shown(shown(SPEECH)) == words_said(SPEECH)


@both_formats
def test_no_line_is_longer_than_a_viewer_reads_and_no_cue_has_more_than_two_lines(shown):
    cues = shown(SPEECH)

    assert_readable(cues)
    assert any(len(cue.lines) == 2 for cue in cues)


@both_formats
def test_a_cue_that_needs_two_lines_shows_two_of_similar_length(shown):
    segments = [Segment(0.0, 4.0, " The quick brown fox jumps over the lazy dog and runs far away.")]

    [cue] = shown(segments)

    first, second = cue.lines
    assert abs(len(first) - len(second)) <= 8, cue.lines


@both_formats
def test_cues_follow_one_another_within_the_time_the_words_were_said(shown):
    cues = shown(SPEECH)

    assert_in_turn(cues)
    assert cues[0].start == SPEECH[0].start
    assert cues[-1].end == SPEECH[-1].end


@both_formats
def test_a_segment_too_long_for_one_cue_becomes_consecutive_cues_covering_its_time(shown):
    long_segment = SPEECH[1]

    cues = shown([long_segment])

    assert len(cues) > 1
    assert cues[0].start == long_segment.start
    assert cues[-1].end == long_segment.end
    assert all(cue.end == following.start for cue, following in pairwise(cues))
    assert words_shown(cues) == words_said([long_segment])


@both_formats
def test_a_split_segment_shares_its_time_among_its_cues_by_their_characters(shown):
    segment = Segment(10.0, 20.0, " " + " ".join(["word"] * 20))   # a full cue of 16 words, then 4 words

    full, short = shown([segment])

    characters = [len(" ".join(cue.lines)) for cue in (full, short)]
    assert (full.end - full.start) / (short.end - short.start) == pytest.approx(characters[0] / characters[1],
                                                                                  rel=0.01)


@both_formats
def test_overlapping_segments_give_cues_that_do_not_overlap(shown):
    segments = [Segment(0.0, 3.0, " Whisper sometimes"), Segment(2.5, 4.0, " overlaps its segments.")]

    first, second = shown(segments)

    assert (first.start, first.end) == (0.0, 2.5)
    assert (second.start, second.end) == (2.5, 4.0)


@both_formats
def test_a_segment_without_length_still_shows_for_a_moment(shown):
    [cue] = shown([Segment(5.0, 5.0, " Hm.")])

    assert cue.start == 5.0
    assert cue.end == pytest.approx(5.0 + subtitles.MIN_CUE_MS / 1000)


@both_formats
def test_times_before_the_recording_starts_are_shown_from_its_start(shown):
    [cue] = shown([Segment(-0.3, 1.0, " Hi.")])

    assert (cue.start, cue.end) == (0.0, 1.0)


@both_formats
def test_times_are_rounded_to_the_millisecond(shown):
    [cue] = shown([Segment(1.23456, 2.34567, " Hi.")])

    assert (cue.start, cue.end) == (1.235, 2.346)


def test_the_characters_webvtt_reserves_survive_a_round_trip():
    said = "Tom & Jerry <3 the <b> tag, a -> b --> c"
    segments = [Segment(0.0, 2.0, " " + said)]

    assert " ".join(words_shown(from_webvtt(segments))) == said
    assert [line for line in subtitles.webvtt(segments).splitlines() if "-->" in line] == [
        "00:00:00.000 --> 00:00:02.000"]


def test_line_breaks_inside_a_segment_never_make_a_blank_line_inside_a_cue():
    segments = [Segment(0.0, 2.0, " First line.\n\nSecond\tline."), Segment(2.0, 3.0, " Next.")]

    cues = from_srt(segments)

    assert [cue.lines for cue in cues] == [["First line. Second line."], ["Next."]]


@both_formats
def test_text_without_spaces_is_cut_into_lines_that_fit(shown):
    chinese = "今天我们讨论明年的预算这个问题我们已经讨论了好几个星期了" * 3   # 84 characters, no spaces
    japanese = "きょうはらいねんのよさんについてはなしたいとおもいます" * 2

    cues = shown([Segment(0.0, 6.0, chinese), Segment(6.0, 9.0, japanese)])

    assert_readable(cues)
    assert_in_turn(cues)
    assert "".join(line for cue in cues for line in cue.lines) == chinese + japanese


@both_formats
def test_a_word_longer_than_a_line_is_cut_into_line_long_pieces(shown):
    url = "https://example.com/" + "a" * 60

    cues = shown([Segment(0.0, 2.0, f" See {url} now.")])

    assert_readable(cues)
    assert words_shown(cues) == ["See", url[:42], url[42:], "now."]


@both_formats
def test_segments_without_words_get_no_cue(shown):
    segments = [Segment(0.0, 1.0, ""), Segment(1.0, 2.0, " Hello."), Segment(2.0, 3.0, "  \n "),
                Segment(3.0, 4.0, " Bye.")]

    cues = shown(segments)

    assert [(cue.start, cue.end, cue.lines) for cue in cues] == [(1.0, 2.0, ["Hello."]), (3.0, 4.0, ["Bye."])]


def test_subrip_cues_are_numbered_without_gaps_when_segments_are_skipped():
    segments = [Segment(0.0, 1.0, " "), Segment(1.0, 2.0, " Hello."), Segment(2.0, 3.0, ""), Segment(3.0, 4.0, " Bye.")]

    assert [cue.index for cue in srt.parse(subtitles.srt(segments))] == [1, 2]


def test_no_segments_give_files_players_accept_with_no_cues():
    assert list(srt.parse(subtitles.srt([]))) == []
    assert len(webvtt.from_string(subtitles.webvtt([]), strict=True)) == 0


# Words as Whisper might give them: any script, the characters subtitle formats reserve, now and then one
# longer than a line.
word = st.text(st.sampled_from("abcxyzAÉ019.,?!'-&<>;#今天预算きょう"), min_size=1, max_size=60)
spacing = st.sampled_from([" ", "  ", "\n", "\n\n", "\t", " \r\n "])


@st.composite
def whisper_segments(draw) -> list[Segment]:
    """Segments in order of their start, as Whisper gives them, but some overlapping, some without length,
    some without words."""
    segments, start = [], draw(st.floats(0.0, 5.0))
    for _ in range(draw(st.integers(0, 12))):
        start += draw(st.floats(0.0, 20.0))
        end = start + draw(st.floats(-1.0, 30.0))
        words = draw(st.lists(word, max_size=40))
        text = "".join(draw(spacing) + each for each in words) + draw(st.sampled_from(["", " ", "\n"]))
        segments.append(Segment(start, end, text))
    return segments


def line_long_pieces(words: list[str]) -> list[str]:
    width = subtitles.MAX_LINE
    return [each[first:first + width] for each in words for first in range(0, len(each), width)]


@both_formats
@given(segments=whisper_segments())
def test_any_segments_give_readable_cues_in_turn_with_every_word(shown, segments):
    cues = shown(segments)

    assert words_shown(cues) == line_long_pieces(words_said(segments))
    assert_readable(cues)
    assert_in_turn(cues)
    spoken = [segment for segment in segments if segment.text.strip()]
    if spoken:
        earliest = min(segment.start for segment in spoken)
        latest = max(max(segment.end, segment.start + subtitles.MIN_CUE_MS / 1000) for segment in spoken)
        # Cues that would start in the same millisecond are moved a millisecond apart.
        assert cues[0].start >= round(earliest, 3)
        assert cues[-1].end <= round(latest, 3) + len(cues) / 1000
