import dataclasses
from datetime import UTC, datetime

import pytest

from actors.messages import (
    AnswerFromMemory,
    ChatAdminChecked,
    CheckChatAdmin,
    CommandReceived,
    DescribeUser,
    ForgetUser,
    JobAdmitted,
    JobClosed,
    JobFailed,
    RecallOverdue,
    RecallTranscript,
    RecordUsage,
    RefreshDue,
    RefreshUsers,
    ResultDelivered,
    SaveChatSettings,
    SaveUserSettings,
    SystemReady,
    TextReceived,
    TranscriptReady,
    TranscriptRecalled,
    UnsupportedReceived,
    UserDescribed,
    UserForgotten,
    UsersLoaded,
    VoiceReceived,
    VoiceRefused,
)
from actors.quota import QuotaActor, QuotaRules
from actors.users import UserBook
from voicebot.adapters.translations import load_languages
from voicebot.core.calls import SendText
from voicebot.core.domain import (
    ChatSettings,
    FailureReason,
    MediaKind,
    PendingJob,
    Remembered,
    Segment,
    Task,
    Transcript,
    UserSettings,
    UserState,
    UserSummary,
)
from voicebot.core.memory import memory_key
from voicebot.core.replies import Wording

from helpers import FakeTime, make_job
from mailbox import RecordingMailbox, deliver

ENGLISH_WORDING = Wording()   # what the bot says in English
RULES = QuotaRules(daily_seconds=60, rate_limit_seconds=10, max_duration_seconds=300, max_file_mb=20,
                   admin_user_ids=frozenset({1}), languages=frozenset({"en", "de", "ru"}))


@pytest.fixture
def fakes():
    return RecordingMailbox("dispatcher"), RecordingMailbox("sender"), RecordingMailbox("storage"), FakeTime()


def start_quota(fakes, rules=RULES, charged_today=None, users=(), on_request=frozenset(), resumed=()):
    dispatcher, sender, storage, time = fakes
    states = {user_id: UserState(user_id, charged_today=seconds) for user_id, seconds in (charged_today or {}).items()}
    states.update({state.user_id: state for state in users})
    return QuotaActor.start(rules=rules, dispatcher=dispatcher, sender=sender, storage=storage, users=states,
                            chat_settings={chat_id: ChatSettings(automatic=False) for chat_id in on_request},
                            resumed=resumed, now=time.now, clock=lambda: time.monotonic)


def transcript(seconds: float) -> Transcript:
    return Transcript("hello", "en", 0.99, seconds, 1.0)


def test_a_job_within_all_limits_goes_to_the_dispatcher(fakes):
    dispatcher, sender, _, _ = fakes
    job = make_job(duration=5)
    deliver(start_quota(fakes), VoiceReceived(job))
    # It goes with its share of the user's day: its reported 5 s and some slack. Decoding stops there, whatever
    # its real length.
    assert dispatcher.of(JobAdmitted) == [JobAdmitted(dataclasses.replace(job, max_seconds=10))]
    assert sender.messages == []


def test_admission_is_exact_at_the_daily_limit_and_refuses_one_second_over(fakes):
    dispatcher, sender, _, time = fakes
    quota = start_quota(fakes, charged_today={7: 50})
    deliver(quota, VoiceReceived(make_job(message_id=1, duration=10)))
    assert len(dispatcher.of(JobAdmitted)) == 1

    quota = start_quota(fakes, charged_today={8: 50})
    deliver(quota, VoiceReceived(make_job(user_id=8, message_id=2, duration=11)))
    assert len(dispatcher.of(JobAdmitted)) == 1
    refusal = sender.of(SendText)[-1]
    assert refusal.to.reply_to_message_id == 2
    assert "10 s of your daily 1 min left" in refusal.text and "resets" in refusal.text


def test_a_second_request_inside_the_rate_window_is_refused_with_the_wait(fakes):
    dispatcher, sender, _, time = fakes
    quota = start_quota(fakes)
    deliver(quota, VoiceReceived(make_job(message_id=1, duration=2)))
    time.monotonic += 4
    deliver(quota, VoiceReceived(make_job(message_id=2, duration=2)))
    assert [m.job.message_id for m in dispatcher.of(JobAdmitted)] == [1]
    assert "in 6 s" in sender.of(SendText)[-1].text
    time.monotonic += 6
    deliver(quota, VoiceReceived(make_job(message_id=3, duration=2)))
    assert [m.job.message_id for m in dispatcher.of(JobAdmitted)] == [1, 3]


