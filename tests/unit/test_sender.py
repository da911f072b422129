import threading
import time

import pykka

from actors.messages import (
    CallMade,
    ChatAdminChecked,
    CheckChannelAdmin,
    CheckChatAdmin,
    CommandReceived,
    DeliverResult,
    JobFailed,
    MakeCall,
    PostStatus,
    ResultDelivered,
    ShowProgress,
    StatusPosted,
    TranscriptReady,
    UpdateStatus,
)
from actors.outbox import AT_ONCE_RETRY_SECONDS, MAX_WAITING, Pace
from actors.sender import ADMIN_CACHE_SECONDS, TelegramSender
from voicebot.core.calls import (
    AnswerPress,
    Destination,
    EditButtons,
    EditText,
    PostedMessage,
    RefundStars,
    SendDocument,
    SendText,
)
from voicebot.core.channels import ChannelStanding, ChannelSwitch
from voicebot.core.domain import FailureReason, JobKey, Transcript
from voicebot.core.errors import TelegramError

from helpers import make_job
from mailbox import RecordingMailbox, deliver, wait_until


class FakeTelegram:
    """Records sends, edits and documents (with when they happened); fails a method when told to."""

    def __init__(self, failing: dict[str, TelegramError] | None = None):
        self.sent: list[tuple[int, str, int | None]] = []
        self.edited: list[tuple[int, int, str]] = []
        self.documents: list[tuple[int, str, bytes, int | None]] = []
        self.times: list[float] = []
        self.threads: list[int | None] = []   # the forum topic of each message and document sent
        self.keyboards: dict[int, object] = {}   # message id -> the buttons under it
        self.answers: list[tuple[str, str | None]] = []
        self.log: list[tuple] = []   # every call above, in the order made
        self.failing = failing or {}
        self.calls = threading.Semaphore(0)

    def perform(self, call):
        match call:
            case SendText(to, text, keyboard):
                return self.send_message(to.chat_id, text, to.reply_to_message_id, to.thread_id, keyboard)
            case EditText(message, text, keyboard):
                return self.edit_message_text(message.chat_id, message.message_id, text, keyboard)
            case EditButtons(message, keyboard):
                return self.edit_keyboard(message.chat_id, message.message_id, keyboard)
            case AnswerPress(query_id, text):
                return self.answer_press(query_id, text)
            case SendDocument(to, file_name, data, caption):
                return self.send_document(to.chat_id, file_name, data, caption, to.reply_to_message_id, to.thread_id)

    def send_message(self, chat_id, text, reply_to=None, thread_id=None, keyboard=None):
        if "sendMessage" in self.failing:
            raise self.failing.pop("sendMessage")
        self.threads.append(thread_id)
        self._record(self.sent, (chat_id, text, reply_to))
        self.keyboards[100 + len(self.sent)] = keyboard
        return 100 + len(self.sent)

    def edit_message_text(self, chat_id, message_id, text, keyboard=None):
        if "editMessageText" in self.failing:
            raise self.failing["editMessageText"]
        self._record(self.edited, (chat_id, message_id, text))
        self.keyboards[message_id] = keyboard

    def edit_keyboard(self, chat_id, message_id, keyboard):
        self._record(self.edited, (chat_id, message_id, None))
        self.keyboards[message_id] = keyboard

    def answer_press(self, query_id, text=None):
        self._record(self.answers, (query_id, text))

    def send_document(self, chat_id, file_name, data, caption=None, reply_to=None, thread_id=None):
        self.threads.append(thread_id)
        self._record(self.documents, (chat_id, file_name, data, reply_to))
        return 900

    def _record(self, where: list, call: tuple) -> None:
        where.append(call)
        self.log.append(call)
        self.times.append(time.monotonic())
        self.calls.release()

    def wait_calls(self, count: int, timeout: float = 10.0) -> None:
        for _ in range(count):
            assert self.calls.acquire(timeout=timeout), "fewer Bot API calls than expected"


