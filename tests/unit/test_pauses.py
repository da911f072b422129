"""Cutting at pauses: where a long recording is split, and a segment the model made across a pause it never
heard, cut back into the speech either side."""
from hypothesis import given
from hypothesis import strategies as st

from voicebot.core.domain import Segment
from voicebot.core.pauses import cut_segment, recording_cuts

ONE_SAMPLE = 1 / 16_000


def test_a_recording_is_cut_at_the_pause_nearest_each_equal_share():
    assert recording_cuts([100, 470, 520, 900], 1000, 2) == [520]
    assert recording_cuts([100, 470, 520, 900], 1000, 4) == [100, 520, 900]   # at 250, 500 and 750
    assert recording_cuts([100, 490, 510], 1000, 4) == [100, 490, 510]       # in order, whatever was nearest
    assert recording_cuts([300], 1000, 4) == [300]   # fewer pauses than cuts wanted: fewer pieces
    assert recording_cuts([], 1000, 3) == []         # no pause, no cut
    assert recording_cuts([400, 600], 1000, 1) == []


def test_a_segment_across_a_skipped_pause_is_cut_there_between_its_sentences():
    """The model hears the speech joined up and may make one segment across a pause it never heard: cut at the
    pause, each part keeps its own words and the times around the silence (see Speech.recorded_segments)."""
    joined = Segment(0.0, 7.26, " Guten Morgen. Heute ist ein schöner Tag. Wir gehen zusammen in den Park.")
    before, after = cut_segment(joined, [3.59], ONE_SAMPLE)
    assert before.text == " Guten Morgen. Heute ist ein schöner Tag."
    assert after.text == " Wir gehen zusammen in den Park."
    assert before.start == 0.0 and before.end < 3.59 < after.start and after.end == 7.26
    plain = Segment(0.0, 10.0, " one two three four five six seven eight")
    assert [piece.text for piece in cut_segment(plain, [5.0], ONE_SAMPLE)] == [" one two three four",
                                                                                " five six seven eight"]


def test_a_segment_of_one_word_or_without_cuts_stays_whole():
    assert cut_segment(Segment(1.0, 2.0, " Hello."), [1.5], ONE_SAMPLE) == [Segment(1.0, 2.0, " Hello.")]
    assert cut_segment(Segment(1.0, 2.0, " Hello there"), [], ONE_SAMPLE) == [Segment(1.0, 2.0, " Hello there")]


@given(st.lists(st.sampled_from(["a", "bb", "ccc.", "dd?", "e"]), min_size=2, max_size=30),
       st.lists(st.integers(min_value=1, max_value=999), unique=True, max_size=4))
def test_a_cut_segment_keeps_every_word_in_order_and_its_pieces_in_time(words, centiseconds):
    segment = Segment(0.0, 10.0, " " + " ".join(words))
    pieces = cut_segment(segment, sorted(value / 100 for value in centiseconds), ONE_SAMPLE)
    assert " ".join(piece.text.strip() for piece in pieces).split() == words
    assert 0.0 <= pieces[0].start and pieces[-1].end <= 10.0   # (a pause at either end: the speech is within)
    assert all(piece.start < piece.end <= after.start for piece, after in zip(pieces, pieces[1:], strict=False))
