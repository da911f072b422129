"""The Bot API adapter against the sandbox, over real HTTP: retries, limits, and no token leaks."""
import socket
import time
import traceback

import pytest

from voicebot.adapters.files import DownloadFolder
from voicebot.adapters.telegram import TelegramClient
from voicebot.core.calls import (
    AnswerPress,
    Destination,
    EditButtons,
    EditCaption,
    EditText,
    PostedMessage,
    SendDocument,
    SendText,
    TextEntity,
)
from voicebot.core.channels import ChannelStanding
from voicebot.core.domain import BusinessConnection, FailureReason
from voicebot.core.errors import JobError, TelegramError
from voicebot.sandbox import BotApiSandbox, SandboxUser

TOKEN = "777:client-SECRET"
USER = SandboxUser(9, "Dana")


@pytest.fixture
def sandbox():
    with BotApiSandbox(TOKEN, max_download_mb=1) as running:
        yield running


@pytest.fixture
def client(sandbox):
    return TelegramClient(sandbox.url, TOKEN, max_backoff=0.2)


def test_send_edit_and_download_to_a_private_file_gone_after_use(sandbox, tmp_path):
    client = TelegramClient(sandbox.url, TOKEN, max_backoff=0.2, downloads=DownloadFolder(tmp_path / "downloads"))
    voice = sandbox.send_voice(USER, b"OggS-pretend-audio", 2)
    update = client.get_updates(None, 0)[-1]
    file_id = update["message"]["voice"]["file_id"]
    with client.fetch(file_id, max_bytes=1000) as path:
        assert path.read_bytes() == b"OggS-pretend-audio"
        assert (tmp_path / "downloads").stat().st_mode & 0o777 == 0o700
    assert not path.exists()
    status = client.perform(SendText(Destination(USER.id, reply_to_message_id=voice), "Processing…"))
    client.perform(EditText(PostedMessage(USER.id, status), "the transcript"))
    [message] = sandbox.messages(USER.id)
    assert (message.text, message.reply_to, message.edits) == ("the transcript", voice, ["Processing…"])


def test_every_call_of_the_outbox_is_made_as_the_bot_api_documents_it(sandbox, client):
    voice = sandbox.send_voice(USER, b"OggS-pretend-audio", 2)
    buttons = ((("🎬 Subtitles", "s1.abc"),),)
    here = Destination(USER.id, reply_to_message_id=voice)
    text_id = client.perform(SendText(here, "the transcript", buttons))
    assert client.perform(SendDocument(here, "talk.srt", b"1\n", "Subtitles")) == text_id + 1
    assert client.perform(EditText(PostedMessage(USER.id, text_id), "[00:00] the transcript", buttons)) is None
    client.perform(EditButtons(PostedMessage(USER.id, text_id), None))
    query = sandbox.press_button(USER, USER.id, text_id, data="s1.abc")
    client.perform(AnswerPress(query, "Done"))
    text, document = sandbox.messages(USER.id)
    assert (text.text, text.reply_to, text.reply_markup) == ("[00:00] the transcript", voice, None)
    assert (document.document, document.document_name, document.caption) == (b"1\n", "talk.srt", "Subtitles")
    assert sandbox.callback_answer(query)["text"] == "Done"


def test_webhook_calls_register_report_and_confirm(sandbox, client):
    client.set_webhook("https://bot.example.com/updates", "hook_secret", ("message",))
    [call] = sandbox.calls("setWebhook")
    assert (call.params["secret_token"], call.params["allowed_updates"]) == ("hook_secret", '["message"]')
    assert client.webhook_url() == "https://bot.example.com/updates"
    client.delete_webhook()
    assert client.webhook_url() == ""
    sandbox.send_text(USER, "one")
    sandbox.send_text(USER, "two")
    started = time.monotonic()
    client.confirm_updates(2)   # the update_id of "two"
    assert time.monotonic() - started < 2, "no long poll"
    assert [update["message"]["text"] for update in client.get_updates(None, 0)] == ["two"]


def test_transient_failures_are_retried_and_429_waits_retry_after(sandbox, client):
    sandbox.send_text(USER, "/start")
    sandbox.inject_fault("sendMessage", status=502)
    sandbox.inject_fault("sendMessage", status=429, retry_after=1)
    sandbox.inject_fault("sendMessage", drop=True)
    client.perform(SendText(Destination(USER.id), "hello"))
    calls = sandbox.calls("sendMessage")
    assert [call.status for call in calls] == [502, 429, 0, 200]  # 0: the connection was dropped
    assert calls[2].at - calls[1].at >= 0.95  # waited what Telegram asked for
    assert [message.text for message in sandbox.messages(USER.id)] == ["hello"]  # once, not four times


