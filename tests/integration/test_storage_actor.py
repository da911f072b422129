import dataclasses
import time
from datetime import date

import pykka

from actors.messages import (
    CommandReceived,
    DescribeUser,
    FlushWrites,
    ForgetUser,
    IntakeFailed,
    IntakeStored,
    JobClosed,
    JobStarted,
    LoadChatSettings,
    LoadOffset,
    LoadUnfinishedJobs,
    LoadUsers,
    Ping,
    RecallTranscript,
    RecordUsage,
    RefreshUsers,
    SaveChatSettings,
    SaveUserSettings,
    StatusPosted,
    StoreIntake,
    TranscriptRecalled,
    UserDescribed,
    UserForgotten,
    UsersLoaded,
    VoiceReceived,
    VoiceRefused,
)
from actors.storage import StorageActor
from voicebot.adapters.storage import Storage
from voicebot.core.calls import Destination
from voicebot.core.domain import (
    ChannelPost,
    ChannelPostForwarded,
    ChatSettings,
    Remembered,
    Transcript,
    UserSettings,
    UserState,
)
from voicebot.core.errors import StorageError

from helpers import make_job
from mailbox import RecordingMailbox, deliver, wait_until

pytest_plugins = ["databases"]

DAY = date(2026, 11, 28)
TRANSCRIPT = Transcript("hello", "en", 0.9, 12.5, 2.0)


def start_storage(url: str, retention_days: int = 0):
    return StorageActor.start(storage=Storage(url), today=lambda: DAY, retention_days=retention_days)


def test_what_the_actor_writes_is_there_after_a_restart(db_url):
    first = start_storage(db_url)
    deliver(first, RecordUsage(make_job(user_id=1, message_id=1), DAY, "done", 12.5, TRANSCRIPT),
            RecordUsage(make_job(user_id=1, message_id=2), DAY, "unreadable_audio"),
            RecordUsage(make_job(user_id=2, message_id=3), DAY, "done", 3.0, TRANSCRIPT),
            SaveUserSettings(3, UserSettings(True, None, "de", timestamps=True)),
            SaveChatSettings(-100, ChatSettings(automatic=False)))
    first.stop()

    second = start_storage(db_url)
    assert second.ask(LoadUsers(DAY)) == {1: UserState(1, charged_today=12.5), 2: UserState(2, charged_today=3.0),
                                          3: UserState(3, UserSettings(True, None, "de", timestamps=True), 0.0)}
    assert second.ask(LoadChatSettings()) == {-100: ChatSettings(automatic=False)}
    asker = RecordingMailbox()
    deliver(second, DescribeUser(1, DAY, 1, 50, asker), RefreshUsers(DAY, asker))
    described, loaded = asker.messages
    assert (described.summary.transcriptions, described.summary.failures) == (1, 1)
    assert isinstance(loaded, UsersLoaded) and len(loaded.users) == 3


def test_records_told_together_are_written_together_and_read_after(db_url):
    storage = start_storage(db_url)
    records = [RecordUsage(make_job(user_id=5, message_id=n), DAY, "done", 1.0, TRANSCRIPT) for n in range(50)]
    for record in records:
        storage.tell(record)
    assert storage.ask(LoadUsers(DAY))[5].charged_today == 50.0   # a read sees every record told before it


def test_forget_answers_the_asker_and_keeps_today(db_url):
    storage = start_storage(db_url)
    asker = RecordingMailbox()
    deliver(storage, RecordUsage(make_job(user_id=1, message_id=1), date(2026, 11, 1), "done", 5.0, TRANSCRIPT),
            RecordUsage(make_job(user_id=1, message_id=2), DAY, "done", 5.0, TRANSCRIPT),
            ForgetUser(1, DAY, 1, 9, asker))
    assert asker.messages == [UserForgotten(1, 1, 9, 2)]
    assert storage.ask(LoadUsers(DAY))[1].charged_today == 5.0


