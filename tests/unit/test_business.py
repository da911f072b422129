"""Business chats in the units: business_connection and business_message updates read, the QuotaActor making a
recording in an owner's chat their job (answered privately, or as a reply where the connection may), or nothing
(their own, a disabled connection, /business off), /business, and the answer book posting and editing on the
owner's behalf."""
import dataclasses

import pytest

from actors.admission import MAX_UNSETTLED_PER_CONNECTION
from actors.dispatcher import Dispatcher
from actors.messages import (
    AnswerFromMemory,
    BusinessConnectionChecked,
    CheckBusinessConnection,
    CommandReceived,
    DeliverResult,
    JobAdmitted,
    JobClosed,
    JobFailed,
    PostStatus,
    ResultDelivered,
    StatusPosted,
    SystemReady,
    Transcribe,
    TranscriptReady,
    WorkerReady,
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
    PendingJob,
    Transcript,
    UserSettings,
    UserState,
    VoiceReceived,
)
from voicebot.core.errors import TelegramError
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


def business_voice_numbered(message_id: int, duration: int = 5) -> dict:
    update = business_voice(duration=duration)
    return {**update, "business_message": {**update["business_message"], "message_id": message_id}}


def test_a_strangers_recording_does_not_take_the_owners_own_turn(fakes):
    dispatcher, sender, _, _ = fakes
    quota = start_quota(fakes)
    deliver(quota, parse_update(business_voice()), VoiceReceived(make_job(user_id=ANN, message_id=9)))
    assert [admitted.job.key for admitted in dispatcher.of(JobAdmitted)] == [KEY, JobKey(ANN, 9)]
    assert sender.of(SendText) == [], "Ann is not told to wait: Ben's recording did not open her window"


def test_a_stranger_holds_no_more_than_a_few_places_in_the_queue(fakes):
    dispatcher, sender, _, _ = fakes
    quota = start_quota(fakes)
    deliver(quota, *(parse_update(business_voice_numbered(100 + n, duration=1))
                     for n in range(MAX_UNSETTLED_PER_CONNECTION + 1)))
    assert len(dispatcher.of(JobAdmitted)) == MAX_UNSETTLED_PER_CONNECTION
    [busy] = sender.of(SendText)
    assert busy.to == Destination(ANN) and busy.text == f"{HEADER}\n\n{Wording().BUSY}", "told to Ann, not Ben"
    first = dispatcher.of(JobAdmitted)[0].job
    deliver(quota, ResultDelivered(TranscriptReady(first, Transcript("hi", "en", 1.0, 1.0, 0.1), "w1"), True),
            parse_update(business_voice_numbered(200, duration=1)))
    assert dispatcher.of(JobAdmitted)[-1].job.key.message_id == 200, "one settled: a place is free again"


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


def test_in_reply_mode_her_customer_sees_processing_and_a_plain_failure_and_she_learns_why(fakes):
    sender, quota, storage = RecordingMailbox(), RecordingMailbox(), RecordingMailbox()
    dispatcher = Dispatcher.start(workers={}, quota=quota, sender=sender, storage=storage, max_pending=1,
                                  max_duration_seconds=300, max_file_mb=20)
    origin = BusinessOrigin(CONNECTION, ANN, "Ben Smith (@ben)", "Ben Smith (@ben)", reply=True)
    job = dataclasses.replace(make_job(user_id=ANN), key=KEY, business=origin)
    crowded = dataclasses.replace(job, key=dataclasses.replace(KEY, message_id=42))
    deliver(dispatcher, JobAdmitted(job), JobAdmitted(crowded))
    words = Wording()
    [status] = sender.of(PostStatus)
    assert (status.to, status.text) == (BEN_IN_HER_CHAT, words.PROCESSING), "no queue position for Ben"
    deliver(dispatcher, JobFailed(job, FailureReason.UNREADABLE_AUDIO))
    notices = sender.of(SendText)
    assert [notice.to for notice in notices] == [Destination(ANN), Destination(ANN)], "busy and why: to Ann only"
    assert notices[0].text == f"{HEADER}\n\n{words.BUSY}"
    assert notices[1].text == f"{HEADER}\n\n{words.failure(FailureReason.UNREADABLE_AUDIO, 300, 20)}"
    [result] = sender.of(DeliverResult)
    assert (result.key, result.text) == (KEY, words.BUSINESS_NOT_TRANSCRIBED), "Ben's Processing… says just that"


