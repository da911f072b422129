"""Guest mode in the units: a guest_message update read, the deep link's payload, a guest job's key on the wire,
and the sender's answer book answering a guest query once and editing that post."""
import dataclasses

import pytest

from actors.dispatcher import Dispatcher
from actors.messages import (
    AnswerFromMemory,
    CommandReceived,
    DeliverResult,
    GuestTranscriptLoaded,
    JobAdmitted,
    LoadGuestTranscript,
    PostStatus,
    ResultDelivered,
    StatusPosted,
    TranscriptReady,
)
from actors.outbox import Pace
from actors.quota import QuotaActor
from actors.sender import TelegramSender
from actors.users import QuotaRules
from actors.wire import event_from_wire, event_to_wire, job_from_wire, job_to_wire
from voicebot.core.calls import AnswerGuest, Destination, EditText, GuestChat, InlineMessage, SendText
from voicebot.core.domain import GuestMentioned, JobKey, Transcript, UserState, VoiceReceived
from voicebot.core.guests import deep_link, guest_place, guest_post, key_of_payload, start_payload
from voicebot.core.intake import UPDATE_TYPES, parse_update
from voicebot.core.replies import Wording
from voicebot.core.text import TELEGRAM_LIMIT

from helpers import FakeTime, make_job
from mailbox import RecordingMailbox, deliver

UNPACED = Pace(private_per_second=1000, group_per_second=1000, overall_per_second=1000, burst=1000)
STRANGERS = -1001234
KEY = JobKey(STRANGERS, 41, guest_place(7))
TO = GuestChat("q-1", STRANGERS)
REST = "The whole text is in my private chat: https://t.me/sandbox_bot?start=gm1001234_41"


def guest_update(reply_to: dict | None = None, query_id: object = "q-1") -> dict:
    message = {"message_id": 42, "guest_query_id": query_id, "text": "@sandbox_bot",
               "chat": {"id": STRANGERS, "type": "supergroup", "title": "Strangers"},
               "from": {"id": 7, "first_name": "Ann", "language_code": "de"}}
    return {"update_id": 1, "guest_message": message if reply_to is None else {**message, "reply_to_message": reply_to}}


def test_a_guest_mention_under_a_voice_is_a_job_of_the_callers_charged_to_them_in_a_place_of_its_own():
    voice = {"message_id": 41, "from": {"id": 8}, "voice": {"file_id": "f-1", "duration": 4}}
    incoming = parse_update(guest_update(voice))
    assert isinstance(incoming, VoiceReceived) and incoming.requested and not incoming.in_group
    job = incoming.job
    assert (job.key, job.user_id, job.media.sender_id, job.interface_language) == (KEY, 7, 8, "de")
    assert job.destination == TO
    assert "guest_message" in UPDATE_TYPES


def test_a_guest_mention_without_a_recording_asks_how_to_and_a_forged_one_is_nothing():
    assert parse_update(guest_update()) == GuestMentioned("q-1", STRANGERS, 7, "de")
    assert parse_update(guest_update({"message_id": 41, "text": "hello"})) == GuestMentioned("q-1", STRANGERS, 7, "de")
    assert parse_update(guest_update(query_id=5)) is None
    assert parse_update(guest_update(query_id="")) is None


def test_a_deep_links_payload_names_the_callers_job_only():
    payload = start_payload(KEY)
    assert payload == "gm1001234_41" and deep_link("sandbox_bot", KEY) == f"https://t.me/sandbox_bot?start={payload}"
    assert key_of_payload(payload, 7) == KEY
    assert key_of_payload(payload, 8) == JobKey(STRANGERS, 41, guest_place(8)), "another's: none of theirs"
    assert key_of_payload(start_payload(JobKey(8, 3, guest_place(7))), 7) == JobKey(8, 3, guest_place(7))
    assert [key_of_payload(text, 7) for text in ("", "g12", "x1_2", "g1_2_3", "g-1_2")] == [None] * 5


def test_a_long_guest_post_is_cut_between_words_and_says_where_the_rest_is():
    text = " ".join(f"word{n}" for n in range(1500))
    post = guest_post(text, REST)
    assert len(post) <= TELEGRAM_LIMIT and post.endswith(REST)
    kept = post[:-len(REST)].split()[:-1]   # the words before the "…"
    assert kept == text.split()[:len(kept)] and len(kept) > 500
    assert guest_post("short", REST) == "short"


def test_a_guest_jobs_place_crosses_the_wire():
    job = dataclasses.replace(make_job(), key=KEY)
    assert job_from_wire(job_to_wire(job)).key == KEY
    old = job_to_wire(make_job())
    del old["place"]
    assert job_from_wire(old).key.place == ""   # a node from before guest mode
    ready = TranscriptReady(job, Transcript("hi", "en", 1.0, 1.0, 1.0), "w1")
    assert event_from_wire(event_to_wire(ready)).job.key == KEY


