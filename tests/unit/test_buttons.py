"""The buttons under a transcript, pressed: the QuotaActor with recording fakes for the sender and storage."""
import dataclasses

import pytest

from actors.messages import (
    ButtonPressed,
    ChatAdminChecked,
    CheckChatAdmin,
    CommandReceived,
    JobAdmitted,
    JobStored,
    LoadRecording,
    RecordingLoaded,
    RecordUsage,
    ResultDelivered,
    StoreJob,
    TranscriptReady,
    VoiceReceived,
)
from actors.quota import QuotaActor, QuotaRules
from voicebot.core.buttons import Action, ButtonData
from voicebot.core.calls import AnswerPress, EditButtons, EditText, SendDocument, SendText
from voicebot.core.domain import JobKey, Segment, StoredRecording, Task, Transcript, UserSettings, UserState
from voicebot.core.intake import parse_update
from voicebot.core.replies import Wording

from helpers import FakeTime, make_job
from mailbox import RecordingMailbox, deliver

ENGLISH_WORDING = Wording()   # what the bot says in English
RULES = QuotaRules(daily_seconds=60, rate_limit_seconds=10, max_duration_seconds=300, max_file_mb=20)
DATA = ButtonData(b"a secret of this bot")
CHAT = 7
VOICE = JobKey(CHAT, 1)           # the user's recording
TRANSCRIPT_MESSAGE = 2            # the bot's message with the transcript and its buttons
SEGMENTS = (Segment(0.0, 2.5, " Guten Tag."), Segment(31.0, 34.0, " Wie geht es?"))
GERMAN = Transcript("Guten Tag. Wie geht es?", "de", 1.0, 34.0, 2.0, SEGMENTS)


@pytest.fixture
def fakes():
    return RecordingMailbox("dispatcher"), RecordingMailbox("sender"), RecordingMailbox("storage"), FakeTime()


def start_quota(fakes, users=(), charged_today=0.0):
    dispatcher, sender, storage, time = fakes
    states = {7: UserState(7, charged_today=charged_today), **{state.user_id: state for state in users}}
    return QuotaActor.start(rules=RULES, dispatcher=dispatcher, sender=sender, storage=storage, users=states,
                            now=time.now, clock=lambda: time.monotonic, buttons=DATA)


def press(action: Action | None = None, data: str | None = None, user_id: int = 7, query: str = "q1",
          text: str = GERMAN.text) -> ButtonPressed:
    """A press of the button for `action` (or with `data`) under the transcript, where Telegram reports it."""
    data = data if data is not None else DATA.write(CHAT, action, VOICE.message_id)
    return ButtonPressed(query, CHAT, user_id, TRANSCRIPT_MESSAGE, data, text, message_buttons=(data,))


def loaded(pressed: ButtonPressed, found: StoredRecording | None) -> RecordingLoaded:
    """The StorageActor's answer to the LoadRecording the press asked for."""
    return RecordingLoaded(pressed, DATA.read(CHAT, pressed.data), found)


def recording(transcript: Transcript | None = GERMAN) -> StoredRecording:
    return StoredRecording(VOICE, make_job().media, Task.TRANSCRIBE, transcript)


def answers(sender: RecordingMailbox) -> list[str | None]:
    return [answer.text for answer in sender.of(AnswerPress)]


@pytest.mark.parametrize("data", ["", "s1", "x1.AAAAAAAAAAAA", DATA.write(CHAT, Action.SUBTITLES, 1)[:-1] + "A",
                                  ButtonData(b"another bot").write(CHAT, Action.SUBTITLES, 1),
                                  DATA.write(CHAT + 1, Action.SUBTITLES, 1), "s1." + "A" * 300])
def test_forged_or_foreign_callback_data_gets_a_notice_and_nothing_else(fakes, data):
    dispatcher, sender, storage, _ = fakes
    deliver(start_quota(fakes), press(data=data))
    assert answers(sender) == [ENGLISH_WORDING.BUTTON_INVALID]
    assert storage.messages == [] and dispatcher.messages == []


