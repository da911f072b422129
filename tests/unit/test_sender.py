import threading
import time

from actors.messages import (
    DeliverResult,
    PostStatus,
    ResultDelivered,
    SendReply,
    ShowProgress,
    StatusPosted,
    UpdateStatus,
)
from actors.sender import Pace, TelegramSender
from voicebot.core.domain import JobKey
from voicebot.core.errors import TelegramError

from mailbox import RecordingMailbox, deliver


class FakeTelegram:
    """Records sends, edits and documents (with when they happened); fails a method when told to."""

    def __init__(self, failing: dict[str, TelegramError] | None = None):
        self.sent: list[tuple[int, str, int | None]] = []
        self.edited: list[tuple[int, int, str]] = []
        self.documents: list[tuple[int, str, bytes, int | None]] = []
        self.times: list[float] = []
        self.failing = failing or {}
        self.calls = threading.Semaphore(0)

    def send_message(self, chat_id, text, reply_to=None):
        if "sendMessage" in self.failing:
            raise self.failing.pop("sendMessage")
        self._record(self.sent, (chat_id, text, reply_to))
        return 100 + len(self.sent)

    def edit_message_text(self, chat_id, message_id, text):
        if "editMessageText" in self.failing:
            raise self.failing["editMessageText"]
        self._record(self.edited, (chat_id, message_id, text))

    def send_document(self, chat_id, file_name, data, caption=None, reply_to=None):
        self._record(self.documents, (chat_id, file_name, data, reply_to))
        return 900

    def _record(self, where: list, call: tuple) -> None:
        where.append(call)
        self.times.append(time.monotonic())
        self.calls.release()

    def wait_calls(self, count: int, timeout: float = 10.0) -> None:
        for _ in range(count):
            assert self.calls.acquire(timeout=timeout), "fewer Bot API calls than expected"


UNPACED = Pace(private_per_second=1000, group_per_second=1000, overall_per_second=1000, burst=1000)


def start_sender(telegram, pace=UNPACED, storage=None):
    return TelegramSender.start(telegram, storage, pace=pace)


KEY = JobKey(chat_id=5, message_id=9)


def test_the_result_is_edited_into_the_status_message():
    telegram = FakeTelegram()
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…"), DeliverResult(KEY, "the words"))
    assert telegram.sent == [(5, "Processing…", 9)]
    assert telegram.edited == [(5, 101, "the words")]


def test_a_long_result_continues_in_replies_each_within_telegram_limits():
    telegram = FakeTelegram()
    text = " ".join(f"word{n}." for n in range(2000))
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…"), DeliverResult(KEY, text))
    pieces = [telegram.edited[0][2]] + [sent[1] for sent in telegram.sent[1:]]
    assert len(pieces) > 1 and all(len(piece) <= 4096 for piece in pieces)
    assert " ".join(pieces).split() == text.split()
    assert all(reply_to == 9 for _, _, reply_to in telegram.sent)


def test_without_a_status_message_the_result_is_sent_as_a_reply():
    telegram = FakeTelegram(failing={"sendMessage": TelegramError("sendMessage", "Bad Gateway", 502)})
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…"), DeliverResult(KEY, "the words"))
    assert telegram.sent == [(5, "the words", 9)] and telegram.edited == []


def test_a_status_message_that_cannot_be_edited_is_replaced_by_a_reply():
    telegram = FakeTelegram(failing={"editMessageText": TelegramError(
        "editMessageText", "Bad Request: message to edit not found", 400)})
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…"), DeliverResult(KEY, "the words"))
    assert telegram.sent == [(5, "Processing…", 9), (5, "the words", 9)]


def test_a_failed_send_is_logged_and_the_sender_carries_on(caplog):
    telegram = FakeTelegram(failing={"sendMessage": TelegramError("sendMessage", "Forbidden: bot was blocked", 403)})
    sender = start_sender(telegram)
    deliver(sender, SendReply(1, "first"), SendReply(2, "second"))
    assert telegram.sent == [(2, "second", None)]
    assert "bot was blocked" in caplog.text and sender.is_alive()


def test_status_follows_the_job_and_unchanged_or_late_progress_is_not_sent():
    telegram = FakeTelegram()
    deliver(start_sender(telegram), PostStatus(KEY, "#2 in queue"), UpdateStatus(KEY, "Processing…"),
            UpdateStatus(KEY, "Processing…"), ShowProgress(KEY, "Processing…\n\nAnd so"),
            ShowProgress(KEY, "Processing…\n\nAnd so my fellow"), DeliverResult(KEY, "And so my fellow Americans"))
    assert [text for _, _, text in telegram.edited] == [
        "Processing…", "Processing…\n\nAnd so", "And so my fellow Americans"]


def test_a_very_long_result_also_comes_as_a_text_file():
    telegram = FakeTelegram()
    text = "word " * 3000
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…"), DeliverResult(KEY, text, as_file=True))
    [(chat_id, name, data, reply_to)] = telegram.documents
    assert (chat_id, name, data.decode(), reply_to) == (5, "transcript.txt", text, 9)


def test_a_burst_to_a_group_is_paced_not_refused():
    telegram = FakeTelegram()
    sender = start_sender(telegram, Pace(private_per_second=1000, group_per_second=20, overall_per_second=1000,
                                         burst=2))
    deliver(sender, *(SendReply(-100, f"reply {n}") for n in range(6)), SendReply(5, "private"))
    telegram.wait_calls(7)
    assert [text for chat, text, _ in telegram.sent if chat == -100] == [f"reply {n}" for n in range(6)]
    assert telegram.sent.index((5, "private", None)) < 3   # other chats do not wait behind the group
    group_times = [at for (chat, _, _), at in zip(telegram.sent, telegram.times, strict=True) if chat == -100]
    assert group_times[-1] - group_times[0] >= 4 / 20 * 0.9   # two at once, then one every 1/20 s


def test_the_status_message_is_recorded_and_the_outcome_reported_once_delivered():
    telegram, storage, quota = FakeTelegram(), RecordingMailbox(), RecordingMailbox()
    outcome = object()
    deliver(start_sender(telegram, storage=storage), PostStatus(KEY, "Processing…"),
            DeliverResult(KEY, "word " * 1000, True, outcome, quota))
    assert storage.messages == [StatusPosted(KEY, 101)]
    assert quota.messages == [ResultDelivered(outcome, delivered=True)]   # after the last part went out
    assert telegram.documents and len(telegram.sent) == 2


def test_an_outcome_that_could_not_be_delivered_is_reported_as_such():
    telegram, quota = FakeTelegram(), RecordingMailbox()
    telegram.failing["sendMessage"] = TelegramError("sendMessage", "Bad Gateway", 502)
    deliver(start_sender(telegram), DeliverResult(KEY, "the words", False, "outcome", quota))
    assert quota.messages == [ResultDelivered("outcome", delivered=False)]


def test_a_status_posted_before_a_restart_is_edited_not_sent_again():
    telegram, quota = FakeTelegram(), RecordingMailbox()
    deliver(start_sender(telegram), PostStatus(KEY, "Processing…", message_id=55),
            DeliverResult(KEY, "the words", False, "outcome", quota))
    assert telegram.sent == []
    assert [(message_id, text) for _, message_id, text in telegram.edited] == [(55, "Processing…"),
                                                                              (55, "the words")]
    assert quota.messages == [ResultDelivered("outcome", delivered=True)]
