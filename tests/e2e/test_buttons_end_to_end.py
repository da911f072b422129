"""`voicebot run` with the buttons under its transcripts, pressed in the sandbox as a user's app presses them:
English (Whisper's translate task, charged to who pressed), Subtitles (.srt and .vtt read with real parsers),
Timestamps; forged, stale and refused presses get a notice and nothing else; /translate and /vocab."""
import numpy as np
import pytest
import srt
import webvtt

from voicebot.adapters.audio import SAMPLE_RATE, decode
from voicebot.adapters.speech import synthesize
from voicebot.core.buttons import Action
from voicebot.core.replies import Wording
from voicebot.sandbox import SandboxUser

from botprocess import RunningBot, is_final, replies_to, reply_to, stored, wait_final, write_config
from helpers import normalized
from media import audio_file, wav

pytestmark = pytest.mark.e2e

ENGLISH_WORDING = Wording()   # what the bot says in English
ANNA = SandboxUser(1201, "Anna", language_code="en")
BORIS = SandboxUser(1202, "Boris", language_code="en")
CARL = SandboxUser(1203, "Carl", language_code="en")
GROUP = -1200
PAUSE_SECONDS = 4
LABELS = ENGLISH_WORDING.BUTTONS


@pytest.fixture(scope="module")
def german_note(tmp_path_factory):
    """A German voice note, two sentences 4 s apart (a pause the VAD skips): (OGG bytes, seconds, where the second
    sentence starts)."""
    first = decode(synthesize("Guten Morgen. Heute ist ein schöner Tag.", voice="de"), max_seconds=60)
    second = decode(synthesize("Wir gehen zusammen in den Park.", voice="de"), max_seconds=60)
    samples = np.concatenate([first, np.zeros(PAUSE_SECONDS * SAMPLE_RATE, np.float32), second])
    folder = tmp_path_factory.mktemp("german")
    (folder / "german.wav").write_bytes(wav(samples))
    return audio_file(folder / "german.wav", "ogg", folder), round(samples.size / SAMPLE_RATE), first.size / SAMPLE_RATE


def config_with(tmp_path, sandbox, extra: str = ""):
    return write_config(tmp_path / "config.toml", sandbox, tmp_path / "bot.db",
                        "[whisper]\nworkers = 1\n[limits]\nrate_limit_seconds = 10\n" + extra)


def labels(message) -> list[str]:
    markup = message.reply_markup or {}
    return [button["text"] for row in markup.get("inline_keyboard", []) for button in row]


def data_of(message, action: Action) -> str:
    """The callback data of the button for `action` under the message."""
    return next(button["callback_data"] for row in message.reply_markup["inline_keyboard"] for button in row
                if button["text"] == LABELS[action])


def press(sandbox, user, chat_id, message, action: Action) -> dict:
    """Presses the button and waits for the bot's answer to the press (what the user's app shows)."""
    query = sandbox.press_button(user, chat_id, message.message_id, text=LABELS[action])
    assert sandbox.wait_for(lambda: sandbox.callback_answer(query) is not None, 60), f"{action} not answered"
    return sandbox.callback_answer(query)


