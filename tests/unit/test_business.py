"""Business chats in the units: business_connection and business_message updates read, the QuotaActor making a
recording in an owner's chat their job (answered privately, or as a reply where the connection may), or nothing
(their own, a disabled connection, /business off), /business, and the answer book posting and editing on the
owner's behalf."""
import dataclasses

import pytest

from actors.dispatcher import Dispatcher
from actors.messages import (
    AnswerFromMemory,
    CommandReceived,
    DeliverResult,
    JobAdmitted,
    JobClosed,
    JobFailed,
    PostStatus,
    ResultDelivered,
    TranscriptReady,
)
from actors.outbox import Pace
from actors.quota import QuotaActor
from actors.sender import TelegramSender
from actors.users import QuotaRules
from voicebot.core.business import business_change, business_place
from voicebot.core.calls import Destination, EditText, PostedMessage, SendText
from voicebot.core.domain import (
    BusinessConnection,
    BusinessOrigin,
    FailureReason,
    JobKey,
    Transcript,
    UserSettings,
    UserState,
    VoiceReceived,
)
from voicebot.core.intake import UPDATE_TYPES, parse_update
from voicebot.core.replies import Languages, Wording

from helpers import FakeTime, make_job
from mailbox import RecordingMailbox, deliver

ANN, BEN = 7, 8           # Ann connected the bot to her account; Ben writes to her
CONNECTION = "bc-1"
KEY = JobKey(BEN, 41, business_place(CONNECTION))   # her chat with Ben, as she sees it
BEN_IN_HER_CHAT = Destination(BEN, reply_to_message_id=41, business_connection_id=CONNECTION)
HEADER = Wording().business_header("Ben Smith (@ben)", "Ben Smith (@ben)")


def connection_update(enabled: bool = True, rights: dict | None = None) -> dict:
    connection = {"id": CONNECTION, "user": {"id": ANN, "first_name": "Ann", "language_code": "de"},
                  "user_chat_id": ANN, "date": 1, "is_enabled": enabled}
    return {"update_id": 1, "business_connection": connection if rights is None else {**connection, "rights": rights}}


def business_voice(sender_id: int = BEN, duration: int = 5) -> dict:
    sender = {"id": sender_id, "first_name": "Ben", "last_name": "Smith", "username": "ben", "language_code": "es"}
    return {"update_id": 2, "business_message": {
        "message_id": 41, "business_connection_id": CONNECTION, "from": sender,
        "chat": {"id": BEN, "type": "private", "first_name": "Ben", "last_name": "Smith", "username": "ben"},
        "voice": {"file_id": "f-1", "file_unique_id": "u-1", "duration": duration}}}


def test_a_connection_and_a_recording_in_the_owners_chat_are_read_and_nothing_else_there_is_for_the_bot():
    assert {"business_connection", "business_message"} <= set(UPDATE_TYPES)
    assert parse_update(connection_update(rights={"can_reply": True})) == BusinessConnection(
        CONNECTION, ANN, ANN, can_reply=True, is_enabled=True, language_code="de")
    assert parse_update(connection_update(enabled=False)).can_reply is False
    incoming = parse_update(business_voice())
    assert isinstance(incoming, VoiceReceived) and not incoming.in_group
    job = incoming.job
    assert (job.key, job.user_id, job.media.sender_id, job.interface_language) == (KEY, BEN, BEN, None)
    assert job.business == BusinessOrigin(CONNECTION, sender="Ben Smith (@ben)", chat="Ben Smith (@ben)")
    text = business_voice()
    del text["business_message"]["voice"]
    text["business_message"]["text"] = "/start"
    assert parse_update(text) is None, "a command in the owner's chat is not the bot's"
    forged = business_voice()
    del forged["business_message"]["business_connection_id"]
    assert parse_update(forged) is None


def test_business_settings_are_changed_by_words_only():
    settings = UserSettings()
    assert settings.business == "private" and settings.business_mine is False
    assert business_change("reply", settings).business == "reply"
    assert business_change("OFF", settings).business == "off"
    assert business_change("mine on", settings).business_mine is True
    assert [business_change(text, settings) for text in ("", "loud", "mine", "mine maybe", "reply now")] == [None] * 5


@pytest.fixture
def fakes():
    return RecordingMailbox("dispatcher"), RecordingMailbox("sender"), RecordingMailbox("storage"), FakeTime()


