from actors.messages import CommandReceived, VoiceReceived
from actors.poller import TelegramPoller
from mailbox import RecordingMailbox
from voicebot.telegram import TelegramError


class ScriptedTelegram:
    """Answers getUpdates from a script of batches (or errors), then with nothing."""

    def __init__(self, *batches):
        self.batches = list(batches)
        self.offsets: list[int | None] = []

    def get_updates(self, offset, timeout):
        self.offsets.append(offset)
        if not self.batches:
            return []
        batch = self.batches.pop(0)
        if isinstance(batch, Exception):
            raise batch
        return batch


def message(update_id: int, **content) -> dict:
    return {"update_id": update_id, "message": {"message_id": update_id * 10, "date": 0,
                                                "chat": {"id": 5, "type": "private"}, "from": {"id": 5}, **content}}


def wait_until(condition, timeout=5.0):
    import time
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_updates_become_messages_and_the_offset_confirms_them():
    telegram = ScriptedTelegram(
        [message(7, text="/start"), message(8, voice={"file_id": "v", "duration": 3})],
        [message(9, text="/usage@sandbox_bot")])
    gatekeeper = RecordingMailbox()
    TelegramPoller.start(telegram, gatekeeper, 1)
    assert wait_until(lambda: len(gatekeeper.messages) == 3)
    first, voice, usage = gatekeeper.messages
    assert first == CommandReceived(5, 5, 70, "start")
    assert isinstance(voice, VoiceReceived) and voice.job.media.duration == 3
    assert usage.command == "usage"
    assert wait_until(lambda: len(telegram.offsets) >= 3)
    assert telegram.offsets[:3] == [None, 9, 10]


def test_a_failed_poll_is_retried_without_losing_the_offset():
    telegram = ScriptedTelegram([message(3, text="/help")], TelegramError("getUpdates", "Bad Gateway", 502),
                                [message(4, text="/usage")])
    gatekeeper = RecordingMailbox()
    poller = TelegramPoller.start(telegram, gatekeeper, 1)
    assert wait_until(lambda: len(gatekeeper.messages) == 2, timeout=10)
    assert telegram.offsets[:3] == [None, 4, 4]
    assert poller.is_alive()