def test_a_disabled_connection_ends_its_jobs_waiting_and_running_untranscribed_and_uncharged(fakes):
    sender, quota, storage, worker = RecordingMailbox(), RecordingMailbox(), RecordingMailbox(), RecordingMailbox()
    dispatcher = Dispatcher.start(workers={"w1": worker}, quota=quota, sender=sender, storage=storage,
                                  max_pending=10, max_duration_seconds=300, max_file_mb=20)
    origin = BusinessOrigin(CONNECTION, ANN, "Ben Smith (@ben)", "Ben Smith (@ben)")
    running = dataclasses.replace(make_job(user_id=ANN), key=KEY, business=origin)
    waiting = dataclasses.replace(running, key=dataclasses.replace(KEY, message_id=42))
    deliver(dispatcher, WorkerReady("w1"), JobAdmitted(running), JobAdmitted(waiting),
            BusinessConnection(CONNECTION, ANN, ANN, can_reply=True, is_enabled=False),
            TranscriptReady(running, Transcript("the words", "en", 1.0, 4.0, 1.0), "w1"))
    told = f"{HEADER}\n\n{Wording().BUSINESS_DISCONNECTED}"
    assert [(result.key.message_id, result.text) for result in sender.of(DeliverResult)] == [(42, told), (41, told)]
    assert [result.outcome for result in sender.of(DeliverResult)] == [
        JobFailed(waiting, FailureReason.INTERNAL), JobFailed(running, FailureReason.INTERNAL)], "not charged"
    assert len(worker.of(Transcribe)) == 1, "the waiting one never ran"


def test_the_quota_actor_tells_the_dispatcher_of_a_disabled_connection(fakes):
    dispatcher, _, _, _ = fakes
    deliver(start_quota(fakes), parse_update(connection_update(enabled=False)))
    assert [connection.is_enabled for connection in dispatcher.of(BusinessConnection)] == [False]


@pytest.mark.parametrize("status_in, now, can_reply, answered_to, status", [
    (ANN, "reply", True, Destination(ANN), 77),                   # posted privately: edited there
    (BEN, "private", True, BEN_IN_HER_CHAT, 77),                  # posted as her reply: edited there
    (BEN, "reply", False, Destination(ANN), None),                # her reply may no longer be edited: a new one
])
def test_a_resumed_job_is_answered_where_its_status_was_posted_whatever_she_chose_since(
        fakes, status_in, now, can_reply, answered_to, status):
    dispatcher, _, _, time = fakes
    rules = QuotaRules(daily_seconds=60, rate_limit_seconds=100, max_duration_seconds=300, max_file_mb=20)
    stored = dataclasses.replace(parse_update(business_voice()).job, user_id=BEN)
    quota = QuotaActor.start(rules=rules, dispatcher=dispatcher, sender=RecordingMailbox(), storage=RecordingMailbox(),
                             users={ANN: UserState(ANN, UserSettings(business=now))}, chat_settings={},
                             now=time.now, clock=lambda: time.monotonic,
                             resumed=(PendingJob(VoiceReceived(stored), 77, 1, status_in),),
                             business_connections=[BusinessConnection(CONNECTION, ANN, ANN, can_reply, True)])
    deliver(quota, SystemReady())
    [resumed] = dispatcher.of(JobAdmitted)
    assert (resumed.job.destination, resumed.status_message_id) == (answered_to, status)


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


def test_the_chat_a_status_was_posted_in_is_stored_with_it():
    storage = RecordingMailbox()
    deliver(TelegramSender.start(Telegram(), pace=UNPACED, storage=storage),
            PostStatus(KEY, "Processing…", BEN_IN_HER_CHAT),
            PostStatus(JobKey(ANN, 5), "Processing…", Destination(ANN)))
    assert storage.of(StatusPosted) == [StatusPosted(KEY, 501, BEN), StatusPosted(JobKey(ANN, 5), 502, ANN)]


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


def test_a_connection_id_that_no_database_could_keep_or_that_overflows_a_place_is_nothing():
    for forged in ("bc\x00", "b c", "b" * 49, ""):
        connection, voice = connection_update(), business_voice()
        connection["business_connection"]["id"] = forged
        voice["business_message"]["business_connection_id"] = forged
        assert parse_update(connection) is None and parse_update(voice) is None, forged
    longest = business_voice()
    longest["business_message"]["business_connection_id"] = "b" * 48
    assert len(parse_update(longest).job.key.place) <= 64   # what storage keeps of a place