def test_a_bad_request_is_not_retried(sandbox, client):
    with pytest.raises(TelegramError) as raised:
        client.perform(EditText(PostedMessage(USER.id, 12345), "nothing to edit"))
    assert raised.value.status == 400 and "not found" in raised.value.description
    assert len(sandbox.calls("editMessageText")) == 1


def test_files_over_the_limit_are_refused_before_and_during_download(sandbox, client):
    sandbox.send_voice(USER, b"x" * 10, 2, file_size=5 * 1024 * 1024)  # the Bot API refuses it
    sandbox.send_voice(USER, b"x" * 5000, 2, file_size=100)            # it lies about its size
    sandbox.send_voice(USER, b"x" * 5000, 2)                           # over the bot's own limit
    big, liar, honest = (update["message"]["voice"]["file_id"] for update in client.get_updates(None, 0))
    for file_id in (big, liar, honest):
        with pytest.raises(JobError) as raised, client.fetch(file_id, max_bytes=1000):
            pass
        assert raised.value.reason is FailureReason.TOO_BIG
    assert len(sandbox.calls("getFile")) == 3


def test_errors_never_carry_the_token():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = TelegramClient(f"http://127.0.0.1:{closed_port}", TOKEN, attempts=2, max_backoff=0.1)
    with pytest.raises(TelegramError) as raised:
        client.perform(SendText(Destination(1), "hi"))
    assert raised.value.status is None and raised.value.transient
    printed = "".join(traceback.format_exception(raised.value))
    assert "ConnectionError" in printed and "SECRET" not in printed


def test_a_channel_posts_caption_is_edited_and_a_channel_looked_up_with_where_its_user_stands(sandbox, client):
    ann, bob, cleo = SandboxUser(21, "Ann"), SandboxUser(22, "Bob"), SandboxUser(23, "Cleo")
    sandbox.create_channel(-1001, "News", "news", owner=ann, admins=[bob])
    sandbox.create_channel(-1002, "Posts only", "posts", owner=ann, bot_rights=["can_post_messages"])
    sandbox.create_channel(-1003, "Without the bot", "outside", owner=ann, bot_rights=None)
    sandbox.create_group(-1004, "A group", username="agroup")
    post = sandbox.send_voice(ann, b"OggS", 3, chat_id=-1001, caption="Today")
    assert client.perform(EditCaption(PostedMessage(-1001, post), "Today\n\nthe transcript")) is None
    assert sandbox.message(-1001, post)["caption"] == "Today\n\nthe transcript"
    formatting = (TextEntity("bold", 0, 5), TextEntity("text_link", 0, 5, url="https://example.com"),
                  TextEntity("text_mention", 0, 2, user_id=bob.id), TextEntity("pre", 7, 3, language="py"))
    client.perform(EditCaption(PostedMessage(-1001, post), "Today\n\nthe words", entities=formatting))
    assert sandbox.message(-1001, post)["caption_entities"] == [
        {"type": "bold", "offset": 0, "length": 5},
        {"type": "text_link", "offset": 0, "length": 5, "url": "https://example.com"},
        {"type": "text_mention", "offset": 0, "length": 2, "user": {"id": bob.id}},
        {"type": "pre", "offset": 7, "length": 3, "language": "py"}]
    assert client.channel_standing("@news", bob.id) == (-1001, ChannelStanding.ADMIN)
    assert client.channel_standing("-1001", ann.id) == (-1001, ChannelStanding.ADMIN)
    assert client.channel_standing("@news", cleo.id) == (-1001, ChannelStanding.NOT_ADMIN)
    assert client.channel_standing("@posts", ann.id) == (-1002, ChannelStanding.BOT_ABSENT), "it may not edit"
    assert client.channel_standing("@outside", ann.id) == (-1003, ChannelStanding.BOT_ABSENT)
    assert client.channel_standing("@nowhere", ann.id) == (None, ChannelStanding.UNKNOWN)
    assert client.channel_standing("@agroup", ann.id) == (None, ChannelStanding.UNKNOWN), "a group is no channel"


def test_a_business_connection_is_looked_up_as_its_update_would_have_said(sandbox, client):
    ann = SandboxUser(31, "Ann")
    connection_id = sandbox.connect_business(ann)
    assert client.business_connection(connection_id) == BusinessConnection(connection_id, ann.id, ann.id,
                                                                           can_reply=True, is_enabled=True,
                                                                           language_code="en")
    with pytest.raises(TelegramError):
        client.business_connection("no-such-connection")