def start_quota(fakes, can_reply: bool = True, enabled: bool = True, charged_today: float = 0.0):
    dispatcher, sender, storage, time = fakes
    rules = QuotaRules(daily_seconds=60, rate_limit_seconds=100, max_duration_seconds=300, max_file_mb=20,
                       languages=frozenset({"en", "de"}))
    return QuotaActor.start(rules=rules, dispatcher=dispatcher, sender=sender, storage=storage,
                            users={ANN: UserState(ANN, charged_today=charged_today)}, chat_settings={},
                            now=time.now, clock=lambda: time.monotonic, languages=Languages([Wording("de")]),
                            business_connections=[BusinessConnection(CONNECTION, ANN, ANN, can_reply, enabled)])


def test_a_strangers_recording_is_the_owners_job_answered_to_her_privately_outside_her_rate_window(fakes):
    dispatcher, sender, _, _ = fakes
    quota = start_quota(fakes)
    deliver(quota, parse_update(connection_update(rights={"can_reply": True})), parse_update(business_voice()),
            parse_update({**business_voice(), "business_message": {**business_voice()["business_message"],
                                                                    "message_id": 42}}))
    first, second = dispatcher.of(JobAdmitted)
    # Hers: her quota, her app's language (as her connection said), never Ben's.
    assert (first.job.key, first.job.user_id, first.job.interface_language) == (KEY, ANN, "de")
    assert first.job.destination == Destination(ANN), "to Ann, in her chat with the bot"
    assert second.job.key.message_id == 42, "a stranger's recordings do not take Ann's turn"


def test_her_own_recording_a_disabled_connection_and_off_answer_nothing(fakes):
    dispatcher, sender, storage, _ = fakes
    quota = start_quota(fakes)
    deliver(quota, parse_update(business_voice(sender_id=ANN)))
    assert dispatcher.of(JobAdmitted) == [] and storage.of(JobClosed) == [JobClosed(KEY)]
    deliver(quota, CommandReceived(ANN, ANN, 2, "business", "mine on"), parse_update(business_voice(sender_id=ANN)))
    [own] = dispatcher.of(JobAdmitted)
    assert own.job.destination == Destination(ANN)
    deliver(quota, CommandReceived(ANN, ANN, 3, "business", "off"), parse_update(business_voice()))
    assert len(dispatcher.of(JobAdmitted)) == 1
    deliver(quota, CommandReceived(ANN, ANN, 4, "business", "private"), parse_update(connection_update(False)),
            parse_update(business_voice()))
    assert len(dispatcher.of(JobAdmitted)) == 1, "disabled: stopped at once"
    assert len(storage.of(JobClosed)) == 3
    assert not [call for call in sender.of(SendText) if call.to.chat_id == BEN], "nothing said to Ben"


def test_replies_go_into_the_chat_where_the_connection_may_reply_else_to_her_with_a_note_once(fakes):
    dispatcher, sender, _, _ = fakes
    quota = start_quota(fakes, can_reply=False)
    deliver(quota, CommandReceived(ANN, ANN, 1, "business", "reply"), parse_update(business_voice()),
            parse_update(business_voice()))
    assert dispatcher.of(JobAdmitted)[0].job.destination == Destination(ANN)
    notes = [call for call in sender.of(SendText) if call.text == Wording().BUSINESS_CANNOT_REPLY]
    assert notes == [SendText(Destination(ANN), Wording().BUSINESS_CANNOT_REPLY)]
    deliver(quota, parse_update(connection_update(rights={"can_reply": True})),
            parse_update({**business_voice(), "business_message": {**business_voice()["business_message"],
                                                                    "message_id": 43}}))
    assert dispatcher.of(JobAdmitted)[-1].job.destination == dataclasses.replace(BEN_IN_HER_CHAT,
                                                                                 reply_to_message_id=43)


def test_a_refusal_goes_to_the_owner_never_into_her_chat(fakes):
    _, sender, _, _ = fakes
    deliver(start_quota(fakes, charged_today=58), CommandReceived(ANN, ANN, 1, "business", "reply"),
            parse_update(business_voice(duration=30)))
    [refusal] = [call for call in sender.of(SendText) if call.to != Destination(ANN, reply_to_message_id=1)]
    assert refusal.to == Destination(ANN) and refusal.text.startswith(HEADER)


