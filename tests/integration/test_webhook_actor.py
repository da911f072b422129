"""TelegramWebhook with recording fakes, driven over real HTTP as Telegram would."""
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from actors.messages import (
    CommandReceived,
    IntakeFailed,
    IntakeStored,
    LoadUnfinishedJobs,
    Ping,
    Stopping,
    StoreIntake,
    VoiceReceived,
    VoiceRefused,
)
from actors.storage import StorageActor
from actors.webhook import TelegramWebhook
from voicebot.adapters.metrics import Metrics
from voicebot.adapters.storage import Storage
from voicebot.adapters.webhook import SECRET_HEADER, WebhookServer
from voicebot.core.billing import PreCheckout
from voicebot.core.domain import JobKey
from voicebot.core.errors import StorageError, TelegramError
from voicebot.core.intake import UPDATE_TYPES

from helpers import free_port, send_http
from mailbox import FakeStorage, RecordingMailbox, deliver, wait_until

pytest_plugins = ["databases"]

SECRET = "right_secret-123"


class FakeTelegram:
    """The webhook calls of the Bot API client, recorded; `registered` is the webhook Telegram has now,
    `refusal` what setWebhook raises."""

    def __init__(self, registered: str = "", refusal: TelegramError | None = None):
        self.registered = registered
        self.refusal = refusal
        self.calls: list[tuple] = []

    def webhook_url(self) -> str:
        return self.registered

    def confirm_updates(self, offset: int) -> None:
        self.calls.append(("confirm_updates", offset))

    def set_webhook(self, url: str, secret_token: str, allowed_updates) -> None:
        self.calls.append(("set_webhook", url, secret_token, tuple(allowed_updates)))
        if self.refusal is not None:
            raise self.refusal


class Webhook:
    """A started TelegramWebhook on a free port, with its fakes."""

    def __init__(self, storage=None, telegram=None, offset=None, store_timeout=5.0):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/telegram/updates"
        self.telegram = telegram or FakeTelegram()
        self.quota = RecordingMailbox("quota")
        self.storage = storage if storage is not None else FakeStorage()
        self.metrics = Metrics()
        endpoint = WebhookServer(f"127.0.0.1:{port}", "/telegram/updates", SECRET, self.metrics)
        self.ref = TelegramWebhook.start(telegram=self.telegram, quota=self.quota, storage=self.storage,
                                         endpoint=endpoint, url=self.url, secret=SECRET, offset=offset,
                                         metrics=self.metrics, store_timeout=store_timeout)
        self.start_error = self.ref.ask(Ping(), timeout=10)   # once answered, the server listens

    def post(self, update: dict, secret: str | None = SECRET) -> int:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        return send_http(self.url, json.dumps(update).encode(), headers)[0]


def update(update_id: int, **content) -> dict:
    return {"update_id": update_id, "message": {"message_id": update_id * 10, "date": 0,
                                                "chat": {"id": 5, "type": "private"}, "from": {"id": 5}, **content}}


def voice(update_id: int) -> dict:
    return update(update_id, voice={"file_id": f"v{update_id}", "duration": 3})


def test_it_registers_the_webhook_with_the_secret_and_the_update_types_once_it_listens():
    webhook = Webhook()
    assert webhook.start_error is None
    assert webhook.telegram.calls == [("set_webhook", webhook.url, SECRET, UPDATE_TYPES)]


def test_a_webhook_telegram_refuses_is_a_start_error_in_one_line():
    refusal = TelegramError("setWebhook", "Bad Request: bad webhook: An HTTPS URL must be provided for webhook", 400)
    webhook = Webhook(telegram=FakeTelegram(refusal=refusal))
    assert webhook.start_error == (
        "webhook could not start: setWebhook failed: Bad Request: bad webhook: An HTTPS URL must be provided "
        "for webhook")
    webhook.metrics.worker_ready("whisper-1", True)
    assert not webhook.metrics.healthy(poll_within_seconds=0)
    with pytest.raises(ConnectionRefusedError):
        webhook.post(voice(3))   # nothing left listening on the port


def test_an_update_with_the_secret_is_stored_then_told_to_the_quota_actor_and_answered_200():
    webhook = Webhook()
    assert webhook.post(voice(3)) == 200
    [stored] = webhook.storage.of(StoreIntake)
    assert stored.next_offset is None, "a webhook update moves no getUpdates offset"
    [incoming] = webhook.quota.messages
    assert isinstance(incoming, VoiceReceived) and incoming.job.key == JobKey(5, 30)
    assert stored.messages == (incoming,)


@pytest.mark.parametrize("secret", ["wrong_secret-123", None])
def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_stored(secret):
    webhook = Webhook()
    assert webhook.post(voice(3), secret=secret) == 403
    time.sleep(0.1)
    assert webhook.storage.messages == [] and webhook.quota.messages == []


def test_the_answer_waits_until_the_update_is_stored():
    webhook = Webhook(storage=RecordingMailbox("storage"))   # answers nothing by itself
    with ThreadPoolExecutor(1) as pool:
        posted = pool.submit(webhook.post, voice(3))
        assert wait_until(lambda: webhook.storage.of(StoreIntake))
        time.sleep(0.2)
        assert not posted.done() and webhook.quota.messages == []
        [stored] = webhook.storage.of(StoreIntake)
        stored.reply_to.tell(IntakeStored(stored.messages, None))
        assert posted.result(timeout=5) == 200
    assert webhook.quota.messages == list(stored.messages)