UNPACED = Pace(private_per_second=1000, group_per_second=1000, overall_per_second=1000, burst=1000)


def start_sender(telegram, pace=UNPACED, storage=None):
    return TelegramSender.start(telegram, storage=storage, pace=pace)


KEY = JobKey(chat_id=5, message_id=9)
TO = Destination(5, reply_to_message_id=9)   # where the job's answers go


def test_the_result_is_edited_into_the_status_message():
    telegram = FakeTelegram()
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…", TO), DeliverResult(KEY, "the words"))
    assert telegram.sent == [(5, "Processing…", 9)]
    assert telegram.edited == [(5, 101, "the words")]


def test_a_long_result_continues_in_replies_each_within_telegram_limits():
    telegram = FakeTelegram()
    text = " ".join(f"word{n}." for n in range(2000))
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…", TO), DeliverResult(KEY, text))
    pieces = [telegram.edited[0][2]] + [sent[1] for sent in telegram.sent[1:]]
    assert len(pieces) > 1 and all(len(piece) <= 4096 for piece in pieces)
    assert " ".join(pieces).split() == text.split()
    assert all(reply_to == 9 for _, _, reply_to in telegram.sent)


def test_without_a_status_message_the_result_is_sent_as_a_reply():
    telegram = FakeTelegram(failing={"sendMessage": TelegramError("sendMessage", "Bad Request: chat not found", 400)})
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…", TO), DeliverResult(KEY, "the words"))
    assert telegram.sent == [(5, "the words", 9)] and telegram.edited == []


def test_a_status_message_that_cannot_be_edited_is_replaced_by_a_reply():
    telegram = FakeTelegram(failing={"editMessageText": TelegramError(
        "editMessageText", "Bad Request: message to edit not found", 400)})
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…", TO), DeliverResult(KEY, "the words"))
    assert telegram.sent == [(5, "Processing…", 9), (5, "the words", 9)]


def test_a_failed_send_is_logged_and_the_sender_carries_on(caplog):
    telegram = FakeTelegram(failing={"sendMessage": TelegramError("sendMessage", "Forbidden: bot was blocked", 403)})
    sender = start_sender(telegram)
    deliver(sender, SendText(Destination(1), "first"), SendText(Destination(2), "second"))
    assert telegram.sent == [(2, "second", None)]
    assert "bot was blocked" in caplog.text and sender.is_alive()


def test_status_follows_the_job_and_unchanged_or_late_progress_is_not_sent():
    telegram = FakeTelegram()
    deliver(start_sender(telegram), PostStatus(KEY, "#2 in queue", TO), UpdateStatus(KEY, "Processing…"),
            UpdateStatus(KEY, "Processing…"), ShowProgress(KEY, "Processing…\n\nAnd so"),
            ShowProgress(KEY, "Processing…\n\nAnd so my fellow"), DeliverResult(KEY, "And so my fellow Americans"))
    assert [text for _, _, text in telegram.edited] == [
        "Processing…", "Processing…\n\nAnd so", "And so my fellow Americans"]


def test_a_very_long_result_also_comes_as_a_text_file():
    telegram = FakeTelegram()
    text = "word " * 3000
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…", TO), DeliverResult(KEY, text, as_file=True))
    [(chat_id, name, data, reply_to)] = telegram.documents
    assert (chat_id, name, data.decode(), reply_to) == (5, "transcript.txt", text, 9)


def test_a_burst_to_a_group_is_paced_not_refused():
    telegram = FakeTelegram()
    sender = start_sender(telegram, Pace(private_per_second=1000, group_per_second=20, overall_per_second=1000,
                                         burst=2))
    deliver(sender, *(SendText(Destination(-100), f"reply {n}") for n in range(6)), SendText(Destination(5), "private"))
    telegram.wait_calls(7)
    assert [text for chat, text, _ in telegram.sent if chat == -100] == [f"reply {n}" for n in range(6)]
    assert telegram.sent.index((5, "private", None)) < 3   # other chats do not wait behind the group
    group_times = [at for (chat, _, _), at in zip(telegram.sent, telegram.times, strict=True) if chat == -100]
    assert group_times[-1] - group_times[0] >= 4 / 20 * 0.9   # two at once, then one every 1/20 s


