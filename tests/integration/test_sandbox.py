"""The Bot API sandbox, driven by the real pyTelegramBotAPI client over real HTTP: what a bot observes."""
import filecmp
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telebot import TeleBot, apihelper, types

from voicebot.sandbox import BotApiSandbox, SandboxEvent, SandboxUser

from helpers import free_port, serve
from mailbox import wait_until

TOKEN = "123456:sandbox-secret-token"
ANN = SandboxUser(id=7, first_name="Ann", username="ann")
BOB = SandboxUser(id=8, first_name="Bob")
GROUP = -100
FORUM = -1001234567890
MB = 1024 * 1024


@pytest.fixture
def sandbox():
    yield from serve(BotApiSandbox(TOKEN, webhook_retry_seconds=0.1))


@pytest.fixture
def local_sandbox(tmp_path):
    yield from serve(BotApiSandbox(TOKEN, local_dir=tmp_path / "server"))


@pytest.fixture
def bot(sandbox):
    return TeleBot(TOKEN, threaded=False)


@pytest.fixture
def local_bot(local_sandbox):
    return TeleBot(TOKEN, threaded=False)


@pytest.fixture
def big_video(tmp_path) -> Path:
    """A 21 MB file, one more than the Bot API lets bots download, written sparsely."""
    path = tmp_path / "big.mp4"
    with path.open("wb") as file:
        file.write(b"\x00\x00\x00\x18ftypmp42")
        file.truncate(21 * MB)
    return path


def api_error(call, *args, **kwargs) -> apihelper.ApiTelegramException:
    with pytest.raises(apihelper.ApiTelegramException) as caught:
        call(*args, **kwargs)
    return caught.value


def raw_updates(offset=None, limit=None, long_polling_timeout=0, allowed_updates=None) -> list[dict]:
    """getUpdates through the client's request path. (apihelper.get_updates turns a timeout of 0 into its
    10 s default, so it only serves the long-polling tests.)"""
    params = {"offset": offset, "limit": limit, "long_polling_timeout": long_polling_timeout,
              "allowed_updates": None if allowed_updates is None else json.dumps(allowed_updates)}
    return apihelper._make_request(TOKEN, "getUpdates", params=params)


def poll(**kwargs) -> list[types.Update]:
    """Updates parsed as TeleBot parses them."""
    return [types.Update.de_json(raw) for raw in raw_updates(**kwargs)]


# --- basics


def test_get_me_describes_the_bot(bot):
    me = bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123456, True, "sandbox_bot")


def test_wrong_token_is_unauthorized_and_never_recorded(sandbox):
    error = api_error(apihelper.get_me, "999:wrong")
    assert (error.error_code, error.description) == (401, "Unauthorized")
    [call] = sandbox.calls("getMe")
    assert call.status == 401
    assert "wrong" not in repr(call) and TOKEN not in repr(sandbox.calls())


def test_unknown_method_is_not_found_and_method_names_ignore_case(sandbox):
    error = api_error(apihelper._make_request, TOKEN, "sendPigeon")
    assert (error.error_code, error.description) == (404, "Not Found: method not found")
    assert apihelper._make_request(TOKEN, "GETME")["username"] == "sandbox_bot"
    assert [(c.method, c.status) for c in sandbox.calls()] == [("sendPigeon", 404), ("getMe", 200)]


def test_webhook_and_housekeeping_methods_answer_like_telegram(bot):
    assert bot.remove_webhook() is True
    assert bot.get_webhook_info().url == ""
    assert bot.set_my_commands([types.BotCommand("start", "Start")]) is True


def test_the_server_logs_nothing_that_could_leak_the_token(sandbox, capfd):
    apihelper.get_me(TOKEN)
    api_error(apihelper.get_me, "999:wrong")
    captured = capfd.readouterr()
    assert "sandbox-secret-token" not in captured.out + captured.err
    assert "999:wrong" not in captured.out + captured.err


# --- getUpdates


def test_updates_stay_pending_until_an_offset_confirms_them(sandbox):
    first = sandbox.send_text(ANN, "one")
    sandbox.send_text(ANN, "two")
    sandbox.send_text(BOB, "three")
    updates = poll()
    assert [u.message.text for u in updates] == ["one", "two", "three"]
    assert updates[0].message.message_id == first
    assert [u.message.text for u in poll()] == ["one", "two", "three"], "nothing confirmed yet"
    assert [u.message.text for u in poll(offset=updates[1].update_id)] == ["two", "three"]
    assert poll(offset=updates[2].update_id + 1) == []
    assert poll() == [], "confirmed updates are gone for good"


def test_limit_and_negative_offset(sandbox):
    for text in "abcde":
        sandbox.send_text(ANN, text)
    assert [u.message.text for u in poll(limit=2)] == ["a", "b"]
    assert [u.message.text for u in poll(offset=-2)] == ["d", "e"]
    assert [u.message.text for u in poll()] == ["d", "e"], "a negative offset forgets the earlier ones"


def test_long_poll_returns_as_soon_as_a_user_writes(sandbox):
    threading.Timer(0.2, sandbox.send_text, (ANN, "hello?")).start()
    started = time.monotonic()
    updates = apihelper.get_updates(TOKEN, long_polling_timeout=5)
    assert [u["message"]["text"] for u in updates] == ["hello?"]
    assert 0.15 < time.monotonic() - started < 2


def test_long_poll_with_nothing_to_say_waits_out_its_timeout(sandbox):
    started = time.monotonic()
    assert apihelper.get_updates(TOKEN, long_polling_timeout=1) == []
    assert time.monotonic() - started >= 0.9


