from actors.messages import DeliverResult, PostStatus, SendReply
from actors.sender import TelegramSender
from mailbox import deliver
from voicebot.domain import JobKey
from voicebot.telegram import TelegramError


class FakeTelegram:
    """Records sends and edits; fails a method when told to."""

    def __init__(self, failing: dict[str, TelegramError] | None = None):
        self.sent: list[tuple[int, str, int | None]] = []
        self.edited: list[tuple[int, int, str]] = []
        self.failing = failing or {}

    def send_message(self, chat_id, text, reply_to=None):
        if "sendMessage" in self.failing:
            raise self.failing.pop("sendMessage")
        self.sent.append((chat_id, text, reply_to))
        return 100 + len(self.sent)

    def edit_message_text(self, chat_id, message_id, text):
        if "editMessageText" in self.failing:
            raise self.failing["editMessageText"]
        self.edited.append((chat_id, message_id, text))


KEY = JobKey(chat_id=5, message_id=9)


def test_the_result_is_edited_into_the_status_message():
    telegram = FakeTelegram()
    deliver(TelegramSender.start(telegram), PostStatus(KEY, "Processing…"), DeliverResult(KEY, "the words"))
    assert telegram.sent == [(5, "Processing…", 9)]
    assert telegram.edited == [(5, 101, "the words")]


def test_a_long_result_continues_in_replies_each_within_telegram_limits():
    telegram = FakeTelegram()
    text = " ".join(f"word{n}." for n in range(2000))
    deliver(TelegramSender.start(telegram), PostStatus(KEY, "Processing…"), DeliverResult(KEY, text))
    pieces = [telegram.edited[0][2]] + [sent[1] for sent in telegram.sent[1:]]
    assert len(pieces) > 1 and all(len(piece) <= 4096 for piece in pieces)
    assert " ".join(pieces).split() == text.split()
    assert all(reply_to == 9 for _, _, reply_to in telegram.sent)


def test_without_a_status_message_the_result_is_sent_as_a_reply():
    telegram = FakeTelegram(failing={"sendMessage": TelegramError("sendMessage", "Bad Gateway", 502)})
    deliver(TelegramSender.start(telegram), PostStatus(KEY, "Processing…"), DeliverResult(KEY, "the words"))
    assert telegram.sent == [(5, "the words", 9)] and telegram.edited == []


def test_a_status_message_that_cannot_be_edited_is_replaced_by_a_reply():
    telegram = FakeTelegram(failing={"editMessageText": TelegramError(
        "editMessageText", "Bad Request: message to edit not found", 400)})
    deliver(TelegramSender.start(telegram), PostStatus(KEY, "Processing…"), DeliverResult(KEY, "the words"))
    assert telegram.sent == [(5, "Processing…", 9), (5, "the words", 9)]


def test_a_failed_send_is_logged_and_the_sender_carries_on(caplog):
    telegram = FakeTelegram(failing={"sendMessage": TelegramError("sendMessage", "Forbidden: bot was blocked", 403)})
    sender = TelegramSender.start(telegram)
    deliver(sender, SendReply(1, "first"), SendReply(2, "second"))
    assert telegram.sent == [(2, "second", None)]
    assert "bot was blocked" in caplog.text and sender.is_alive()