def test_business_shows_the_choice_and_the_connection(fakes):
    _, sender, _, _ = fakes
    quota = start_quota(fakes, can_reply=False)
    deliver(quota, CommandReceived(ANN, ANN, 1, "business"), CommandReceived(ANN, ANN, 2, "business", "reply"),
            CommandReceived(ANN, ANN, 3, "business", "loud"), CommandReceived(BEN, BEN, 4, "business"))
    words = Wording()
    assert [call.text for call in sender.of(SendText)] == [
        words.business_is("private", False, (True, True), changed=False),
        words.business_is("reply", False, (True, False), changed=True),
        words.BUSINESS_USAGE,
        words.business_is("private", False, None, changed=False)]


def test_a_private_answer_is_headed_with_who_sent_it_and_where_without_buttons(fakes):
    sender, quota, storage = RecordingMailbox(), RecordingMailbox(), RecordingMailbox()
    dispatcher = Dispatcher.start(workers={}, quota=quota, sender=sender, storage=storage, max_pending=10,
                                  max_duration_seconds=300, max_file_mb=20, bot_username="sandbox_bot")
    origin = BusinessOrigin(CONNECTION, ANN, "Ben Smith (@ben)", "Ben Smith (@ben)")
    private = dataclasses.replace(make_job(user_id=ANN), key=KEY, business=origin)
    reply = dataclasses.replace(private, key=dataclasses.replace(KEY, message_id=42),
                                business=dataclasses.replace(origin, reply=True))
    kept = Transcript("Ask not.", "en", 0.99, 11.0, 0.0)
    deliver(dispatcher, AnswerFromMemory(private, kept), AnswerFromMemory(reply, kept))
    to_her, in_her_chat = sender.of(DeliverResult)
    assert to_her.text == f"{HEADER}\n\nAsk not." and to_her.keyboard is None
    assert in_her_chat.text == "Ask not."
    assert [status.to for status in sender.of(PostStatus)] == [
        Destination(ANN), dataclasses.replace(BEN_IN_HER_CHAT, reply_to_message_id=42)]


class Telegram:
    def __init__(self):
        self.calls: list[object] = []

    def perform(self, call):
        self.calls.append(call)
        return 500 + len(self.calls) if isinstance(call, SendText) else None


UNPACED = Pace(private_per_second=1000, group_per_second=1000, overall_per_second=1000, burst=1000)


def test_the_status_is_posted_and_edited_on_the_owners_behalf_also_after_a_restart():
    telegram = Telegram()
    deliver(TelegramSender.start(telegram, pace=UNPACED), PostStatus(KEY, "Processing…", BEN_IN_HER_CHAT),
            DeliverResult(KEY, "the words"))
    assert telegram.calls == [SendText(BEN_IN_HER_CHAT, "Processing…"),
                              EditText(PostedMessage(BEN, 501, CONNECTION), "the words")]
    again = Telegram()
    deliver(TelegramSender.start(again, pace=UNPACED, status_messages={KEY: 77}),
            PostStatus(KEY, "Processing…", BEN_IN_HER_CHAT, status_message_id=77), DeliverResult(KEY, "the words"))
    assert again.calls == [EditText(PostedMessage(BEN, 77, CONNECTION), "the words")]


def test_nothing_goes_out_on_a_disabled_connection_and_its_job_ends_uncharged():
    telegram, quota = Telegram(), RecordingMailbox()
    job = dataclasses.replace(make_job(user_id=ANN), key=KEY)
    ready = TranscriptReady(job, Transcript("the words", "en", 1.0, 4.0, 1.0), "w1")
    sender = TelegramSender.start(telegram, pace=UNPACED)
    deliver(sender, PostStatus(KEY, "Processing…", BEN_IN_HER_CHAT),
            BusinessConnection(CONNECTION, ANN, ANN, can_reply=True, is_enabled=False),
            DeliverResult(KEY, "the words", outcome=ready, report_to=quota, refused_text="Something went wrong."))
    assert telegram.calls == [SendText(BEN_IN_HER_CHAT, "Processing…")], "nothing after it was disabled"
    [report] = quota.of(ResultDelivered)
    assert report.outcome == JobFailed(job, FailureReason.INTERNAL), "failed: not charged"
    deliver(sender, BusinessConnection(CONNECTION, ANN, ANN, can_reply=True, is_enabled=True),
            SendText(BEN_IN_HER_CHAT, "again"))
    assert telegram.calls[-1] == SendText(BEN_IN_HER_CHAT, "again")