def test_a_newer_get_updates_ends_the_one_still_waiting_with_a_conflict(sandbox):
    outcomes = []

    def poller():
        try:
            outcomes.append(len(poll(long_polling_timeout=5)))
        except apihelper.ApiTelegramException as error:
            outcomes.append((error.error_code, error.description))

    threads = [threading.Thread(target=poller) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 3
    while not outcomes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outcomes == [(409, "Conflict: terminated by other getUpdates request; make sure that only one bot "
                              "instance is running")]
    sandbox.send_text(ANN, "wake up")
    for thread in threads:
        thread.join(timeout=5)
    assert outcomes[1:] == [1], "the newer one is served"


def test_stop_answers_a_long_poll_promptly_and_cleanly(sandbox):
    answers = []
    poller = threading.Thread(target=lambda: answers.append(raw_updates(long_polling_timeout=30)))
    poller.start()
    time.sleep(0.2)  # for the poll to arrive: a request arriving during stop() is dropped
    started = time.monotonic()
    sandbox.stop()
    poller.join(timeout=5)
    assert answers == [[]], "an empty answer, not a broken connection"
    assert time.monotonic() - started < 2


# --- webhook

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookEndpoint:
    """A bot's webhook for the sandbox to POST to: keeps (path, secret header, update) of each request
    and answers the statuses it is given, then 200."""

    def __init__(self, *statuses: int):
        self.statuses = list(statuses)
        self.received: list[tuple[str, str | None, dict]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.received.append((self.path, self.headers.get(SECRET_HEADER), json.loads(body)))
                self.send_response(endpoint.statuses.pop(0) if endpoint.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/telegram/updates"

    def texts(self) -> list[str]:
        return [update["message"]["text"] for _, _, update in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    running = WebhookEndpoint()
    yield running
    running.close()


def test_a_webhook_gets_each_update_posted_once_in_order_with_its_secret(sandbox, bot, endpoint):
    assert bot.set_webhook(endpoint.url, secret_token="s3cret_-X", allowed_updates=["message"]) is True
    sandbox.send_text(ANN, "one")
    sandbox.send_text(BOB, "two")
    assert sandbox.wait_for(lambda: endpoint.texts() == ["one", "two"], timeout=5)
    assert {(path, secret) for path, secret, _ in endpoint.received} == {("/telegram/updates", "s3cret_-X")}
    assert [update["update_id"] for _, _, update in endpoint.received] == [1, 2]
    info = bot.get_webhook_info()
    assert (info.url, info.pending_update_count, info.allowed_updates) == (endpoint.url, 0, ["message"])
    assert info.last_error_message is None
    error = api_error(raw_updates)
    assert (error.error_code, error.description) == (
        409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
             "webhook first")


def test_without_a_secret_no_secret_header_is_sent(sandbox, bot, endpoint):
    bot.set_webhook(endpoint.url)
    sandbox.send_text(ANN, "hi")
    assert sandbox.wait_for(lambda: endpoint.received, timeout=5)
    assert endpoint.received[0][1] is None


def test_a_refused_delivery_is_tried_again_and_reported(sandbox, bot):
    endpoint = WebhookEndpoint(403, 500)
    try:
        bot.set_webhook(endpoint.url, secret_token="s")
        sandbox.send_text(ANN, "again")
        sandbox.send_text(ANN, "after")
        assert sandbox.wait_for(lambda: len(endpoint.received) == 1, timeout=5)
        info = bot.get_webhook_info()
        assert info.pending_update_count == 2
        assert info.last_error_message == "Wrong response from the webhook: 403 Forbidden"
        assert sandbox.wait_for(lambda: len(endpoint.received) == 4, timeout=5)
        assert endpoint.texts() == ["again", "again", "again", "after"], "one at a time, the first until taken"
        # The endpoint records the last one before it answers; the sandbox counts it delivered once answered.
        assert wait_until(lambda: bot.get_webhook_info().pending_update_count == 0, timeout=5)
    finally:
        endpoint.close()


def test_a_webhook_nobody_listens_on_keeps_the_updates_until_it_is_deleted(sandbox, bot):
    bot.set_webhook(f"http://127.0.0.1:{free_port()}/updates")
    sandbox.send_text(ANN, "anyone?")
    assert wait_until(lambda: bot.get_webhook_info().last_error_message == "Connection refused")
    assert bot.get_webhook_info().pending_update_count == 1
    assert bot.remove_webhook() is True
    assert bot.get_webhook_info().url == ""
    assert [u.message.text for u in poll()] == ["anyone?"], "back to getUpdates, nothing lost"


def test_set_webhook_checks_the_url_and_the_secret(bot):
    error = api_error(bot.set_webhook, "not a url")
    assert (error.error_code, error.description) == (
        400, "Bad Request: bad webhook: Failed to resolve host: Name or service not known")
    error = api_error(bot.set_webhook, "https://bot.example.com/updates", secret_token="no spaces")
    assert (error.error_code, error.description) == (400, "Bad Request: secret token contains unallowed characters")
    assert bot.get_webhook_info().url == ""


# --- update shapes


def test_commands_get_a_bot_command_entity(sandbox):
    sandbox.send_text(ANN, "/start@sandbox_bot now")
    [update] = poll()
    assert update.message.text == "/start@sandbox_bot now"
    assert [(e.type, e.offset, e.length) for e in update.message.entities] == [("bot_command", 0, 18)]


def test_private_and_group_chats_are_shaped_like_telegram(sandbox):
    sandbox.send_text(ANN, "private")
    sandbox.send_text(BOB, "in the group", chat_id=GROUP)
    private, group = [u.message for u in poll()]
    assert (private.chat.id, private.chat.type, private.chat.username) == (ANN.id, "private", "ann")
    assert (group.chat.id, group.chat.type, group.chat.title) == (GROUP, "group", "Sandbox group")
    assert (group.from_user.id, group.from_user.is_bot, group.from_user.first_name) == (BOB.id, False, "Bob")
    assert group.message_id == 1, "message ids count per chat"


def test_media_updates_parse_as_telebot_content_types(sandbox):
    sandbox.send_voice(ANN, b"ogg", 3)
    sandbox.send_audio(ANN, b"mp3", 60, file_name="song.mp3")
    sandbox.send_video_note(ANN, b"mp4", 5)
    sandbox.send_video(ANN, b"mp4", 9)
    sandbox.send_document(ANN, b"%PDF", "notes.pdf", "application/pdf")
    sandbox.send_photo(ANN)
    sandbox.send_sticker(ANN)
    messages = [u.message for u in poll()]
    assert [m.content_type for m in messages] == [
        "voice", "audio", "video_note", "video", "document", "photo", "sticker"]
    voice, audio, note, video, document, photo, _ = messages
    assert (voice.voice.duration, voice.voice.mime_type, voice.voice.file_size) == (3, "audio/ogg", 3)
    assert (audio.audio.file_name, audio.audio.title, audio.audio.duration) == ("song.mp3", "song", 60)
    assert (note.video_note.duration, note.video_note.length) == (5, 240)
    assert (video.video.duration, video.video.file_name) == (9, "video.mp4")
    assert (document.document.file_name, document.document.mime_type) == ("notes.pdf", "application/pdf")
    assert len(photo.photo) == 2


def test_reported_size_and_missing_duration_are_what_the_update_says(sandbox):
    sandbox.send_voice(ANN, b"tiny", None, file_size=50_000_000)
    [update] = raw_updates()
    assert update["message"]["voice"]["file_size"] == 50_000_000
    assert "duration" not in update["message"]["voice"]


def test_push_update_delivers_even_malformed_updates(sandbox):
    sandbox.send_text(ANN, "before")
    broken = {"message": {"message_id": 99, "text": "no chat, no date"}}
    update_id = sandbox.push_update(broken)
    odd_id = sandbox.push_update({"something_new": {"x": 1}})
    raw = raw_updates()
    assert raw[1:] == [{**broken, "update_id": update_id}, {"something_new": {"x": 1}, "update_id": odd_id}]
    assert raw[0]["update_id"] < update_id < odd_id
    assert "update_id" not in broken, "the caller's dict is left alone"


def test_a_user_reply_quotes_the_replied_message(sandbox, bot):
    asked = sandbox.send_text(ANN, "question")
    answer = bot.send_message(ANN.id, "answer", reply_to_message_id=asked)
    sandbox.send_text(ANN, "thanks", reply_to=answer.message_id)
    [_, thanks] = poll()
    assert thanks.message.reply_to_message.text == "answer"
    assert thanks.message.reply_to_message.from_user.is_bot
    with pytest.raises(ValueError):
        sandbox.send_text(ANN, "to nothing", reply_to=999)


# --- the bot's messages


def test_send_and_edit_message_build_the_history(sandbox, bot):
    asked = sandbox.send_text(ANN, "transcribe this")
    sent = bot.send_message(ANN.id, "Transcribing…", reply_parameters=types.ReplyParameters(asked))
    assert sent.reply_to_message.text == "transcribe this"
    edited = bot.edit_message_text("Done: hello", ANN.id, sent.message_id)
    assert (edited.message_id, edited.text) == (sent.message_id, "Done: hello")
    assert edited.edit_date is not None
    [message] = sandbox.messages(ANN.id)
    assert (message.text, message.edits, message.reply_to) == ("Done: hello", ["Transcribing…"], asked)


def test_edit_errors_are_telegrams(sandbox, bot):
    asked = sandbox.send_text(ANN, "hi")
    sent = bot.send_message(ANN.id, "same")
    not_modified = api_error(bot.edit_message_text, "same", ANN.id, sent.message_id)
    assert not_modified.error_code == 400
    assert not_modified.description.startswith("Bad Request: message is not modified")
    too_long = api_error(bot.edit_message_text, "x" * 4097, ANN.id, sent.message_id)
    assert too_long.description == "Bad Request: message is too long"
    missing = api_error(bot.edit_message_text, "new", ANN.id, 999)
    assert missing.description == "Bad Request: message to edit not found"
    not_ours = api_error(bot.edit_message_text, "new", ANN.id, asked)
    assert not_ours.description == "Bad Request: message can't be edited"
    assert sandbox.messages(ANN.id)[0].edits == []
    assert [c.status for c in sandbox.calls("editMessageText")] == [400, 400, 400, 400]


def test_send_message_text_limits(sandbox, bot):
    sandbox.send_text(ANN, "hi")
    assert api_error(bot.send_message, ANN.id, "x" * 4097).description == "Bad Request: message is too long"
    assert api_error(bot.send_message, ANN.id, "").description == "Bad Request: message text is empty"
    assert bot.send_message(ANN.id, "é" * 4096).text == "é" * 4096
    assert len(sandbox.messages(ANN.id)) == 1


def test_sending_to_an_unknown_chat_or_replying_to_nothing_fails(sandbox, bot):
    assert api_error(bot.send_message, 424242, "hello").description == "Bad Request: chat not found"
    sandbox.send_text(ANN, "hi")
    error = api_error(bot.send_message, ANN.id, "re", reply_parameters=types.ReplyParameters(999))
    assert error.description == "Bad Request: message to be replied not found"
    lenient = types.ReplyParameters(999, allow_sending_without_reply=True)
    assert bot.send_message(ANN.id, "re", reply_parameters=lenient).reply_to_message is None


def test_delete_message_marks_it_deleted(sandbox, bot):
    sandbox.send_text(ANN, "hi")
    sent = bot.send_message(ANN.id, "oops")
    assert bot.delete_message(ANN.id, sent.message_id) is True
    assert sandbox.messages(ANN.id)[0].deleted
    again = api_error(bot.delete_message, ANN.id, sent.message_id)
    assert again.description == "Bad Request: message to delete not found"
    assert api_error(bot.edit_message_text, "x", ANN.id, sent.message_id).description == (
        "Bad Request: message to edit not found")


def test_chat_action(sandbox, bot):
    sandbox.send_text(ANN, "hi", chat_id=None)
    assert bot.send_chat_action(ANN.id, "typing") is True
    assert sandbox.calls("sendChatAction")[0].params == {"chat_id": str(ANN.id), "action": "typing"}


def test_observers_get_copies_in_order(sandbox, bot):
    sandbox.send_text(ANN, "hi")
    sandbox.send_text(BOB, "yo", chat_id=GROUP)
    bot.send_message(ANN.id, "first")
    bot.send_message(GROUP, "second")
    bot.send_message(ANN.id, "third")
    assert [m.text for m in sandbox.all_messages()] == ["first", "second", "third"]
    copy = sandbox.messages(ANN.id)
    copy[0].edits.append("tampered")
    assert [m.edits for m in sandbox.messages(ANN.id)] == [[], []]


def test_form_and_json_bodies_are_accepted_too(sandbox):
    asked = sandbox.send_text(ANN, "hi")
    form = requests.post(f"{sandbox.url}/bot{TOKEN}/sendMessage", data={"chat_id": ANN.id, "text": "by form"})
    as_json = {"chat_id": ANN.id, "text": "by json", "reply_parameters": {"message_id": asked}}
    body = requests.post(f"{sandbox.url}/bot{TOKEN}/sendmessage", json=as_json)
    bad = requests.post(f"{sandbox.url}/bot{TOKEN}/sendMessage", data=b"{not json",
                        headers={"Content-Type": "application/json"})
    assert form.json()["result"]["text"] == "by form"
    assert body.json()["result"]["reply_to_message"]["message_id"] == asked
    assert (bad.status_code, bad.json()["ok"]) == (400, False)
    assert [m.text for m in sandbox.messages(ANN.id)] == ["by form", "by json"]


# --- inline keyboards and callback queries

QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


def keyboard(*rows: list[tuple[str, str]]) -> types.InlineKeyboardMarkup:
    """An inline keyboard of (text, callback_data) buttons, or (text, "https://...") for URL buttons."""
    return types.InlineKeyboardMarkup([[types.InlineKeyboardButton(text, url=action) if action.startswith("https:")
                                        else types.InlineKeyboardButton(text, callback_data=action)
                                        for text, action in row] for row in rows])


def confirm_all() -> None:
    """Confirm every pending update, as a bot does after handling them."""
    pending = raw_updates()
    if pending:
        raw_updates(offset=pending[-1]["update_id"] + 1)


YES_NO = {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}, {"text": "No", "callback_data": "no"}],
                              [{"text": "Docs", "url": "https://example.com/docs"}]]}


def send_yes_no(sandbox, bot, chat_id=ANN.id) -> types.Message:
    sandbox.send_text(ANN, "hi", chat_id=None if chat_id == ANN.id else chat_id)
    confirm_all()
    return bot.send_message(chat_id, "Pick one", reply_markup=keyboard(
        [("Yes", "yes"), ("No", "no")], [("Docs", "https://example.com/docs")]))


def test_an_inline_keyboard_is_on_the_message_and_in_the_callback_query(sandbox, bot):
    sent = send_yes_no(sandbox, bot)
    assert [[(b.text, b.callback_data, b.url) for b in row] for row in sent.reply_markup.keyboard] == [
        [("Yes", "yes", None), ("No", "no", None)], [("Docs", None, "https://example.com/docs")]]
    [message] = sandbox.messages(ANN.id)
    assert message.reply_markup == YES_NO
    query_id = sandbox.press_button(ANN, ANN.id, sent.message_id, text="No")
    again = sandbox.press_button(ANN, ANN.id, sent.message_id, text="Yes")
    [raw, raw_again] = raw_updates()
    assert raw["callback_query"]["message"]["reply_markup"] == YES_NO, "the message as it stands, quoted"
    assert raw["callback_query"]["message"]["message_id"] == sent.message_id
    first, second = [types.Update.de_json(u).callback_query for u in (raw, raw_again)]
    assert (first.id, first.data, first.from_user.id, first.from_user.username) == (query_id, "no", ANN.id, "ann")
    assert (second.id, second.data) == (again, "yes") and query_id != again
    assert first.chat_instance == second.chat_instance, "one chat_instance per chat"
    assert first.message.reply_markup.keyboard[0][1].callback_data == "no"
    assert sandbox.callback_answer(query_id) is None, "not answered yet"


def test_only_buttons_there_are_can_be_pressed(sandbox, bot):
    sent = send_yes_no(sandbox, bot)
    asked = sandbox.send_text(ANN, "mine")
    plain = bot.send_message(ANN.id, "no buttons")
    for args, kwargs in [((ANN, ANN.id, sent.message_id), {"text": "Maybe"}),
                         ((ANN, ANN.id, sent.message_id), {"text": "Docs"}),   # a URL button sends no query
                         ((ANN, ANN.id, plain.message_id), {"text": "Yes"}),
                         ((ANN, ANN.id, asked), {"data": "yes"}),               # the user's own message
                         ((ANN, ANN.id, 999), {"data": "yes"}),
                         ((BOB, ANN.id, sent.message_id), {"text": "Yes"}),     # someone else's private chat
                         ((ANN, ANN.id, sent.message_id), {}),
                         ((ANN, ANN.id, sent.message_id), {"text": "Yes", "data": "yes"})]:
        with pytest.raises(ValueError):
            sandbox.press_button(*args, **kwargs)
    assert [u["message"]["text"] for u in raw_updates()] == ["mine"], "no callback query was queued"


def test_a_modified_client_can_forge_callback_data(sandbox, bot):
    sent = send_yes_no(sandbox, bot)
    plain = bot.send_message(ANN.id, "no buttons")
    forged = "x" * 100
    sandbox.press_button(ANN, ANN.id, sent.message_id, data=forged)
    sandbox.press_button(ANN, ANN.id, plain.message_id, data="admin")
    queries = [u.callback_query for u in poll()]
    assert [(q.data, q.message.message_id) for q in queries] == [(forged, sent.message_id), ("admin", plain.message_id)]
    assert queries[1].message.reply_markup is None


def test_buttons_pressed_in_a_group_carry_the_presser_and_the_groups_chat_instance(sandbox, bot):
    sent = send_yes_no(sandbox, bot, chat_id=GROUP)
    sandbox.send_text(BOB, "hi", chat_id=GROUP)
    confirm_all()
    private = send_yes_no(sandbox, bot)
    sandbox.press_button(BOB, GROUP, sent.message_id, text="Yes")
    sandbox.press_button(ANN, ANN.id, private.message_id, text="Yes")
    in_group, in_private = [u.callback_query for u in poll()]
    assert (in_group.from_user.id, in_group.message.chat.id) == (BOB.id, GROUP)
    assert in_group.chat_instance != in_private.chat_instance


def test_a_callback_query_is_answered_once(sandbox, bot):
    sent = send_yes_no(sandbox, bot)
    query_id = sandbox.press_button(ANN, ANN.id, sent.message_id, text="Yes")
    too_long = api_error(bot.answer_callback_query, query_id, "x" * 201)
    assert (too_long.error_code, too_long.description) == (400, "Bad Request: MESSAGE_TOO_LONG")
    assert sandbox.callback_answer(query_id) is None, "a refused answer answers nothing"
    before = time.monotonic()
    assert bot.answer_callback_query(query_id, "é" * 200, show_alert=True) is True
    answer = sandbox.callback_answer(query_id)
    assert (answer["text"], answer["show_alert"], answer["url"]) == ("é" * 200, True, None)
    assert before <= answer["at"] <= time.monotonic()
    twice = api_error(bot.answer_callback_query, query_id)
    assert (twice.error_code, twice.description) == (400, QUERY_INVALID)
    assert api_error(bot.answer_callback_query, "12345").description == QUERY_INVALID
    other = sandbox.press_button(ANN, ANN.id, sent.message_id, text="No")
    assert bot.answer_callback_query(other) is True
    assert sandbox.callback_answer(other) == {"text": None, "show_alert": False, "url": None, "cache_time": 0,
                                              "at": sandbox.callback_answer(other)["at"]}
    assert sandbox.callback_answer("12345") is None


def test_callback_data_is_1_to_64_bytes(sandbox, bot):
    sandbox.send_text(ANN, "hi")
    assert bot.send_message(ANN.id, "ok", reply_markup=keyboard([("A", "é" * 32)])).reply_markup is not None
    error = api_error(bot.send_message, ANN.id, "too long", reply_markup=keyboard([("A", "é" * 32 + "x")]))
    assert (error.error_code, error.description) == (400, "Bad Request: BUTTON_DATA_INVALID"), "64 bytes of UTF-8"
    empty = api_error(bot.send_message, ANN.id, "empty", reply_markup=keyboard([("A", "")]))
    assert empty.description == ("Bad Request: can't parse inline keyboard button: Text buttons are unallowed in "
                                 "the inline keyboard")
    error = api_error(bot.send_document, ANN.id, b"x", visible_file_name="t.txt",
                      reply_markup=keyboard([("A", "x" * 65)]))
    assert error.description == "Bad Request: BUTTON_DATA_INVALID"
    document = bot.send_document(ANN.id, b"x", visible_file_name="t.txt", reply_markup=keyboard([("Again", "again")]))
    assert document.reply_markup.keyboard[0][0].callback_data == "again"
    assert [(m.text, m.reply_markup) for m in sandbox.messages(ANN.id)] == [
        ("ok", {"inline_keyboard": [[{"text": "A", "callback_data": "é" * 32}]]}),
        (None, {"inline_keyboard": [[{"text": "Again", "callback_data": "again"}]]})]


@pytest.mark.parametrize("markup, description", [
    ("{not json", "Bad Request: can't parse reply keyboard markup JSON object"),
    ("[1]", "Bad Request: object expected as reply markup"),
    ('{"inline_keyboard": [{"text": "A"}]}',
     'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'),
    ('{"inline_keyboard": [["A"]]}',
     "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Object"),
    ('{"inline_keyboard": [[{"callback_data": "a"}]]}',
     'Bad Request: can\'t parse inline keyboard button: Can\'t find field "text"'),
    ('{"inline_keyboard": [[{"text": " ", "callback_data": "a"}]]}', "Bad Request: BUTTON_TEXT_INVALID"),
])
def test_malformed_reply_markup_is_refused_with_telegrams_texts(sandbox, markup, description):
    sandbox.send_text(ANN, "hi")
    error = api_error(apihelper._make_request, TOKEN, "sendMessage",
                      params={"chat_id": ANN.id, "text": "x", "reply_markup": markup}, method="post")
    assert (error.error_code, error.description) == (400, description)
    assert sandbox.messages(ANN.id) == []


def test_other_markup_kinds_are_kept_but_are_no_part_of_the_message(sandbox, bot):
    sandbox.send_text(ANN, "hi")
    reply_keyboard = types.ReplyKeyboardMarkup(resize_keyboard=True)
    reply_keyboard.add("Start")
    sent = [bot.send_message(ANN.id, "choose", reply_markup=reply_keyboard),
            bot.send_message(ANN.id, "gone", reply_markup=types.ReplyKeyboardRemove()),
            bot.send_message(ANN.id, "empty", reply_markup=types.InlineKeyboardMarkup())]
    assert [m.reply_markup for m in sent] == [None, None, None]
    stored = [m.reply_markup for m in sandbox.messages(ANN.id)]
    assert stored[0]["keyboard"] == [[{"text": "Start"}]] and stored[0]["resize_keyboard"] is True
    assert stored[1:] == [{"remove_keyboard": True}, None]
    error = api_error(bot.edit_message_text, "x", ANN.id, sent[0].message_id, reply_markup=reply_keyboard)
    assert error.description == "Bad Request: inline keyboard expected"


def test_a_button_keeps_the_first_action_as_telegram_does(sandbox):
    sandbox.send_text(ANN, "hi")
    both = {"inline_keyboard": [[{"text": "Go", "callback_data": "go", "url": "https://example.com/",
                                  "style": "danger"}, {"text": 7, "callback_data": 42}]]}
    result = requests.post(f"{sandbox.url}/bot{TOKEN}/sendMessage",
                           json={"chat_id": ANN.id, "text": "x", "reply_markup": both}).json()["result"]
    assert result["reply_markup"] == {"inline_keyboard": [[{"text": "Go", "url": "https://example.com/"},
                                                           {"text": "7", "callback_data": "42"}]]}


def test_edit_message_text_drops_the_keyboard_unless_it_is_given_again(sandbox, bot):
    sent = send_yes_no(sandbox, bot)
    kept = bot.edit_message_text("Pick again", ANN.id, sent.message_id, reply_markup=keyboard([("OK", "ok")]))
    assert [[b.text for b in row] for row in kept.reply_markup.keyboard] == [["OK"]]
    same = api_error(bot.edit_message_text, "Pick again", ANN.id, sent.message_id,
                     reply_markup=keyboard([("OK", "ok")]))
    assert same.description.startswith("Bad Request: message is not modified")
    dropped = bot.edit_message_text("Pick again", ANN.id, sent.message_id)
    assert dropped.reply_markup is None, "the same text without reply_markup still takes the keyboard away"
    [message] = sandbox.messages(ANN.id)
    assert (message.text, message.edits, message.reply_markup) == ("Pick again", ["Pick one"], None)
    with pytest.raises(ValueError):
        sandbox.press_button(ANN, ANN.id, sent.message_id, text="OK")
    assert api_error(bot.edit_message_text, "Pick again", ANN.id, sent.message_id).description.startswith(
        "Bad Request: message is not modified")


def test_edit_message_reply_markup_sets_and_removes_the_keyboard(sandbox, bot):
    events: list[SandboxEvent] = []
    sandbox.add_listener(events.append)
    asked = sandbox.send_text(ANN, "hi")
    sent = bot.send_message(ANN.id, "Transcript")
    edited = bot.edit_message_reply_markup(ANN.id, sent.message_id, reply_markup=keyboard([("Yes", "yes"),
                                                                                           ("No", "no")]))
    assert (edited.text, edited.reply_markup.keyboard[0][1].callback_data) == ("Transcript", "no")
    assert edited.edit_date is None, "a new keyboard does not show the message as edited"
    not_modified = api_error(bot.edit_message_reply_markup, ANN.id, sent.message_id,
                             reply_markup=keyboard([("Yes", "yes"), ("No", "no")]))
    assert not_modified.description.startswith("Bad Request: message is not modified")
    query_id = sandbox.press_button(ANN, ANN.id, sent.message_id, text="Yes")
    assert bot.edit_message_reply_markup(ANN.id, sent.message_id).reply_markup is None
    for markup in (None, types.InlineKeyboardMarkup()):  # an empty keyboard is none
        error = api_error(bot.edit_message_reply_markup, ANN.id, sent.message_id, reply_markup=markup)
        assert error.description.startswith("Bad Request: message is not modified")
    assert sandbox.messages(ANN.id)[0].reply_markup is None
    assert [u["callback_query"]["data"] for u in raw_updates()[1:]] == ["yes"]
    assert api_error(bot.edit_message_reply_markup, ANN.id, 999).description == (
        "Bad Request: message to edit not found")
    assert api_error(bot.edit_message_reply_markup, ANN.id, asked).description == (
        "Bad Request: message can't be edited")
    assert api_error(bot.edit_message_reply_markup, inline_message_id="AAAA").description == (
        "Bad Request: invalid inline message identifier specified")
    assert [(e.kind, e.text) for e in events if e.kind in ("bot_markup", "user_press")] == [
        ("bot_markup", "[Yes | No]"), ("user_press", "yes"), ("bot_markup", "")]
    assert sandbox.callback_answer(query_id) is None


def test_get_updates_remembers_allowed_updates(sandbox, bot):
    sent = send_yes_no(sandbox, bot)
    assert raw_updates(allowed_updates=["message"]) == []
    sandbox.press_button(ANN, ANN.id, sent.message_id, text="Yes")
    sandbox.send_text(ANN, "one")
    assert [list(u) for u in raw_updates()] == [["message", "update_id"]], "the setting stays without the parameter"
    assert bot.get_webhook_info().allowed_updates == ["message"]
    confirm_all()
    assert raw_updates(allowed_updates=["MESSAGE", "callback_query", "no_such_type"]) == [], (
        "the dropped callback query is gone for good")
    sandbox.press_button(ANN, ANN.id, sent.message_id, text="No")
    [update] = poll()
    assert update.callback_query.data == "no"
    assert bot.get_webhook_info().allowed_updates == ["message", "callback_query"]
    confirm_all()
    assert raw_updates(allowed_updates=[]) == [], "an empty list means the default"
    assert bot.get_webhook_info().allowed_updates is None
    sandbox.push_update({"message_reaction": {"chat": {"id": ANN.id}}})
    sandbox.push_update({"chat_member": {"chat": {"id": ANN.id}}})
    sandbox.press_button(ANN, ANN.id, sent.message_id, text="Yes")
    assert [list(u)[0] for u in raw_updates()] == ["callback_query"], "reactions and members must be asked for"
    raw_updates(allowed_updates="not json")
    assert bot.get_webhook_info().allowed_updates is None, "a malformed setting is ignored, as Telegram does"


def test_a_long_poll_is_not_woken_by_an_update_it_does_not_want(sandbox, bot):
    sent = send_yes_no(sandbox, bot)
    raw_updates(allowed_updates=["message"])
    threading.Timer(0.2, sandbox.press_button, (ANN, ANN.id, sent.message_id), {"text": "Yes"}).start()
    threading.Timer(0.5, sandbox.send_text, (ANN, "later")).start()
    started = time.monotonic()
    updates = raw_updates(long_polling_timeout=5)
    assert [u["message"]["text"] for u in updates] == ["later"]
    assert time.monotonic() - started >= 0.4


def test_a_webhook_gets_only_the_allowed_updates(sandbox, bot, endpoint):
    sent = send_yes_no(sandbox, bot)
    assert bot.set_webhook(endpoint.url, allowed_updates=["message"]) is True
    sandbox.press_button(ANN, ANN.id, sent.message_id, text="Yes")
    sandbox.send_text(ANN, "after")
    assert sandbox.wait_for(lambda: len(endpoint.received) == 1, timeout=5)
    assert endpoint.texts() == ["after"]
    info = bot.get_webhook_info()
    assert (info.pending_update_count, info.allowed_updates) == (0, ["message"])
    assert bot.set_webhook(endpoint.url, allowed_updates=["callback_query"]) is True
    sandbox.send_text(ANN, "unwanted")
    sandbox.press_button(ANN, ANN.id, sent.message_id, text="No")
    assert sandbox.wait_for(lambda: len(endpoint.received) == 2, timeout=5)
    assert endpoint.received[1][2]["callback_query"]["data"] == "no"
    assert bot.remove_webhook() is True
    assert bot.get_webhook_info().allowed_updates == ["callback_query"], "one setting per bot, webhook or not"


# --- files


def test_get_file_and_download_a_voice(sandbox, bot):
    audio = bytes(range(256)) + b"\r\n--\r\n"
    sandbox.send_voice(ANN, audio, 2)
    [update] = poll()
    info = bot.get_file(update.message.voice.file_id)
    assert (info.file_size, info.file_path) == (len(audio), info.file_path)
    assert info.file_path.endswith(".oga")
    assert bot.download_file(info.file_path) == audio
    assert [c.method for c in sandbox.calls()][-2:] == ["getFile", "file"]


def test_file_errors(sandbox, bot):
    sandbox.send_voice(ANN, b"small", 2, file_size=20 * 1024 * 1024 + 1)
    [update] = poll()
    assert api_error(bot.get_file, update.message.voice.file_id).description == "Bad Request: file is too big"
    assert api_error(bot.get_file, "nonsense").description == "Bad Request: invalid file_id"
    with pytest.raises(apihelper.ApiHTTPException) as unknown:
        bot.download_file("voice/file_999.oga")
    assert unknown.value.result.status_code == 404


def test_download_limit_follows_max_download_mb():
    with BotApiSandbox(TOKEN, max_download_mb=1) as small:
        small.send_voice(ANN, b"x", 1, file_size=1024 * 1024 + 1)
        file_id = requests.get(f"{small.url}/bot{TOKEN}/getUpdates").json()["result"][0]["message"]["voice"]
        answer = requests.get(f"{small.url}/bot{TOKEN}/getFile", params={"file_id": file_id["file_id"]})
        assert (answer.status_code, answer.json()["description"]) == (400, "Bad Request: file is too big")


def test_download_with_a_wrong_token_is_unauthorized(sandbox):
    sandbox.send_voice(ANN, b"secret audio", 1)
    file_id = poll()[0].message.voice.file_id
    path = apihelper.get_file(TOKEN, file_id)["file_path"]
    answer = requests.get(f"{sandbox.url}/file/bot999:wrong/{path}")
    assert answer.status_code == 401
    assert b"secret audio" not in answer.content


def test_send_document_via_send_data(sandbox):
    sandbox.send_text(ANN, "hi")
    result = apihelper.send_data(TOKEN, ANN.id, b"line 1\nline 2\n", "document", caption="Transcript",
                                 visible_file_name="transcript.txt")
    assert result["document"]["file_name"] == "transcript.txt"
    assert result["document"]["mime_type"] == "text/plain"
    [message] = sandbox.messages(ANN.id)
    assert (message.document, message.document_name, message.caption, message.text) == (
        b"line 1\nline 2\n", "transcript.txt", "Transcript", None)
    assert api_error(apihelper.edit_message_text, TOKEN, "x", ANN.id, message.message_id).description == (
        "Bad Request: there is no text in the message to edit")


def test_a_sent_document_can_be_downloaded_back(sandbox, bot):
    asked = sandbox.send_text(ANN, "hi")
    sent = bot.send_document(ANN.id, b"\x00binary\r\n", visible_file_name="data.bin",
                             reply_to_message_id=asked)
    assert sent.reply_to_message.message_id == asked
    assert bot.download_file(bot.get_file(sent.document.file_id).file_path) == b"\x00binary\r\n"
    [message] = sandbox.messages(ANN.id)
    assert message.reply_to == asked


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(min_size=1, max_size=2000),
       name=st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters=" ._-"), min_size=1,
                    max_size=30).filter(lambda n: n == n.strip()))
