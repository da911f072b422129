"""Big files and where files go: `voicebot run` against a Bot API server in local mode (files on its disk,
mapped into the bot's view of it), forum topics, and the private download folder left empty whatever
happens."""
import os
import time

import pytest

from voicebot.core.domain import FailureReason
from voicebot.core.replies import Wording
from voicebot.sandbox import BotApiSandbox, SandboxUser

from botprocess import TOKEN, is_final, replies_to, reply_to, wait_final, write_config
from helpers import normalized
from media import big_video
from nodes import LoggedProcess

pytestmark = pytest.mark.e2e

ENGLISH_WORDING = Wording()   # what the bot says in English
ANA, BEA = SandboxUser(1701, "Ana"), SandboxUser(1702, "Bea")
FORUM = -100777
BOT_SETTINGS = """
[whisper]
workers = 1
beam_size = 1
[limits]
rate_limit_seconds = 0
"""


def start_bot(folder, sandbox, telegram: str = "", limits: str = "", **environment) -> LoggedProcess:
    config = write_config(folder / "config.toml", sandbox, folder / "bot.db", BOT_SETTINGS + limits,
                          telegram=telegram)
    bot = LoggedProcess("run", "--config", str(config), cwd=folder, **environment)
    bot.wait_for_line("voicebot is running", 120)
    return bot


def test_local_mode_transcribes_a_big_video_from_the_servers_disk_and_refuses_what_is_not_to_be_read(
        tmp_path, speech_file):
    server_dir, mounted = tmp_path / "telegram-bot-api", tmp_path / "mounted"
    server_dir.mkdir()
    mounted.symlink_to(server_dir)   # the bot sees the server's directory at another path, as a shared volume
    source, words, _ = speech_file
    video = big_video(source, tmp_path / "lecture.mkv", 110)
    assert video.stat().st_size >= 100 * 1024 * 1024
    (tmp_path / "secret.ogg").write_bytes(b"not the bot's to read")
    with BotApiSandbox(TOKEN, local_dir=server_dir) as sandbox:
        topic = sandbox.create_topic(ANA, FORUM, "Lectures")
        lecture = sandbox.send_video(ANA, video, 11, mime_type="video/x-matroska", file_name="lecture.mkv",
                                     chat_id=FORUM, message_thread_id=topic)
        escaping = sandbox.send_voice(BEA, source.read_bytes(), 11)
        link = sandbox.stored_file_path(BEA.id, escaping)
        link.unlink()
        link.symlink_to(tmp_path / "secret.ogg")   # a symlink out of the server's directory
        missing = sandbox.send_voice(ANA, source.read_bytes(), 11)
        sandbox.stored_file_path(ANA.id, missing).unlink()
        folder = tmp_path / "bot"
        folder.mkdir()
        bot = start_bot(folder, sandbox, f'local_mode = true\nlocal_files_map = "{server_dir}={mounted}"',
                        "max_file_mb = 200")
        try:
            answer = wait_final(sandbox, FORUM, lecture, timeout=180)
            assert words in normalized(answer.text), answer.text
            assert {m.message_thread_id for m in sandbox.messages(FORUM) if m.reply_to == lecture} == {topic}
            failed = ENGLISH_WORDING.failure(FailureReason.DOWNLOAD_FAILED, 300, 200)
            for user, message_id in ((BEA, escaping), (ANA, missing)):
                wait_final(sandbox, user.id, message_id, timeout=60)
                assert [m.text for m in replies_to(sandbox, user.id, message_id)] == [failed]
            bot.wait_for_line(r"local mode: .* leads out of", 5)
            bot.wait_for_line(r"local mode: .* cannot be read", 5)
            assert not sandbox.calls("file"), "nothing is downloaded over HTTP in local mode"
        finally:
            assert bot.stop() == 0
        assert "Traceback" not in bot.log and TOKEN not in bot.log


def test_local_mode_with_a_missing_mapped_directory_stops_at_start_with_one_line(tmp_path):
    with BotApiSandbox(TOKEN, local_dir=tmp_path / "server") as sandbox:
        config = write_config(tmp_path / "config.toml", sandbox, tmp_path / "bot.db",
                              telegram=f'local_mode = true\nlocal_files_map = "/srv/api={tmp_path / "absent"}"')
        bot = LoggedProcess("run", "--config", str(config), cwd=tmp_path)
        assert bot.process.wait(timeout=120) != 0
        time.sleep(0.2)   # the reader thread has the last line
        assert f"{tmp_path / 'absent'} is not a directory" in bot.log and "Traceback" not in bot.log


def downloads_left(temp: str) -> list[str]:
    return [os.path.join(root, name) for root, _, names in os.walk(temp) for name in names]


def test_downloads_leave_no_file_after_success_failure_or_a_kill_mid_download(tmp_path, sandbox, speech):
    temp = tmp_path / "tmp"
    temp.mkdir()
    folder = tmp_path / "bot"
    folder.mkdir()
    bot = start_bot(folder, sandbox, TMPDIR=str(temp))
    topic = sandbox.create_topic(ANA, FORUM, "Voices")
    spoken = sandbox.send_voice(ANA, speech.voice_note, speech.duration, chat_id=FORUM, message_thread_id=topic)
    broken = sandbox.send_voice(BEA, b"OggS" + os.urandom(5000), 3)
    assert speech.words in normalized(wait_final(sandbox, FORUM, spoken).text)
    assert {m.message_thread_id for m in sandbox.messages(FORUM)} == {topic}   # status and transcript alike
    assert wait_final(sandbox, BEA.id, broken).text == ENGLISH_WORDING.failure(FailureReason.UNREADABLE_AUDIO, 300, 20)
    assert downloads_left(temp) == []

    sandbox.inject_fault("file", status=200, delay=30)   # the next download hangs: the bot is killed meanwhile
    hanging = sandbox.send_voice(ANA, speech.voice_note, speech.duration)
    assert sandbox.wait_for(lambda: sandbox.calls("getFile") and len(sandbox.calls("getFile")) == 3, 60)
    time.sleep(1)   # the download under way
    assert len(downloads_left(temp)) == 1, "the download goes to the private folder"
    bot.kill()
    assert len(downloads_left(temp)) == 1
    bot = start_bot(folder, sandbox, TMPDIR=str(temp))
    try:
        assert is_final(wait_final(sandbox, ANA.id, hanging))
        assert speech.words in normalized(reply_to(sandbox, ANA.id, hanging).text)
        assert downloads_left(temp) == []   # the killed process's leftover was swept at start
    finally:
        assert bot.stop() == 0