def test_too_long_and_too_big_are_refused_before_any_download_naming_the_limit(fakes):
    dispatcher, sender, _, _ = fakes
    quota = start_quota(fakes)
    deliver(quota, VoiceReceived(make_job(message_id=1, duration=301)),
            VoiceReceived(make_job(user_id=9, message_id=2, file_size=21 * 1024 * 1024)))
    assert dispatcher.messages == []
    too_long, too_big = sender.of(SendText)
    assert "5 min" in too_long.text and too_long.to.reply_to_message_id == 1
    assert "20 MB" in too_big.text and too_big.to.reply_to_message_id == 2


def test_only_a_delivered_transcript_is_charged_with_the_decoded_duration(fakes):
    _, _, storage, time = fakes
    quota = start_quota(fakes)
    job, failed = make_job(message_id=1, duration=30), make_job(user_id=8, message_id=2, duration=30)
    deliver(quota, VoiceReceived(job), VoiceReceived(failed),
            ResultDelivered(TranscriptReady(job, transcript(31.5)), delivered=True),
            ResultDelivered(JobFailed(failed, FailureReason.UNREADABLE_AUDIO), delivered=True))
    done, failure = storage.of(RecordUsage)
    assert (done.status, done.charged_seconds) == ("done", 31.5)
    assert (failure.status, failure.charged_seconds) == ("unreadable_audio", 0.0)
    time.monotonic += 60
    deliver(quota, VoiceReceived(make_job(message_id=3, duration=29)))   # 31.5 + 29 > 60
    deliver(quota, VoiceReceived(make_job(user_id=8, message_id=4, duration=60)))  # nothing charged
    assert [m.job.message_id for m in fakes[0].of(JobAdmitted)] == [1, 2, 4]


def test_seconds_in_flight_are_reserved_so_parallel_jobs_cannot_overspend(fakes):
    dispatcher, _, _, time = fakes
    quota = start_quota(fakes)
    deliver(quota, VoiceReceived(make_job(message_id=1, duration=40)))
    time.monotonic += 10
    deliver(quota, VoiceReceived(make_job(message_id=2, duration=40)))
    assert [m.job.message_id for m in dispatcher.of(JobAdmitted)] == [1]


def test_usage_starts_afresh_when_the_utc_day_turns(fakes):
    dispatcher, sender, _, time = fakes
    quota = start_quota(fakes, charged_today={7: 60})
    deliver(quota, VoiceReceived(make_job(message_id=1, duration=5)))
    assert dispatcher.messages == []
    time.wall = datetime(2026, 11, 29, 0, 0, 1, tzinfo=UTC)
    time.monotonic += 60
    deliver(quota, VoiceReceived(make_job(message_id=2, duration=5)))
    assert [m.job.message_id for m in dispatcher.of(JobAdmitted)] == [2]


def test_commands_and_other_messages_each_get_one_answer(fakes):
    _, sender, _, _ = fakes
    deliver(start_quota(fakes),
            CommandReceived(7, 7, 1, "start"), CommandReceived(7, 7, 2, "help"),
            CommandReceived(7, 7, 4, "frobnicate"), TextReceived(7, 7, 5), UnsupportedReceived(7, 7, 6))
    replies = sender.of(SendText)
    assert [reply.to.reply_to_message_id for reply in replies] == [1, 2, 4, 5, 6]
    assert "voice" in replies[0].text and replies[0].text == replies[1].text and "/language" in replies[0].text
    assert "/help" in replies[2].text and "voice message" in replies[3].text and "only" in replies[4].text
    assert "/grant" not in replies[0].text  # admin commands are shown to admins only


def test_usage_shows_today_from_memory_and_totals_from_storage(fakes):
    _, sender, storage, time = fakes
    quota = start_quota(fakes, charged_today={7: 15})
    deliver(quota, CommandReceived(7, 7, 3, "usage"))
    ask = storage.of(DescribeUser)[0]
    assert (ask.user_id, ask.day, ask.reply_to) == (7, time.wall.date(), quota)
    summary = UserSummary(7, time.wall, False, None, None, 15.0, 95.0, 4, 1)
    deliver(quota, UserDescribed(7, summary, 7, 3))
    [reply] = sender.of(SendText)
    assert "used 15 s of 1 min; 45 s left" in reply.text and "In all: 4 transcriptions, 1 min 35 s" in reply.text
    assert "1 failed" in reply.text and reply.to.reply_to_message_id == 3