def test_uploads_survive_the_real_client_byte_for_byte(sandbox, bot, content, name):
    sandbox.send_text(ANN, "hi")
    sent = bot.send_document(ANN.id, content, visible_file_name=name)
    stored = sandbox.messages(ANN.id)[-1]
    assert (stored.document, stored.document_name, sent.document.file_name) == (content, name, name)


def test_a_document_needs_content(sandbox, bot):
    sandbox.send_text(ANN, "hi")
    error = api_error(apihelper._make_request, TOKEN, "sendDocument", params={"chat_id": ANN.id},
                      method="post")
    assert error.description == "Bad Request: there is no document in the request"
    assert sandbox.messages(ANN.id) == []


# --- local mode (telegram-bot-api --local)


def test_local_get_file_answers_the_absolute_path_of_the_file_on_disk(local_sandbox, local_bot, tmp_path):
    audio = bytes(range(256)) + b"\r\n--\r\n"
    sent = local_sandbox.send_voice(ANN, audio, 2)
    info = local_bot.get_file(poll()[0].message.voice.file_id)
    path = Path(info.file_path)
    assert path.is_absolute() and path.read_bytes() == audio
    assert info.file_size == len(audio)
    assert path.parent == (tmp_path / "server").resolve() / TOKEN / "voice", "the real server's layout"
    assert path.name.startswith("file_") and path.suffix == ".oga"
    assert local_sandbox.stored_file_path(ANN.id, sent) == path