def test_english_subtitles_and_timestamps_under_a_german_note(sandbox, german_note, tmp_path):
    note, seconds, second_sentence_at = german_note
    bot = RunningBot(config_with(tmp_path, sandbox), tmp_path)
    try:
        voice = sandbox.send_voice(ANNA, note, seconds)
        transcript = wait_final(sandbox, ANNA.id, voice)
        assert "guten morgen" in normalized(transcript.text)
        assert labels(transcript) == [LABELS[Action.ENGLISH], LABELS[Action.SUBTITLES], LABELS[Action.TIMESTAMPS]]

        assert press(sandbox, ANNA, ANNA.id, transcript, Action.SUBTITLES)["text"] is None
        assert sandbox.wait_for(lambda: len(files_in_reply(sandbox, transcript)) == 2, 60)
        subtitles = files_in_reply(sandbox, transcript)
        assert set(subtitles) == {"subtitles.srt", "subtitles.vtt"}
        cues = list(srt.parse(subtitles["subtitles.srt"].decode()))
        assert "park" in normalized(" ".join(cue.content for cue in cues))
        park = next(cue for cue in cues if "park" in normalized(cue.content))
        # In the recording's own time: after the first sentence and the pause the model never heard.
        assert park.start.total_seconds() >= second_sentence_at + PAUSE_SECONDS - 1.0
        vtt = webvtt.from_string(subtitles["subtitles.vtt"].decode())
        assert [caption.text for caption in vtt] == [cue.content for cue in cues]
        assert all(len(line) <= 42 for cue in cues for line in cue.content.splitlines())

        assert press(sandbox, ANNA, ANNA.id, transcript, Action.TIMESTAMPS)["text"] is None
        assert sandbox.wait_for(lambda: current(sandbox, transcript).text.startswith("[00:00] "), 60)
        marked = current(sandbox, transcript)
        assert f"[00:{int(park.start.total_seconds()):02d}]" in marked.text
        assert labels(marked) == [LABELS[Action.ENGLISH], LABELS[Action.SUBTITLES]]

        answer = press(sandbox, ANNA, ANNA.id, marked, Action.ENGLISH)
        assert answer["text"] == ENGLISH_WORDING.TRANSLATING
        english = wait_english(sandbox, transcript)
        assert {"morning", "park"} <= set(normalized(english.text).split()), english.text
        assert LABELS[Action.ENGLISH] not in labels(english) and LABELS[Action.SUBTITLES] in labels(english)
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr
    with stored(f"sqlite:///{tmp_path / 'bot.db'}") as storage:
        charged = [(row.message_id, row.charged_seconds) for row in storage.usages(ANNA.id)]
    # The note and its translation, each charged once; the subtitles and timestamps were free.
    assert [message_id for message_id, _ in charged] == [voice, transcript.message_id]
    assert all(seconds_charged >= seconds - 1 for _, seconds_charged in charged)


def test_forged_stale_and_refused_presses_get_a_notice_and_nothing_else(sandbox, german_note, speech, tmp_path):
    note, seconds, _ = german_note
    # Enough for one recording a day each, and a little more.
    config = config_with(tmp_path, sandbox, f"[quota]\ndaily_seconds = {max(seconds, speech.duration) + 2}\n")
    bot = RunningBot(config, tmp_path)
    try:
        english_voice = sandbox.send_voice(ANNA, speech.voice_note, speech.duration)
        english = wait_final(sandbox, ANNA.id, english_voice)
        assert labels(english) == [LABELS[Action.SUBTITLES], LABELS[Action.TIMESTAMPS]]   # English already

        before = len(sandbox.messages(ANNA.id))
        forged = sandbox.press_button(ANNA, ANNA.id, english.message_id, data=f"e{english_voice}.AAAAAAAAAAAA")
        assert sandbox.wait_for(lambda: sandbox.callback_answer(forged) is not None, 60)
        assert sandbox.callback_answer(forged)["text"] == ENGLISH_WORDING.BUTTON_INVALID

        # In a group anyone may press, and whoever presses is charged: Boris has the day's quota for it.
        german_voice = sandbox.send_voice(CARL, note, seconds, chat_id=GROUP)
        german = wait_final(sandbox, GROUP, german_voice)
        assert press(sandbox, BORIS, GROUP, german, Action.ENGLISH)["text"] == ENGLISH_WORDING.TRANSLATING
        # A second translation by Boris within the rate window.
        assert press(sandbox, BORIS, GROUP, german, Action.ENGLISH)["text"].startswith("One recording at a time")
        translation = wait_english(sandbox, german)
        assert "morning" in normalized(translation.text)
        # Data copied from the German transcript's keyboard is no button of the English text's: pressed there, it
        # is refused, and the English text keeps its own buttons.
        copied = sandbox.press_button(CARL, GROUP, translation.message_id, data=data_of(german, Action.TIMESTAMPS))
        assert sandbox.wait_for(lambda: sandbox.callback_answer(copied) is not None, 60)
        assert sandbox.callback_answer(copied)["text"] == ENGLISH_WORDING.BUTTON_INVALID
        assert labels(current(sandbox, translation)) == labels(translation) == [LABELS[Action.SUBTITLES],
                                                                                LABELS[Action.TIMESTAMPS]]
        # Anna used hers on her own note: what is left is less than the recording.
        refused = press(sandbox, ANNA, GROUP, german, Action.ENGLISH)["text"]
        assert refused.startswith("You have ") and "of your daily" in refused, refused

        # /forget: the recording is gone, and its buttons say so.
        forget = sandbox.send_text(ANNA, "/forget")
        assert sandbox.wait_for(lambda: reply_to(sandbox, ANNA.id, forget) is not None, 60)
        assert press(sandbox, ANNA, ANNA.id, english, Action.SUBTITLES)["text"] == ENGLISH_WORDING.RECORDING_GONE
        assert len(sandbox.messages(ANNA.id)) == before + 1   # only the answer to /forget
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr
    with stored(f"sqlite:///{tmp_path / 'bot.db'}") as storage:
        assert [row.charged_seconds > 0 for row in storage.usages(BORIS.id)] == [True]