class GuestTelegram:
    """Answers guest queries once each (inline_message_id "inline-<query>") and records every call."""

    def __init__(self):
        self.calls: list[object] = []

    def perform(self, call):
        self.calls.append(call)
        match call:
            case AnswerGuest(to):
                return f"inline-{to.query_id}"
            case SendText():
                return 100 + len(self.calls)
        return None


def start_sender(telegram, storage=None, status_messages=None):
    return TelegramSender.start(telegram, storage=storage, pace=UNPACED, status_messages=status_messages)


def test_a_guest_jobs_status_answers_its_query_and_the_result_is_edited_into_that_post():
    telegram, storage, quota = GuestTelegram(), RecordingMailbox(), RecordingMailbox()
    deliver(start_sender(telegram, storage), PostStatus(KEY, "Processing…", TO),
            DeliverResult(KEY, "the words", False, "outcome", quota, keyboard=((("English", "e"),),)))
    post = InlineMessage("inline-q-1", STRANGERS)
    assert telegram.calls == [AnswerGuest(TO, "Processing…"), EditText(post, "the words")], "no buttons"
    assert storage.messages == [StatusPosted(KEY, "inline-q-1")]
    assert quota.messages == [ResultDelivered("outcome", delivered=True)]


def test_a_long_guest_result_is_one_post_with_where_the_rest_is_and_no_file():
    telegram = GuestTelegram()
    text = "word " * 2000
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…", TO),
            DeliverResult(KEY, text, as_file=True, rest_elsewhere=REST))
    [_, edit] = telegram.calls
    assert edit.text == guest_post(text, REST) and len(edit.text) <= TELEGRAM_LIMIT


def test_a_guest_post_made_before_a_restart_is_edited_never_posted_again():
    telegram = GuestTelegram()
    deliver(start_sender(telegram, status_messages={KEY: "inline-old"}),
            PostStatus(KEY, "Processing…", TO, status_message_id="inline-old"), DeliverResult(KEY, "the words"))
    assert telegram.calls == [EditText(InlineMessage("inline-old", STRANGERS), "the words")]


def test_a_refusal_for_a_guest_job_answers_its_query():
    telegram = GuestTelegram()
    deliver(start_sender(telegram), SendText(TO, "Please wait"))
    assert telegram.calls == [AnswerGuest(TO, "Please wait")]


def test_the_dispatcher_words_where_a_guest_jobs_whole_text_is_with_the_bots_deep_link():
    sender, quota, storage = RecordingMailbox(), RecordingMailbox(), RecordingMailbox()
    dispatcher = Dispatcher.start(workers={}, quota=quota, sender=sender, storage=storage, max_pending=10,
                                  max_duration_seconds=300, max_file_mb=20, bot_username="sandbox_bot")
    guest = dataclasses.replace(make_job(), key=KEY, guest_query_id="q-1")
    own = make_job(message_id=2)
    kept = Transcript("Ask not.", "en", 0.99, 11.0, 0.0)
    deliver(dispatcher, AnswerFromMemory(guest, kept), AnswerFromMemory(own, kept))
    [for_guest, for_own] = sender.of(DeliverResult)
    assert for_guest.rest_elsewhere == Wording().guest_rest(deep_link("sandbox_bot", KEY)) == REST
    assert for_own.rest_elsewhere == ""
    assert sender.of(PostStatus)[0].to == TO


def test_without_kept_transcripts_a_cut_guest_post_links_the_bots_chat_and_the_whole_text_goes_there():
    """No /start can fetch a transcript that is not kept: the caller gets the whole of it in their chat with the
    bot at once, and the post says it is there."""
    sender = RecordingMailbox()
    dispatcher = Dispatcher.start(workers={}, quota=RecordingMailbox(), sender=sender, storage=RecordingMailbox(),
                                  max_pending=10, max_duration_seconds=300, max_file_mb=20,
                                  bot_username="sandbox_bot", keeps_transcripts=False)
    guest = dataclasses.replace(make_job(user_id=7), key=KEY, guest_query_id="q-1")
    deliver(dispatcher, AnswerFromMemory(guest, Transcript("Ask not.", "en", 0.99, 11.0, 0.0)))
    [result] = sender.of(DeliverResult)
    assert result.rest_elsewhere == Wording().guest_rest("https://t.me/sandbox_bot")
    assert result.rest_to == Destination(7)
    telegram, text = GuestTelegram(), "word " * 2000
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…", TO),
            DeliverResult(KEY, text, rest_elsewhere=result.rest_elsewhere, rest_to=Destination(7)))
    [_, edit, *whole] = telegram.calls
    assert edit.text.endswith(result.rest_elsewhere)
    assert [call.to for call in whole] == [Destination(7)] * len(whole)
    assert " ".join(call.text for call in whole).split() == text.split()
    short = GuestTelegram()
    deliver(start_sender(short), PostStatus(KEY, "Processing…", TO),
            DeliverResult(KEY, "short", rest_elsewhere=result.rest_elsewhere, rest_to=Destination(7)))
    assert len(short.calls) == 2, "not cut: nothing more to send"


