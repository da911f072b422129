"""Where a recording is read from, on disk: a local Bot API server's own file (local mode), or a download
written to a private folder of this process and deleted after use. Standard library only; the Telegram
adapter uses it, and the bootstrap checks and sweeps it at start.

In local mode (`telegram-bot-api --local`) getFile answers with an absolute path on the server's disk.
`telegram.local_files_map = "SERVER_DIR=LOCAL_DIR"` says where that directory is seen from this machine
(a shared volume); a path is read only when it lies inside it once every symlink is resolved, and only
when it is a regular file, so that a confused or hostile server cannot have the bot read anything else
(or block on a pipe or a device).
"""
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from voicebot.core.domain import FailureReason
from voicebot.core.errors import JobError

log = logging.getLogger(__name__)


class LocalFiles:
    """A local Bot API server's files, as this machine sees them."""

    def __init__(self, files_map: str = ""):
        """`files_map`: "SERVER_DIR=LOCAL_DIR", or empty: the server's paths are this machine's."""
        server, _, local = files_map.partition("=")
        self._server_dir = Path(os.path.normpath(server)) if files_map else None
        self._local_dir = Path(local) if files_map else None

    @property
    def local_dir(self) -> Path | None:
        return self._local_dir

    def problem(self) -> str | None:
        """What keeps the mapped directory from being read, in words for the operator; None when it can be."""
        if self._local_dir is None:
            return None
        if not self._local_dir.is_dir():
            return f"{self._local_dir} is not a directory"
        if not os.access(self._local_dir, os.R_OK | os.X_OK):
            return f"{self._local_dir} cannot be read by this user"
        return None

    def path_of(self, file_path: str, max_bytes: int) -> Path:
        """The file getFile named, checked; JobError (and a log line saying why) when it is not to be read."""
        path = self._mapped(file_path)
        try:
            status = path.stat()
        except OSError as error:
            raise self._refused(file_path, f"cannot be read ({error.strerror})") from None
        if not path.is_file():
            raise self._refused(file_path, "is not a regular file")
        if status.st_size > max_bytes:
            raise JobError(FailureReason.TOO_BIG, f"{status.st_size} bytes")
        if not os.access(path, os.R_OK):
            raise self._refused(file_path, "cannot be read by this user")
        return path

    def _mapped(self, file_path: str) -> Path:
        if not os.path.isabs(file_path):
            raise self._refused(file_path, "is not an absolute path: is telegram-bot-api running with --local?")
        if self._server_dir is None:
            return Path(os.path.realpath(file_path))
        relative = os.path.relpath(os.path.normpath(file_path), self._server_dir)
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            raise self._refused(file_path, f"is outside {self._server_dir}, the server side of "
                                           f"telegram.local_files_map")
        local_root = Path(os.path.realpath(self._local_dir))
        path = Path(os.path.realpath(local_root / relative))
        if path != local_root and local_root not in path.parents:
            raise self._refused(file_path, f"leads out of {self._local_dir} (a symlink)")
        return path

    @staticmethod
    def _refused(file_path: str, why: str) -> JobError:
        log.warning("local mode: the Bot API server's file %s %s; not read", file_path, why)
        return JobError(FailureReason.DOWNLOAD_FAILED, f"local file refused: {why}")


class DownloadFolder:
    """A private folder (mode 0700) of this process for downloads, each deleted once used. Folders that
    processes which died left behind (SIGKILL, a power cut) are swept when a node starts."""

    def __init__(self, base: Path | None = None):
        self._base = base or Path(tempfile.gettempdir()) / f"voicebot-{os.getuid()}"
        self._own = self._base / str(os.getpid())

    @property
    def path(self) -> Path:
        return self._own

    def sweep(self) -> int:
        """Removes the folders of processes no longer running; how many there were."""
        swept = 0
        for folder in self._base.glob("*") if self._base.is_dir() else ():
            if folder.name.isdigit() and folder != self._own and not _running(int(folder.name)):
                shutil.rmtree(folder, ignore_errors=True)
                swept += 1
        return swept

    @contextmanager
    def new_file(self) -> Iterator[Path]:
        """A path for one download, inside the private folder; the file is gone afterwards, however the
        block ends."""
        self._base.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._base.chmod(0o700)   # made earlier with another mode, or by an older version
        self._own.mkdir(mode=0o700, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=self._own, suffix=".download")
        os.close(handle)
        try:
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self._own, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # someone else's process with that id
        return True
    return True
