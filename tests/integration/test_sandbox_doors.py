"""The sandbox's other doors into a bot, driven by the real pyTelegramBotAPI client over real HTTP: guest mode,
business connections, channels with their discussion groups, forwards, parse modes, and allowed_updates for the
update types they bring."""
import json

import pytest
from telebot import TeleBot, apihelper, types

from voicebot.sandbox import BotApiSandbox, SandboxEvent, SandboxUser

from helpers import serve

TOKEN = "123456:sandbox-doors-token"
BOT_ID = 123456
ANN = SandboxUser(id=7, first_name="Ann", username="ann")
BOB = SandboxUser(id=8, first_name="Bob")
CLEO = SandboxUser(id=9, first_name="Cleo", hides_forwards=True)
STRANGERS = -200  # a group without the bot
CHANNEL = -1001000000001
DISCUSSION = -1001000000002
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@pytest.fixture
def sandbox():
    yield from serve(BotApiSandbox(TOKEN))


@pytest.fixture
def bot(sandbox):
    return TeleBot(TOKEN, threaded=False)


@pytest.fixture
def channel(sandbox):
    """Ann's channel @news, where Bob is an admin too, with a discussion group the bot is in."""
    sandbox.create_group(DISCUSSION, "News chat", supergroup=True)
    return sandbox.create_channel(CHANNEL, "News", "news", owner=ANN, admins=[BOB], discussion_group=DISCUSSION)


def raw_updates(allowed_updates=None) -> list[dict]:
    """getUpdates through the client's request path, confirming what it got."""
    params = {"long_polling_timeout": 0,
              "allowed_updates": None if allowed_updates is None else json.dumps(allowed_updates)}
    updates = apihelper._make_request(TOKEN, "getUpdates", params=params)
    if updates:
        apihelper._make_request(TOKEN, "getUpdates", params={"offset": updates[-1]["update_id"] + 1,
                                                             "long_polling_timeout": 0})
    return updates


def poll(**kwargs) -> list[types.Update]:
    return [types.Update.de_json(raw) for raw in raw_updates(**kwargs)]


def api_error(call, *args, **kwargs) -> apihelper.ApiTelegramException:
    with pytest.raises(apihelper.ApiTelegramException) as caught:
        call(*args, **kwargs)
    return caught.value


def article(text: str, markup: types.InlineKeyboardMarkup | None = None) -> types.InlineQueryResultArticle:
    return types.InlineQueryResultArticle("1", "Transcript", types.InputTextMessageContent(text), reply_markup=markup)


def keyboard(*buttons: tuple[str, str]) -> types.InlineKeyboardMarkup:
    markup = types.InlineKeyboardMarkup()
    markup.row(*(types.InlineKeyboardButton(text, callback_data=data) for text, data in buttons))
    return markup


def test_get_me_says_the_bot_takes_guest_queries_and_business_connections(bot):
    me = bot.get_me()
    assert (me.supports_guest_queries, me.can_connect_to_business) == (True, True)


# --- guest mode


def test_a_guest_message_carries_the_recording_it_replies_to_from_a_chat_without_the_bot(sandbox, bot):
    sandbox.create_group(STRANGERS, "Strangers", bot_is_member=False)
    voice = sandbox.send_voice(BOB, b"OggS-voice", 4, chat_id=STRANGERS)
    assert raw_updates() == [], "the bot is not in that group"
    query_id = sandbox.mention_bot(ANN, "@sandbox_bot what did he say?", chat_id=STRANGERS, reply_to=voice)
    [update] = poll()
    guest = update.guest_message
    assert (guest.guest_query_id, guest.from_user.id, guest.chat.id, guest.chat.title) == (
        query_id, ANN.id, STRANGERS, "Strangers")
    assert (guest.text, [(e.type, e.offset, e.length) for e in guest.entities]) == (
        "@sandbox_bot what did he say?", [("mention", 0, 12)])
    recording = guest.reply_to_message.voice
    assert (guest.reply_to_message.message_id, guest.reply_to_message.from_user.id, recording.duration) == (
        voice, BOB.id, 4)
    assert bot.download_file(bot.get_file(recording.file_id).file_path) == b"OggS-voice"
    assert update.message is None and sandbox.messages(STRANGERS) == []