def as_telegram_reports(data: str, message_id: int, buttons: tuple[str, ...]) -> ButtonPressed:
    """A press of `data` under the bot's message `message_id`, read from the update Telegram sends: with that
    message as it stands, and so with the data of the `buttons` under it."""
    keyboard = [[{"text": f"button {n}", "callback_data": data} for n, data in enumerate(buttons)]]
    message = {"message_id": message_id, "chat": {"id": CHAT, "type": "private"}, "text": GERMAN.text,
               "reply_markup": {"inline_keyboard": keyboard}}
    return parse_update({"update_id": 1, "callback_query": {"id": "q1", "from": {"id": 7}, "data": data,
                                                            "message": message}})


def test_data_copied_under_another_message_of_the_bot_is_not_valid_there(fakes):
    _, sender, storage, _ = fakes
    quota = start_quota(fakes)
    # Message 12 is the transcript of another recording (11) in the same chat, with buttons of its own.
    its_own = (DATA.write(CHAT, Action.SUBTITLES, 11), DATA.write(CHAT, Action.TIMESTAMPS, 11))
    copied = DATA.write(CHAT, Action.TIMESTAMPS, VOICE.message_id)   # from under the transcript of VOICE
    deliver(quota, as_telegram_reports(copied, 12, its_own))
    assert answers(sender) == [ENGLISH_WORDING.BUTTON_INVALID] and storage.messages == []
    deliver(quota, as_telegram_reports(copied, TRANSCRIPT_MESSAGE, (copied,)))   # where it was put: it works
    assert [load.key for load in storage.of(LoadRecording)] == [VOICE]


def test_a_press_on_a_recording_the_bot_no_longer_has_gets_a_notice_and_nothing_else(fakes):
    _, sender, storage, _ = fakes
    quota = start_quota(fakes)
    deliver(quota, press(Action.SUBTITLES))
    assert storage.of(LoadRecording)[0].key == VOICE
    deliver(quota, loaded(press(Action.SUBTITLES), None))
    assert sender.messages == [AnswerPress("q1", ENGLISH_WORDING.RECORDING_GONE)]


def test_subtitles_are_two_files_in_reply_to_the_transcript_and_free(fakes):
    dispatcher, sender, _, _ = fakes
    deliver(start_quota(fakes), loaded(press(Action.SUBTITLES), recording()))
    files = sender.of(SendDocument)
    assert [file.file_name for file in files] == ["subtitles.srt", "subtitles.vtt"]
    assert all(file.to.reply_to_message_id == TRANSCRIPT_MESSAGE for file in files)
    assert b"00:00:31,000 --> 00:00:34,000" in files[0].data and b"Wie geht es?" in files[1].data
    assert answers(sender) == [None] and dispatcher.messages == []


def test_without_kept_transcripts_the_subtitles_button_says_so(fakes):
    _, sender, _, _ = fakes
    deliver(start_quota(fakes), loaded(press(Action.SUBTITLES), recording(transcript=None)))
    assert sender.messages == [AnswerPress("q1", ENGLISH_WORDING.TRANSCRIPT_NOT_KEPT)]


def test_timestamps_are_edited_into_the_transcript_and_their_button_goes(fakes):
    _, sender, _, _ = fakes
    deliver(start_quota(fakes), loaded(press(Action.TIMESTAMPS), recording()))
    [edit] = sender.of(EditText)
    assert (edit.message.message_id, edit.text) == (TRANSCRIPT_MESSAGE, "[00:00] Guten Tag.\n[00:31] Wie geht es?")
    assert [label for label, _ in edit.keyboard[0]] == ["🌐 English", "🎬 Subtitles"]
    assert answers(sender) == [None]


def test_timestamps_of_a_transcript_in_several_messages_come_in_reply(fakes):
    _, sender, _, _ = fakes
    deliver(start_quota(fakes), loaded(press(Action.TIMESTAMPS, text="…the last part"), recording()))
    assert [reply.text for reply in sender.of(SendText)] == ["[00:00] Guten Tag.\n[00:31] Wie geht es?"]
    assert sender.of(SendText)[0].to.reply_to_message_id == TRANSCRIPT_MESSAGE
    assert [label for label, _ in sender.of(EditButtons)[0].keyboard[0]] == ["🌐 English", "🎬 Subtitles"]