def test_the_day_turns_at_midnight_in_the_configured_time_zone(fakes):
    dispatcher, sender, _, time = fakes
    rules = QuotaRules(60, 0, 300, 20, timezone="Asia/Tokyo")  # UTC+9
    time.wall = datetime(2026, 11, 28, 14, 59, tzinfo=UTC)   # 23:59 in Tokyo
    quota = start_quota(fakes, rules, charged_today={7: 60})
    deliver(quota, VoiceReceived(make_job(message_id=1, duration=5)))
    assert dispatcher.messages == [] and "resets at 00:00 Asia/Tokyo, in 1 min" in sender.of(SendText)[0].text
    time.wall = datetime(2026, 11, 28, 15, 0, 1, tzinfo=UTC)  # 00:00:01 in Tokyo, still the 28th in UTC
    deliver(quota, VoiceReceived(make_job(message_id=2, duration=5)))
    assert [m.job.message_id for m in dispatcher.of(JobAdmitted)] == [2]


def test_unlimited_users_from_config_and_from_their_stored_flag(fakes):
    dispatcher, _, _, _ = fakes
    rules = QuotaRules(60, 0, 300, 20, unlimited_user_ids=frozenset({7}))
    quota = start_quota(fakes, rules, charged_today={7: 600, 8: 600},
                        users=[UserState(8, UserSettings(unlimited=True), charged_today=600)])
    deliver(quota, VoiceReceived(make_job(user_id=7, message_id=1, duration=200)),
            VoiceReceived(make_job(user_id=8, message_id=2, duration=200)),
            VoiceReceived(make_job(user_id=9, message_id=3, duration=200)))
    assert [m.job.user_id for m in dispatcher.of(JobAdmitted)] == [7, 8]


def test_admins_grant_revoke_and_set_quotas_at_run_time(fakes):
    dispatcher, sender, storage, time = fakes
    quota = start_quota(fakes, charged_today={7: 60})
    deliver(quota, CommandReceived(1, 1, 10, "grant", "7"))
    assert storage.of(SaveUserSettings) == [SaveUserSettings(7, UserSettings(True, None, None))]
    deliver(quota, VoiceReceived(make_job(message_id=1, duration=30)))
    deliver(quota, CommandReceived(1, 1, 11, "revoke", "7"), CommandReceived(1, 1, 12, "setquota", "7 120"))
    time.monotonic += 10
    deliver(quota, VoiceReceived(make_job(message_id=2, duration=30)))
    assert [m.job.message_id for m in dispatcher.of(JobAdmitted)] == [1, 2]   # an unlimited job holds nothing
    assert storage.of(SaveUserSettings)[-1] == SaveUserSettings(7, UserSettings(False, 120, None))
    assert [r.text for r in sender.of(SendText)][:3] == [
        "User 7 now has no daily limit.", "User 7 now has a daily limit of 1 min.",
        "User 7 now has a daily limit of 2 min."]


def test_admin_commands_are_unknown_to_everyone_else(fakes):
    _, sender, storage, _ = fakes
    deliver(start_quota(fakes), CommandReceived(7, 7, 1, "grant", "7"))
    assert storage.messages == [] and "don't know that command" in sender.of(SendText)[0].text


def test_a_pinned_language_goes_with_each_job_and_auto_unpins_it(fakes):
    dispatcher, sender, storage, time = fakes
    quota = start_quota(fakes)
    deliver(quota, CommandReceived(7, 7, 1, "language", "RU"), VoiceReceived(make_job(message_id=2)))
    assert dispatcher.of(JobAdmitted)[0].job.language == "ru"
    assert storage.of(SaveUserSettings) == [SaveUserSettings(7, UserSettings(False, None, "ru"))]
    time.monotonic += 10
    deliver(quota, CommandReceived(7, 7, 3, "language", "auto"), CommandReceived(7, 7, 4, "language", "xx"),
            VoiceReceived(make_job(message_id=5)))
    assert dispatcher.of(JobAdmitted)[1].job.language is None
    assert "don't know the language code 'xx'" in sender.of(SendText)[-1].text


def test_forget_is_done_by_storage_and_confirmed_to_the_user(fakes):
    _, sender, storage, time = fakes
    quota = start_quota(fakes)
    deliver(quota, CommandReceived(7, 7, 1, "forget"))
    assert storage.of(ForgetUser) == [ForgetUser(7, time.wall.date(), 7, 1, quota)]
    deliver(quota, UserForgotten(7, 7, 1, 12), UserForgotten(7, 7, 2, None))
    done, failed = sender.of(SendText)
    assert done.text.startswith("Done: I deleted") and "try again" in failed.text