def test_local_mode_serves_no_downloads(local_sandbox, local_bot):
    local_sandbox.send_voice(ANN, b"ogg", 1)
    info = local_bot.get_file(poll()[0].message.voice.file_id)
    with pytest.raises(apihelper.ApiHTTPException) as refused:
        local_bot.download_file(info.file_path)
    assert refused.value.result.status_code == 404
    assert requests.get(f"{local_sandbox.url}/file/bot{TOKEN}/voice/file_1.oga").status_code == 404
    assert [c.status for c in local_sandbox.calls("file")] == [404, 404]


def test_local_mode_serves_files_over_20_mb_up_to_2000_mb(local_sandbox, local_bot, big_video):
    sent = local_sandbox.send_video(ANN, big_video, 30)
    local_sandbox.send_video(ANN, b"mp4", 30, file_size=2000 * MB + 1)
    big, huge = [u.message.video for u in poll()]
    info = local_bot.get_file(big.file_id)
    assert info.file_size == big.file_size == 21 * MB
    assert filecmp.cmp(info.file_path, big_video, shallow=False), "copied into place byte for byte"
    assert Path(info.file_path) == local_sandbox.stored_file_path(ANN.id, sent)
    assert api_error(local_bot.get_file, huge.file_id).description == "Bad Request: file is too big"