def test_a_guest_query_is_answered_once_with_a_post_edited_by_its_inline_message_id(sandbox, bot):
    events: list[SandboxEvent] = []
    sandbox.add_listener(events.append)
    voice = sandbox.send_voice(BOB, b"OggS", 2, chat_id=STRANGERS)
    query_id = sandbox.mention_bot(ANN, chat_id=STRANGERS, reply_to=voice)
    assert sandbox.guest_answer(query_id) is None
    sent = bot.answer_guest_query(query_id, article("Processing…", keyboard(("Cancel", "c1"))))
    assert isinstance(sent, types.SentGuestMessage) and sent.inline_message_id
    assert api_error(bot.answer_guest_query, query_id, article("again")).description == QUERY_INVALID
    assert api_error(bot.answer_guest_query, "12345", article("who?")).description == QUERY_INVALID
    post = sandbox.guest_answer(query_id)
    assert (post.text, post.chat_id, post.inline_message_id, post.edit_count) == (
        "Processing…", STRANGERS, sent.inline_message_id, 0)
    assert post.reply_markup["inline_keyboard"][0][0]["callback_data"] == "c1"

    assert bot.edit_message_text("the transcript", inline_message_id=sent.inline_message_id) is True
    not_modified = api_error(bot.edit_message_text, "the transcript", inline_message_id=sent.inline_message_id)
    assert not_modified.description.startswith("Bad Request: message is not modified")
    markup = keyboard(("Subtitles", "s1"))
    assert bot.edit_message_reply_markup(inline_message_id=sent.inline_message_id, reply_markup=markup) is True
    caption = api_error(bot.edit_message_caption, "x", inline_message_id=sent.inline_message_id)
    assert caption.description == "Bad Request: there is no caption in the message to edit"
    assert api_error(bot.edit_message_text, "x", inline_message_id="SBXInope").description == (
        "Bad Request: invalid inline message identifier specified")
    [post] = sandbox.guest_posts()
    assert (post.text, post.edits, post.edit_count) == ("the transcript", ["Processing…"], 2)
    assert post.reply_markup == {"inline_keyboard": [[{"text": "Subtitles", "callback_data": "s1"}]]}
    assert sandbox.guest_post(sent.inline_message_id) == post
    assert sandbox.messages(STRANGERS) == [], "a guest post is no message of the bot's own chats"
    assert [(e.kind, e.place) for e in events if e.kind.startswith("bot_")] == [
        ("bot_message", "guest"), ("bot_edit", "guest"), ("bot_markup", "guest")]


def test_a_guest_query_in_a_private_chat_between_users_sees_the_chat_as_its_caller_does(sandbox, bot):
    sandbox.send_text(BOB, "hello bot")
    voice = sandbox.send_voice(BOB, b"OggS", 3, to=ANN)
    query_id = sandbox.mention_bot(ANN, to=BOB, reply_to=voice)
    hello, guest = poll()
    assert hello.message.text == "hello bot", "the chat between Ann and Bob reaches the bot only as a guest"
    message = guest.guest_message
    assert (message.chat.id, message.chat.type, message.from_user.id) == (BOB.id, "private", ANN.id)
    assert (message.reply_to_message.chat.id, message.reply_to_message.voice.duration) == (BOB.id, 3)
    sent = bot.answer_guest_query(query_id, article("Bob said hello"))
    assert sandbox.guest_post(sent.inline_message_id).chat_id == BOB.id
    assert sandbox.messages(BOB.id) == [], "the bot's own chat with Bob got nothing"


def test_mentions_and_results_are_checked(sandbox, bot):
    with pytest.raises(ValueError):
        sandbox.mention_bot(ANN, "no mention here", chat_id=STRANGERS)
    with pytest.raises(ValueError):
        sandbox.mention_bot(ANN, "@sandbox_bot")  # in the bot's own chat a user just writes to it
    query_id = sandbox.mention_bot(ANN, "@Sandbox_Bot please", chat_id=STRANGERS)
    no_content = types.InlineQueryResultArticle("1", "Title", None)
    assert api_error(bot.answer_guest_query, query_id, no_content).description == (
        "Bad Request: can't parse inline query result: Can't find field \"input_message_content\"")
    assert api_error(bot.answer_guest_query, query_id, article("x" * 4097)).description == (
        "Bad Request: MESSAGE_TOO_LONG")
    bold = types.InlineQueryResultArticle("1", "T", types.InputTextMessageContent("<b>done</b>", parse_mode="HTML"))
    bot.answer_guest_query(query_id, bold)
    assert sandbox.guest_answer(query_id).text == "done", "a refused answer left the query open"


