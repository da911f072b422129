from hypothesis import given, settings
from hypothesis import strategies as st

from actors.messages import CommandReceived, TextReceived, UnsupportedReceived, VoiceReceived
from voicebot.core.calls import ChannelCaption, Destination, PostedMessage, TextEntity
from voicebot.core.domain import ChannelPost, ChannelPostForwarded, JobKey, MediaKind
from voicebot.core.intake import UPDATE_TYPES, parse_update


def update(chat_type="private", **content):
    return {"update_id": 1, "message": {"message_id": 42, "date": 0, "chat": {"id": -5 if chat_type != "private"
                                                                                else 5, "type": chat_type},
                                        "from": {"id": 5, "is_bot": False, "first_name": "A"}, **content}}


def test_each_kind_of_recording_becomes_a_job():
    cases = {
        "voice": ({"file_id": "v", "duration": 3, "mime_type": "audio/ogg", "file_size": 900}, MediaKind.VOICE),
        "audio": ({"file_id": "a", "duration": 30, "file_name": "song.mp3"}, MediaKind.AUDIO),
        "video_note": ({"file_id": "n", "duration": 9, "length": 240}, MediaKind.VIDEO_NOTE),
        "video": ({"file_id": "d", "duration": 12, "mime_type": "video/mp4"}, MediaKind.VIDEO),
    }
    for field, (media, kind) in cases.items():
        parsed = parse_update(update(**{field: media}))
        assert isinstance(parsed, VoiceReceived)
        assert (parsed.job.media.kind, parsed.job.media.file_id, parsed.job.key.message_id) == (kind, media["file_id"],
                                                                                                42)
        assert parsed.job.media.duration == media["duration"]


def test_a_forwarded_recording_keeps_its_files_own_id_and_a_forged_one_is_none():
    copy = {"file_id": "BQACAgIAAxkBAAI", "file_unique_id": "AgADkBIAAu", "duration": 11}
    forwarded = parse_update(update(voice=copy, forward_origin={"type": "user", "sender_user": {"id": 7}}))
    assert forwarded.job.media.file_unique_id == "AgADkBIAAu"
    for forged in ("", "u" * 256, 42, "\ud800"):
        assert parse_update(update(voice={**copy, "file_unique_id": forged})).job.media.file_unique_id is None
    assert parse_update(update(voice={"file_id": "v"})).job.media.file_unique_id is None


def test_documents_count_only_when_they_are_audio_or_video():
    audio = parse_update(update(document={"file_id": "x", "file_name": "memo.m4a", "mime_type": "application/octet"}))
    pdf = parse_update(update(document={"file_id": "y", "file_name": "cv.pdf", "mime_type": "application/pdf"}))
    assert isinstance(audio, VoiceReceived) and audio.job.media.kind is MediaKind.DOCUMENT
    assert isinstance(pdf, UnsupportedReceived)


def test_commands_text_and_other_messages():
    assert parse_update(update(text="/Usage@voice_bot now")) == CommandReceived(5, 5, 42, "usage", "now")
    assert parse_update(update(text="hi")) == TextReceived(5, 5, 42)
    assert parse_update(update(photo=[{"file_id": "p"}])) == UnsupportedReceived(5, 5, 42)


def test_in_groups_only_commands_and_recordings_are_for_the_bot():
    assert parse_update(update("group", text="hello everyone")) is None
    assert parse_update(update("supergroup", sticker={"file_id": "s"})) is None
    assert isinstance(parse_update(update("group", voice={"file_id": "v", "duration": 2})), VoiceReceived)


def test_missing_or_wrongly_typed_fields_never_raise():
    assert parse_update({"update_id": 1}) is None
    assert parse_update({"update_id": 1, "message": {"text": "/start"}}) is None  # nobody to answer
    broken_voice = parse_update(update(voice={"duration": "long"}))
    assert broken_voice == UnsupportedReceived(5, 5, 42)
    voice = parse_update(update(voice={"file_id": "v", "duration": True, "file_size": "9"}))
    assert voice.job.media.duration is None and voice.job.media.file_size is None


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda children: st.lists(children) | st.dictionaries(st.text(), children), max_leaves=20)
message_fields = st.fixed_dictionaries({}, optional={
    "message_id": st.integers() | json_values, "chat": st.fixed_dictionaries({}, optional={
        "id": st.integers() | json_values, "type": st.sampled_from(["private", "group", "supergroup"])}),
    "from": st.fixed_dictionaries({}, optional={"id": st.integers() | json_values}),
    "text": st.text() | json_values, "voice": json_values | st.fixed_dictionaries({"file_id": st.text()}, optional={
        "duration": json_values, "file_size": json_values}),
    "document": json_values, "audio": json_values, "video": json_values})


