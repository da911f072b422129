"""What users see, end to end: every kind of media, limits, failures, progress, queues and groups.

One `voicebot run` process serves the whole module (two workers, no rate limit), against the
sandbox, with the bundled model and real speech."""
import pytest

from voicebot.adapters.speech import synthesize
from voicebot.core.replies import Wording
from voicebot.sandbox import BotApiSandbox, SandboxUser

from botprocess import TOKEN, RunningBot, replies_to, reply_to, wait_final, write_config
from helpers import normalized
from media import audio_file, long_passage, sox_wav, video

pytestmark = pytest.mark.e2e

ENGLISH_WORDING = Wording()   # what the bot says in English
MB = 1024 * 1024
GROUP = -1001
MAX_SECONDS = 600   # long enough for a transcript over Telegram's 4096 characters
users = (SandboxUser(600 + n, f"User{n}") for n in range(1, 1000))


@pytest.fixture(scope="module")
def sandbox():
    with BotApiSandbox(TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def bot(sandbox, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bot")
    config = write_config(folder / "config.toml", sandbox, folder / "bot.db", """
[whisper]
workers = 2
# Greedy decoding halves the time of the long clips; these tests are about media, not accuracy.
beam_size = 1
timeout_seconds = 900
[limits]
rate_limit_seconds = 0
max_duration_seconds = 600
[quota]
daily_seconds = 100000
[output]
file_threshold_chars = 1500
""")
    running = RunningBot(config, folder)
    yield running
    returncode, stderr = running.stop()
    assert returncode == 0, stderr
    assert "Traceback" not in stderr and TOKEN.split(":")[1] not in stderr


@pytest.fixture(scope="module")
def media_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.mark.parametrize("kind", ["audio mp3", "audio m4a", "document flac", "document wav", "video_note", "video"])
def test_every_kind_of_recording_is_transcribed(bot, sandbox, speech_file, media_folder, kind):
    source, words, seconds = speech_file
    user = next(users)
    match kind.split():
        case ["audio", extension]:
            sent = sandbox.send_audio(user, audio_file(source, extension, media_folder), seconds,
                                      mime_type=f"audio/{extension}", file_name=f"memo.{extension}")
        case ["document", extension]:
            sent = sandbox.send_document(user, audio_file(source, extension, media_folder), f"speech.{extension}",
                                         "application/octet-stream")
        case ["video_note"]:
            sent = sandbox.send_video_note(user, video(source, media_folder, square=True), seconds)
        case ["video"]:
            sent = sandbox.send_video(user, video(source, media_folder), seconds)
    assert words in normalized(wait_final(sandbox, user.id, sent).text)


def test_too_long_or_too_big_is_refused_without_any_download(bot, sandbox, speech):
    long_user, big_user = next(users), next(users)
    downloads_before = len(sandbox.calls("getFile")) + len(sandbox.calls("file"))
    too_long = sandbox.send_voice(long_user, speech.voice_note, MAX_SECONDS + 1)
    too_big = sandbox.send_audio(big_user, speech.voice_note, 11, file_size=21 * MB)
    assert "up to 10 min" in wait_final(sandbox, long_user.id, too_long).text
    assert "up to 20 MB" in wait_final(sandbox, big_user.id, too_big).text
    assert len(sandbox.calls("getFile")) + len(sandbox.calls("file")) == downloads_before


def test_a_recording_that_lies_about_its_length_is_stopped_while_decoding(bot, sandbox, speech_file, media_folder):
    source, _, seconds = speech_file
    liar = next(users)
    # Over the limit for real, while the update claims a few seconds.
    sent = sandbox.send_audio(liar, audio_file(source, "mp3", media_folder, repeat=MAX_SECONDS // seconds + 3), 9)
    assert "up to 10 min" in wait_final(sandbox, liar.id, sent).text


def test_what_cannot_be_transcribed_gets_one_plain_answer(bot, sandbox, speech_file, media_folder):
    source, _, _ = speech_file
    cases = {
        "photo": lambda user: sandbox.send_photo(user),
        "sticker": lambda user: sandbox.send_sticker(user),
        "pdf": lambda user: sandbox.send_document(user, b"%PDF-1.4 not audio", "cv.pdf", "application/pdf"),
        "random bytes": lambda user: sandbox.send_voice(user, bytes(range(256)) * 64, 4),
        "empty file": lambda user: sandbox.send_audio(user, b"", 4),
        "mute video": lambda user: sandbox.send_video(user, video(source, media_folder, with_sound=False), 5),
    }
    expected = {"photo": "only transcribe", "sticker": "only transcribe", "pdf": "only transcribe",
                "random bytes": "couldn't read this file", "empty file": "couldn't read this file",
                "mute video": "couldn't hear any speech"}
    for what, send in cases.items():
        user = next(users)
        sent = send(user)
        answer = wait_final(sandbox, user.id, sent)
        assert expected[what] in answer.text, what
        assert len(replies_to(sandbox, user.id, sent)) == 1, what


@pytest.mark.parametrize("sound", ["sine 0", "pinknoise vol 0.3", "sine 50 vol 0.5", "brownnoise vol 0.3"])
def test_silence_noise_and_hum_are_no_speech_at_once_and_cost_nothing(bot, sandbox, media_folder, sound):
    user = next(users)
    made = media_folder / f"{sound.replace(' ', '-')}.wav"
    made.write_bytes(sox_wav(15, *sound.split()))
    sent = sandbox.send_voice(user, audio_file(made, "ogg", media_folder), 15)
    answer = wait_final(sandbox, user.id, sent)
    assert "couldn't hear any speech" in answer.text and len(replies_to(sandbox, user.id, sent)) == 1
    usage = sandbox.send_text(user, "/usage")
    assert sandbox.wait_for(lambda: reply_to(sandbox, user.id, usage) is not None, 30)
    assert "you used 0 s" in reply_to(sandbox, user.id, usage).text   # not charged


def test_a_long_recording_shows_its_text_as_it_goes(bot, sandbox, speech_file, media_folder):
    source, words, seconds = speech_file
    user = next(users)
    repeats = max(2, 45 // seconds)
    sent = sandbox.send_audio(user, audio_file(source, "m4a", media_folder, repeat=repeats), seconds * repeats)
    final = wait_final(sandbox, user.id, sent, timeout=300)
    progress = [text for text in final.edits if text.startswith(ENGLISH_WORDING.PROCESSING + "\n\n")]
    assert progress, final.edits
    assert all(words.split()[0] in normalized(text) for text in progress)
    assert normalized(final.text).count(words) >= repeats - 1


def test_when_workers_are_busy_the_status_shows_the_place_in_queue(bot, sandbox, speech):
    senders = [next(users) for _ in range(5)]
    sent = [(user, sandbox.send_voice(user, speech.voice_note, speech.duration)) for user in senders]
    finals = [wait_final(sandbox, user.id, message_id) for user, message_id in sent]
    firsts = [final.edits[0] if final.edits else final.text for final in finals]
    assert any(text.startswith("Received. #1 in queue") for text in firsts), firsts
    assert all(speech.words in normalized(final.text) for final in finals)
    assert all(len(replies_to(sandbox, user.id, message_id)) == 1 for user, message_id in sent)


def test_a_transcript_over_the_message_limit_is_split_and_also_sent_as_a_file(bot, sandbox, media_folder):
    user = next(users)
    spoken = media_folder / "long.wav"
    spoken.write_bytes(synthesize(long_passage(5600)))
    recording = audio_file(spoken, "ogg", media_folder)
    sent = sandbox.send_voice(user, recording, None)
    first = wait_final(sandbox, user.id, sent, timeout=600)
    assert not first.text.startswith(("I couldn't", "Transcribing this took")), first.text
    assert sandbox.wait_for(lambda: any(m.document for m in replies_to(sandbox, user.id, sent)), 60)
    answers = replies_to(sandbox, user.id, sent)
    texts = [m.text for m in answers if m.text]
    assert len(texts) >= 2 and all(len(text) <= 4096 for text in texts)
    [document] = [m for m in answers if m.document]
    assert normalized(" ".join(texts)) == normalized(document.document.decode())   # nothing lost, in order
    assert normalized(texts[-1]).split()[-1] in normalized(document.document.decode()).split()[-3:]
    assert normalized(document.document.decode()).count("before the storm") >= 10


def test_groups_transcribe_automatically_or_on_request(bot, sandbox, speech):
    admin, member, asker = next(users), next(users), next(users)
    sandbox.make_group_admin(admin, GROUP)
    automatic = sandbox.send_voice(member, speech.voice_note, speech.duration, chat_id=GROUP)
    assert speech.words in normalized(wait_final(sandbox, GROUP, automatic).text)

    refused = sandbox.send_text(member, "/auto off", chat_id=GROUP)
    assert "Only the group's admins" in wait_final(sandbox, GROUP, refused).text
    switched = sandbox.send_text(admin, "/auto off", chat_id=GROUP)
    assert "reply /transcribe" in wait_final(sandbox, GROUP, switched).text

    ignored = sandbox.send_voice(member, speech.voice_note, speech.duration, chat_id=GROUP)
    request = sandbox.send_text(asker, "/transcribe", chat_id=GROUP, reply_to=ignored)
    transcript = wait_final(sandbox, GROUP, ignored)
    assert speech.words in normalized(transcript.text)
    assert len(replies_to(sandbox, GROUP, ignored)) == 1 and reply_to(sandbox, GROUP, request) is None

    usage = sandbox.send_text(asker, "/usage", chat_id=GROUP)
    assert f"used {speech.duration} s" in wait_final(sandbox, GROUP, usage).text   # charged to who asked