def test_a_pre_checkout_is_told_to_the_quota_actor_at_once_never_stored_while_the_database_holds_up():
    webhook = Webhook(storage=RecordingMailbox("storage"))   # answers nothing: stuck, or the database away
    query = {"update_id": 4, "pre_checkout_query": {"id": "q4", "from": {"id": 5}, "currency": "XTR",
                                                     "total_amount": 50, "invoice_payload": "p"}}
    assert webhook.post(query) == 200
    assert [message.query_id for message in webhook.quota.of(PreCheckout)] == ["q4"]
    assert webhook.storage.messages == []


def test_concurrent_requests_each_get_the_answer_for_their_own_update():
    webhook = Webhook(storage=RecordingMailbox("storage"))
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.submit(webhook.post, voice(3)), pool.submit(webhook.post, update(4, text="/help"))
        assert wait_until(lambda: len(webhook.storage.of(StoreIntake)) == 2)
        by_kind = {type(stored.messages[0]): stored for stored in webhook.storage.of(StoreIntake)}
        by_kind[CommandReceived].reply_to.tell(IntakeStored(by_kind[CommandReceived].messages, None))
        by_kind[VoiceReceived].reply_to.tell(IntakeFailed("database is locked"))
        assert (first.result(timeout=5), second.result(timeout=5)) == (500, 200)
    assert [type(m) for m in webhook.quota.messages] == [CommandReceived]


def test_when_storing_fails_the_answer_is_a_5xx_and_telegrams_next_try_gets_through():
    webhook = Webhook(storage=FakeStorage(down_for=1))
    assert webhook.post(voice(3)) == 500
    assert webhook.quota.messages == []
    assert webhook.post(voice(3)) == 200
    assert len(webhook.quota.of(VoiceReceived)) == 1


def test_storage_that_does_not_answer_in_time_gets_a_503():
    webhook = Webhook(storage=RecordingMailbox("storage"), store_timeout=0.3)
    assert webhook.post(voice(3)) == 503


def test_a_redelivered_recording_is_answered_200_and_not_processed_twice():
    webhook = Webhook(storage=FakeStorage(known=frozenset({JobKey(5, 30)})))
    assert webhook.post(voice(3)) == 200
    assert webhook.quota.messages == []


class RefusingStorage(Storage):
    """The database, refusing for good any intake that holds the file "refused"."""

    def store_intake(self, intake, next_offset):
        if any(voice.job.media.file_id == "refused" for voice in intake):
            raise StorageError("the database refused a value")
        return super().store_intake(intake, next_offset)


def test_a_recording_the_database_refuses_is_answered_200_and_refused_and_the_next_gets_through(db_url):
    """Every update is a batch of one here: one the database cannot take is refused alone (the user is told),
    not answered 500 for Telegram to send again for ever. A long language tag is no such value."""
    storage = StorageActor.start(storage=RefusingStorage(db_url), today=lambda: None)
    webhook = Webhook(storage=storage)
    refused = update(1, voice={"file_id": "refused", "duration": 3})
    long_tag = update(2, voice={"file_id": "v2", "duration": 3},
                      **{"from": {"id": 5, "language_code": "classic-zh-cn"}})
    assert [webhook.post(refused), webhook.post(long_tag)] == [200, 200]
    told = webhook.quota.messages
    assert [type(message) for message in told] == [VoiceRefused, VoiceReceived]
    assert (told[0].voice.job.key, told[1].job.key) == (JobKey(5, 10), JobKey(5, 20))
    [pending] = storage.ask(LoadUnfinishedJobs())
    assert (pending.incoming.job.key, pending.incoming.job.interface_language) == (JobKey(5, 20), None)   # English


def test_an_update_with_nothing_for_the_bot_is_taken_without_storing():
    webhook = Webhook()
    assert webhook.post({"update_id": 9, "edited_message": {"text": "x"}}) == 200
    assert webhook.storage.messages == [] and webhook.quota.messages == []


def test_once_stopping_updates_are_refused_for_telegram_to_send_again_and_health_follows():
    webhook = Webhook()
    webhook.metrics.worker_ready("whisper-1", True)
    assert webhook.metrics.healthy(poll_within_seconds=0)
    deliver(webhook.ref, Stopping())
    assert webhook.post(voice(3)) == 503
    assert webhook.storage.messages == []
    assert not webhook.metrics.healthy(poll_within_seconds=0)


def test_stopping_closes_the_server_and_leaves_the_webhook_registered():
    webhook = Webhook()
    webhook.ref.stop()
    with pytest.raises(ConnectionRefusedError):
        webhook.post(voice(3))
    assert [call[0] for call in webhook.telegram.calls] == ["set_webhook"]


def test_an_update_stored_after_the_actor_stopped_is_answered_503_and_the_storage_is_unharmed():
    webhook = Webhook(storage=RecordingMailbox("storage"))
    with ThreadPoolExecutor(1) as pool:
        posted = pool.submit(webhook.post, voice(3))
        assert wait_until(lambda: webhook.storage.of(StoreIntake))
        webhook.ref.stop()
        [stored] = webhook.storage.of(StoreIntake)
        stored.reply_to.tell(IntakeStored(stored.messages, None))   # must not raise into the StorageActor
        assert posted.result(timeout=5) == 503
    assert webhook.quota.messages == []


def test_coming_from_polling_the_last_stored_batch_is_confirmed_before_the_webhook_is_set():
    webhook = Webhook(offset=42)
    assert webhook.telegram.calls == [("confirm_updates", 42),
                                      ("set_webhook", webhook.url, SECRET, UPDATE_TYPES)]


def test_with_a_webhook_registered_already_nothing_is_confirmed():
    webhook = Webhook(telegram=FakeTelegram(registered="https://bot.example.com/old"), offset=42)
    assert [call[0] for call in webhook.telegram.calls] == ["set_webhook"]