def test_a_database_that_cannot_be_opened_is_a_one_line_start_error(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    actor = start_storage(f"sqlite:///{blocked}/bot.db")
    error = actor.ask(Ping())
    assert error.startswith("storage could not start: cannot open database.url sqlite:///")
    assert "\n" not in error


class BrokenStorage:
    """A database that opened but fails every query, as when the server goes away."""

    def open(self):
        pass

    def close(self):
        pass

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise StorageError("server closed the connection unexpectedly", transient=True)
        return fail


def test_a_failed_query_still_answers_whoever_waits_and_the_actor_lives_on(caplog):
    storage = StorageActor.start(storage=BrokenStorage(), today=lambda: DAY)
    asker = RecordingMailbox()
    deliver(storage, RecordUsage(make_job(), DAY, "done", 1.0, TRANSCRIPT), DescribeUser(1, DAY, 1, 9, asker),
            ForgetUser(1, DAY, 1, 10, asker))
    assert asker.messages == [UserDescribed(1, None, 1, 9), UserForgotten(1, 1, 10, None)]
    assert "1 changes wait to be written (server closed the connection unexpectedly)" in caplog.text
    assert storage.is_alive()


class FlakyStorage(Storage):
    """A real database that is unreachable for the first `outages` transactions."""

    def __init__(self, url: str, outages: int):
        super().__init__(url)
        self.outages = outages

    def batch(self):
        if self.outages:
            self.outages -= 1
            raise StorageError("could not connect to server", transient=True)
        return super().batch()


def test_changes_that_meet_an_outage_are_written_once_it_is_over(db_url, monkeypatch):
    monkeypatch.setattr("actors.storage.WRITE_RETRY_SECONDS", 0.1)
    storage = StorageActor.start(storage=FlakyStorage(db_url, outages=3), today=lambda: DAY)
    job = make_job(user_id=4, message_id=1)
    deliver(storage, StoreIntake((VoiceReceived(job),), 2, RecordingMailbox()),
            RecordUsage(job, DAY, "done", 5.0, TRANSCRIPT))
    assert wait_until(lambda: (storage.ask(LoadOffset()), storage.ask(LoadUnfinishedJobs())) == (2, []), timeout=10)
    assert storage.ask(LoadUsers(DAY))[4].charged_today == 5.0


def forward_of(key, forward_id: int = 55) -> ChannelPostForwarded:
    """Telegram's forward of the channel post `key` into its discussion group -200, from its service user."""
    voice = VoiceReceived(make_job(user_id=777000, message_id=forward_id, chat_id=-200), in_group=True)
    return ChannelPostForwarded(key, Destination(-200, reply_to_message_id=forward_id), voice)


def test_a_channel_posts_forward_is_kept_with_its_job_and_passed_on(db_url):
    storage, poller = start_storage(db_url), RecordingMailbox()
    job = dataclasses.replace(make_job(user_id=-100, message_id=7, chat_id=-100), channel=ChannelPost("news"))
    forward = forward_of(job.key)
    deliver(storage, StoreIntake((VoiceReceived(job, in_group=True), forward), 3, poller))
    assert poller.messages == [IntakeStored((VoiceReceived(job, in_group=True), forward), 3)]
    [pending] = storage.ask(LoadUnfinishedJobs())
    assert pending.incoming.job.channel == ChannelPost("news", forward.comments)


def test_a_forward_of_a_post_the_bot_answers_in_no_channel_is_a_recording_of_its_group(db_url):
    """The bot is no admin of the channel (no job of the post came), or the channel is switched off: the group
    transcribes the forward as it would any recording, its job stored with the offset."""
    storage, poller = start_storage(db_url), RecordingMailbox()
    answered = dataclasses.replace(make_job(user_id=-100, message_id=7, chat_id=-100), channel=ChannelPost("news"))
    deliver(storage, StoreIntake((VoiceReceived(answered, in_group=True),), 3, poller))
    linked, elsewhere = forward_of(answered.key, 55), forward_of(dataclasses.replace(answered.key, chat_id=-300), 56)
    deliver(storage, StoreIntake((linked, elsewhere), 4, poller))
    assert poller.messages[-1] == IntakeStored((linked, elsewhere.voice), 4)
    off = dataclasses.replace(answered, key=dataclasses.replace(answered.key, message_id=8))
    deliver(storage, SaveChatSettings(-100, ChatSettings(automatic=False)),
            StoreIntake((VoiceReceived(off, in_group=True), forward_of(off.key, 57)), 5, poller))
    assert poller.messages[-1] == IntakeStored((VoiceReceived(off, in_group=True), forward_of(off.key, 57).voice), 5)
    assert {pending.incoming.job.key.message_id for pending in storage.ask(LoadUnfinishedJobs())
            if pending.incoming.job.chat_id == -200} == {56, 57}


def test_a_change_the_database_refuses_is_dropped_alone(db_url, caplog):
    storage = start_storage(db_url)
    deliver(storage, SaveUserSettings(2 ** 63, UserSettings(unlimited=True)),   # past the column's range
            SaveUserSettings(1, UserSettings(False, None, None, vocabulary="Siobhan\x00")),   # NUL: left out
            RecordUsage(make_job(user_id=2, message_id=1), DAY, "done", 5.0, TRANSCRIPT))
    users = storage.ask(LoadUsers(DAY))
    assert (users[1].settings.vocabulary, users[2].charged_today) == ("Siobhan", 5.0)
    assert 2 ** 63 not in users and "dropped SaveUserSettings of user 9223372036854775808" in caplog.text


def test_intake_is_stored_with_its_offset_and_redelivered_recordings_are_left_out(db_url):
    storage = start_storage(db_url)
    poller = RecordingMailbox()
    voice, command = VoiceReceived(make_job(user_id=1, message_id=1)), CommandReceived(1, 1, 2, "help")
    deliver(storage, StoreIntake((voice, command), 11, poller), StoreIntake((voice,), 12, poller),
            StatusPosted(voice.job.key, 500), JobStarted(voice.job.key))
    assert poller.messages == [IntakeStored((voice, command), 11), IntakeStored((), 12)]
    offset, [pending] = storage.ask(LoadOffset()), storage.ask(LoadUnfinishedJobs())
    assert (offset, pending.incoming.job, pending.status_message_id, pending.attempts) == (12, voice.job, 500, 1)
    deliver(storage, JobClosed(voice.job.key))
    assert (storage.ask(LoadOffset()), storage.ask(LoadUnfinishedJobs())) == (12, [])


def test_intake_that_cannot_be_stored_is_answered_with_a_failure():
    poller = RecordingMailbox()
    deliver(StorageActor.start(storage=BrokenStorage(), today=lambda: DAY), StoreIntake((), 5, poller))
    assert poller.messages == [IntakeFailed("server closed the connection unexpectedly")]


def test_a_value_the_driver_cannot_take_is_an_answered_failure_not_a_dead_actor(db_url):
    storage = start_storage(db_url)
    asker = RecordingMailbox()
    deliver(storage, DescribeUser(2 ** 63, DAY, 1, 50, asker), SaveUserSettings(2 ** 63, UserSettings(unlimited=True)),
            RecordUsage(make_job(user_id=1, message_id=1), DAY, "done", 12.5, TRANSCRIPT))
    assert asker.messages == [UserDescribed(2 ** 63, None, 1, 50)]
    assert storage.is_alive()
    assert storage.ask(LoadUsers(DAY)) == {1: UserState(1, charged_today=12.5)}   # the good change went in


def test_a_recording_the_database_refuses_is_answered_and_the_rest_of_the_batch_goes_on(db_url):
    storage = start_storage(db_url)
    good, bad = make_job(user_id=1, message_id=1), make_job(user_id=2, message_id=2)
    bad = dataclasses.replace(bad, media=dataclasses.replace(bad.media, file_id="x" * 300))   # past VARCHAR(255)
    poller = RecordingMailbox()
    deliver(storage, StoreIntake((VoiceReceived(good), VoiceReceived(bad), CommandReceived(3, 3, 3, "help")), 9,
                                 poller))
    [stored] = poller.messages
    assert stored.messages == (VoiceReceived(good), VoiceRefused(VoiceReceived(bad)), CommandReceived(3, 3, 3, "help"))
    assert storage.ask(LoadOffset()) == 9
    assert [pending.incoming.job.key for pending in storage.ask(LoadUnfinishedJobs())] == [good.key]


class RefusingStorage(Storage):
    """Refuses for good any intake holding the recording `refused` (what the reason is, is the database's)."""

    def __init__(self, url: str, refused: str = "refused-file"):
        super().__init__(url)
        self.refused = refused

    def store_intake(self, intake, next_offset):
        if any(voice.job.media.file_id == self.refused for voice in intake):
            raise StorageError("value too long for type character varying(8)")
        return super().store_intake(intake, next_offset)


def test_a_recording_the_database_refuses_is_refused_alone_in_a_batch_of_one_too(db_url):
    """Whatever the batch size: the poller's batch of one, and the webhook's (no offset), refuse it and go on."""
    storage = StorageActor.start(storage=RefusingStorage(db_url), today=lambda: DAY)
    job = make_job(user_id=1, message_id=1)
    refused = VoiceReceived(dataclasses.replace(job, media=dataclasses.replace(job.media, file_id="refused-file")))
    later = VoiceReceived(make_job(user_id=1, message_id=2))
    poller, webhook = RecordingMailbox(), RecordingMailbox()
    deliver(storage, StoreIntake((refused,), 9, poller), StoreIntake((later,), 10, poller),
            StoreIntake((refused,), None, webhook))
    assert poller.messages == [IntakeStored((VoiceRefused(refused),), 9), IntakeStored((later,), 10)]
    assert webhook.messages == [IntakeStored((VoiceRefused(refused),), None)]
    assert storage.ask(LoadOffset()) == 10
    assert [pending.incoming for pending in storage.ask(LoadUnfinishedJobs())] == [later]


def test_a_user_whose_app_has_a_long_language_tag_is_stored_and_answered_in_english(db_url):
    storage = start_storage(db_url)
    job = dataclasses.replace(make_job(user_id=1, message_id=1), interface_language="classic-zh-cn")
    poller = RecordingMailbox()
    deliver(storage, StoreIntake((VoiceReceived(job),), 9, poller))
    assert poller.messages == [IntakeStored((VoiceReceived(job),), 9)]
    [pending] = storage.ask(LoadUnfinishedJobs())
    assert pending.incoming.job == dataclasses.replace(job, interface_language=None)


class AwayDatabase(Storage):
    """A database that is down until `back` is set: every batch of writes fails as a transient error."""

    def __init__(self, url: str):
        super().__init__(url)
        self.back = False
        self.attempts = 0

    def batch(self):
        self.attempts += 1
        if not self.back:
            raise StorageError("could not connect to server", transient=True)
        return super().batch()


def test_an_outage_is_retried_by_one_timer_that_backs_off_whatever_arrives_meanwhile(tmp_path, caplog):
    database = AwayDatabase(f"sqlite:///{tmp_path / 'voicebot.db'}")
    storage = StorageActor.start(storage=database, today=lambda: DAY)
    for n in range(1, 41):   # writes keep arriving during the outage
        deliver(storage, JobStarted(make_job(message_id=n).key))
    time.sleep(2.5)
    assert database.attempts <= 3   # the first try, and the timer's one retry after 2 s: not one per write
    assert len([r for r in caplog.records if "changes wait to be written" in r.getMessage()]) == 1
    database.back = True
    deliver(storage, FlushWrites())
    assert "waited are written" in caplog.text


def test_a_recall_sees_the_transcript_recorded_just_before_and_a_failed_one_is_a_miss(db_url):
    storage, asker = start_storage(db_url), RecordingMailbox()
    job = make_job(user_id=1, message_id=1)
    storage.tell(RecordUsage(job, DAY, "done", 12.5, TRANSCRIPT, memory_key="k" * 64))   # not written yet
    deliver(storage, RecallTranscript(job, "k" * 64, asker), RecallTranscript(job, "m" * 64, asker))
    assert asker.messages == [TranscriptRecalled(job, Remembered(TRANSCRIPT, None)), TranscriptRecalled(job, None)]

    broken = StorageActor.start(storage=BrokenStorage(), today=lambda: DAY)
    deliver(broken, RecallTranscript(job, "k" * 64, asker))
    assert asker.messages[-1] == TranscriptRecalled(job, None) and broken.is_alive()


def test_an_asker_that_died_before_its_answer_costs_the_actor_nothing(db_url):
    storage, asker = start_storage(db_url), RecordingMailbox()
    dead = pykka.ThreadingActor.start()
    dead.stop()   # as a QuotaActor that crashed with its question on the way: its restart asks again
    job = make_job(user_id=1, message_id=1)
    deliver(storage, RecallTranscript(job, "k" * 64, dead), DescribeUser(1, DAY, 1, 9, dead),
            RecallTranscript(job, "k" * 64, asker))
    assert storage.is_alive() and asker.messages == [TranscriptRecalled(job, None)]