@settings(max_examples=300)
@given(st.one_of(json_values, st.fixed_dictionaries({"update_id": st.integers(), "message": message_fields})))
def test_any_json_at_all_parses_to_a_message_or_none(raw):
    parsed = parse_update(raw)
    assert parsed is None or isinstance(parsed, (VoiceReceived, CommandReceived, TextReceived, UnsupportedReceived))


def test_transcribe_in_reply_to_a_recording_is_a_job_for_that_recording_charged_to_who_asked():
    voice = {"message_id": 40, "chat": {"id": -5, "type": "group"}, "from": {"id": 9},
             "voice": {"file_id": "v", "duration": 4}}
    asked = parse_update(update("group", text="/transcribe@voice_bot", reply_to_message=voice))
    assert isinstance(asked, VoiceReceived) and asked.requested and asked.in_group
    assert (asked.job.key.chat_id, asked.job.key.message_id, asked.job.user_id) == (-5, 40, 5)
    no_recording = parse_update(update("group", text="/transcribe", reply_to_message={"message_id": 3, "text": "hi"}))
    assert no_recording == CommandReceived(-5, 5, 42, "transcribe", "", in_group=True)


def test_a_recording_names_who_sent_it_so_their_forget_reaches_every_copy_made_of_it():
    own = parse_update(update(voice={"file_id": "v", "duration": 4}))
    assert (own.job.user_id, own.job.media.sender_id) == (5, 5)
    voice = {"message_id": 40, "chat": {"id": -5, "type": "group"}, "from": {"id": 9},
             "voice": {"file_id": "v", "duration": 4}}
    asked = parse_update(update("group", text="/transcribe", reply_to_message=voice))
    assert (asked.job.user_id, asked.job.media.sender_id) == (5, 9)   # charged to who asked, sent by 9
    anonymous = parse_update(update("group", text="/transcribe", reply_to_message={**voice, "from": None}))
    assert anonymous.job.media.sender_id is None


def test_what_a_sender_controls_is_bounded_so_the_database_can_always_store_it():
    long_name = "a" * 400 + ".mp3"
    parsed = parse_update(update(document={"file_id": "d", "file_name": long_name, "mime_type": "audio/" + "x" * 200,
                                           "file_size": 2 ** 70, "duration": 3}))
    media = parsed.job.media
    assert len(media.file_name) == 255 and media.mime_type is None and media.file_size is None
    assert parse_update(update(voice={"file_id": "v" * 300, "duration": 3})) == UnsupportedReceived(5, 5, 42)
    assert parse_update({"update_id": 1, "message": {"message_id": 2 ** 64, "chat": {"id": 5}}}) is None


def test_a_size_or_length_a_sender_reports_below_zero_is_no_size_or_length():
    voice = parse_update(update(voice={"file_id": "v", "duration": -5, "file_size": -1}))
    assert (voice.job.media.duration, voice.job.media.file_size) == (None, None)
    assert parse_update(update(voice={"file_id": "v", "duration": 0, "file_size": 0})).job.media.duration == 0


def test_a_recording_in_a_forum_topic_is_answered_in_that_topic_and_elsewhere_nowhere_else():
    voice = {"voice": {"file_id": "v", "duration": 3}}
    in_topic = parse_update(update("supergroup", message_thread_id=77, is_topic_message=True, **voice))
    assert in_topic.job.thread_id == 77
    # A reply in a group that is no forum carries a message_thread_id too, and no topic.
    assert parse_update(update("supergroup", message_thread_id=41, **voice)).job.thread_id is None
    assert parse_update(update(**voice)).job.thread_id is None