def test_without_local_mode_a_file_over_20_mb_is_too_big(sandbox, bot, big_video, tmp_path):
    small = tmp_path / "small.ogg"
    small.write_bytes(b"OggS voice")
    sandbox.send_video(ANN, big_video, 30)
    sandbox.send_voice(ANN, small, 1)
    big, voice = [u.message for u in poll()]
    assert big.video.file_size == 21 * MB
    assert api_error(bot.get_file, big.video.file_id).description == "Bad Request: file is too big"
    assert bot.download_file(bot.get_file(voice.voice.file_id).file_path) == b"OggS voice", "a path is read"
    with pytest.raises(RuntimeError):
        sandbox.stored_file_path(ANN.id, voice.message_id)


def test_a_test_can_take_a_stored_file_away_behind_the_bots_back(local_sandbox, local_bot):
    sent = local_sandbox.send_document(ANN, b"%PDF", "notes.pdf", "application/pdf")
    local_sandbox.stored_file_path(ANN.id, sent).unlink()
    info = local_bot.get_file(poll()[0].message.document.file_id)
    assert not Path(info.file_path).exists(), "getFile still answers the path, as a server whose disk lost it"
    with pytest.raises(ValueError):
        local_sandbox.stored_file_path(ANN.id, 999)


def test_a_document_the_bot_sends_lies_on_disk_in_local_mode(local_sandbox, local_bot):
    local_sandbox.send_text(ANN, "hi")
    sent = local_bot.send_document(ANN.id, b"transcript", visible_file_name="t.txt")
    path = Path(local_bot.get_file(sent.document.file_id).file_path)
    assert (path.parent.name, path.read_bytes()) == ("documents", b"transcript")