def test_the_status_message_is_recorded_and_the_outcome_reported_once_delivered():
    telegram, storage, quota = FakeTelegram(), RecordingMailbox(), RecordingMailbox()
    outcome = object()
    deliver(start_sender(telegram, storage=storage), PostStatus(KEY, "Processing…", TO),
            DeliverResult(KEY, "word " * 1000, True, outcome, quota))
    assert storage.messages == [StatusPosted(KEY, 101, TO.chat_id)]
    assert quota.messages == [ResultDelivered(outcome, delivered=True)]   # after the last part went out
    assert telegram.documents and len(telegram.sent) == 2


def test_an_outcome_that_could_not_be_delivered_is_reported_as_such():
    telegram, quota = FakeTelegram(), RecordingMailbox()
    telegram.failing["sendMessage"] = TelegramError("sendMessage", "Bad Request: chat not found", 400)
    deliver(start_sender(telegram), DeliverResult(KEY, "the words", False, "outcome", quota))
    assert quota.messages == [ResultDelivered("outcome", delivered=False)]


def test_everything_about_a_recording_in_a_forum_topic_goes_to_that_topic():
    telegram = FakeTelegram()
    text = "word " * 1000   # past one message's limit: two parts and the file
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…", Destination(5, 7, 9)),
            DeliverResult(KEY, text, as_file=True), SendText(Destination(KEY.chat_id, 7, 5), "Slow down"))
    assert len(telegram.sent) == 3 and len(telegram.documents) == 1   # status, second part, reply; the file
    assert telegram.threads == [7, 7, 7, 7]


def test_a_result_whose_status_is_gone_is_sent_into_the_topic():
    telegram = FakeTelegram(failing={"editMessageText": TelegramError("editMessageText", "Bad Request: message "
                                                                                         "to edit not found", 400)})
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…", Destination(5, 7, 9)),
            DeliverResult(KEY, "the words"))
    assert [text for _, text, _ in telegram.sent] == ["Processing…", "the words"]
    assert telegram.threads == [7, 7]


def test_a_status_posted_before_a_restart_gets_the_result_and_nothing_before_it():
    # The node that stopped may have put the result there already: no status goes over it again.
    telegram, quota = FakeTelegram(), RecordingMailbox()
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…", TO, status_message_id=55),
            DeliverResult(KEY, "the words", False, "outcome", quota))
    assert telegram.sent == []
    assert [(message_id, text) for _, message_id, text in telegram.edited] == [(55, "the words")]
    assert quota.messages == [ResultDelivered("outcome", delivered=True)]


def test_a_chat_throttled_by_telegram_waits_alone_and_still_gets_its_messages_once_in_order():
    telegram = FakeTelegram(failing={"sendMessage": TelegramError("sendMessage", "Too Many Requests", 429,
                                                                  retry_after=1)})
    sender = start_sender(telegram)
    started = time.monotonic()
    deliver(sender, SendText(Destination(1), "throttled first"), SendText(Destination(1), "throttled second"),
            *(SendText(Destination(chat), f"to {chat}") for chat in range(2, 12)))
    assert [text for _, text, _ in telegram.sent] == [f"to {chat}" for chat in range(2, 12)]   # nobody waited
    telegram.wait_calls(12)
    assert [text for chat, text, _ in telegram.sent if chat == 1] == ["throttled first", "throttled second"]
    first_for_chat_1 = telegram.times[[chat for chat, _, _ in telegram.sent].index(1)]
    assert first_for_chat_1 - started >= 0.9   # the retry_after was obeyed, on a timer


