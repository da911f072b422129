"""Channel posts answered in their own captions (actors/captions.py, through the TelegramSender): the status under
the author's caption, the result in its place when it fits, else the caption as it was and the result as comments,
or as reply posts in a channel without a discussion group; refusals as one line in the caption."""
import dataclasses

from actors.messages import DeliverResult, JobFailed, PostStatus, ResultDelivered, TranscriptReady, VoiceReceived
from actors.outbox import Pace
from actors.sender import TelegramSender
from voicebot.core.calls import (
    ChannelCaption,
    Destination,
    EditCaption,
    PostedMessage,
    SendDocument,
    SendText,
    TextEntity,
)
from voicebot.core.captions import (
    MAX_CAPTION_LENGTH,
    MAX_ENTITIES,
    caption_entities,
    caption_with,
    entity_fields,
    telegram_length,
)
from voicebot.core.domain import ChannelPost, ChannelPostForwarded, FailureReason, Transcript
from voicebot.core.errors import TelegramError

from helpers import make_job
from mailbox import RecordingMailbox, deliver, wait_until

UNPACED = Pace(private_per_second=1000, group_per_second=1000, overall_per_second=1000, burst=1000)
CHANNEL, POST = -100, 9
JOB = dataclasses.replace(make_job(user_id=CHANNEL, message_id=POST, chat_id=CHANNEL),
                          channel=ChannelPost("Today's news"))
KEY, TO = JOB.key, JOB.destination
COMMENTS = Destination(-200, reply_to_message_id=33)


class FakeTelegram:
    """Records every call made; refuses the calls of a type it is told to, for good."""

    def __init__(self, refusing: type | None = None):
        self.calls: list = []
        self.refusing = refusing

    def perform(self, call):
        if isinstance(call, self.refusing or ()):
            raise TelegramError(type(call).__name__, "Bad Request: not enough rights", 400)
        self.calls.append(call)
        return 500 + len(self.calls) if isinstance(call, SendText | SendDocument) else None


def result(text: str, report_to=None, **fields) -> DeliverResult:
    outcome = TranscriptReady(JOB, Transcript(text, "en", 0.9, 3.0, 1.0))
    return DeliverResult(KEY, text, outcome=outcome, report_to=report_to, **fields)


def captions(telegram: FakeTelegram) -> list[str]:
    return [call.caption for call in telegram.calls if isinstance(call, EditCaption)]


def test_the_status_and_then_the_transcript_go_under_the_posts_caption():
    telegram, quota = FakeTelegram(), RecordingMailbox()
    answer = result("the words", quota)
    deliver(TelegramSender.start(telegram, pace=UNPACED), PostStatus(KEY, "Processing…", TO), answer)
    assert captions(telegram) == ["Today's news\n\nProcessing…", "Today's news\n\nthe words"]
    assert all(call.message == PostedMessage(CHANNEL, POST) and call.keyboard is None for call in telegram.calls)
    assert wait_until(lambda: quota.of(ResultDelivered) == [ResultDelivered(answer.outcome, True)])


def test_a_result_with_no_room_in_the_caption_goes_as_comments_and_the_caption_back_as_it_was():
    telegram, quota = FakeTelegram(), RecordingMailbox()
    text = " ".join(f"word{n}." for n in range(1500))   # past a caption, and past one message too
    deliver(TelegramSender.start(telegram, pace=UNPACED), PostStatus(KEY, "Processing…", TO),
            ChannelPostForwarded(KEY, COMMENTS, VoiceReceived(JOB)), result(text, quota))
    assert captions(telegram) == ["Today's news\n\nProcessing…", "Today's news"]
    comments = [call for call in telegram.calls if isinstance(call, SendText)]
    assert len(comments) > 1 and {call.to for call in comments} == {COMMENTS}
    assert " ".join(call.text for call in comments).split() == text.split()
    assert wait_until(lambda: [message.delivered for message in quota.of(ResultDelivered)] == [True])


def test_the_discussion_groups_forward_may_be_seen_before_the_job_and_without_one_replies_go_to_the_channel():
    early, late = FakeTelegram(), FakeTelegram()
    long_text = "x" * MAX_CAPTION_LENGTH
    deliver(TelegramSender.start(early, pace=UNPACED), ChannelPostForwarded(KEY, COMMENTS, VoiceReceived(JOB)),
            PostStatus(KEY, "Processing…", TO), result(long_text))
    assert [call.to for call in early.calls if isinstance(call, SendText)] == [COMMENTS]
    deliver(TelegramSender.start(late, pace=UNPACED), PostStatus(KEY, "Processing…", TO), result(long_text))
    assert [call.to for call in late.calls if isinstance(call, SendText)] == [
        Destination(CHANNEL, reply_to_message_id=POST)]


def test_a_caption_the_bot_may_not_edit_gets_its_answer_as_a_reply_post():
    telegram, quota = FakeTelegram(refusing=EditCaption), RecordingMailbox()
    deliver(TelegramSender.start(telegram, pace=UNPACED), PostStatus(KEY, "Processing…", TO),
            result("the words", quota))
    assert telegram.calls == [SendText(Destination(CHANNEL, reply_to_message_id=POST), "the words")]
    assert wait_until(lambda: [message.delivered for message in quota.of(ResultDelivered)] == [True])


