"""`voicebot run` answers each user in their language: the one their Telegram app sends, the one they chose
with /lang (kept across a restart), English for the rest; and Telegram's own menus in each language."""
from datetime import UTC, datetime

import pytest

from voicebot.core.domain import FailureReason
from voicebot.sandbox import SandboxUser

from botprocess import LANGUAGES, RunningBot, reply_to, wait_final, write_config

pytestmark = pytest.mark.e2e

RUSSIAN, GERMAN = LANGUAGES["ru"], LANGUAGES["de"]
IVAN = SandboxUser(901, "Иван", language_code="ru")
GRETA = SandboxUser(902, "Greta", language_code="de-AT")
KOFI = SandboxUser(903, "Kofi", language_code="tw")   # Twi: no catalog, so English
NADIA = SandboxUser(904, "Надія", language_code="ru")


@pytest.fixture
def config(tmp_path, sandbox):
    return write_config(tmp_path / "config.toml", sandbox, tmp_path / "bot.db",
                        "[whisper]\nworkers = 1\n[limits]\nrate_limit_seconds = 0\n")


def answer_to(sandbox, user, text) -> str:
    message = sandbox.send_text(user, text)
    assert sandbox.wait_for(lambda: reply_to(sandbox, user.id, message) is not None, 60), text
    return reply_to(sandbox, user.id, message).text


def test_start_status_usage_and_failures_come_in_the_users_language(sandbox, config, speech, tmp_path):
    bot = RunningBot(config, tmp_path)
    try:
        assert answer_to(sandbox, IVAN, "/start") == RUSSIAN.help_text(300, 20, 600, 0)
        voice = sandbox.send_voice(IVAN, speech.voice_note, speech.duration)
        answer = wait_final(sandbox, IVAN.id, voice)
        assert answer.edits[-1] == RUSSIAN.PROCESSING   # the status was Russian; the transcript is as spoken
        assert speech.words.split()[0] in answer.text.lower()
        usage = answer_to(sandbox, IVAN, "/usage")
        assert usage.startswith(RUSSIAN.usage(speech.duration, 600, False, None, datetime.now(UTC))[:12])
        broken = sandbox.send_document(IVAN, b"\x00" * 4000, "voice.ogg", "audio/ogg")
        assert wait_final(sandbox, IVAN.id, broken).text == RUSSIAN.failure(FailureReason.UNREADABLE_AUDIO, 300, 20)

        assert answer_to(sandbox, GRETA, "/help") == GERMAN.help_text(300, 20, 600, 0)
        assert answer_to(sandbox, GRETA, "hallo") == GERMAN.TEXT_ONLY
        assert answer_to(sandbox, KOFI, "/start").startswith("I turn voice messages into text.")
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr


def test_a_chosen_language_sticks_across_a_restart(sandbox, config, tmp_path):
    bot = RunningBot(config, tmp_path)
    try:
        assert answer_to(sandbox, NADIA, "/lang de") == GERMAN.interface_chosen(automatic=False, in_group=False)
    finally:
        bot.stop()
    bot = RunningBot(config, tmp_path)
    try:
        assert answer_to(sandbox, NADIA, "/help") == GERMAN.help_text(300, 20, 600, 0)   # her app still says ru
        assert answer_to(sandbox, NADIA, "/lang auto") == RUSSIAN.interface_chosen(automatic=True, in_group=False)
    finally:
        bot.stop()


def test_telegrams_command_list_and_descriptions_are_set_in_each_language(sandbox, config, tmp_path):
    bot = RunningBot(config, tmp_path)
    try:
        assert answer_to(sandbox, KOFI, "/start")   # it is up
        for words in LANGUAGES:
            menus = sandbox.menus("" if words.language == "en" else words.language)
            assert menus["commands"] == [{"command": command, "description": text}
                                         for command, text in words.commands()]
            assert (menus["description"], menus["short_description"]) == (words.description(),
                                                                         words.short_description())
        assert sandbox.menus("ru")["commands"] != sandbox.menus("")["commands"]
    finally:
        bot.stop()
