from datetime import datetime, timezone

import pytest

from actors.messages import (CommandReceived, JobAdmitted, JobFailed, RecordUsage, SendReply, TextReceived,
                             TranscriptReady, UnsupportedReceived, VoiceReceived)
from actors.quota import QuotaActor, QuotaRules
from helpers import make_job
from mailbox import RecordingMailbox, deliver
from voicebot.domain import FailureReason, Transcript

RULES = QuotaRules(daily_seconds=60, rate_limit_seconds=10, max_duration_seconds=300, max_file_mb=20)


class FakeTime:
    def __init__(self):
        self.monotonic = 1000.0
        self.wall = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self.wall


@pytest.fixture
def fakes():
    return RecordingMailbox("dispatcher"), RecordingMailbox("sender"), RecordingMailbox("storage"), FakeTime()


def start_quota(fakes, rules=RULES, charged_today=None):
    dispatcher, sender, storage, time = fakes
    return QuotaActor.start(rules, dispatcher, sender, storage, charged_today or {},
                            now=time.now, clock=lambda: time.monotonic)


def transcript(seconds: float) -> Transcript:
    return Transcript("hello", "en", 0.99, seconds, 1.0)


def test_a_job_within_all_limits_goes_to_the_dispatcher(fakes):
    dispatcher, sender, _, _ = fakes
    job = make_job(duration=5)
    deliver(start_quota(fakes), VoiceReceived(job))
    assert dispatcher.of(JobAdmitted) == [JobAdmitted(job)]
    assert sender.messages == []


def test_admission_is_exact_at_the_daily_limit_and_refuses_one_second_over(fakes):
    dispatcher, sender, _, time = fakes
    quota = start_quota(fakes, charged_today={7: 50})
    deliver(quota, VoiceReceived(make_job(message_id=1, duration=10)))
    assert len(dispatcher.of(JobAdmitted)) == 1

    quota = start_quota(fakes, charged_today={8: 50})
    deliver(quota, VoiceReceived(make_job(user_id=8, message_id=2, duration=11)))
    assert len(dispatcher.of(JobAdmitted)) == 1
    refusal = sender.of(SendReply)[-1]
    assert refusal.reply_to == 2 and "10 s of your daily 1 min left" in refusal.text and "resets" in refusal.text


def test_a_second_request_inside_the_rate_window_is_refused_with_the_wait(fakes):
    dispatcher, sender, _, time = fakes
    quota = start_quota(fakes)
    deliver(quota, VoiceReceived(make_job(message_id=1, duration=2)))
    time.monotonic += 4
    deliver(quota, VoiceReceived(make_job(message_id=2, duration=2)))
    assert [m.job.message_id for m in dispatcher.of(JobAdmitted)] == [1]
    assert "in 6 s" in sender.of(SendReply)[-1].text
    time.monotonic += 6
    deliver(quota, VoiceReceived(make_job(message_id=3, duration=2)))
    assert [m.job.message_id for m in dispatcher.of(JobAdmitted)] == [1, 3]


def test_too_long_and_too_big_are_refused_before_any_download_naming_the_limit(fakes):
    dispatcher, sender, _, _ = fakes
    quota = start_quota(fakes)
    deliver(quota, VoiceReceived(make_job(message_id=1, duration=301)),
            VoiceReceived(make_job(user_id=9, message_id=2, file_size=21 * 1024 * 1024)))
    assert dispatcher.messages == []
    too_long, too_big = sender.of(SendReply)
    assert "5 min" in too_long.text and too_long.reply_to == 1
    assert "20 MB" in too_big.text and too_big.reply_to == 2


def test_only_a_delivered_transcript_is_charged_with_the_decoded_duration(fakes):
    _, _, storage, time = fakes
    quota = start_quota(fakes)
    job, failed = make_job(message_id=1, duration=30), make_job(user_id=8, message_id=2, duration=30)
    deliver(quota, VoiceReceived(job), VoiceReceived(failed),
            TranscriptReady(job, transcript(31.5)), JobFailed(failed, FailureReason.UNREADABLE_AUDIO))
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
    time.wall = datetime(2026, 11, 29, 0, 0, 1, tzinfo=timezone.utc)
    time.monotonic += 60
    deliver(quota, VoiceReceived(make_job(message_id=2, duration=5)))
    assert [m.job.message_id for m in dispatcher.of(JobAdmitted)] == [2]


def test_commands_and_other_messages_each_get_one_answer(fakes):
    _, sender, _, _ = fakes
    deliver(start_quota(fakes, charged_today={7: 15}),
            CommandReceived(7, 7, 1, "start"), CommandReceived(7, 7, 2, "help"), CommandReceived(7, 7, 3, "usage"),
            CommandReceived(7, 7, 4, "frobnicate"), TextReceived(7, 7, 5), UnsupportedReceived(7, 7, 6))
    replies = sender.of(SendReply)
    assert [reply.reply_to for reply in replies] == [1, 2, 3, 4, 5, 6]
    assert "voice" in replies[0].text and replies[0].text == replies[1].text
    assert "used 15 s of 1 min; 45 s left" in replies[2].text
    assert "/help" in replies[3].text and "voice message" in replies[4].text and "only" in replies[5].text
