import time
from datetime import UTC, datetime

from actors import poller
from actors.messages import CommandReceived, IntakeStored, StoreIntake, VoiceReceived
from actors.poller import TelegramPoller
from actors.quota import QuotaActor, QuotaRules
from voicebot.core.billing import BillingRules, Pack, payload_key, signed_payload
from voicebot.core.calls import AnswerPreCheckout
from voicebot.core.domain import JobKey
from voicebot.core.errors import TelegramError

from mailbox import FakeStorage, RecordingMailbox, deliver, wait_until


class ScriptedTelegram:
    """Answers getUpdates from a script of batches (or errors), then with nothing."""

    def __init__(self, *batches):
        self.batches = list(batches)
        self.offsets: list[int | None] = []

    def get_updates(self, offset, timeout):
        self.offsets.append(offset)
        if not self.batches:
            time.sleep(0.01)
            return []
        batch = self.batches.pop(0)
        if isinstance(batch, Exception):
            raise batch
        return batch


def message(update_id: int, **content) -> dict:
    return {"update_id": update_id, "message": {"message_id": update_id * 10, "date": 0,
                                                "chat": {"id": 5, "type": "private"}, "from": {"id": 5}, **content}}


def test_a_batch_is_stored_before_its_offset_is_confirmed_and_then_acted_on():
    telegram = ScriptedTelegram(
        [message(7, text="/start"), message(8, voice={"file_id": "v", "duration": 3})],
        [message(9, text="/usage@sandbox_bot")])
    gatekeeper, storage = RecordingMailbox(), FakeStorage()
    TelegramPoller.start(telegram=telegram, quota=gatekeeper, storage=storage, poll_timeout=1, offset=7)
    assert wait_until(lambda: len(gatekeeper.messages) == 3 and len(telegram.offsets) >= 3)
    first, voice, usage = gatekeeper.messages
    assert first == CommandReceived(5, 5, 70, "start")
    assert isinstance(voice, VoiceReceived) and voice.job.media.duration == 3
    assert usage.command == "usage"
    stored = storage.of(StoreIntake)
    assert [(len(batch.messages), batch.next_offset) for batch in stored] == [(2, 9), (1, 10)]
    assert telegram.offsets[:3] == [7, 9, 10]   # the saved offset first, then each stored one


def test_while_the_database_is_down_nothing_is_confirmed_and_nothing_is_lost():
    telegram = ScriptedTelegram([message(3, voice={"file_id": "v", "duration": 3})])
    gatekeeper, storage = RecordingMailbox(), FakeStorage(down_for=2)
    TelegramPoller.start(telegram=telegram, quota=gatekeeper, storage=storage, poll_timeout=1)
    assert wait_until(lambda: len(gatekeeper.messages) == 1, timeout=10)
    assert len(storage.of(StoreIntake)) == 3                       # two failures, then stored
    assert 4 in telegram.offsets and set(telegram.offsets[:telegram.offsets.index(4)]) == {None}, \
        "no poll past it until stored"


def test_a_redelivered_recording_is_not_acted_on_twice():
    telegram = ScriptedTelegram([message(3, voice={"file_id": "v", "duration": 3}), message(4, text="/help")])
    gatekeeper = RecordingMailbox()
    TelegramPoller.start(telegram=telegram, quota=gatekeeper, storage=FakeStorage(known=frozenset({JobKey(5, 30)})),
                         poll_timeout=1)
    assert wait_until(lambda: len(gatekeeper.messages) == 1)
    time.sleep(0.1)
    assert [type(m) for m in gatekeeper.messages] == [CommandReceived]


def test_a_failed_poll_is_retried_without_losing_the_offset():
    telegram = ScriptedTelegram([message(3, text="/help")], TelegramError("getUpdates", "Bad Gateway", 502),
                                [message(4, text="/usage")])
    gatekeeper = RecordingMailbox()
    poller = TelegramPoller.start(telegram=telegram, quota=gatekeeper, storage=FakeStorage(), poll_timeout=1)
    assert wait_until(lambda: len(gatekeeper.messages) == 2, timeout=10)
    assert telegram.offsets[:3] == [None, 4, 4]
    assert poller.is_alive()


