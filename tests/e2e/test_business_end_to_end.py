"""Business chats: `voicebot run` against the sandbox, with the bundled model. Ann connects the bot to her account.
Ben's voice to her reaches her privately, in her chat with the bot, headed with who sent it and where, the text a
private-chat user gets for that recording, charged to Ann; her own voice is left alone. With /business reply the
transcript is her reply in her chat with Ben, sent on her behalf; with a connection that may not reply it comes to
her privately, with a note saying why. Once she disconnects, nothing more is answered. SIGKILLed while the reply
says "Processing…", the bot answers once after its restart."""
import time

import pytest

from voicebot.sandbox import BotApiSandbox, SandboxUser

from botprocess import ENGLISH_WORDING, LANGUAGES, RunningBot, stored, wait_final, write_config
from helpers import normalized
from mailbox import wait_until

pytestmark = pytest.mark.e2e

ANN, BEN = SandboxUser(1301, "Ann", "ann"), SandboxUser(1302, "Ben", "ben")
HEADER = ENGLISH_WORDING.business_header("Ben (@ben)", "Ben (@ben)")


@pytest.fixture
def config(tmp_path, sandbox, database):
    return write_config(tmp_path / "config.toml", sandbox, database,
                        "[whisper]\nworkers = 1\n[limits]\nrate_limit_seconds = 0\n")


def command(sandbox: BotApiSandbox, user: SandboxUser, text: str, timeout: float = 30) -> str:
    sent = sandbox.send_text(user, text)
    return wait_final(sandbox, user.id, sent, timeout).text


def private_answers(sandbox: BotApiSandbox) -> list:
    """What Ann got in her chat with the bot about her business chats, as it stands now."""
    return [message for message in sandbox.messages(ANN.id) if message.reply_to is None]


def final(message) -> bool:
    return message.text is not None and not LANGUAGES.is_status(message.text.removeprefix(f"{HEADER}\n\n"))


def in_her_chat(sandbox: BotApiSandbox, voice: int):
    return next((message for message in sandbox.business_messages(ANN, BEN) if message.reply_to == voice), None)


def reply_under_way(sandbox: BotApiSandbox, speech, download_seconds: float) -> int:
    """Ann, in reply mode, gets Ben's voice; its download takes `download_seconds`, and her reply in their chat
    says "Processing…" meanwhile. The voice's message id."""
    assert command(sandbox, ANN, "/start", 180)
    sandbox.connect_business(ANN)
    assert command(sandbox, ANN, "/business reply")
    sandbox.inject_fault("file", delay=download_seconds, status=200)
    voice = sandbox.send_voice(BEN, speech.voice_note, speech.duration, to=ANN)
    assert sandbox.wait_for(lambda: in_her_chat(sandbox, voice) is not None, 60)
    return voice


def usages(database: str, user_id: int) -> list[tuple[str, float]]:
    with stored(database) as storage:
        return [(row.status, row.charged_seconds) for row in storage.usages(user_id)]


