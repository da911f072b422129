"""Where recordings are read from on disk: a local Bot API server's files, mapped and confined; and the
private download folder, swept of what dead processes left."""
import os
import subprocess
import sys

import pytest

from voicebot.adapters.files import DownloadFolder, LocalFiles
from voicebot.core.domain import FailureReason
from voicebot.core.errors import JobError


@pytest.fixture
def server_dir(tmp_path):
    """The local server's working directory as this machine sees it, with one stored voice."""
    local = tmp_path / "mounted"
    (local / "TOKEN" / "voice").mkdir(parents=True)
    (local / "TOKEN" / "voice" / "file_0.oga").write_bytes(b"OggS")
    return local


def refused(files: LocalFiles, path: str, reason=FailureReason.DOWNLOAD_FAILED) -> str:
    with pytest.raises(JobError) as raised:
        files.path_of(path, 1000)
    assert raised.value.reason is reason
    return str(raised.value)


def test_a_mapped_path_is_read_from_the_local_directory(server_dir):
    files = LocalFiles(f"/var/lib/telegram-bot-api={server_dir}")
    assert files.problem() is None
    path = files.path_of("/var/lib/telegram-bot-api/TOKEN/voice/file_0.oga", 1000)
    assert path.read_bytes() == b"OggS"
    assert LocalFiles().path_of(str(path), 1000) == path   # no map: the server's path is this machine's


def test_paths_outside_the_map_symlinks_out_missing_and_odd_files_are_refused(server_dir, tmp_path, caplog):
    files = LocalFiles(f"/srv/api={server_dir}")
    (tmp_path / "secret").write_bytes(b"not yours")
    (server_dir / "TOKEN" / "voice" / "link.oga").symlink_to(tmp_path / "secret")
    os.mkfifo(server_dir / "TOKEN" / "voice" / "pipe.oga")
    assert "outside /srv/api" in refused(files, "/etc/passwd")
    assert "outside /srv/api" in refused(files, "/srv/api/../../etc/passwd")
    assert "leads out of" in refused(files, "/srv/api/TOKEN/voice/link.oga")
    assert "cannot be read" in refused(files, "/srv/api/TOKEN/voice/gone.oga")
    assert "not a regular file" in refused(files, "/srv/api/TOKEN/voice/pipe.oga")
    assert "not an absolute path" in refused(files, "voice/file_0.oga")
    assert len([r for r in caplog.records if "not read" in r.getMessage()]) == 6   # each told to the operator


def test_a_local_file_over_the_limit_is_too_big(server_dir):
    files = LocalFiles(f"/srv/api={server_dir}")
    with pytest.raises(JobError) as raised:
        files.path_of("/srv/api/TOKEN/voice/file_0.oga", 3)
    assert raised.value.reason is FailureReason.TOO_BIG


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