def test_settings_changed_by_the_operator_cli_are_picked_up_on_refresh(fakes):
    dispatcher, _, storage, _ = fakes
    quota = start_quota(fakes, charged_today={7: 60}, users=[UserState(8, UserSettings(unlimited=True))])
    deliver(quota, UsersLoaded((UserState(7, UserSettings(unlimited=True)),)))   # 7 granted, 8 revoked meanwhile
    deliver(quota, VoiceReceived(make_job(user_id=7, message_id=1, duration=30)),
            VoiceReceived(make_job(user_id=8, message_id=2, duration=61)))
    assert [m.job.user_id for m in dispatcher.of(JobAdmitted)] == [7]
    deliver(quota, RefreshDue())
    assert storage.of(RefreshUsers)[0].reply_to == quota


def test_a_flood_of_commands_gets_one_notice_then_silence(fakes):
    _, sender, _, time = fakes
    quota = start_quota(fakes)
    deliver(quota, *(CommandReceived(7, 7, n, "help") for n in range(1, 21)))
    texts = [reply.text for reply in sender.of(SendText)]
    assert len(texts) == 6 and "wait a few seconds" in texts[-1]
    time.monotonic += 2
    deliver(quota, CommandReceived(7, 7, 30, "help"), CommandReceived(8, 8, 31, "help"))
    assert [reply.to.reply_to_message_id for reply in sender.of(SendText)][-2:] == [30, 31]


def test_in_an_on_request_group_only_asked_for_recordings_are_transcribed(fakes):
    dispatcher, _, _, time = fakes
    quota = start_quota(fakes, on_request=frozenset({-100}))
    deliver(quota, VoiceReceived(make_job(user_id=7, chat_id=-100, message_id=1), in_group=True),
            VoiceReceived(make_job(user_id=7, chat_id=-200, message_id=2), in_group=True))
    time.monotonic += 10
    deliver(quota, VoiceReceived(make_job(user_id=8, chat_id=-100, message_id=1), in_group=True, requested=True))
    assert [(m.job.chat_id, m.job.message_id, m.job.user_id) for m in dispatcher.of(JobAdmitted)] == [
        (-200, 2, 7), (-100, 1, 8)]   # the one who asked is the one charged


def test_only_group_admins_switch_a_group_to_on_request(fakes):
    dispatcher, sender, storage, _ = fakes
    quota = start_quota(fakes)
    off = CommandReceived(-100, 7, 5, "auto", "off", in_group=True)
    deliver(quota, off)
    assert sender.of(CheckChatAdmin) == [CheckChatAdmin(off, quota)]
    deliver(quota, ChatAdminChecked(off, is_admin=False))
    assert storage.of(SaveChatSettings) == [] and "Only the group's admins" in sender.of(SendText)[-1].text
    deliver(quota, ChatAdminChecked(off, is_admin=True),
            VoiceReceived(make_job(chat_id=-100, message_id=6), in_group=True))
    assert storage.of(SaveChatSettings) == [SaveChatSettings(-100, ChatSettings(False))]
    assert "reply /transcribe" in sender.of(SendText)[-1].text and dispatcher.messages == []


def test_an_answer_that_did_not_reach_the_user_is_neither_charged_nor_recorded(fakes):
    dispatcher, _, storage, time = fakes
    quota = start_quota(fakes)
    job = make_job(duration=50)
    deliver(quota, VoiceReceived(job), ResultDelivered(TranscriptReady(job, transcript(50)), delivered=False))
    assert storage.of(RecordUsage) == []
    time.monotonic += 10
    deliver(quota, VoiceReceived(make_job(message_id=2, duration=60)))   # nothing was charged or kept reserved
    assert len(dispatcher.of(JobAdmitted)) == 2


def test_a_refused_or_passed_over_recording_closes_its_stored_job(fakes):
    _, _, storage, _ = fakes
    quota = start_quota(fakes, on_request=frozenset({-100}))
    too_long, passed_over = make_job(message_id=1, duration=999), make_job(chat_id=-100, message_id=2)
    deliver(quota, VoiceReceived(too_long), VoiceReceived(passed_over, in_group=True))
    assert storage.of(JobClosed) == [JobClosed(too_long.key), JobClosed(passed_over.key)]


