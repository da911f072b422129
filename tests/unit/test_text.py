from hypothesis import given
from hypothesis import strategies as st

from voicebot.core.text import TELEGRAM_LIMIT, split_message


def test_short_text_stays_whole():
    assert split_message("  Hello there.  ") == ["Hello there."]


def test_long_text_is_cut_after_sentences_within_the_limit():
    text = "This is one sentence of a long transcript. " * 300
    pieces = split_message(text)
    assert len(pieces) > 1 and all(len(piece) <= TELEGRAM_LIMIT for piece in pieces)
    assert all(piece.endswith(".") for piece in pieces)
    assert " ".join(pieces).split() == text.split()


@given(st.text(alphabet=st.sampled_from("ab .!?\n"), min_size=0, max_size=9000), st.integers(20, 300))
def test_no_piece_is_over_the_limit_and_no_word_is_lost(text, limit):
    pieces = split_message(text, limit)
    assert all(0 < len(piece) <= limit for piece in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())