# --- business connections


def test_a_business_connection_brings_the_owners_private_chats(sandbox, bot):
    connection_id = sandbox.connect_business(ANN)
    voice = sandbox.send_voice(BOB, b"OggS-business", 5, to=ANN)
    sandbox.send_text(ANN, "on my way", to=BOB, reply_to=voice)
    connected, incoming, outgoing = poll()
    connection = connected.business_connection
    assert (connection.id, connection.user.id, connection.user_chat_id, connection.is_enabled) == (
        connection_id, ANN.id, ANN.id, True)
    assert connection.rights.can_reply is True
    assert bot.get_business_connection(connection_id).rights.can_reply is True
    message = incoming.business_message
    assert (message.business_connection_id, message.from_user.id, message.chat.id, message.voice.duration) == (
        connection_id, BOB.id, BOB.id, 5), "the chat is Bob, as the account's owner sees it"
    assert bot.download_file(bot.get_file(message.voice.file_id).file_path) == b"OggS-business"
    own = outgoing.business_message
    assert (own.from_user.id, own.chat.id, own.reply_to_message.message_id) == (ANN.id, BOB.id, voice)
    assert api_error(bot.get_business_connection, "nope").description == "Bad Request: business connection not found"


def test_the_bot_replies_on_the_owners_behalf_while_it_may(sandbox, bot):
    connection_id = sandbox.connect_business(ANN)
    voice = sandbox.send_voice(BOB, b"OggS", 2, to=ANN)
    sent = bot.send_message(BOB.id, "Processing…", business_connection_id=connection_id,
                            reply_parameters=types.ReplyParameters(voice))
    assert (sent.business_connection_id, sent.from_user.id, sent.sender_business_bot.id, sent.chat.id) == (
        connection_id, ANN.id, BOT_ID, BOB.id)
    assert sent.reply_to_message.voice is not None
    edited = bot.edit_message_text("the transcript", BOB.id, sent.message_id, business_connection_id=connection_id)
    assert (edited.text, edited.business_connection_id) == ("the transcript", connection_id)
    bot.send_document(BOB.id, ("talk.txt", b"the transcript"), business_connection_id=connection_id)
    text, document = sandbox.business_messages(ANN, BOB)
    assert (text.text, text.edits, text.reply_to, text.business_connection_id) == (
        "the transcript", ["Processing…"], voice, connection_id)
    assert document.document == b"the transcript"
    assert sandbox.messages(BOB.id) == [], "nothing went to the bot's own chat with Bob"
    assert api_error(bot.send_message, BOB.id, "x", business_connection_id=connection_id,
                     reply_parameters=types.ReplyParameters(999)).description == (
        "Bad Request: message to be replied not found")


def test_business_sends_are_refused_as_telegram_refuses_them(sandbox, bot):
    def refusal(chat_id, connection_id):
        return api_error(bot.send_message, chat_id, "hi", business_connection_id=connection_id).description

    connection_id = sandbox.connect_business(ANN, rights=())
    sandbox.send_text(BOB, "hi Ann", to=ANN)
    sandbox.send_text(ANN, "hi Cleo", to=CLEO)
    assert refusal(BOB.id, "nope") == "Bad Request: business connection not found"
    assert refusal(BOB.id, connection_id) == "Bad Request: BUSINESS_PEER_INVALID", "no can_reply"
    assert sandbox.connect_business(ANN, rights=("can_reply", "can_read_messages")) == connection_id
    assert bot.send_message(BOB.id, "hello Bob", business_connection_id=connection_id).text == "hello Bob"
    assert refusal(ANN.id, connection_id) == "Bad Request: messages must not be sent to self"
    assert refusal(-100, connection_id) == "Bad Request: chat must be a private chat"
    assert refusal(4242, connection_id) == "Bad Request: chat not found"
    assert refusal(CLEO.id, connection_id) == "Bad Request: BUSINESS_PEER_USAGE_MISSING", "Cleo never wrote"
    sandbox.disconnect_business(ANN)
    assert refusal(BOB.id, connection_id) == "Bad Request: BUSINESS_CONNECTION_INVALID"
    sandbox.send_text(BOB, "still there?", to=ANN)
    updates = raw_updates()
    kinds = [next(key for key in update if key != "update_id") for update in updates]
    assert kinds == ["business_connection", "business_message", "business_message", "business_connection",
                     "business_connection"], "nothing after the owner disconnected"
    assert [u["business_connection"]["is_enabled"] for u in updates if "business_connection" in u] == [
        True, True, False]
    assert "rights" not in updates[0]["business_connection"]
    assert bot.get_business_connection(connection_id).is_enabled is False