# --- forum topics


def test_a_users_message_in_a_topic_carries_its_thread(sandbox):
    topic = sandbox.create_topic(ANN, FORUM, "Meetings")
    asked = sandbox.send_voice(BOB, b"ogg", 3, chat_id=FORUM, message_thread_id=topic)
    sandbox.send_text(BOB, "for everyone", chat_id=FORUM)
    sandbox.send_text(ANN, "same topic", chat_id=FORUM, reply_to=asked)
    voice, general, reply = [u.message for u in poll()]
    assert topic > 1, "thread 1 is the General topic's"
    assert (voice.message_thread_id, voice.is_topic_message) == (topic, True)
    assert (voice.chat.type, voice.chat.is_forum) == ("supergroup", True)
    assert (general.message_thread_id, general.is_topic_message) == (None, None), "the General topic"
    assert (reply.message_thread_id, reply.reply_to_message.message_id) == (topic, asked)
    with pytest.raises(ValueError):
        sandbox.send_text(BOB, "nowhere", chat_id=FORUM, message_thread_id=topic + 100)


def test_the_bots_messages_land_in_the_topic_asked_for_or_replied_to(sandbox, bot):
    topic = sandbox.create_topic(ANN, FORUM, "Meetings")
    asked = sandbox.send_voice(BOB, b"ogg", 3, chat_id=FORUM, message_thread_id=topic)
    assert bot.send_chat_action(FORUM, "typing", message_thread_id=topic) is True
    sent = [bot.send_message(FORUM, "Transcribing…", message_thread_id=topic),
            bot.send_message(FORUM, "hello", reply_parameters=types.ReplyParameters(asked)),
            bot.send_document(FORUM, b"hello", visible_file_name="t.txt", message_thread_id=topic)]
    assert [(m.message_thread_id, m.is_topic_message) for m in sent] == [(topic, True)] * 3
    assert [m.message_thread_id for m in sandbox.messages(FORUM)] == [topic] * 3
    general = bot.send_message(FORUM, "for everyone")
    assert general.message_thread_id is None and sandbox.messages(FORUM)[-1].message_thread_id is None


