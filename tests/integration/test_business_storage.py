"""Business chats in storage, on SQLite and PostgreSQL: connections kept as their latest update left them; a
business job kept apart from the bot's own job of the same chat and message, and resumed with its connection and
header; the owner's choices kept as settings."""
import dataclasses
from datetime import date

from voicebot.core.business import business_place
from voicebot.core.domain import BusinessConnection, BusinessOrigin, Transcript, UserSettings, VoiceReceived

from helpers import make_job

pytest_plugins = ["databases"]

DAY = date(2026, 12, 4)
ANN, BEN = 7, 8


def test_connections_are_kept_as_their_latest_update_left_them(storage):
    assert storage.business_connections() == []
    storage.save_business_connections([BusinessConnection("bc-1", ANN, ANN, can_reply=False, is_enabled=True),
                                       BusinessConnection("bc-2", 9, 9, can_reply=True, is_enabled=True)])
    storage.save_business_connections([BusinessConnection("bc-1", ANN, ANN, can_reply=True, is_enabled=False)])
    assert storage.business_connections() == [BusinessConnection("bc-1", ANN, ANN, True, False),
                                              BusinessConnection("bc-2", 9, 9, True, True)]


def test_a_business_job_is_kept_apart_and_resumed_with_its_connection_and_header(storage):
    own = make_job(user_id=BEN, message_id=10)   # Ben's voice to the bot: chat 8, message 10
    origin = BusinessOrigin("bc-1", sender="Ben Smith (@ben)", chat="Ben Smith (@ben)")
    business = dataclasses.replace(make_job(user_id=BEN, message_id=10, chat_id=BEN),
                                   key=dataclasses.replace(own.key, place=business_place("bc-1")), business=origin)
    assert storage.store_intake([VoiceReceived(own), VoiceReceived(business)], 5) == {own.key, business.key}
    storage.status_posted(business.key, 901, BEN)
    pending = {item.incoming.job.key: item for item in storage.unfinished_jobs()}
    assert (pending[business.key].status_message_id, pending[business.key].status_chat_id) == (901, BEN), \
        "posted in her chat with Ben: resumed there"
    assert pending[business.key].incoming.job.business == origin
    assert pending[own.key].incoming.job.business is None

    charged = dataclasses.replace(business, user_id=ANN, business=dataclasses.replace(origin, owner_chat_id=ANN))
    storage.record_usage(charged, DAY, "done", 4.0, Transcript("Ben said hi", "en", 0.9, 4.0, 1.0))
    assert [item.incoming.job.key for item in storage.unfinished_jobs()] == [own.key]
    [usage] = storage.usages(ANN)
    assert (usage.place, usage.charged_seconds) == (business_place("bc-1"), 4.0)
    assert storage.usages(BEN) == []


def test_the_owners_choices_are_kept_as_settings(storage):
    storage.save_user_settings(ANN, UserSettings(business="reply", business_mine=True))
    assert storage.load_users(DAY)[ANN].settings == UserSettings(business="reply", business_mine=True)