# --- channels


def test_a_channel_post_reaches_the_bot_and_its_automatic_forward_the_discussion_group(sandbox, bot, channel):
    post = sandbox.send_voice(BOB, b"OggS-post", 7, chat_id=CHANNEL, caption="Today's news")
    channel_post, forwarded = poll()
    message = channel_post.channel_post
    assert (message.message_id, message.chat.type, message.chat.username, message.sender_chat.id) == (
        post, "channel", "news", CHANNEL)
    assert (message.from_user, message.caption, message.voice.duration) == (None, "Today's news", 7)
    copy = forwarded.message
    assert (copy.chat.id, copy.is_automatic_forward, copy.from_user.id, copy.sender_chat.id) == (
        DISCUSSION, True, 777000, CHANNEL)
    assert (copy.forward_origin.type, copy.forward_origin.chat.id, copy.forward_origin.message_id) == (
        "channel", CHANNEL, post)
    assert (copy.voice.file_unique_id, copy.caption) == (message.voice.file_unique_id, "Today's news")
    assert sandbox.discussion_copy(CHANNEL, post) == copy.message_id

    comment = sandbox.send_text(ANN, "great", chat_id=DISCUSSION, reply_to=copy.message_id)
    [update] = poll()
    assert (update.message.message_id, update.message.message_thread_id) == (comment, copy.message_id)
    reply = bot.send_message(DISCUSSION, "transcript", reply_parameters=types.ReplyParameters(copy.message_id))
    assert reply.message_thread_id == copy.message_id, "comments on a post share its thread"
    assert (bot.get_chat(CHANNEL).linked_chat_id, bot.get_chat(DISCUSSION).linked_chat_id) == (DISCUSSION, CHANNEL)
    assert bot.get_chat("@NEWS").title == "News"
    with pytest.raises(ValueError):
        sandbox.send_voice(CLEO, b"OggS", 1, chat_id=CHANNEL)  # only admins post in a channel


def test_the_bot_edits_a_channel_posts_caption_within_telegrams_limits(sandbox, bot, channel):
    events: list[SandboxEvent] = []
    sandbox.add_listener(events.append)
    post = sandbox.send_audio(ANN, b"ID3", 60, chat_id=CHANNEL, caption="Episode 1")
    edited = bot.edit_message_caption("Episode 1\n\nthe transcript", CHANNEL, post)
    assert (edited.caption, edited.audio.duration, edited.edit_date is not None) == (
        "Episode 1\n\nthe transcript", 60, True)
    unchanged = api_error(bot.edit_message_caption, "Episode 1\n\nthe transcript", CHANNEL, post)
    assert unchanged.description.startswith("Bad Request: message is not modified")
    too_long = api_error(bot.edit_message_caption, "x" * 1025, CHANNEL, post)
    assert (too_long.error_code, too_long.description) == (400, "Bad Request: MESSAGE_CAPTION_TOO_LONG")
    html = bot.edit_message_caption("<b>" + "x" * 1024 + "</b>", "@news", post, parse_mode="HTML")
    assert (len(html.caption), [(e.type, e.offset, e.length) for e in html.caption_entities]) == (
        1024, [("bold", 0, 1024)]), "the limit counts the caption once its markup is parsed"
    assert sandbox.message(CHANNEL, post)["caption"] == "x" * 1024
    forward = sandbox.message(DISCUSSION, sandbox.discussion_copy(CHANNEL, post))
    assert forward["caption"] == "x" * 1024, "the automatic forward shows the edit too"
    text = sandbox.send_text(ANN, "plain words", chat_id=CHANNEL)
    assert api_error(bot.edit_message_caption, "x", CHANNEL, text).description == (
        "Bad Request: there is no caption in the message to edit")
    assert [e.text for e in events if e.kind == "bot_caption"] == ["Episode 1\n\nthe transcript", "x" * 1024]


