"""Guest jobs in storage, on SQLite and PostgreSQL: a key's place keeps a guest job apart from the bot's own job
of the same chat and message; its query and its post's inline_message_id survive a restart; its usage and its
transcript are found by its whole key."""
import dataclasses
from datetime import date

from voicebot.core.domain import Transcript, VoiceReceived
from voicebot.core.guests import guest_place

from helpers import make_job

pytest_plugins = ["databases"]

DAY = date(2026, 12, 4)


def test_a_guest_job_is_kept_apart_from_the_bots_own_job_of_the_same_chat_and_message(storage):
    own = make_job(user_id=8, message_id=10)   # Bob's voice to the bot: chat 8, message 10
    # Ann's guest mention of message 10 of her private chat with Bob (chat 8 as she sees it).
    guest = dataclasses.replace(make_job(user_id=7, message_id=10, chat_id=8),
                                key=dataclasses.replace(own.key, place=guest_place(7)), guest_query_id="q-1")
    assert storage.store_intake([VoiceReceived(own), VoiceReceived(guest, requested=True)], 5) == {own.key, guest.key}
    assert storage.store_intake([VoiceReceived(guest, requested=True)], 6) == set(), "a redelivered update"
    storage.status_posted(own.key, 900)
    storage.status_posted(guest.key, "inline-abc")
    pending = {item.incoming.job.key: item for item in storage.unfinished_jobs()}
    assert pending[own.key].status_message_id == 900
    assert pending[guest.key].status_message_id == "inline-abc"
    resumed = pending[guest.key].incoming.job
    assert (resumed.user_id, resumed.guest_query_id, resumed.destination.query_id) == (7, "q-1", "q-1")

    storage.record_usage(guest, DAY, "done", 4.0, Transcript("Bob said hi", "en", 0.9, 4.0, 1.0))
    assert [item.incoming.job.key for item in storage.unfinished_jobs()] == [own.key]
    [usage] = storage.usages(7)
    assert (usage.place, usage.charged_seconds) == (guest_place(7), 4.0)
    assert storage.recording(guest.key).transcript.text == "Bob said hi"
    assert storage.recording(dataclasses.replace(guest.key, place=guest_place(9))) is None
    assert storage.recording(own.key) is None, "the bot's own job is not answered yet"