def test_a_call_failing_on_the_way_is_tried_again_with_backoff_then_given_up():
    class Down(FakeTelegram):
        def send_message(self, chat_id, text, reply_to=None, thread_id=None, keyboard=None):
            self.times.append(time.monotonic())
            raise TelegramError("sendMessage", "Bad Gateway", 502)

    telegram, quota = Down(), RecordingMailbox()
    deliver(start_sender(telegram), DeliverResult(KEY, "the words", False, "outcome", quota))
    assert wait_until(lambda: quota.messages, timeout=30)
    assert quota.messages == [ResultDelivered("outcome", delivered=False)] and len(telegram.times) == 5
    gaps = [later - earlier for earlier, later in zip(telegram.times, telegram.times[1:], strict=False)]
    assert gaps[-1] > gaps[0] * 2   # waits grow


def test_whether_a_user_administers_a_group_is_asked_once_for_a_while():
    class Admins(FakeTelegram):
        asked = 0

        def is_chat_admin(self, chat_id, user_id):
            self.asked += 1
            return True

    telegram, quota = Admins(), RecordingMailbox()
    command = CommandReceived(-100, 7, 5, "auto", "off", in_group=True)
    deliver(start_sender(telegram), *(CheckChatAdmin(command, quota) for _ in range(20)))
    assert telegram.asked == 1 and quota.messages == [ChatAdminChecked(command, True)] * 20


def test_where_a_user_stands_in_a_channel_is_looked_up_once_for_a_while_and_a_failure_is_not_kept():
    class Channels(FakeTelegram):
        asked = 0

        def channel_standing(self, channel, user_id):
            self.asked += 1
            if self.asked == 1:
                raise TelegramError("getChat", "Too Many Requests", 429)
            return -1001, ChannelStanding.ADMIN

    telegram, quota, now = Channels(), RecordingMailbox(), [0.0]
    sender = TelegramSender.start(telegram, pace=UNPACED, clock=lambda: now[0])
    off = CommandReceived(7, 7, 5, "channel", "off @News")
    checks = [CheckChannelAdmin(off, ChannelSwitch(False, name), quota) for name in ("@News", "@news", "@NEWS")]
    deliver(sender, *checks, *checks)
    assert telegram.asked == 2, "the failure, then one look-up for the same channel however it is written"
    assert [checked.standing for checked in quota.messages] == [ChannelStanding.UNKNOWN] + [ChannelStanding.ADMIN] * 5
    now[0] = ADMIN_CACHE_SECONDS + 1
    deliver(sender, checks[0])
    assert telegram.asked == 3, "asked again once the answer is old"


def test_replies_piling_up_in_one_chat_are_bounded_and_its_results_still_go_out(caplog):
    telegram = FakeTelegram()
    sender = start_sender(telegram, pace=Pace(private_per_second=10, burst=1))
    deliver(sender, *(SendText(Destination(1), f"reply {n}") for n in range(MAX_WAITING + 30)),
            DeliverResult(JobKey(1, 9), "the words"))
    assert caplog.text.count("dropping further ones") == 1
    telegram.wait_calls(1 + MAX_WAITING + 1)   # the one sent at once, the ones that waited, the result
    time.sleep(0.3)
    assert len(telegram.sent) == MAX_WAITING + 2 and telegram.sent[-1][1] == "the words"


def test_the_books_of_chats_gone_quiet_are_swept():
    clock = [1000.0]
    telegram = FakeTelegram()
    sender = TelegramSender.start(telegram, pace=UNPACED, clock=lambda: clock[0])
    deliver(sender, *(SendText(Destination(chat), "hi") for chat in range(1, 501)))
    clock[0] += 3600
    deliver(sender, SendText(Destination(9999), "later"))
    actor = sender._actor_weakref()   # its books, which nothing outside reads: looked at directly
    assert actor._outbox._chats.keys() == {9999} and not actor._answers._progress_at