def test_what_the_bot_may_do_in_a_channel_follows_its_rights(sandbox, bot):
    sandbox.create_channel(-1001, "Posts only", owner=ANN, bot_rights=["can_post_messages"])
    sandbox.create_channel(-1002, "Read only", owner=ANN, bot_rights=[])
    sandbox.create_channel(-1003, "Without the bot", "outside", owner=ANN, bot_rights=None)
    posts = [sandbox.send_voice(ANN, b"OggS", 1, chat_id=chat_id) for chat_id in (-1001, -1002, -1003)]
    assert [u.channel_post.chat.id for u in poll()] == [-1001, -1002], "a channel without the bot sends nothing"
    assert api_error(bot.edit_message_caption, "x", -1001, posts[0]).description == (
        "Bad Request: message can't be edited")
    mine = bot.send_message(-1001, "from the bot")
    assert (mine.from_user, mine.sender_chat.id, mine.author_signature) == (None, -1001, None)
    assert bot.edit_message_text("from the bot, edited", -1001, mine.message_id).text == "from the bot, edited"
    assert [m.text for m in sandbox.messages(-1001)] == ["from the bot, edited"]
    assert api_error(bot.send_message, -1002, "x").description == (
        "Bad Request: need administrator rights in the channel chat")
    refused = api_error(bot.send_message, "@outside", "x")
    assert (refused.error_code, refused.description) == (403, "Forbidden: bot is not a member of the channel chat")
    assert bot.get_chat("@outside").title == "Without the bot", "a public channel is visible to anyone"


def test_get_chat_member_answers_each_users_status_in_a_channel(sandbox, bot, channel):
    sandbox.join_chat(CLEO, CHANNEL)
    statuses = {user.first_name: bot.get_chat_member(CHANNEL, user.id) for user in (ANN, BOB, CLEO)}
    assert {name: member.status for name, member in statuses.items()} == {
        "Ann": "creator", "Bob": "administrator", "Cleo": "member"}
    assert statuses["Bob"].can_post_messages is True and statuses["Bob"].user.first_name == "Bob"
    assert bot.get_chat_member(CHANNEL, 4242).status == "left"
    me = bot.get_chat_member("@news", BOT_ID)
    assert (me.status, me.can_post_messages, me.can_edit_messages, me.can_delete_messages) == (
        "administrator", True, True, False)
    assert bot.get_chat_member(DISCUSSION, BOT_ID).status == "member"


def test_a_group_without_the_bot_refuses_its_messages(sandbox, bot):
    sandbox.create_group(STRANGERS, "Strangers", bot_is_member=False)
    sandbox.send_text(ANN, "hi all", chat_id=STRANGERS)
    assert raw_updates() == []
    refused = api_error(bot.send_message, STRANGERS, "hi")
    assert (refused.error_code, refused.description) == (403, "Forbidden: bot is not a member of the group chat")
    assert api_error(bot.get_chat, STRANGERS).description == "Bad Request: chat not found"


# --- forwards


def test_a_forward_keeps_the_file_ids_and_says_whose_it_was(sandbox, bot, channel):
    voice = sandbox.send_voice(BOB, b"OggS-bob", 3, to=ANN)
    sandbox.forward_message(ANN, voice, from_dialog=BOB)
    [update] = poll()
    forwarded = update.message
    original = sandbox.message(ANN.id, forwarded.message_id)
    assert (forwarded.chat.id, forwarded.forward_origin.type, forwarded.forward_origin.sender_user.id) == (
        ANN.id, "user", BOB.id)
    assert bot.download_file(bot.get_file(forwarded.voice.file_id).file_path) == b"OggS-bob"
    assert original["voice"]["file_unique_id"] == forwarded.voice.file_unique_id

    again = sandbox.forward_message(ANN, forwarded.message_id, to=CLEO)
    assert sandbox.forward_message(CLEO, again, from_dialog=ANN, chat_id=CLEO.id)
    [update] = poll()
    assert (update.message.chat.id, update.message.forward_origin.sender_user.id) == (CLEO.id, BOB.id), (
        "a forward of a forward names the first sender")
    cleos = sandbox.send_voice(CLEO, b"OggS-cleo", 1, to=ANN)
    sandbox.forward_message(ANN, cleos, from_dialog=CLEO)
    post = sandbox.send_voice(ANN, b"OggS-post", 2, chat_id=CHANNEL)
    sandbox.forward_message(BOB, post, from_chat_id=CHANNEL)
    hidden, *_, from_channel = poll()
    assert (hidden.message.forward_origin.type, hidden.message.forward_origin.sender_user_name) == (
        "hidden_user", "Cleo")
    origin = from_channel.message.forward_origin
    assert (origin.type, origin.chat.id, origin.message_id, from_channel.message.chat.id) == (
        "channel", CHANNEL, post, BOB.id)