class SilentOnceStorage(FakeStorage):
    """A StorageActor that died with the first batch in its mailbox: that one is never answered."""

    def __init__(self):
        super().__init__()
        self.dropped = 0

    def tell(self, message):
        if not self.dropped:
            self.dropped += 1
            RecordingMailbox.tell(self, message)
            return
        super().tell(message)


def test_a_batch_the_storage_never_answers_is_sent_again_after_its_deadline_and_polling_goes_on():
    telegram = ScriptedTelegram([message(7, text="/start")], [message(8, text="/help")])
    quota, storage = RecordingMailbox(), SilentOnceStorage()
    TelegramPoller.start(telegram=telegram, quota=quota, storage=storage, poll_timeout=1, offset=7, store_timeout=0.2)
    assert wait_until(lambda: [m.command for m in quota.messages] == ["start", "help"], timeout=5)
    assert len(storage.of(StoreIntake)) == 3   # the first batch twice, then the next
    assert quota.messages[0] == CommandReceived(5, 5, 70, "start")   # acted on once, not twice


class PendingUpdates:
    """getUpdates as Telegram answers it: every update from the offset on (those before it are confirmed)."""

    def __init__(self, *updates):
        self.updates = list(updates)
        self.offsets: list[int | None] = []

    def get_updates(self, offset, timeout):
        self.offsets.append(offset)
        pending = [update for update in self.updates if offset is None or update["update_id"] >= offset]
        if not pending:
            time.sleep(0.01)
        return pending


KEY = payload_key("123:token")


def pre_checkout(update_id: int) -> dict:
    payload = signed_payload(KEY, 5, Pack(60, 50), datetime.now(UTC))
    return {"update_id": update_id, "pre_checkout_query": {
        "id": f"q{update_id}", "from": {"id": 5}, "currency": "XTR", "total_amount": 50, "invoice_payload": payload}}


def test_a_pre_checkout_is_answered_while_the_database_holds_the_intake_up_and_only_once(monkeypatch):
    monkeypatch.setattr(poller, "PEEK_SECONDS", 0.05)
    telegram = PendingUpdates(message(3, voice={"file_id": "v", "duration": 3}), pre_checkout(4))
    sender, storage = RecordingMailbox("sender"), RecordingMailbox("storage that never answers")
    quota = QuotaActor.start(rules=QuotaRules(60, 0, 300, 20), dispatcher=RecordingMailbox(), sender=sender,
                             storage=RecordingMailbox(), users={}, billing=BillingRules(True, (Pack(60, 50),)),
                             payload_key=KEY)
    TelegramPoller.start(telegram=telegram, quota=quota, storage=storage, poll_timeout=1, offset=3)
    assert wait_until(lambda: sender.of(AnswerPreCheckout) == [AnswerPreCheckout("q4")]), "answered: yes"
    [batch] = storage.of(StoreIntake)
    assert [type(m) for m in batch.messages] == [VoiceReceived], "the pre-checkout is not stored"
    telegram.updates.append(pre_checkout(5))   # paid while the batch still waits to be stored
    assert wait_until(lambda: sender.of(AnswerPreCheckout) == [AnswerPreCheckout("q4"), AnswerPreCheckout("q5")])
    assert set(telegram.offsets) == {3}, "nothing confirmed"
    batch.reply_to.tell(IntakeStored(batch.messages, batch.next_offset))
    assert wait_until(lambda: len(storage.of(StoreIntake)) == 2)
    assert storage.of(StoreIntake)[1].messages == ()
    deliver(quota)
    assert len(sender.of(AnswerPreCheckout)) == 2, "each answered once"