def test_a_button_press_is_read_with_its_message_and_odd_data_becomes_no_data():
    query = {"id": "77", "from": {"id": 5, "language_code": "de"}, "data": "s12.abc",
             "message": {"message_id": 12, "chat": {"id": -9, "type": "supergroup"}, "text": "the words",
                         "message_thread_id": 4, "is_topic_message": True}}
    press = parse_update({"update_id": 1, "callback_query": query})
    assert (press.query_id, press.chat_id, press.user_id, press.message_id, press.data, press.message_text,
            press.in_group, press.language_code, press.thread_id) == ("77", -9, 5, 12, "s12.abc", "the words",
                                                                      True, "de", 4)
    assert parse_update({"callback_query": {**query, "data": "\ud800"}}).data == ""   # no client sends that
    assert parse_update({"callback_query": {**query, "message": None}}) is None   # an inline message's button
    assert parse_update({"callback_query": {**query, "id": ""}}) is None


CHANNEL = {"id": -100123, "type": "channel", "title": "News", "username": "news"}


def channel_post(**content) -> dict:
    return {"update_id": 2, "channel_post": {"message_id": 7, "date": 0, "chat": CHANNEL, "sender_chat": CHANNEL,
                                             **content}}


def test_a_channel_voice_post_is_a_job_answered_in_its_caption_and_charged_to_the_channel():
    parsed = parse_update(channel_post(voice={"file_id": "v", "duration": 4}, caption="Today's news"))
    assert isinstance(parsed, VoiceReceived) and parsed.in_group and not parsed.requested
    assert (parsed.job.key, parsed.job.user_id, parsed.job.channel) == (
        JobKey(-100123, 7), -100123, ChannelPost("Today's news"))
    assert parsed.job.destination == ChannelCaption(PostedMessage(-100123, 7), "Today's news")
    assert parse_update(channel_post(audio={"file_id": "a"})).job.channel == ChannelPost("")
    assert parse_update(channel_post(voice={"file_id": "v"}, caption="c" * 5000)).job.channel.caption == "c" * 4096
    assert parse_update(channel_post(text="a text post")) is None, "only recordings are for the bot"
    assert parse_update(channel_post(photo=[{"file_id": "p"}], caption="a photo")) is None
    assert "channel_post" in UPDATE_TYPES


def test_a_channel_posts_caption_keeps_its_formatting_and_all_of_a_premium_authors_words():
    caption = "Bold news " * 150   # 1500 characters: past what a bot may put in a caption
    entities = [{"type": "bold", "offset": 0, "length": 4}, {"type": "text_link", "offset": 5, "length": 4,
                                                             "url": "https://example.com"},
                {"type": "bold", "offset": 1499, "length": 2}]   # past the caption: no real entity
    channel = parse_update(channel_post(voice={"file_id": "v"}, caption=caption, caption_entities=entities)).job.channel
    assert channel == ChannelPost(caption, entities=(TextEntity("bold", 0, 4),
                                                     TextEntity("text_link", 5, 4, url="https://example.com")))
    assert parse_update(channel_post(voice={"file_id": "v"}, caption="news", caption_entities="bold")).job.channel == (
        ChannelPost("news"))


def test_a_channel_posts_automatic_forward_tells_where_comments_go_and_is_no_job_of_the_group():
    forward = {"update_id": 3, "message": {
        "message_id": 55, "date": 0, "chat": {"id": -100200, "type": "supergroup", "title": "News chat"},
        "from": {"id": 777000, "is_bot": False, "first_name": "Telegram"}, "sender_chat": CHANNEL,
        "is_automatic_forward": True, "forward_origin": {"type": "channel", "date": 0, "chat": CHANNEL,
                                                         "message_id": 7},
        "voice": {"file_id": "v", "duration": 4}}}
    as_the_groups = {**forward["message"], "is_automatic_forward": False}
    assert parse_update(forward) == ChannelPostForwarded(JobKey(-100123, 7),
                                                         Destination(-100200, reply_to_message_id=55),
                                                         parse_update({"update_id": 3, "message": as_the_groups}))
    assert parse_update(forward).voice.job.key == JobKey(-100200, 55), "the group's, if the bot answers no post"
    text_post = {**forward["message"], "voice": None, "text": "news"}
    assert parse_update({"update_id": 4, "message": text_post}) is None
    forged = {**forward["message"], "forward_origin": {"type": "user", "sender_user": {"id": 1}}}
    assert parse_update({"update_id": 5, "message": forged}) is None, "no second job of the same recording"