# --- the QuotaActor: a guest job is the caller's, its refusals and the how-to line answer the query


@pytest.fixture
def fakes():
    return RecordingMailbox("dispatcher"), RecordingMailbox("sender"), RecordingMailbox("storage"), FakeTime()


def start_quota(fakes, charged_today=None):
    dispatcher, sender, storage, time = fakes
    rules = QuotaRules(daily_seconds=60, rate_limit_seconds=10, max_duration_seconds=300, max_file_mb=20,
                       languages=frozenset({"en", "de"}))
    states = {user_id: UserState(user_id, charged_today=seconds) for user_id, seconds in (charged_today or {}).items()}
    return QuotaActor.start(rules=rules, dispatcher=dispatcher, sender=sender, storage=storage, users=states,
                            chat_settings={}, now=time.now, clock=lambda: time.monotonic)


def guest_job(duration: int):
    return parse_update(guest_update({"message_id": 41, "from": {"id": 8},
                                      "voice": {"file_id": "f-1", "duration": duration}}))


def test_a_guest_job_is_admitted_on_the_callers_quota_and_refused_past_it_in_its_post(fakes):
    dispatcher, sender, _, _ = fakes
    deliver(start_quota(fakes, charged_today={7: 50}), guest_job(5))
    [admitted] = dispatcher.of(JobAdmitted)
    assert (admitted.job.key, admitted.job.user_id, admitted.job.max_seconds) == (KEY, 7, 10)

    deliver(start_quota(fakes, charged_today={7: 50}), guest_job(30))
    [refusal] = sender.of(SendText)
    assert refusal.to == TO and "10 s of your daily 1 min left" in refusal.text


def test_a_mention_with_nothing_to_transcribe_answers_its_query_with_how_to(fakes):
    _, sender, _, _ = fakes
    deliver(start_quota(fakes), parse_update({"update_id": 2, "guest_message": {
        "message_id": 42, "guest_query_id": "q-2", "text": "@sandbox_bot",
        "chat": {"id": STRANGERS, "type": "supergroup"}, "from": {"id": 7}}}))
    assert sender.of(SendText) == [SendText(GuestChat("q-2", STRANGERS), Wording().GUEST_HOW_TO)]


def test_start_with_a_deep_links_payload_gives_the_caller_their_whole_text_else_a_plain_reply(fakes):
    _, sender, storage, _ = fakes
    quota = start_quota(fakes)
    deliver(quota, CommandReceived(7, 7, 3, "start", start_payload(KEY)))
    [load] = storage.of(LoadGuestTranscript)
    assert (load.key, load.chat_id, load.message_id) == (KEY, 7, 3)
    deliver(quota, GuestTranscriptLoaded(7, 3, "the whole text"), CommandReceived(8, 8, 4, "start", "gm5_x"))
    deliver(quota, CommandReceived(9, 9, 5, "start", start_payload(KEY)), GuestTranscriptLoaded(9, 5, None))
    texts = [(call.to.chat_id, call.text) for call in sender.of(SendText)]
    assert texts[0] == (7, "the whole text")
    assert texts[1] == (8, Wording().help_text(300, 20, 60, 10, admin=False))   # a payload naming nothing: help
    assert texts[2] == (9, Wording().GUEST_TRANSCRIPT_GONE)


def test_a_guest_query_id_that_no_database_could_keep_is_nothing_and_a_chat_caller_gets_how_to():
    voice = {"message_id": 41, "from": {"id": 8}, "voice": {"file_id": "f-1", "duration": 4}}
    for forged in ("q\x00-1", "q 1", "q" * 49, "ключ"):
        assert parse_update(guest_update(voice, query_id=forged)) is None, forged
    assert isinstance(parse_update(guest_update(voice, query_id="q" * 48)), VoiceReceived)
    anonymous = guest_update(voice)
    del anonymous["guest_message"]["from"]   # called as a chat (an anonymous admin): nobody to charge
    assert parse_update(anonymous) == GuestMentioned("q-1", STRANGERS, STRANGERS, None)