@pytest.mark.parametrize("unlimited", [False, True])   # a job with no limit holds nothing, and is under way too
def test_a_press_the_moment_its_transcript_appears_loads_the_recording_after_it_is_recorded(fakes, unlimited):
    dispatcher, _, storage, _ = fakes
    quota = start_quota(fakes, users=[UserState(7, UserSettings(unlimited=unlimited))])
    deliver(quota, VoiceReceived(make_job(message_id=VOICE.message_id)))
    [admitted] = dispatcher.of(JobAdmitted)
    # The user has the transcript and presses before its delivery is reported back.
    deliver(quota, press(Action.SUBTITLES))
    assert storage.of(LoadRecording) == []
    deliver(quota, ResultDelivered(TranscriptReady(admitted.job, GERMAN), True))
    written = [message for message in storage.messages if isinstance(message, (RecordUsage, LoadRecording))]
    assert [type(message) for message in written] == [RecordUsage, LoadRecording]
    assert written[1].key == VOICE


def test_english_is_a_translation_job_stored_then_admitted_for_whoever_pressed(fakes):
    dispatcher, sender, storage, _ = fakes
    quota = start_quota(fakes)
    in_group = dataclasses.replace(press(Action.ENGLISH, user_id=8), in_group=True)
    deliver(quota, loaded(in_group, recording()))
    [store] = storage.of(StoreJob)
    job = store.voice.job
    assert (job.key, job.user_id, job.task, job.media) == (JobKey(CHAT, TRANSCRIPT_MESSAGE), 8, Task.TRANSLATE,
                                                           recording().media)
    deliver(quota, JobStored(store.voice, in_group, new=True))
    assert answers(sender) == [ENGLISH_WORDING.TRANSLATING]
    [admitted] = dispatcher.of(JobAdmitted)
    assert (admitted.job.key, admitted.job.user_id, admitted.job.task) == (job.key, 8, Task.TRANSLATE)


def test_english_pressed_again_while_under_way_is_not_run_twice(fakes):
    dispatcher, sender, _, _ = fakes
    voice = VoiceReceived(dataclasses.replace(make_job(message_id=TRANSCRIPT_MESSAGE), task=Task.TRANSLATE))
    deliver(start_quota(fakes), JobStored(voice, press(Action.ENGLISH), new=False))
    assert answers(sender) == [ENGLISH_WORDING.TRANSLATION_UNDER_WAY] and dispatcher.messages == []


def test_english_is_refused_with_a_notice_past_the_quota(fakes):
    _, sender, storage, _ = fakes
    deliver(start_quota(fakes, charged_today=60.0), loaded(press(Action.ENGLISH), recording()))
    [notice] = answers(sender)
    assert notice.startswith("You have 0 s of your daily 1 min left")
    assert storage.of(StoreJob) == []


def test_english_presses_have_a_rate_window_of_their_own(fakes):
    dispatcher, sender, storage, time = fakes
    quota = start_quota(fakes)
    deliver(quota, VoiceReceived(make_job(message_id=5)))   # a recording just now: its window is not the presses'
    deliver(quota, loaded(press(Action.ENGLISH), recording()))
    store = storage.of(StoreJob)[0]
    deliver(quota, JobStored(store.voice, store.press, new=True))
    time.monotonic += 3
    deliver(quota, loaded(press(Action.ENGLISH, query="q2"), recording()))
    assert answers(sender)[-1] == ENGLISH_WORDING.rate_limited(7)
    assert len(storage.of(StoreJob)) == 1
    time.monotonic += 7
    deliver(quota, loaded(press(Action.ENGLISH, query="q3"), recording()))
    assert len(storage.of(StoreJob)) == 2


def test_a_flood_of_presses_is_answered_every_time_but_soon_without_work(fakes):
    _, sender, storage, _ = fakes
    deliver(start_quota(fakes), *(press(Action.SUBTITLES, query=f"q{n}") for n in range(8)))
    assert len(sender.of(AnswerPress)) == 3 and len(storage.of(LoadRecording)) == 5
    assert answers(sender) == [ENGLISH_WORDING.SLOW_DOWN, None, None]