def test_a_voice_in_a_business_chat_reaches_its_owner_privately_or_as_her_reply_and_stops_when_disconnected(
        sandbox, config, tmp_path, database, speech):
    bot = RunningBot(config, tmp_path)
    try:
        assert command(sandbox, ANN, "/start", 180)
        connection_id = sandbox.connect_business(ANN)
        sandbox.send_voice(BEN, speech.voice_note, speech.duration, to=ANN)
        assert sandbox.wait_for(lambda: any(final(m) for m in private_answers(sandbox)), 180), private_answers(sandbox)
        [answer] = private_answers(sandbox)
        assert answer.text.startswith(f"{HEADER}\n\n") and speech.words in normalized(answer.text)
        assert answer.reply_markup is None and sandbox.business_messages(ANN, BEN) == []
        assert wait_until(lambda: len(usages(database, ANN.id)) == 1, 10)
        [(status, charged)] = usages(database, ANN.id)
        assert status == "done" and charged > speech.duration - 2, "Ann pays"
        assert usages(database, BEN.id) == []
        # The text a private-chat user gets for the same recording.
        private = sandbox.send_voice(BEN, speech.voice_note, speech.duration)
        assert f"{HEADER}\n\n{wait_final(sandbox, BEN.id, private).text}" == answer.text

        # Her own voice is left alone.
        sandbox.send_voice(ANN, speech.voice_note, speech.duration, to=BEN)
        assert command(sandbox, ANN, "/business") == ENGLISH_WORDING.business_is("private", False, (True, True),
                                                                                   changed=False)
        time.sleep(2)
        assert len(private_answers(sandbox)) == 1 and sandbox.business_messages(ANN, BEN) == []

        # As her reply, on her behalf.
        assert command(sandbox, ANN, "/business reply") == ENGLISH_WORDING.business_is(
            "reply", False, (True, True), changed=True)
        voice = sandbox.send_voice(BEN, speech.voice_note, speech.duration, to=ANN)
        assert sandbox.wait_for(lambda: (m := in_her_chat(sandbox, voice)) is not None and final(m), 180)
        reply = in_her_chat(sandbox, voice)
        assert (reply.text, reply.business_connection_id) == (answer.text.removeprefix(f"{HEADER}\n\n"), connection_id)
        assert reply.edits == [ENGLISH_WORDING.PROCESSING] and len(private_answers(sandbox)) == 1

        # A connection that may not reply: privately, with a note saying why, once.
        sandbox.connect_business(ANN, rights=())
        sandbox.send_voice(BEN, speech.voice_note, speech.duration, to=ANN)
        assert sandbox.wait_for(lambda: sum(final(m) for m in private_answers(sandbox)) == 3, 180), (
            private_answers(sandbox))
        note, second = private_answers(sandbox)[1:]
        assert note.text == ENGLISH_WORDING.BUSINESS_CANNOT_REPLY and second.text == answer.text

        # Disconnected: nothing more.
        sandbox.disconnect_business(ANN)
        sandbox.send_voice(BEN, speech.voice_note, speech.duration, to=ANN)
        assert command(sandbox, ANN, "/business") == ENGLISH_WORDING.business_is("reply", False, (False, False),
                                                                                   changed=False)
        time.sleep(2)
        assert len(private_answers(sandbox)) == 3 and len(sandbox.business_messages(ANN, BEN)) == 1
        assert len(usages(database, ANN.id)) == 3
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr
    assert "Traceback" not in stderr


def test_a_connection_disabled_while_its_answer_is_under_way_gets_no_more_of_it(
        sandbox, config, tmp_path, database, speech):
    bot = RunningBot(config, tmp_path)
    try:
        voice = reply_under_way(sandbox, speech, download_seconds=10)
        sandbox.disconnect_business(ANN)
        assert wait_until(lambda: usages(database, ANN.id) != [], 120)
        assert usages(database, ANN.id) == [("internal", 0.0)], "answered nowhere: not charged"
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr
    assert in_her_chat(sandbox, voice).text == ENGLISH_WORDING.PROCESSING
    refused = [call for call in sandbox.calls("editMessageText") + sandbox.calls("sendMessage")
               if call.params.get("business_connection_id") and call.status != 200]
    assert refused == [], "nothing Telegram refuses was sent"


def test_killed_while_the_reply_says_processing_the_bot_answers_once_after_its_restart(
        sandbox, config, tmp_path, database, speech):
    bot = RunningBot(config, tmp_path)
    try:
        voice = reply_under_way(sandbox, speech, download_seconds=60)
        assert wait_until(lambda: sandbox.faults_left("file") == 0, 60), "the download is under way"
        with stored(database) as storage:
            assert wait_until(lambda: all(job.status_message_id for job in storage.unfinished_jobs()), 10)
    finally:
        bot.process.kill()   # SIGKILL: no chance to clean up
        bot.process.wait(30)

    bot = RunningBot(config, tmp_path)
    try:
        assert sandbox.wait_for(lambda: speech.words in normalized(in_her_chat(sandbox, voice).text or ""), 180)
        assert wait_until(lambda: len(usages(database, ANN.id)) == 1, 30)
    finally:
        returncode, stderr = bot.stop()
    assert returncode == 0, stderr
    [answer] = sandbox.business_messages(ANN, BEN)
    assert answer.reply_to == voice and answer.edits == [ENGLISH_WORDING.PROCESSING]
    assert private_answers(sandbox) == [], "one answer: in her chat with Ben"
    with stored(database) as storage:
        assert storage.unfinished_jobs() == []
