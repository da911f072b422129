"""Where recordings are read from on disk: a local Bot API server's files, mapped and confined; and the
private download folder, swept of what dead processes left."""
import os
import subprocess
import sys
import time

import pytest

from voicebot.adapters.audio import SAMPLE_RATE, decode
from voicebot.adapters.files import DownloadFolder, LocalFiles
from voicebot.adapters.telegram import TelegramClient
from voicebot.core.domain import FailureReason
from voicebot.core.errors import JobError
from voicebot.sandbox import BotApiSandbox, SandboxUser

from media import sox_wav

TOKEN = "555:files-SECRET"


@pytest.fixture
def server_dir(tmp_path):
    """The local server's working directory as this machine sees it, with one stored voice."""
    local = tmp_path / "mounted"
    (local / TOKEN / "voice").mkdir(parents=True)
    (local / TOKEN / "voice" / "file_0.oga").write_bytes(b"OggS")
    return local


def read(files: LocalFiles, path: str) -> bytes:
    with files.open(path, 1000) as file:
        return file.read()


def refused(files: LocalFiles, path: str, reason=FailureReason.DOWNLOAD_FAILED) -> str:
    with pytest.raises(JobError) as raised:
        read(files, path)
    assert raised.value.reason is reason
    return str(raised.value)


def test_a_mapped_path_is_read_from_the_local_directory(server_dir):
    files = LocalFiles(f"/var/lib/telegram-bot-api={server_dir}")
    assert files.problem() is None
    assert read(files, f"/var/lib/telegram-bot-api/{TOKEN}/voice/file_0.oga") == b"OggS"


def test_without_a_map_only_this_bots_folder_in_the_servers_directory_is_served(server_dir, tmp_path, caplog):
    files = LocalFiles(token=TOKEN)   # no map: the server's paths are this machine's
    assert read(files, f"{server_dir}/{TOKEN}/voice/file_0.oga") == b"OggS"
    (tmp_path / "elsewhere").write_bytes(b"not the server's")
    (server_dir / "other-bot").mkdir()
    (server_dir / "other-bot" / "file_0.oga").write_bytes(b"another bot's")
    for path in (str(tmp_path / "elsewhere"), "/etc/passwd", str(server_dir / "other-bot" / "file_0.oga"),
                 f"{server_dir}/{TOKEN}/../other-bot/file_0.oga"):
        assert "not in this bot's folder" in refused(files, path), path
    assert "not in this bot's folder" in refused(LocalFiles(), f"{server_dir}/{TOKEN}/voice/file_0.oga")


def test_paths_outside_the_map_symlinks_missing_and_odd_files_are_refused(server_dir, tmp_path, caplog):
    files = LocalFiles(f"/srv/api={server_dir}")
    (tmp_path / "secret").write_bytes(b"not yours")
    voice = server_dir / TOKEN / "voice"
    (voice / "link.oga").symlink_to(tmp_path / "secret")
    (voice / "inward.oga").symlink_to(voice / "file_0.oga")   # even a link that stays inside is not followed
    (server_dir / TOKEN / "linked").symlink_to(voice, target_is_directory=True)
    os.mkfifo(voice / "pipe.oga")
    assert "outside /srv/api" in refused(files, "/etc/passwd")
    assert "outside /srv/api" in refused(files, "/srv/api/../../etc/passwd")
    for link in ("voice/link.oga", "voice/inward.oga", "linked/file_0.oga"):
        assert "symlink" in refused(files, f"/srv/api/{TOKEN}/{link}"), link
    assert "cannot be read" in refused(files, f"/srv/api/{TOKEN}/voice/gone.oga")
    started = time.monotonic()
    assert "not a regular file" in refused(files, f"/srv/api/{TOKEN}/voice/pipe.oga")
    assert time.monotonic() - started < 1, "a FIFO is refused without waiting for a writer"
    assert "not a regular file" in refused(files, f"/srv/api/{TOKEN}/voice")
    assert "not an absolute path" in refused(files, "voice/file_0.oga")
    assert len([r for r in caplog.records if "not read" in r.getMessage()]) == 9   # each told to the operator


def test_a_local_file_over_the_limit_is_too_big(server_dir):
    files = LocalFiles(f"/srv/api={server_dir}")
    with pytest.raises(JobError) as raised, files.open(f"/srv/api/{TOKEN}/voice/file_0.oga", 3):
        pass
    assert raised.value.reason is FailureReason.TOO_BIG


def test_a_symlink_swapped_in_after_the_file_was_checked_is_never_followed(tmp_path):
    """The file is opened once, when checked, and decoded from that descriptor: replacing it (or a folder
    above it) with a symlink afterwards changes nothing."""
    server = tmp_path / "server"
    (tmp_path / "secret.wav").write_bytes(sox_wav(3, "sine", "300"))
    with BotApiSandbox(TOKEN, local_dir=server) as sandbox:
        client = TelegramClient(sandbox.url, TOKEN, max_backoff=0.2, local_files=LocalFiles(f"{server}={server}"))
        user = SandboxUser(7, "Eve")
        for swap in ("file", "folder"):
            voice = sandbox.send_voice(user, sox_wav(1, "sine", "440"), 1)
            stored = sandbox.stored_file_path(user.id, voice)
            file_id = client.get_updates(None, 0)[-1]["message"]["voice"]["file_id"]
            with client.fetch(file_id, max_bytes=10**6) as audio:
                if swap == "file":
                    stored.unlink()
                    stored.symlink_to(tmp_path / "secret.wav")
                else:
                    decoy = tmp_path / "decoy"
                    decoy.mkdir(exist_ok=True)
                    (decoy / stored.name).symlink_to(tmp_path / "secret.wav")
                    stored.parent.rename(tmp_path / "moved")
                    stored.parent.symlink_to(decoy, target_is_directory=True)
                seconds = decode(audio, 30).size / SAMPLE_RATE
            assert abs(seconds - 1) < 0.1, f"with the {swap} swapped, {seconds:.1f} s of another file were decoded"


def test_a_missing_mapped_directory_is_a_problem_said_in_words(tmp_path):
    assert LocalFiles(f"/srv/api={tmp_path / 'absent'}").problem() == f"{tmp_path / 'absent'} is not a directory"


def test_downloads_are_private_gone_after_use_and_dead_processes_leftovers_are_swept(tmp_path):
    folder = DownloadFolder(tmp_path / "downloads")
    with pytest.raises(RuntimeError), folder.new_file() as path:
        path.write_bytes(b"partial")
        raise RuntimeError("the job failed")
    assert not path.exists()
    assert (tmp_path / "downloads").stat().st_mode & 0o777 == 0o700
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / "downloads" / dead.stdout.strip()
    leftover.mkdir()
    (leftover / "x.download").write_bytes(b"from a killed process")
    alive = tmp_path / "downloads" / str(os.getppid())
    alive.mkdir()
    assert folder.sweep() == 1
    assert not leftover.exists() and alive.exists() and folder.path.exists()