def test_a_connection_made_before_the_bot_asked_for_its_updates_is_looked_up_once_and_then_answered(fakes):
    dispatcher, sender, storage, time = fakes
    rules = QuotaRules(daily_seconds=60, rate_limit_seconds=100, max_duration_seconds=300, max_file_mb=20)
    quota = QuotaActor.start(rules=rules, dispatcher=dispatcher, sender=sender, storage=storage,
                             users={}, chat_settings={}, now=time.now, clock=lambda: time.monotonic)
    deliver(quota, parse_update(business_voice()), parse_update(business_voice_numbered(42)))
    assert [ask.connection_id for ask in sender.of(CheckBusinessConnection)] == [CONNECTION], "asked once"
    assert dispatcher.of(JobAdmitted) == [] and storage.of(JobClosed) == []
    connection = BusinessConnection(CONNECTION, ANN, ANN, can_reply=False, is_enabled=True)
    deliver(quota, BusinessConnectionChecked(CONNECTION, connection))
    assert [admitted.job.destination for admitted in dispatcher.of(JobAdmitted)] == [Destination(ANN)] * 2
    assert dispatcher.of(BusinessConnection) == [connection] and connection in sender.messages
    deliver(quota, CommandReceived(ANN, ANN, 1, "business"))
    assert sender.of(SendText)[-1].text == Wording().business_is("private", False, (True, True), changed=False)

    deliver(quota, parse_update({**business_voice(), "business_message": {
        **business_voice()["business_message"], "business_connection_id": "bc-gone"}}))
    deliver(quota, BusinessConnectionChecked("bc-gone", None))
    assert len(dispatcher.of(JobAdmitted)) == 2
    assert storage.of(JobClosed) == [JobClosed(dataclasses.replace(KEY, place=business_place("bc-gone")))]


def test_the_sender_asks_telegram_about_a_connection():
    class Connections(Telegram):
        def business_connection(self, connection_id):
            if connection_id != CONNECTION:
                raise TelegramError("getBusinessConnection", "Bad Request: business connection not found", 400)
            return BusinessConnection(CONNECTION, ANN, ANN, can_reply=True, is_enabled=True)
    quota = RecordingMailbox()
    deliver(TelegramSender.start(Connections(), pace=UNPACED), CheckBusinessConnection(CONNECTION, quota),
            CheckBusinessConnection("bc-gone", quota))
    assert quota.of(BusinessConnectionChecked) == [
        BusinessConnectionChecked(CONNECTION, BusinessConnection(CONNECTION, ANN, ANN, True, True)),
        BusinessConnectionChecked("bc-gone", None)]


def test_a_reply_under_way_when_its_connection_is_disabled_ends_uncharged_never_to_be_resumed():
    recorder, quota, worker = RecordingMailbox(), RecordingMailbox(), RecordingMailbox()
    dispatcher = Dispatcher.start(workers={"w1": worker}, quota=quota, sender=recorder, storage=RecordingMailbox(),
                                  max_pending=10, max_duration_seconds=300, max_file_mb=20)
    origin = BusinessOrigin(CONNECTION, ANN, "Ben Smith (@ben)", "Ben Smith (@ben)", reply=True)
    job = dataclasses.replace(make_job(user_id=ANN), key=KEY, business=origin)
    disabled = BusinessConnection(CONNECTION, ANN, ANN, can_reply=True, is_enabled=False)
    deliver(dispatcher, WorkerReady("w1"), JobAdmitted(job), disabled,
            TranscriptReady(job, Transcript("the words", "en", 1.0, 4.0, 1.0), "w1"))
    telegram = Telegram()
    sender = TelegramSender.start(telegram, pace=UNPACED)
    deliver(sender, *recorder.of(PostStatus), disabled, *recorder.of(DeliverResult))
    assert telegram.calls == [SendText(BEN_IN_HER_CHAT, Wording().PROCESSING)], "nothing more in her chat"
    [report] = quota.of(ResultDelivered)
    assert report == ResultDelivered(JobFailed(job, FailureReason.INTERNAL), delivered=True), "ended, not charged"