def test_translate_on_makes_every_recording_a_translation(fakes):
    dispatcher, sender, storage, _ = fakes
    quota = start_quota(fakes)
    deliver(quota, CommandReceived(CHAT, 7, 3, "translate", "on"), VoiceReceived(make_job(message_id=4)))
    assert sender.of(SendText)[0].text == ENGLISH_WORDING.translate(True, changed=True)
    assert dispatcher.of(JobAdmitted)[0].job.task is Task.TRANSLATE
    assert storage.messages[-1].settings.translate is True


def test_a_users_vocabulary_goes_with_their_recordings_and_can_be_cleared(fakes):
    dispatcher, sender, _, time = fakes
    quota = start_quota(fakes)
    deliver(quota, CommandReceived(CHAT, 7, 3, "vocab", "Siobhan,   Kubernetes, Nakamura"),
            VoiceReceived(make_job(message_id=4)))
    assert dispatcher.of(JobAdmitted)[0].job.vocabulary == "Siobhan, Kubernetes, Nakamura"
    time.monotonic += 10
    deliver(quota, CommandReceived(CHAT, 7, 5, "vocab", "clear"), CommandReceived(CHAT, 7, 6, "vocab"),
            VoiceReceived(make_job(message_id=7)))
    assert dispatcher.of(JobAdmitted)[1].job.vocabulary is None
    assert sender.of(SendText)[-1].text == ENGLISH_WORDING.vocabulary_is(None, in_group=False)


def test_a_vocabulary_over_the_limit_is_refused_in_plain_words(fakes):
    _, sender, storage, _ = fakes
    deliver(start_quota(fakes), CommandReceived(CHAT, 7, 3, "vocab", "Name " * 100))
    assert sender.of(SendText)[0].text == ENGLISH_WORDING.vocabulary_too_long(300)
    assert storage.messages == []


def test_a_groups_vocabulary_is_set_by_its_admins_and_applies_to_everyone_there(fakes):
    dispatcher, sender, _, _ = fakes
    quota = start_quota(fakes)
    command = CommandReceived(-5, 8, 3, "vocab", "Siobhan", in_group=True)
    deliver(quota, command)
    assert sender.of(CheckChatAdmin)
    deliver(quota, ChatAdminChecked(command, is_admin=False))
    assert sender.of(SendText)[-1].text == ENGLISH_WORDING.ADMINS_ONLY
    deliver(quota, command, ChatAdminChecked(command, is_admin=True),
            VoiceReceived(make_job(user_id=9, chat_id=-5, message_id=4), in_group=True))
    assert dispatcher.of(JobAdmitted)[0].job.vocabulary == "Siobhan"


def test_english_pressed_again_after_it_was_answered_is_charged_again(fakes):
    dispatcher, sender, storage, time = fakes
    quota = start_quota(fakes)
    for query in ("q1", "q2"):
        deliver(quota, loaded(press(Action.ENGLISH, query=query), recording()))
        store = storage.of(StoreJob)[-1]
        deliver(quota, JobStored(store.voice, store.press, new=True))
        job = dispatcher.of(JobAdmitted)[-1].job
        english = dataclasses.replace(GERMAN, text="Good day.", audio_seconds=5.0)   # the recording's 5 s
        deliver(quota, ResultDelivered(TranscriptReady(job, english), True))
        time.monotonic += 10
    assert [usage.charged_seconds for usage in storage.of(RecordUsage)] == [5.0, 5.0]


def test_english_is_told_the_recordings_language_not_the_pressers_pinned_one(fakes):
    dispatcher, _, storage, _ = fakes
    quota = start_quota(fakes, users=[UserState(8, UserSettings(language="ru"))])
    deliver(quota, loaded(press(Action.ENGLISH, user_id=8), recording()))
    store = storage.of(StoreJob)[0]
    deliver(quota, JobStored(store.voice, store.press, new=True))
    assert dispatcher.of(JobAdmitted)[0].job.language == "de"