def test_an_answer_telegram_refuses_for_good_is_replaced_by_a_failure_and_the_job_ends_uncharged():
    class Refusing(FakeTelegram):
        def send_message(self, chat_id, text, reply_to=None, thread_id=None, keyboard=None):
            if text == "the words":
                raise TelegramError("sendMessage", "Bad Request: message text is empty", 400)
            return super().send_message(chat_id, text, reply_to, thread_id)

        def edit_message_text(self, chat_id, message_id, text, keyboard=None):
            if text == "the words":
                raise TelegramError("editMessageText", "Bad Request: message text is empty", 400)
            super().edit_message_text(chat_id, message_id, text)

    telegram, quota = Refusing(), RecordingMailbox()
    job = make_job()
    outcome = TranscriptReady(job, Transcript("the words", "en", 0.9, 5, 1))
    deliver(start_sender(telegram), PostStatus(job.key, "Processing…", job.destination),
            DeliverResult(job.key, "the words", False, outcome, quota, refused_text="Something went wrong."))
    assert telegram.edited[-1][2] == "Something went wrong."   # the status says so, not "Processing…"
    assert quota.messages == [ResultDelivered(JobFailed(job, FailureReason.INTERNAL), True)]


BUTTONS = ((("🎬 Subtitles", "s9.abc"),),)


def test_the_buttons_go_under_the_last_part_of_a_long_transcript():
    telegram = FakeTelegram()
    words = "word " * 1000   # two messages
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…", TO), DeliverResult(KEY, words, keyboard=BUTTONS))
    assert [message_id for _, message_id, _ in telegram.edited] == [101]
    assert telegram.keyboards == {101: None, 102: BUTTONS}


def test_an_answer_without_a_chat_throttled_by_telegram_is_made_again_only_while_telegram_would_take_it():
    class Throttled(FakeTelegram):
        tried: list[tuple[str, float]] = []

        def answer_press(self, query_id, text=None):
            self.tried.append((query_id, time.monotonic()))
            if query_id in self.failing:
                raise self.failing.pop(query_id)
            super().answer_press(query_id, text)

    telegram = Throttled(failing={"soon": TelegramError("answerCallbackQuery", "Too Many Requests", 429,
                                                        retry_after=1),
                                  "late": TelegramError("answerCallbackQuery", "Too Many Requests", 429,
                                                        retry_after=AT_ONCE_RETRY_SECONDS + 1)})
    sender = start_sender(telegram)
    deliver(sender, AnswerPress("late"), AnswerPress("soon"), SendText(Destination(1), "meanwhile"))
    assert telegram.sent == [(1, "meanwhile", None)] and telegram.answers == []   # nothing waited for them
    telegram.wait_calls(2)
    assert telegram.answers == [("soon", None)]   # after its retry_after, on a timer
    soon = [at for query_id, at in telegram.tried if query_id == "soon"]
    assert len(soon) == 2 and soon[1] - soon[0] >= 0.9
    time.sleep(0.5)
    # The late one was tried once: Telegram would refuse its answer by the time it may be made again.
    assert [query_id for query_id, _ in telegram.tried] == ["late", "soon", "soon"]


def test_a_refund_whose_answer_was_lost_is_not_made_again_and_its_asker_hears_it_went_unanswered():
    class Lost(FakeTelegram):
        refunds = 0

        def perform(self, call):
            if isinstance(call, RefundStars):
                self.refunds += 1
                raise TelegramError("refundStarPayment", "Bad Gateway", 502)
            return super().perform(call)

    telegram, asker = Lost(), RecordingMailbox()
    refund = RefundStars(7, "charge-1")
    deliver(start_sender(telegram), MakeCall(refund, asker))
    assert wait_until(lambda: asker.messages, timeout=5)
    time.sleep(1.5)   # past the delay a retry would have had
    assert telegram.refunds == 1   # made again, it would be refused as refunded already though it went through
    assert asker.messages == [CallMade(refund, "Bad Gateway", unanswered=True)]