def test_jobs_stored_before_a_restart_are_resumed_without_the_rate_limit(fakes):
    dispatcher, _, _, _ = fakes
    first, second = make_job(message_id=1), make_job(message_id=2)
    resumed = (PendingJob(VoiceReceived(first), status_message_id=None, attempts=0),
               PendingJob(VoiceReceived(second), status_message_id=88, attempts=1))
    quota = start_quota(fakes, resumed=resumed)
    deliver(quota)
    assert dispatcher.messages == []   # not before every actor is up
    deliver(quota, SystemReady())
    deliver_all = [(m.job.key, m.job.attempt, m.status_message_id) for m in dispatcher.of(JobAdmitted)]
    assert deliver_all == [(first.key, 1, None), (second.key, 2, 88)]


def test_admin_input_that_is_not_a_plain_number_is_a_usage_hint_not_a_crash(fakes):
    _, sender, storage, _ = fakes
    quota = start_quota(fakes)
    deliver(quota, CommandReceived(1, 1, 1, "setquota", "7 ²"), CommandReceived(1, 1, 2, "user", "²"),
            CommandReceived(1, 1, 3, "grant", "9223372036854775808"),
            CommandReceived(1, 1, 4, "setquota", "7 2147483648"))   # more than storage keeps for a day
    assert quota.is_alive() and storage.of(SaveUserSettings) == []
    assert [reply.text for reply in sender.of(SendText)] == [ENGLISH_WORDING.ADMIN_USAGE] * 4


def test_a_reply_quoting_what_the_user_typed_stays_within_telegrams_limit(fakes):
    _, sender, _, _ = fakes
    deliver(start_quota(fakes), CommandReceived(7, 7, 1, "language", "x" * 4000))
    [reply] = sender.of(SendText)
    assert "don't know the language code" in reply.text and len(reply.text) < 4096


def test_a_recording_the_database_refused_gets_a_plain_reply_and_no_work(fakes):
    dispatcher, sender, storage, _ = fakes
    job = make_job()
    deliver(start_quota(fakes), VoiceRefused(VoiceReceived(job)))
    assert dispatcher.messages == [] and sender.of(SendText)[0].text == ENGLISH_WORDING.NOT_STORED
    assert storage.of(JobClosed) == [JobClosed(job.key)]


def test_fifty_refused_recordings_get_a_handful_of_refusals_not_fifty(fakes):
    dispatcher, sender, storage, _ = fakes
    quota = start_quota(fakes)
    deliver(quota, *(VoiceReceived(make_job(chat_id=-100, message_id=n, duration=999), in_group=True)
                     for n in range(1, 51)))
    texts = [reply.text for reply in sender.of(SendText)]
    assert len(texts) == 6 and texts[-1] == ENGLISH_WORDING.SLOW_DOWN   # five refusals, one notice, then silence
    assert len(storage.of(JobClosed)) == 50 and dispatcher.messages == []


def test_users_with_nothing_to_remember_are_forgotten_and_the_rest_kept(fakes):
    users = UserBook(RULES, [UserState(1, UserSettings(language="de")), UserState(2, charged_today=30.0)],
                     FakeTime().now)
    for user_id in range(3, 1003):
        users[user_id]   # a thousand users who wrote once and were told the help text
    users[4].last_admitted = 995.0   # still inside the rate window
    users.forget_idle(now=1000.0)
    assert len(users) == 3 and users[1].settings.language == "de" and users[2].charged == 30.0


def test_recordings_of_unknown_or_understated_length_cannot_spend_more_than_is_left(fakes):
    dispatcher, sender, storage, time = fakes
    quota = start_quota(fakes, charged_today={7: 59})   # 1 s left of 60
    documents = [make_job(message_id=n, duration=None, kind=MediaKind.DOCUMENT) for n in range(1, 9)]
    for document in documents:
        deliver(quota, VoiceReceived(document))
        time.monotonic += 10
    [admitted] = dispatcher.of(JobAdmitted)   # the first holds the 1 s left; the other seven are refused
    assert admitted.job.max_seconds == 1 and len(sender.of(SendText)) == 7
    # It turned out to be 300 s long: decoding stopped at 1 s, and 1 s is all that is charged.
    deliver(quota, ResultDelivered(TranscriptReady(admitted.job, transcript(300)), delivered=True))
    assert storage.of(RecordUsage)[-1].charged_seconds == 1


def shares(dispatcher: RecordingMailbox) -> list[float]:
    """What each admitted job may decode, in the order they were admitted."""
    return [admitted.job.max_seconds for admitted in dispatcher.of(JobAdmitted)]