def test_without_kept_transcripts_subtitles_say_so_and_settings_shape_transcripts(sandbox, german_note, tmp_path):
    note, seconds, _ = german_note
    bot = RunningBot(config_with(tmp_path, sandbox, "[storage]\nkeep_transcripts = false\n"), tmp_path)
    try:
        voice = sandbox.send_voice(ANNA, note, seconds)
        transcript = wait_final(sandbox, ANNA.id, voice)
        assert press(sandbox, ANNA, ANNA.id, transcript, Action.SUBTITLES)["text"] == \
            ENGLISH_WORDING.TRANSCRIPT_NOT_KEPT
        assert files_in_reply(sandbox, transcript) == {}

        translate = sandbox.send_text(BORIS, "/translate on")
        assert sandbox.wait_for(lambda: reply_to(sandbox, BORIS.id, translate) is not None, 60)
        assert reply_to(sandbox, BORIS.id, translate).text == ENGLISH_WORDING.translate(True, changed=True)
        translated = wait_final(sandbox, BORIS.id, sandbox.send_voice(BORIS, note, seconds))
        assert "morning" in normalized(translated.text), translated.text
        assert LABELS[Action.ENGLISH] not in labels(translated)

        vocab = sandbox.send_text(BORIS, "/vocab Siobhan, Nakamura")
        assert sandbox.wait_for(lambda: reply_to(sandbox, BORIS.id, vocab) is not None, 60)
        shown = sandbox.send_text(BORIS, "/vocab")
        assert sandbox.wait_for(lambda: reply_to(sandbox, BORIS.id, shown) is not None, 60)
        assert reply_to(sandbox, BORIS.id, shown).text == ENGLISH_WORDING.vocabulary_is("Siobhan, Nakamura", False)
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr


def wait_english(sandbox, transcript):
    """The English text, in reply to the transcript (beside any subtitle files there)."""
    def english():
        return next((m for m in replies_to(sandbox, transcript.chat_id, transcript.message_id) if is_final(m)), None)
    assert sandbox.wait_for(lambda: english() is not None, 180), sandbox.messages(transcript.chat_id)
    return english()


def current(sandbox, message):
    return next(m for m in sandbox.messages(message.chat_id) if m.message_id == message.message_id)


def files_in_reply(sandbox, message) -> dict[str, bytes]:
    return {m.document_name: m.document for m in replies_to(sandbox, message.chat_id, message.message_id)
            if m.document is not None}
