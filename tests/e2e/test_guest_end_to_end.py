"""Guest mode: `voicebot run` against the sandbox, with the bundled model. Ann mentions the bot under Bob's voice
in a group the bot is not in: one guest post answers her, "Processing…" edited into the transcript (the text a
private-chat user gets for that recording), charged to Ann. /start with the deep link's payload gives her the
whole text in the bot's private chat, and nobody else. A mention without a recording gets the how-to line.
SIGKILLed after the guest post exists and before the result, the bot edits that post after its restart: one
answer."""
import pytest

from voicebot.core.domain import JobKey
from voicebot.core.guests import guest_place, start_payload
from voicebot.sandbox import BotApiSandbox, SandboxUser

from botprocess import ENGLISH_WORDING, LANGUAGES, RunningBot, replies_to, reply_to, stored, wait_final, write_config
from helpers import normalized
from mailbox import wait_until

pytestmark = pytest.mark.e2e

ANN, BOB, CLEO = SandboxUser(1201, "Ann"), SandboxUser(1202, "Bob"), SandboxUser(1203, "Cleo")
STRANGERS = -1201   # a group without the bot


@pytest.fixture
def config(tmp_path, sandbox, database):
    return write_config(tmp_path / "config.toml", sandbox, database,
                        "[whisper]\nworkers = 1\n[limits]\nrate_limit_seconds = 0\n")


def ready(sandbox: BotApiSandbox) -> None:
    start = sandbox.send_text(CLEO, "/start")
    assert sandbox.wait_for(lambda: reply_to(sandbox, CLEO.id, start) is not None, 180), "the bot did not start"


def voice_among_strangers(sandbox: BotApiSandbox, speech) -> int:
    sandbox.create_group(STRANGERS, "Strangers", bot_is_member=False)
    return sandbox.send_voice(BOB, speech.voice_note, speech.duration, chat_id=STRANGERS)


def answered(sandbox: BotApiSandbox, query_id: str) -> bool:
    post = sandbox.guest_answer(query_id)
    return post is not None and not LANGUAGES.is_status(post.text)


def usages(database: str, user_id: int) -> list[tuple[str, float]]:
    with stored(database) as storage:
        return [(row.status, row.charged_seconds) for row in storage.usages(user_id)]


def test_a_guest_mention_under_a_voice_is_answered_in_place_and_charged_to_the_caller(
        sandbox, config, tmp_path, database, speech):
    bot = RunningBot(config, tmp_path)
    try:
        ready(sandbox)
        voice = voice_among_strangers(sandbox, speech)
        query_id = sandbox.mention_bot(ANN, chat_id=STRANGERS, reply_to=voice)
        assert sandbox.wait_for(lambda: answered(sandbox, query_id), 180), sandbox.guest_posts()
        [post] = sandbox.guest_posts()
        assert speech.words in normalized(post.text)
        assert (post.chat_id, post.edits, post.reply_markup) == (STRANGERS, [ENGLISH_WORDING.PROCESSING], None)
        assert sandbox.messages(STRANGERS) == [] and sandbox.messages(ANN.id) == []
        assert wait_until(lambda: len(usages(database, ANN.id)) == 1, 10)
        [(status, charged)] = usages(database, ANN.id)
        assert status == "done" and charged > speech.duration - 2
        assert usages(database, BOB.id) == []

        # The text a private-chat user gets for the same recording (from memory: the same transcript).
        private = sandbox.send_voice(BOB, speech.voice_note, speech.duration)
        assert wait_final(sandbox, BOB.id, private).text == post.text

        # Cleo mentions the bot under the same voice: answered from memory, in a post of its own, free.
        again = sandbox.mention_bot(CLEO, chat_id=STRANGERS, reply_to=voice)
        assert sandbox.wait_for(lambda: answered(sandbox, again), 30)
        assert sandbox.guest_answer(again).text == post.text and len(sandbox.guest_posts()) == 2
        assert wait_until(lambda: usages(database, CLEO.id) == [("done", 0.0)], 10), usages(database, CLEO.id)

        # The deep link's payload: the whole text for Ann in her private chat with the bot, for nobody else.
        payload = start_payload(JobKey(STRANGERS, voice, guest_place(ANN.id)))
        mine = sandbox.send_text(ANN, f"/start {payload}")
        assert sandbox.wait_for(lambda: reply_to(sandbox, ANN.id, mine) is not None, 30)
        assert speech.words in normalized(reply_to(sandbox, ANN.id, mine).text)
        foreign = sandbox.send_text(BOB, f"/start {payload}")   # Bob summoned the bot for nothing there
        assert sandbox.wait_for(lambda: reply_to(sandbox, BOB.id, foreign) is not None, 30)
        assert reply_to(sandbox, BOB.id, foreign).text == ENGLISH_WORDING.GUEST_TRANSCRIPT_GONE

        # A mention with nothing to transcribe: one short line on how to use it.
        how = sandbox.mention_bot(BOB, "@sandbox_bot hi", chat_id=STRANGERS)
        assert sandbox.wait_for(lambda: sandbox.guest_answer(how) is not None, 30)
        assert sandbox.guest_answer(how).text == ENGLISH_WORDING.GUEST_HOW_TO
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr
    assert "Traceback" not in stderr


def posted_and_stored(sandbox: BotApiSandbox, database: str, query_id: str) -> bool:
    """The guest post says "Processing…", and its inline_message_id is stored with the unanswered job."""
    post = sandbox.guest_answer(query_id)
    if post is None or post.text != ENGLISH_WORDING.PROCESSING:
        return False
    with stored(database) as storage:
        return any(pending.status_message_id == post.inline_message_id for pending in storage.unfinished_jobs())


def test_killed_after_the_guest_post_the_bot_edits_it_after_its_restart(sandbox, config, tmp_path, database, speech):
    bot = RunningBot(config, tmp_path)
    try:
        ready(sandbox)
        voice = voice_among_strangers(sandbox, speech)
        # The edit that carries the transcript hangs on its way, and the bot is SIGKILLed meanwhile.
        sandbox.inject_fault("editMessageText", delay=60, drop=True)
        query_id = sandbox.mention_bot(ANN, chat_id=STRANGERS, reply_to=voice)
        assert wait_until(lambda: posted_and_stored(sandbox, database, query_id), 120)
        assert wait_until(lambda: sandbox.faults_left("editMessageText") == 0, 120)   # the edit is on its way
    finally:
        bot.process.kill()   # SIGKILL: no chance to clean up
        bot.process.wait(30)
    assert sandbox.guest_answer(query_id).text == ENGLISH_WORDING.PROCESSING

    bot = RunningBot(config, tmp_path)
    try:
        assert sandbox.wait_for(lambda: answered(sandbox, query_id), 180), sandbox.guest_posts()
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr
    [post] = sandbox.guest_posts()
    assert speech.words in normalized(post.text)
    assert len(sandbox.calls("answerGuestQuery")) == 1
    assert replies_to(sandbox, ANN.id, voice) == [] and sandbox.messages(STRANGERS) == []
    with stored(database) as storage:
        assert storage.unfinished_jobs() == []
