"""Splitting long transcripts into Telegram-sized messages without cutting words; vocabulary text as
Whisper may be given it."""
import re

TELEGRAM_LIMIT = 4096
_SENTENCE_END = re.compile(r"[.!?…。](\s+)")
# Whisper's tokenizer reads each of its special tokens (<|endoftext|>, <|translate|>, <|en|> …) written in
# text as that token, not as characters; all of them, and only they, are written <|…|>.
_CONTROL_TOKEN = re.compile(r"<\|[^<>|]*\|>")


def vocabulary_words(text: str) -> str:
    """Names and terms as Whisper is given them (its hotwords): the words one space apart, with nothing
    written like one of its control tokens, taken out again until none is left (removing `<|en|>` from
    `<|endof<|en|>text|>` leaves one)."""
    while (stripped := _CONTROL_TOKEN.sub(" ", text)) != text:
        text = stripped
    return " ".join(text.split())


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut after a sentence if possible, else between
    words, else (one enormous word) anywhere. Joined with spaces they give back the words."""
    pieces = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _cut_point(text: str, limit: int) -> int:
    window = text[:limit + 1]
    sentence_ends = [match.end(1) - len(match.group(1)) for match in _SENTENCE_END.finditer(window)]
    # A sentence break in the first half would make many short messages: prefer a word break then.
    if sentence_ends and sentence_ends[-1] > limit // 2:
        return sentence_ends[-1]
    space = window.rfind(" ")
    return space if space > 0 else limit