# --- parse modes


def test_parse_modes_give_the_text_users_see_and_its_entities(sandbox, bot):
    sandbox.send_text(ANN, "hi")
    html = bot.send_message(ANN.id, '<b>bold</b> and <a href="https://t.me">a link</a> &amp; more', parse_mode="HTML")
    assert html.text == "bold and a link & more"
    assert [(e.type, e.offset, e.length, e.url) for e in html.entities] == [
        ("bold", 0, 4, None), ("text_link", 9, 6, "https://t.me")]
    markdown = bot.send_message(ANN.id, "*done* in 3\\.5 s", parse_mode="MarkdownV2")
    assert (markdown.text, markdown.entities[0].type) == ("done in 3.5 s", "bold")
    assert api_error(bot.send_message, ANN.id, "3.5 s", parse_mode="MarkdownV2").description == (
        "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'")
    assert api_error(bot.send_message, ANN.id, "<blink>x</blink>", parse_mode="HTML").description == (
        "Bad Request: can't parse entities: Unsupported start tag \"blink\" at byte offset 0")
    assert api_error(bot.send_message, ANN.id, "<b>x", parse_mode="HTML").description == (
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"")
    assert bot.send_message(ANN.id, "<b>" + "é" * 4096 + "</b>", parse_mode="HTML").text == "é" * 4096


# --- allowed_updates


def test_allowed_updates_filter_the_new_update_types_too(sandbox, bot, channel):
    assert raw_updates(allowed_updates=["guest_message", "channel_post"]) == []
    sandbox.connect_business(ANN)
    sandbox.send_text(BOB, "hi", to=ANN)
    sandbox.mention_bot(ANN, chat_id=DISCUSSION)
    sandbox.send_text(ANN, "news", chat_id=CHANNEL)
    assert [list(update)[0] for update in raw_updates()] == ["guest_message", "channel_post"], (
        "the business updates and the automatic forward's message were dropped")
    assert bot.get_webhook_info().allowed_updates == ["channel_post", "guest_message"]
    assert raw_updates(allowed_updates=["business_connection", "business_message"]) == [], "dropped for good"
    sandbox.disconnect_business(ANN)
    sandbox.connect_business(ANN)
    sandbox.send_text(BOB, "again", to=ANN)
    sandbox.mention_bot(ANN, chat_id=DISCUSSION)
    assert [list(update)[0] for update in raw_updates()] == [
        "business_connection", "business_connection", "business_message"]
    raw_updates(allowed_updates=[])
    sandbox.send_text(ANN, "more news", chat_id=CHANNEL)
    sandbox.mention_bot(ANN, chat_id=DISCUSSION)
    sandbox.send_text(BOB, "and you?", to=ANN)
    assert [list(update)[0] for update in raw_updates()] == [
        "channel_post", "message", "guest_message", "business_message"], "an empty list means every default type"


# --- test-side helpers


def test_faults_left_counts_the_calls_an_injected_fault_still_waits_for(sandbox, bot):
    sandbox.send_text(ANN, "hi")
    sandbox.inject_fault("sendMessage", status=500, times=2)
    assert sandbox.faults_left("sendMessage") == 2
    assert api_error(bot.send_message, ANN.id, "one").error_code == 500
    assert sandbox.faults_left("sendMessage") == 1
    assert api_error(bot.send_message, ANN.id, "two").error_code == 500
    assert (sandbox.faults_left("sendMessage"), bot.send_message(ANN.id, "three").text) == (0, "three")
