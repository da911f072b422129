"""Every actor can die: the real actors of one bot node, in this process, against the sandbox, with the
real model. Each kind in turn is made to crash at the end of its next message while voices are under way;
the Supervisor restarts it, and every voice is still answered exactly once."""
import time

import pykka
import pytest

from actors.messages import CrashOnNextMessage
from voicebot.adapters.audio import to_voice_note
from voicebot.adapters.speech import synthesize
from voicebot.app.bootstrap import bot_node
from voicebot.app.config import Settings
from voicebot.app.node import Node
from voicebot.core.replies import Wording
from voicebot.sandbox import BotApiSandbox, SandboxUser

from botprocess import TOKEN, is_final, replies_to

ENGLISH_WORDING = Wording()   # what the bot says in English
USERS = [SandboxUser(800 + n, f"User{n}") for n in range(4)]


@pytest.fixture(scope="module")
def voice_note() -> tuple[bytes, int]:
    return to_voice_note(synthesize("Please call Stella and ask her to bring the bags."))


@pytest.fixture
def bot(tmp_path):
    with BotApiSandbox(TOKEN) as sandbox:
        settings = Settings().replace(
            telegram={"api_url": sandbox.url, "token": TOKEN, "poll_timeout_seconds": 1},
            database={"url": f"sqlite:///{tmp_path / 'bot.db'}"}, whisper={"workers": 1},
            limits={"rate_limit_seconds": 0})
        node = bot_node(settings)
        node.start()
        try:
            yield sandbox, node
        finally:
            node.stop()


def actor(name: str) -> pykka.ActorRef:
    [ref] = [ref for ref in pykka.ActorRegistry.get_all() if getattr(ref._actor_weakref(), "name", None) == name]
    return ref


@pytest.mark.parametrize("name", ["storage", "sender", "quota", "dispatcher", "whisper-1", "poller"])
def test_an_actor_that_crashes_mid_work_is_restarted_and_every_voice_is_answered_once(bot, voice_note, name):
    sandbox, node = bot
    data, seconds = voice_note
    sent = [(user, sandbox.send_voice(user, data, seconds)) for user in USERS[:2]]
    victim = actor(name)
    victim.tell(CrashOnNextMessage())
    sent += [(user, sandbox.send_voice(user, data, seconds)) for user in USERS[2:]]
    assert sandbox.wait_for(lambda: all(is_final(_answer(sandbox, user, message)) for user, message in sent), 120), (
        [(user.id, [m.text for m in replies_to(sandbox, user.id, message)]) for user, message in sent])
    assert wait_for_restart(node, name)
    time.sleep(1.5)   # anything sent twice would have arrived by now
    for user, message in sent:
        [answer] = replies_to(sandbox, user.id, message)   # one reply, its status edited into the transcript
        assert "bring the bags" in answer.text.lower() and not ENGLISH_WORDING.is_status(answer.text)
    assert actor(name).actor_urn != victim.actor_urn   # a new instance works in its slot


def _answer(sandbox, user, message):
    answers = replies_to(sandbox, user.id, message)
    return answers[0] if answers else None


def wait_for_restart(node: Node, name: str, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.metrics.registry.get_sample_value("voicebot_actor_restarts_total", {"actor": name}):
            return True
        time.sleep(0.1)
    return False