def test_parallel_recordings_that_understate_their_length_cannot_overspend_the_day(fakes):
    dispatcher, _, storage, time = fakes
    quota = start_quota(fakes, rules=dataclasses.replace(RULES, daily_seconds=600))
    for n in range(1, 9):   # the audit's pattern: eight notes said to be 1 s long, each really 290 s
        deliver(quota, VoiceReceived(make_job(message_id=n, duration=1)))
        time.monotonic += 10
    admitted = [message.job for message in dispatcher.of(JobAdmitted)]
    assert len(admitted) == 8 and sum(shares(dispatcher)) <= 600
    deliver(quota, *(ResultDelivered(TranscriptReady(job, transcript(290)), delivered=True) for job in admitted))
    assert sum(usage.charged_seconds for usage in storage.of(RecordUsage)) <= 600


def test_a_job_may_decode_its_share_and_a_settled_one_frees_it(fakes):
    dispatcher, sender, storage, time = fakes
    quota = start_quota(fakes)   # 60 s a day
    note, document = make_job(message_id=1, duration=10), make_job(message_id=2, duration=None, kind=MediaKind.DOCUMENT)
    deliver(quota, VoiceReceived(note))
    time.monotonic += 10
    deliver(quota, VoiceReceived(document))
    # The note holds its length and some slack, not the whole day; the document what the note leaves.
    assert shares(dispatcher) == [15, 45]
    time.monotonic += 10
    deliver(quota, VoiceReceived(make_job(message_id=3, duration=1)))   # nothing is left beside them
    assert "0 s of your daily 1 min left" in sender.of(SendText)[-1].text and len(shares(dispatcher)) == 2
    [note_job, document_job] = [message.job for message in dispatcher.of(JobAdmitted)]
    deliver(quota, ResultDelivered(TranscriptReady(note_job, transcript(9)), delivered=True),
            ResultDelivered(JobFailed(document_job, FailureReason.OVER_QUOTA), delivered=True))
    assert [usage.charged_seconds for usage in storage.of(RecordUsage)] == [9, 0]
    deliver(quota, VoiceReceived(make_job(message_id=4, duration=None, kind=MediaKind.DOCUMENT)))
    assert shares(dispatcher)[-1] == 51   # all the day's 60 s but the 9 charged


def test_jobs_resumed_after_a_restart_share_what_is_left_like_new_ones(fakes):
    dispatcher, sender, _, _ = fakes
    resumed = tuple(PendingJob(VoiceReceived(job), status_message_id=None, attempts=1)
                    for job in (make_job(message_id=1, duration=1),
                                make_job(message_id=2, duration=None, kind=MediaKind.DOCUMENT),
                                make_job(message_id=3, duration=1)))
    deliver(start_quota(fakes, charged_today={7: 20}, resumed=resumed), SystemReady())
    assert shares(dispatcher) == [6, 34]   # 40 s left: the note's share, and the rest for the document
    assert "0 s of your daily 1 min left" in sender.of(SendText)[-1].text


def start_speaking(fakes):
    dispatcher, sender, storage, time = fakes
    return QuotaActor.start(rules=RULES, dispatcher=dispatcher, sender=sender, storage=storage, users={}, now=time.now,
                            clock=lambda: time.monotonic, languages=load_languages())


def test_each_user_is_answered_in_their_apps_language_or_english(fakes):
    _, sender, _, _ = fakes
    deliver(start_speaking(fakes), CommandReceived(7, 7, 1, "help", language_code="ru"),
            CommandReceived(8, 8, 2, "help", language_code="pt-br"), CommandReceived(9, 9, 3, "help"))
    russian, brazilian, unknown = (reply.text for reply in sender.of(SendText))
    assert russian.startswith(load_languages()["ru"].help_text(300, 20, 60, 10)[:20])
    assert brazilian.startswith("I turn voice messages into text") and unknown == brazilian != russian


def test_a_users_own_choice_of_language_wins_is_saved_and_auto_goes_back_to_the_app(fakes):
    dispatcher, sender, storage, _ = fakes
    quota = start_speaking(fakes)
    deliver(quota, CommandReceived(7, 7, 1, "lang", "de", language_code="ru"),
            VoiceReceived(make_job(message_id=2, duration=999)))
    german = load_languages()["de"]
    assert [reply.text for reply in sender.of(SendText)] == [
        german.interface_chosen(automatic=False, in_group=False), german.too_long(999, 300)]
    assert storage.of(SaveUserSettings)[-1].settings.interface_language == "de"
    deliver(quota, CommandReceived(7, 7, 3, "lang", "auto", language_code="ru"))
    assert sender.of(SendText)[-1].text == load_languages()["ru"].interface_chosen(automatic=True, in_group=False)