def test_a_failure_and_a_refusal_are_one_line_in_the_caption():
    telegram, quota = FakeTelegram(), RecordingMailbox()
    failed = DeliverResult(KEY, "I couldn't hear any speech.", outcome=JobFailed(JOB, FailureReason.NO_SPEECH),
                           report_to=quota)
    deliver(TelegramSender.start(telegram, pace=UNPACED), PostStatus(KEY, "Processing…", TO), failed,
            SendText(TO, "The channel's daily limit is used up."))
    assert captions(telegram) == ["Today's news\n\nProcessing…", "Today's news\n\nI couldn't hear any speech.",
                                  "Today's news\n\nThe channel's daily limit is used up."]


def test_a_resumed_post_is_edited_again_never_posted_twice():
    """After a restart the caption may say "Processing…" already: the same edit again is no new message."""
    telegram = FakeTelegram()
    deliver(TelegramSender.start(telegram, pace=UNPACED), PostStatus(KEY, "Processing…", TO, None),
            result("the words"))
    assert not any(isinstance(call, SendText) for call in telegram.calls)


def test_captions_are_measured_as_telegram_counts_them():
    assert telegram_length("🎙️ab") == 5   # the microphone is two UTF-16 code units, its variation selector one
    assert caption_with("", "words") == "words"
    assert caption_with("a" * 1000, "b" * 22) == "a" * 1000 + "\n\n" + "b" * 22
    assert caption_with("a" * 1000, "b" * 23) is None
    assert caption_with("", "🎙" * 513) is None
    assert isinstance(TO, ChannelCaption) and TO.caption == "Today's news"


BOLD_LINK = (TextEntity("bold", 0, 5), TextEntity("text_link", 8, 4, url="https://example.com/news"))
FORMATTED = dataclasses.replace(TO, entities=BOLD_LINK)


def test_every_edit_keeps_the_authors_formatting():
    telegram = FakeTelegram()
    deliver(TelegramSender.start(telegram, pace=UNPACED), PostStatus(KEY, "Processing…", FORMATTED),
            ChannelPostForwarded(KEY, COMMENTS, VoiceReceived(JOB)), result("the words"),
            SendText(FORMATTED, "The channel's daily limit is used up."))
    edits = [call for call in telegram.calls if isinstance(call, EditCaption)]
    assert [edit.caption for edit in edits] == ["Today's news\n\nProcessing…", "Today's news\n\nthe words",
                                                "Today's news\n\nThe channel's daily limit is used up."]
    assert all(edit.entities == BOLD_LINK for edit in edits)


def test_a_caption_no_status_changed_is_not_put_back_and_one_past_the_limit_is_never_edited():
    unchanged, premium = FakeTelegram(refusing=EditCaption), FakeTelegram()
    long_text = "x" * MAX_CAPTION_LENGTH
    deliver(TelegramSender.start(unchanged, pace=UNPACED), PostStatus(KEY, "Processing…", TO), result(long_text))
    assert [type(call) for call in unchanged.calls] == [SendText], "no edit to put back what never changed"
    long_caption = dataclasses.replace(TO, caption="c" * 2000, entities=BOLD_LINK)   # a Premium author's
    deliver(TelegramSender.start(premium, pace=UNPACED), PostStatus(KEY, "Processing…", long_caption),
            ChannelPostForwarded(KEY, COMMENTS, VoiceReceived(JOB)), result("the words"),
            SendText(long_caption, "The channel's daily limit is used up."))
    assert not any(isinstance(call, EditCaption) for call in premium.calls)
    assert [(call.to, call.text) for call in premium.calls] == [
        (COMMENTS, "the words"),
        (Destination(CHANNEL, reply_to_message_id=POST), "The channel's daily limit is used up.")]


def test_a_captions_entities_are_kept_only_as_the_bot_api_sends_them():
    caption = "Bold news, see link 🎙"   # the microphone: two UTF-16 code units
    raw = [{"type": "bold", "offset": 0, "length": 4},
           {"type": "text_link", "offset": 15, "length": 4, "url": "https://example.com"},
           {"type": "text_mention", "offset": 0, "length": 4, "user": {"id": 42, "first_name": "A"}},
           {"type": "pre", "offset": 5, "length": 4},
           {"type": "custom_emoji", "offset": 20, "length": 2, "custom_emoji_id": "5368324170671202286"},
           {"type": "text_link", "offset": 0, "length": 4},                       # no URL
           {"type": "text_link", "offset": 0, "length": 4, "url": "a\nb"},        # not a URL
           {"type": "bold", "offset": 20, "length": 3},                           # past the caption
           {"type": "bold", "offset": -1, "length": 2}, {"type": "bold", "offset": 0, "length": 0},
           {"type": "bold", "offset": True, "length": 2}, {"type": "marquee", "offset": 0, "length": 2},
           {"type": "text_mention", "offset": 0, "length": 4, "user": {"id": "42"}}, "bold", None]
    assert caption_entities(raw, caption) == (
        TextEntity("bold", 0, 4), TextEntity("text_link", 15, 4, url="https://example.com"),
        TextEntity("text_mention", 0, 4, user_id=42), TextEntity("pre", 5, 4),
        TextEntity("custom_emoji", 20, 2, custom_emoji_id="5368324170671202286"))
    assert caption_entities({"type": "bold"}, caption) == () and caption_entities(None, caption) == ()
    assert len(caption_entities([{"type": "bold", "offset": 0, "length": 1}] * 1000, caption)) == MAX_ENTITIES
    kept = caption_entities(raw, caption)
    assert caption_entities([entity_fields(entity) for entity in kept], caption) == kept
