"""`voicebot run` as a real process, against the Bot API sandbox, with the bundled model."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import normalized
from voicebot import replies
from voicebot.sandbox import BotApiSandbox, SandboxUser

pytestmark = pytest.mark.e2e

TOKEN = "424242:e2e-SECRET-token_value"
ALICE = SandboxUser(501, "Alice")


def voicebot(*args: str, env: dict, cwd: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "voicebot.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def environment(**extra: str) -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("VOICEBOT_") and key != "TELEGRAM_BOT_TOKEN"}
    return {**env, **extra}


@pytest.fixture
def sandbox():
    with BotApiSandbox(TOKEN) as running:
        yield running


@pytest.fixture
def config(tmp_path, sandbox) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[telegram]
api_url = "{sandbox.url}"
poll_timeout_seconds = 1
[database]
url = "sqlite:///{tmp_path / 'bot.db'}"
[whisper]
workers = 1
""")
    return path


def reply_to(sandbox: BotApiSandbox, chat_id: int, message_id: int):
    return next((m for m in sandbox.messages(chat_id) if m.reply_to == message_id), None)


def test_a_voice_note_comes_back_as_its_transcript(sandbox, config, speech, tmp_path):
    bot = voicebot("run", "--config", str(config), env=environment(TELEGRAM_BOT_TOKEN=TOKEN), cwd=tmp_path)
    try:
        start = sandbox.send_text(ALICE, "/start")
        voice = sandbox.send_voice(ALICE, speech.voice_note, speech.duration)
        delivered = sandbox.wait_for(lambda: (reply := reply_to(sandbox, ALICE.id, voice)) is not None
                                     and reply.text != replies.PROCESSING, timeout=180)
        assert delivered, sandbox.messages(ALICE.id)
        answer = reply_to(sandbox, ALICE.id, voice)
        assert speech.words in normalized(answer.text)
        assert answer.edits == [replies.PROCESSING]  # the status message became the transcript
        assert "voice message" in reply_to(sandbox, ALICE.id, start).text
    finally:
        bot.send_signal(signal.SIGTERM)
        _, stderr = bot.communicate(timeout=60)
    assert bot.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert TOKEN not in stderr and TOKEN.split(":")[1] not in stderr
    assert "done, 11.0 s of en audio" in stderr or "done," in stderr


def test_without_a_token_it_stops_at_once_with_one_line(tmp_path, config):
    bot = voicebot("run", "--config", str(config), env=environment(), cwd=tmp_path)
    stdout, stderr = bot.communicate(timeout=30)
    assert bot.returncode != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "TELEGRAM_BOT_TOKEN" in lines[0]


def test_a_token_the_bot_api_refuses_is_one_line_without_the_token(tmp_path, config):
    wrong = "999:not-the-right-token"
    bot = voicebot("run", "--config", str(config), env=environment(TELEGRAM_BOT_TOKEN=wrong), cwd=tmp_path)
    _, stderr = bot.communicate(timeout=60)
    assert bot.returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "check TELEGRAM_BOT_TOKEN" in lines[0] and wrong not in stderr


def test_a_config_mistake_names_the_key(tmp_path, config):
    config.write_text(config.read_text() + "\n[queue]\nmax_pendings = 5\n")
    bot = voicebot("run", "--config", str(config), env=environment(TELEGRAM_BOT_TOKEN=TOKEN), cwd=tmp_path)
    _, stderr = bot.communicate(timeout=30)
    assert bot.returncode == 2
    assert stderr.strip().splitlines() == [
        "voicebot: configuration: unknown config key queue.max_pendings; known keys in [queue]: max_pending"]


def test_the_demo_prints_a_conversation_with_transcripts_offline(tmp_path):
    demo = voicebot("demo", env=environment(VOICEBOT_WHISPER_WORKERS="2"), cwd=tmp_path)
    stdout, stderr = demo.communicate(timeout=300)
    assert demo.returncode == 0, stderr
    assert "Alice → /start" in stdout and "bot → Alice: I turn voice messages into text." in stdout
    assert "milk and bread" in stdout and "lovely dinner" in stdout
    assert stdout.count("transcript after") == 3 and "missing" not in stdout