def test_a_groups_admins_choose_the_groups_language(fakes):
    _, sender, storage, _ = fakes
    quota = start_speaking(fakes)
    lang = CommandReceived(-100, 7, 5, "lang", "es", in_group=True, language_code="en")
    deliver(quota, lang, ChatAdminChecked(lang, is_admin=True),
            CommandReceived(-100, 8, 6, "help", in_group=True, language_code="de"))
    spanish = load_languages()["es"]
    assert storage.of(SaveChatSettings) == [SaveChatSettings(-100, ChatSettings(True, "es"))]
    assert [reply.text for reply in sender.of(SendText)][-2:] == [
        spanish.interface_chosen(automatic=False, in_group=True), spanish.help_text(300, 20, 60, 10)]



# --- answers from memory ------------------------------------------------------------------------

MODEL = "base"
KEPT = Transcript("Ask not what your country can do for you.", "en", 0.98, 11.0, 3.2, (Segment(0.0, 11.0, "Ask"),))


def start_remembering(fakes, rules=RULES, charged_today=None, users=(), resumed=()):
    dispatcher, sender, storage, time = fakes
    states = {user_id: UserState(user_id, charged_today=seconds) for user_id, seconds in (charged_today or {}).items()}
    states.update({state.user_id: state for state in users})
    return QuotaActor.start(rules=rules, dispatcher=dispatcher, sender=sender, storage=storage, users=states,
                            resumed=resumed, now=time.now, clock=lambda: time.monotonic, transcribed_by=MODEL)


def forwarded(user_id: int = 8, message_id: int = 1, duration: int = 11) -> VoiceReceived:
    """A copy of a recording Alice (7) sent, in another user's chat: its file's own id is the one hers had."""
    job = make_job(user_id=user_id, message_id=message_id, duration=duration)
    return VoiceReceived(dataclasses.replace(job, media=dataclasses.replace(job.media, file_unique_id="AgADkBIAAu",
                                                                            sender_id=user_id)))


def test_a_forwarded_recording_transcribed_before_is_answered_from_memory_and_costs_nothing(fakes):
    dispatcher, _, storage, _ = fakes
    quota = start_remembering(fakes)
    deliver(quota, forwarded())
    [asked] = storage.of(RecallTranscript)
    assert (asked.memory_key, asked.reply_to) == (memory_key(asked.job, MODEL), quota) and dispatcher.messages == []
    deliver(quota, TranscriptRecalled(asked.job, Remembered(KEPT, sender_id=7)))
    [answer] = dispatcher.of(AnswerFromMemory)
    # Whoever sent the recording first is its sender here too: their /forget reaches this copy.
    assert answer.job == dataclasses.replace(asked.job, media=dataclasses.replace(asked.job.media, sender_id=7))
    assert answer.transcript == dataclasses.replace(KEPT, processing_seconds=0.0)   # no model ran for it
    deliver(quota, ResultDelivered(TranscriptReady(answer.job, answer.transcript, recalled=True), delivered=True))
    [usage] = storage.of(RecordUsage)
    assert (usage.status, usage.charged_seconds, usage.transcript, usage.memory_key) == (
        "done", 0.0, answer.transcript, asked.memory_key)   # kept for this job too: its buttons work
    deliver(quota, CommandReceived(8, 8, 9, "usage"), UserDescribed(8, None, 8, 9))
    assert "used 0 s of 1 min" in fakes[1].of(SendText)[-1].text


def test_a_recording_not_found_in_memory_is_transcribed_as_any_other(fakes):
    dispatcher, _, storage, _ = fakes
    quota = start_remembering(fakes)
    deliver(quota, forwarded(duration=5))
    [asked] = storage.of(RecallTranscript)
    deliver(quota, TranscriptRecalled(asked.job, None), TranscriptRecalled(asked.job, None))   # a late second: dropped
    assert dispatcher.of(JobAdmitted) == [JobAdmitted(dataclasses.replace(asked.job, max_seconds=10))]
    deliver(quota, ResultDelivered(TranscriptReady(asked.job, KEPT), delivered=True))
    assert storage.of(RecordUsage)[0].charged_seconds == 11.0


def test_a_user_past_the_daily_limit_still_gets_a_repeat_but_not_a_transcription(fakes):
    dispatcher, sender, storage, time = fakes
    quota = start_remembering(fakes, charged_today={8: 60})
    deliver(quota, forwarded(message_id=1))
    deliver(quota, TranscriptRecalled(storage.of(RecallTranscript)[0].job, Remembered(KEPT, 7)))
    assert len(dispatcher.of(AnswerFromMemory)) == 1 and sender.messages == []
    time.monotonic += 10
    deliver(quota, forwarded(message_id=2))
    deliver(quota, TranscriptRecalled(storage.of(RecallTranscript)[1].job, None))
    assert dispatcher.of(JobAdmitted) == [] and "0 s of your daily 1 min left" in sender.of(SendText)[0].text