def test_an_unknown_thread_is_refused_in_a_forum_and_ignored_elsewhere(sandbox, bot):
    topic = sandbox.create_topic(ANN, FORUM, "Meetings")
    sandbox.send_text(BOB, "hi", chat_id=GROUP)
    unknown = topic + 100
    for call, args in [(bot.send_message, ("x",)), (bot.send_document, (b"x",)), (bot.send_chat_action, ("typing",))]:
        error = api_error(call, FORUM, *args, message_thread_id=unknown)
        assert (error.error_code, error.description) == (400, "Bad Request: message thread not found")
    assert sandbox.messages(FORUM) == []
    plain = bot.send_message(GROUP, "x", message_thread_id=unknown)
    assert (plain.message_thread_id, plain.is_topic_message) == (None, None)
    assert sandbox.messages(GROUP)[0].message_thread_id is None


def test_the_bot_creates_topics_in_forums_only(sandbox, bot):
    sandbox.create_topic(ANN, FORUM, "Meetings")
    created = bot.create_forum_topic(FORUM, "Transcripts")
    assert (created.name, created.icon_color) == ("Transcripts", 0x6FB9F0)
    sent = bot.send_message(FORUM, "here", message_thread_id=created.message_thread_id)
    assert sent.message_thread_id == created.message_thread_id
    sandbox.send_text(BOB, "hi", chat_id=GROUP)
    assert api_error(bot.create_forum_topic, GROUP, "No").description == "Bad Request: the chat is not a forum"


