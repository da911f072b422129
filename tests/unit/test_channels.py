"""Channels at the QuotaActor: a channel's posts are charged to the channel, with its own daily allowance and no
rate window; a refusal is a line in the post's caption; /channel on|off @channel, in the bot's private chat, is
made once the sender found the user to be one of the channel's admins."""
import dataclasses

import pytest

from actors.messages import (
    ChannelAdminChecked,
    CheckChannelAdmin,
    CommandReceived,
    JobAdmitted,
    JobClosed,
    SaveChatSettings,
    VoiceReceived,
)
from actors.quota import QuotaActor, QuotaRules
from actors.users import COMMAND_BURST
from voicebot.core.calls import ChannelCaption, SendText
from voicebot.core.channels import ChannelStanding, ChannelSwitch, channel_switch
from voicebot.core.domain import ChannelPost, ChatSettings
from voicebot.core.replies import Wording

from helpers import FakeTime, make_job
from mailbox import RecordingMailbox, deliver

WORDS = Wording()
RULES = QuotaRules(daily_seconds=60, rate_limit_seconds=10, max_duration_seconds=300, max_file_mb=20,
                   channel_daily_seconds=250)
CHANNEL = -100123


def post(message_id: int, duration: int = 100) -> VoiceReceived:
    job = make_job(user_id=CHANNEL, message_id=message_id, chat_id=CHANNEL, duration=duration)
    return VoiceReceived(dataclasses.replace(job, channel=ChannelPost("news")), in_group=True)


@pytest.fixture
def fakes():
    return RecordingMailbox("dispatcher"), RecordingMailbox("sender"), RecordingMailbox("storage"), FakeTime()


def start_quota(fakes, chat_settings=None):
    dispatcher, sender, storage, time = fakes
    return QuotaActor.start(rules=RULES, dispatcher=dispatcher, sender=sender, storage=storage, users={},
                            chat_settings=chat_settings, now=time.now, clock=lambda: time.monotonic)


def test_a_channel_has_its_own_allowance_and_no_rate_window(fakes):
    dispatcher, sender, _, _ = fakes
    deliver(start_quota(fakes), post(1, duration=100), post(2, duration=100))   # 100 s each: past a user's 60
    assert [admitted.job.key.message_id for admitted in dispatcher.of(JobAdmitted)] == [1, 2]
    assert sender.messages == []


def test_a_post_past_the_channels_allowance_says_so_in_its_caption_and_is_closed(fakes):
    dispatcher, sender, storage, _ = fakes
    refused = post(1, duration=280)
    deliver(start_quota(fakes), refused)
    assert dispatcher.messages == []
    [notice] = sender.of(SendText)
    assert notice.to == ChannelCaption(refused.job.destination.post, "news")
    assert notice.text.startswith("Not transcribed: this channel has 4 min 10 s of its daily 4 min 10 s left.")
    assert storage.of(JobClosed) == [JobClosed(refused.job.key)]


def test_a_channel_switched_off_is_neither_transcribed_nor_charged(fakes):
    dispatcher, _, storage, _ = fakes
    voice = post(1)
    deliver(start_quota(fakes, {CHANNEL: ChatSettings(automatic=False)}), voice)
    assert dispatcher.messages == []
    assert storage.of(JobClosed) == [JobClosed(voice.job.key)]


def test_an_admin_switches_a_channel_off_once_the_sender_found_them_one_and_others_are_told_why_not(fakes):
    dispatcher, sender, storage, _ = fakes
    quota = start_quota(fakes)
    off = CommandReceived(5, 5, 30, "channel", "off @news")
    deliver(quota, off)
    switch = ChannelSwitch(False, "@news")
    assert sender.of(CheckChannelAdmin) == [CheckChannelAdmin(off, switch, quota)]
    deliver(quota, ChannelAdminChecked(off, switch, CHANNEL, ChannelStanding.NOT_ADMIN))
    assert storage.of(SaveChatSettings) == []
    deliver(quota, off, ChannelAdminChecked(off, switch, CHANNEL, ChannelStanding.ADMIN))
    assert storage.of(SaveChatSettings) == [SaveChatSettings(CHANNEL, ChatSettings(automatic=False))]
    assert [reply.text for reply in sender.of(SendText)] == [
        WORDS.channel_switched(ChannelStanding.NOT_ADMIN, False, "@news"),
        WORDS.channel_switched(ChannelStanding.ADMIN, False, "@news")]
    deliver(quota, post(1))
    assert dispatcher.messages == [], "off now"


def test_a_bad_channel_command_gets_its_usage_and_asks_nothing(fakes):
    _, sender, _, _ = fakes
    quota = start_quota(fakes)
    for user_id, argument in enumerate(("", "off", "maybe @news", "off news", "off @news extra"), start=10):
        deliver(quota, CommandReceived(user_id, user_id, 31, "channel", argument))
    deliver(quota, CommandReceived(-5, 5, 32, "channel", "off @news", in_group=True))   # in a group: no
    assert sender.of(CheckChannelAdmin) == []
    assert {reply.text for reply in sender.of(SendText)} == {WORDS.CHANNEL_USAGE}


def test_a_channel_is_named_by_its_username_or_its_id():
    assert channel_switch("OFF @News_2") == ChannelSwitch(False, "@News_2")
    assert channel_switch("on -1001234567890") == ChannelSwitch(True, "-1001234567890")
    assert channel_switch("on @") is None and channel_switch("on @bad-name") is None
    assert channel_switch("on 12345") is None, "a channel's id is negative"


def test_every_refused_post_says_why_under_its_caption_however_many_come_at_once(fakes):
    _, sender, _, _ = fakes
    deliver(start_quota(fakes), *(post(n, duration=280) for n in range(8)))
    notices = sender.of(SendText)
    assert [notice.to.post.message_id for notice in notices] == list(range(8))
    assert all(notice.text.startswith("Not transcribed") for notice in notices)


def test_one_user_cannot_make_the_bot_look_up_channel_after_channel(fakes):
    """Each look-up is three Bot API calls: a flood of /channel, each naming another channel, is bounded as any
    flood of commands is (the sender keeps the answers for the same channel a while)."""
    _, sender, _, _ = fakes
    deliver(start_quota(fakes), *(CommandReceived(5, 5, n, "channel", f"off @news{n}") for n in range(20)))
    assert len(sender.of(CheckChannelAdmin)) == COMMAND_BURST
    assert [reply.text for reply in sender.of(SendText)] == [WORDS.SLOW_DOWN]
