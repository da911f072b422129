"""Channels: `voicebot run` against the sandbox, with the bundled model. Ann's channel @news has the bot as an admin
that may edit its posts, and a discussion group the bot is in. A voice post gets "Processing…" and then its
transcript under its caption; one whose caption leaves no room gets the transcript as a comment under its forward
in the discussion group, its caption as Ann wrote it; the channel pays for both. An admin's /channel off @news
stops it (a reader's is refused): its posts' forwards are then the discussion group's own recordings. Killed while
a caption says "Processing…", the bot answers once after its restart, in the caption."""
import pytest

from voicebot.core.channels import ChannelStanding
from voicebot.core.replies import Wording
from voicebot.sandbox import BotApiSandbox, SandboxUser

from botprocess import ENGLISH_WORDING, RunningBot, reply_to, stored, wait_final, write_config
from helpers import normalized
from mailbox import wait_until

pytestmark = pytest.mark.e2e

ANN, BOB, CLEO = SandboxUser(1201, "Ann"), SandboxUser(1202, "Bob"), SandboxUser(1203, "Cleo")
CHANNEL, DISCUSSION = -1001200, -1001201
CAPTION = "Today's news"
LONG_CAPTION = "Our longest caption yet. " * 40   # 960 characters: no room for the transcript under it


@pytest.fixture
def config(tmp_path, sandbox, database):
    # Transcripts not kept: every recording is transcribed (and charged) afresh, none answered from memory.
    return write_config(tmp_path / "config.toml", sandbox, database,
                        "[whisper]\nworkers = 1\n[storage]\nkeep_transcripts = false\n")


@pytest.fixture
def channel(sandbox: BotApiSandbox) -> int:
    sandbox.create_group(DISCUSSION, "News chat", supergroup=True)
    return sandbox.create_channel(CHANNEL, "News", "news", owner=ANN, admins=[BOB], discussion_group=DISCUSSION)


def ready(sandbox: BotApiSandbox) -> None:
    start = sandbox.send_text(ANN, "/start")
    assert sandbox.wait_for(lambda: reply_to(sandbox, ANN.id, start) is not None, 180), "the bot did not start"


def caption(sandbox: BotApiSandbox, post: int) -> str:
    return sandbox.message(CHANNEL, post).get("caption", "")


def usages(database: str, user_id: int) -> list[tuple[str, float]]:
    with stored(database) as storage:
        return [(row.status, row.charged_seconds) for row in storage.usages(user_id)]


def command(sandbox: BotApiSandbox, user: SandboxUser, text: str) -> str:
    sent = sandbox.send_text(user, text)
    return wait_final(sandbox, user.id, sent, 30).text


def test_voice_posts_are_answered_in_their_captions_or_in_comments_and_the_channel_pays(
        sandbox, config, tmp_path, database, channel, speech):
    captions: list[tuple[int, str]] = []
    sandbox.add_listener(lambda event: captions.append((event.message_id, event.text))
                         if event.kind == "bot_caption" else None)
    bot = RunningBot(config, tmp_path)
    try:
        ready(sandbox)
        private = sandbox.send_voice(BOB, speech.voice_note, speech.duration)
        transcript = wait_final(sandbox, BOB.id, private).text
        assert speech.words in normalized(transcript)

        post = sandbox.send_voice(ANN, speech.voice_note, speech.duration, chat_id=CHANNEL, caption=CAPTION)
        assert sandbox.wait_for(lambda: caption(sandbox, post) == f"{CAPTION}\n\n{transcript}", 180), (
            caption(sandbox, post))
        assert [text for message_id, text in captions if message_id == post][0] == (
            f"{CAPTION}\n\n{ENGLISH_WORDING.PROCESSING}"), "the post said it was being transcribed, under its caption"

        long_post = sandbox.send_voice(ANN, speech.voice_note, speech.duration, chat_id=CHANNEL,
                                       caption=LONG_CAPTION)
        forward = sandbox.discussion_copy(CHANNEL, long_post)
        comment = wait_final(sandbox, DISCUSSION, forward)
        assert comment.text == transcript
        assert caption(sandbox, long_post) == LONG_CAPTION, "the caption is back as Ann wrote it"
        assert sandbox.messages(CHANNEL) == [], "no reply post in the channel itself"
        assert wait_until(lambda: len(usages(database, CHANNEL)) == 2, 30)
        assert all(status == "done" and seconds > 0 for status, seconds in usages(database, CHANNEL))

        assert command(sandbox, CLEO, "/channel off @news") == "Only the admins of @news can change that."
        assert command(sandbox, BOB, "/channel off @news") == Wording().channel_switched(
            ChannelStanding.ADMIN, on=False, channel="@news")
        quiet = sandbox.send_voice(ANN, speech.voice_note, speech.duration, chat_id=CHANNEL, caption=CAPTION)
        # Its forward is the discussion group's own recording now, transcribed as any other there.
        in_group = wait_final(sandbox, DISCUSSION, sandbox.discussion_copy(CHANNEL, quiet))
        assert speech.words in normalized(in_group.text)
        assert caption(sandbox, quiet) == CAPTION
        assert len(usages(database, CHANNEL)) == 2, "a channel switched off is not charged"
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr


def test_killed_while_a_caption_says_processing_the_bot_answers_once_after_its_restart(
        sandbox, config, tmp_path, database, channel, speech):
    bot = RunningBot(config, tmp_path)
    try:
        ready(sandbox)
        sandbox.inject_fault("file", delay=60, status=200)   # the download takes its time
        post = sandbox.send_voice(ANN, speech.voice_note, speech.duration, chat_id=CHANNEL, caption=CAPTION)
        assert sandbox.wait_for(lambda: caption(sandbox, post) == f"{CAPTION}\n\n{ENGLISH_WORDING.PROCESSING}", 60)
        assert wait_until(lambda: sandbox.faults_left("file") == 0, 60), "the download is under way"
    finally:
        bot.process.kill()   # SIGKILL: no chance to clean up
        bot.process.wait(30)

    bot = RunningBot(config, tmp_path)
    try:
        assert sandbox.wait_for(lambda: speech.words in normalized(caption(sandbox, post)), 180), (
            caption(sandbox, post))
        assert wait_until(lambda: len(usages(database, CHANNEL)) == 1, 30)
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr
    assert caption(sandbox, post).startswith(f"{CAPTION}\n\n")
    assert sandbox.messages(CHANNEL) == [] and sandbox.messages(DISCUSSION) == [], "one answer: in the caption"
    with stored(database) as storage:
        assert storage.unfinished_jobs() == []
