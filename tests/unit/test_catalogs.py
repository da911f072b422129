"""The catalogs the bot answers in: complete, consistent with the code, and plural forms that read right."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from voicebot.adapters.translations import LOCALES, load_languages

SHIPPED = ("en", "ru", "uk", "de", "es")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
REPLIES = Path(__file__).resolve().parents[2] / "voicebot" / "core" / "replies.py"


def catalog(language: str):
    with open(LOCALES / language / "LC_MESSAGES" / "voicebot.po", "rb") as source:
        return read_po(source, locale=language)


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def test_the_template_holds_every_text_the_code_says_and_no_other():
    extracted = {message if isinstance(message, str) else message[0]
                 for _, message, _, _ in extract_from_file("python", REPLIES, keywords={"_": None, "_n": (1, 2)})}
    with open(LOCALES / "voicebot.pot", "rb") as source:
        template = {message.id if isinstance(message.id, str) else message.id[0]
                    for message in read_po(source) if message.id}
    assert extracted == template, "run pybabel extract and update (see the README's Languages section)"


@pytest.mark.parametrize("language", SHIPPED)
def test_every_text_is_translated_with_the_same_placeholders_and_every_plural_form(language):
    translated = catalog(language)
    with open(LOCALES / "voicebot.pot", "rb") as source:
        template = read_po(source)
    for source_message in template:
        if not source_message.id:
            continue
        message = translated.get(source_message.id)
        assert message is not None and not message.fuzzy, f"{language}: {source_message.id!r} is missing"
        ids = source_message.id if isinstance(source_message.id, tuple) else (source_message.id,)
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        assert len(forms) == (translated.num_plurals if len(ids) == 2 else 1), f"{language}: {ids[0]!r}"
        for form in forms:
            assert form.strip(), f"{language}: {ids[0]!r} has an empty translation"
            assert placeholders(form) == placeholders(ids[-1]), f"{language}: {ids[0]!r} -> {form!r}"


@pytest.mark.parametrize("language", SHIPPED)
def test_pybabel_compiles_each_catalog_fully_translated(language, tmp_path):
    po = LOCALES / language / "LC_MESSAGES" / "voicebot.po"
    compiled = subprocess.run([Path(sys.executable).parent / "pybabel", "compile", "--statistics", "-i", str(po),
                               "-o", str(tmp_path / "voicebot.mo")], capture_output=True, text=True, check=True)
    assert "(100%) translated" in compiled.stderr + compiled.stdout


def test_durations_take_each_languages_plural_forms():
    languages = load_languages()
    russian, ukrainian = languages["ru"], languages["uk"]
    assert [russian.duration(minutes * 60) for minutes in (1, 2, 5, 21)] == [
        "1 минута", "2 минуты", "5 минут", "21 минута"]
    assert ukrainian.duration(120) == "2 хвилини"
    assert languages["de"].duration(61) == "1 Minute 1 Sekunde" and languages["en"].duration(61) == "1 min 1 s"


def test_the_language_comes_from_the_first_two_letters_and_falls_back_to_english():
    languages = load_languages()
    assert languages["pt-br"].language == "en" and languages["RU"].language == "ru"
    assert languages[None].language == "en" and languages["de-AT"].language == "de"


def test_every_languages_statuses_are_recognised_as_statuses():
    languages = load_languages()
    for words in languages:
        assert languages.is_status(words.queued(3)) and languages.is_status(words.in_progress("so far"))
        assert not languages.is_status(words.failure(next(iter(words._failures)), 300, 20))