def test_with_charge_repeats_an_answer_from_memory_is_charged_and_refused_as_a_transcription(fakes):
    dispatcher, sender, storage, time = fakes
    quota = start_remembering(fakes, rules=dataclasses.replace(RULES, charge_repeats=True), charged_today={8: 45})
    deliver(quota, forwarded(message_id=1))
    deliver(quota, TranscriptRecalled(storage.of(RecallTranscript)[0].job, Remembered(KEPT, 7)))
    [answer] = dispatcher.of(AnswerFromMemory)
    assert answer.job.max_seconds == 11.0   # its share of the day, held until it is settled
    deliver(quota, ResultDelivered(TranscriptReady(answer.job, answer.transcript, recalled=True), delivered=True))
    assert storage.of(RecordUsage)[0].charged_seconds == 11.0
    time.monotonic += 10
    deliver(quota, forwarded(message_id=2))   # 4 s left of the day: an 11 s recording is refused, even from memory
    deliver(quota, TranscriptRecalled(storage.of(RecallTranscript)[1].job, Remembered(KEPT, 7)))
    assert len(dispatcher.of(AnswerFromMemory)) == 1
    assert "4 s of your daily 1 min left and this recording is 11 s" in sender.of(SendText)[0].text


def test_the_memory_key_is_the_recording_as_the_job_asks_for_it_so_no_users_vocabulary_reaches_another(fakes):
    _, _, storage, time = fakes
    quota = start_remembering(fakes, users=[UserState(9, UserSettings(vocabulary="Siobhan")),
                                            UserState(10, UserSettings(language="de")),
                                            UserState(11, UserSettings(translate=True))])
    deliver(quota, *(forwarded(user_id=user_id, message_id=user_id) for user_id in (8, 9, 10, 11, 12)))
    keys = [asked.memory_key for asked in storage.of(RecallTranscript)]
    assert len(set(keys)) == 4 and keys[0] == keys[4]   # the same recording, asked the same way: the same key
    jobs = [asked.job for asked in storage.of(RecallTranscript)]
    assert (jobs[1].vocabulary, jobs[2].language, jobs[3].task) == ("Siobhan", "de", Task.TRANSLATE)
    assert memory_key(jobs[0], "small") != keys[0]   # another model is another transcript
    assert memory_key(dataclasses.replace(jobs[0], vocabulary=""), MODEL) != keys[0]   # empty is not none
    no_file_id = make_job(user_id=13, message_id=13)
    deliver(quota, VoiceReceived(no_file_id))
    assert len(storage.of(RecallTranscript)) == 5 and fakes[0].of(JobAdmitted)[0].job.key == no_file_id.key


def test_the_rate_window_applies_before_memory_is_asked(fakes):
    _, sender, storage, time = fakes
    quota = start_remembering(fakes)
    deliver(quota, forwarded(message_id=1))
    time.monotonic += 4
    deliver(quota, forwarded(message_id=2))
    assert len(storage.of(RecallTranscript)) == 1 and "in 6 s" in sender.of(SendText)[0].text


def test_a_look_up_not_answered_in_time_is_a_miss_and_a_job_resumed_after_a_restart_edits_its_status(fakes):
    dispatcher, _, storage, _ = fakes
    resumed = PendingJob(forwarded(message_id=2), status_message_id=88, attempts=0)
    quota = start_remembering(fakes, resumed=(resumed,))
    deliver(quota, forwarded(message_id=1), SystemReady())
    first, second = storage.of(RecallTranscript)
    deliver(quota, RecallOverdue(first.job.key), TranscriptRecalled(first.job, Remembered(KEPT, 7)))
    assert [admitted.job.key for admitted in dispatcher.of(JobAdmitted)] == [first.job.key]
    assert dispatcher.of(AnswerFromMemory) == []   # the late answer came after it was transcribed
    deliver(quota, resumed.incoming, TranscriptRecalled(second.job, Remembered(KEPT, 7)))   # once, whatever comes
    [answer] = dispatcher.of(AnswerFromMemory)
    assert (answer.job.key, answer.status_message_id, len(storage.of(RecallTranscript))) == (second.job.key, 88, 2)