def test_presses_are_answered_at_once_and_files_and_button_changes_take_their_chats_turn():
    telegram = FakeTelegram()
    sender = start_sender(telegram)
    deliver(sender, SendDocument(TO, "talk.srt", b"1\n"), AnswerPress("q1", "x" * 300),
            EditText(PostedMessage(5, 9), "[00:00] words", BUTTONS), EditButtons(PostedMessage(5, 9), None))
    assert telegram.answers == [("q1", "x" * 200)]   # a notice is cut to Telegram's 200 characters
    assert telegram.documents == [(5, "talk.srt", b"1\n", 9)]
    assert telegram.edited == [(5, 9, "[00:00] words"), (5, 9, None)] and telegram.keyboards == {9: None}


def test_a_result_waits_for_its_status_to_be_posted_and_supersedes_progress_not_shown_yet():
    telegram = FakeTelegram()
    sender = start_sender(telegram, pace=Pace(private_per_second=10, burst=1))
    deliver(sender, PostStatus(KEY, "Processing…", TO), SendText(TO, "a command's answer"),
            UpdateStatus(KEY, "Processing… still"), DeliverResult(KEY, "the words"))
    telegram.wait_calls(3)
    time.sleep(0.3)
    assert telegram.sent == [(5, "Processing…", 9), (5, "a command's answer", 9)]
    assert telegram.edited == [(5, 101, "the words")]   # into the status, once it had an id; no progress edit


def test_a_results_parts_go_out_together_ahead_of_what_waits_in_its_chat():
    telegram = FakeTelegram(failing={"editMessageText": TelegramError(
        "editMessageText", "Bad Request: message to edit not found", 400)})
    sender = start_sender(telegram, pace=Pace(private_per_second=10, burst=1))
    words = "word " * 1000   # two parts
    deliver(sender, PostStatus(KEY, "Processing…", TO), DeliverResult(KEY, words, as_file=True),
            *(SendText(TO, f"reply {n}") for n in range(3)))
    telegram.wait_calls(1 + 2 + 1 + 3)
    status, first, second, document, *replies = telegram.log
    assert status == (5, "Processing…", 9) and first[2] == second[2] == 9   # the first part replies: no status
    assert f"{first[1]} {second[1]}".split() == words.split() and document[1] == "transcript.txt"
    assert replies == [(5, f"reply {n}", 9) for n in range(3)]


def test_a_status_edit_waiting_to_be_tried_again_is_superseded_by_the_result_which_goes_out_once():
    class EditsFailOnce(FakeTelegram):
        def edit_message_text(self, chat_id, message_id, text, keyboard=None):
            if not self.failed_once:
                self.failed_once = True
                raise TelegramError("editMessageText", "Bad Gateway", 502)
            super().edit_message_text(chat_id, message_id, text, keyboard)

    telegram, quota = EditsFailOnce(), RecordingMailbox()
    telegram.failed_once = False
    sender = start_sender(telegram)
    deliver(sender, PostStatus(KEY, "Processing…", TO), UpdateStatus(KEY, "Processing… still"),
            DeliverResult(KEY, "the words", False, "outcome", quota))
    assert wait_until(lambda: quota.messages, timeout=10)
    time.sleep(0.3)
    assert telegram.edited == [(5, 101, "the words")]   # the failed progress edit was not tried again
    assert quota.messages == [ResultDelivered("outcome", delivered=True)]


def test_a_call_whose_asker_is_gone_is_made_and_the_sender_carries_on():
    telegram = FakeTelegram()
    asker = pykka.ThreadingActor.start()
    asker.stop()   # the QuotaActor stopped (or died) before the answer
    sender = start_sender(telegram)
    deliver(sender, MakeCall(SendText(Destination(1), "receipt"), asker), SendText(Destination(2), "next"))
    assert telegram.sent == [(1, "receipt", None), (2, "next", None)] and sender.is_alive()