# --- faults


def test_429_carries_retry_after_for_the_bot(sandbox, bot):
    sandbox.send_text(ANN, "hi")
    sandbox.inject_fault("sendMessage", status=429, retry_after=3)
    error = api_error(bot.send_message, ANN.id, "hello")
    assert error.error_code == 429
    assert error.description == "Too Many Requests: retry after 3"
    assert error.result_json["parameters"] == {"retry_after": 3}
    assert error.result.status_code == 429
    assert bot.send_message(ANN.id, "hello").text == "hello", "the fault was for one call only"
    assert [c.status for c in sandbox.calls("sendMessage")] == [429, 200]
    assert [m.text for m in sandbox.messages(ANN.id)] == ["hello"]


def test_500_for_several_calls_then_recovery(sandbox, bot):
    sandbox.inject_fault("getme", times=2)
    for _ in range(2):
        error = api_error(bot.get_me)
        assert (error.error_code, error.description) == (500, "Internal Server Error")
    assert bot.get_me().username == "sandbox_bot"


def test_a_dropped_connection_is_a_connection_error(sandbox, bot):
    sandbox.send_text(ANN, "hi")
    sandbox.inject_fault("sendMessage", drop=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        bot.send_message(ANN.id, "lost")
    assert sandbox.messages(ANN.id) == []
    assert sandbox.calls("sendMessage")[0].status == 0
    assert bot.send_message(ANN.id, "again").text == "again"


def test_a_slow_but_correct_answer(sandbox, bot):
    sandbox.send_text(ANN, "hi")
    sandbox.inject_fault("sendMessage", status=200, delay=0.3)
    started = time.monotonic()
    assert bot.send_message(ANN.id, "eventually").text == "eventually"
    assert time.monotonic() - started >= 0.3


def test_a_slow_answer_can_outlast_the_client(sandbox):
    sandbox.send_text(ANN, "hi")
    sandbox.inject_fault("sendMessage", status=200, delay=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(f"{sandbox.url}/bot{TOKEN}/sendMessage", params={"chat_id": ANN.id, "text": "x"},
                      timeout=0.2)


def test_download_faults(sandbox, bot):
    sandbox.send_voice(ANN, b"audio", 1)
    path = bot.get_file(poll()[0].message.voice.file_id).file_path
    sandbox.inject_fault("file", drop=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        bot.download_file(path)
    sandbox.inject_fault("file", status=502)
    with pytest.raises(apihelper.ApiHTTPException):
        bot.download_file(path)
    assert bot.download_file(path) == b"audio"
    assert [c.status for c in sandbox.calls("file")] == [0, 502, 200]


# --- waiting and listening


def test_wait_for_wakes_on_the_bots_call(sandbox, bot):
    sandbox.send_text(ANN, "hi")
    threading.Timer(0.2, bot.send_message, (ANN.id, "reply")).start()
    assert sandbox.wait_for(lambda: len(sandbox.messages(ANN.id)) == 1, timeout=5)
    assert not sandbox.wait_for(lambda: len(sandbox.messages(ANN.id)) == 2, timeout=0.2)


def test_listeners_see_the_conversation_in_order(sandbox, bot):
    events: list[SandboxEvent] = []
    sandbox.add_listener(events.append)
    asked = sandbox.send_voice(ANN, b"ogg", 4)
    sent = bot.send_message(ANN.id, "Working…", reply_to_message_id=asked)
    bot.edit_message_text("hello world", ANN.id, sent.message_id)
    bot.send_document(ANN.id, b"hello world", visible_file_name="t.txt", caption="Transcript")
    bot.delete_message(ANN.id, sent.message_id)
    assert [(e.kind, e.text) for e in events] == [
        ("user_media", "[voice 4 s, 3 bytes]"),
        ("bot_message", "Working…"),
        ("bot_edit", "hello world"),
        ("bot_document", "[document t.txt, 11 bytes] Transcript"),
        ("bot_delete", "hello world"),
    ]
    assert events[0].user == ANN and events[1].user is None
    assert [e.message_id for e in events] == [asked, sent.message_id, sent.message_id, 3, sent.message_id]
    assert all(e.chat_id == ANN.id for e in events)


# --- standalone


def test_runs_standalone_until_interrupted():
    process = subprocess.Popen(
        [sys.executable, "-m", "voicebot.sandbox", "--port", "0", "--token", TOKEN],
        stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        url = next(word for word in process.stdout.readline().split() if word.startswith("http://"))
        me = requests.get(f"{url}/bot{TOKEN}/getMe", timeout=5).json()
        assert me == {"ok": True, "result": me["result"]} and me["result"]["username"] == "sandbox_bot"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.stdout.close()
    assert TOKEN not in json.dumps(me)
