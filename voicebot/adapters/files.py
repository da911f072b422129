"""Where a recording is read from, on disk: a local Bot API server's own file (local mode), or a download
written to a private folder of this process and deleted after use. Standard library only; the Telegram
adapter uses it, and the bootstrap checks and sweeps it at start.

In local mode (`telegram-bot-api --local`) getFile answers with an absolute path on the server's disk.
`telegram.local_files_map = "SERVER_DIR=LOCAL_DIR"` says where that directory is seen from this machine
(a shared volume); without it only this bot's own folder of the server's working directory is served. A
file is opened once, below the served directory one name at a time without following any symlink, and
read only when that descriptor is a regular file, so that a confused or hostile server, or someone who can
write in that directory, cannot have the bot read anything else (by a path, a link swapped in after a
check, a pipe or a device).
"""
import errno
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from voicebot.core.domain import FailureReason
from voicebot.core.errors import JobError

log = logging.getLogger(__name__)


class LocalFiles:
    """A local Bot API server's files, as this machine sees them."""

    def __init__(self, files_map: str = "", token: str = ""):
        """`files_map`: "SERVER_DIR=LOCAL_DIR", or empty: the server's paths are this machine's, and only this
        bot's folder of the server's working directory (DIR/`token`/, where telegram-bot-api keeps them) is."""
        server, _, local = files_map.partition("=")
        self._server_dir = Path(os.path.normpath(server)) if files_map else None
        self._local_dir = Path(local) if files_map else None
        self._token = token

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

    @contextmanager
    def open(self, file_path: str, max_bytes: int) -> Iterator[BinaryIO]:
        """The file getFile named, open for reading while the block runs; JobError (and a log line saying why)
        when it is not to be read. What is checked is the open file itself, and it is what is read."""
        root, names = self._served(file_path)
        try:
            descriptor = _open_below(root, names)
        except OSError as error:
            why = (f"goes through a symlink, not followed (whether or not it leads out of {root})"
                   if error.errno == errno.ELOOP else f"cannot be read ({error.strerror})")
            raise self._refused(file_path, why) from None
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise self._refused(file_path, "is not a regular file")
            if status.st_size > max_bytes:
                raise JobError(FailureReason.TOO_BIG, f"{status.st_size} bytes")
            os.set_blocking(descriptor, True)
            file = os.fdopen(descriptor, "rb")
        except BaseException:
            os.close(descriptor)
            raise
        with file:
            yield file

    def _served(self, file_path: str) -> tuple[Path, list[str]]:
        """The directory served (the operator's, or the server's own, path: symlinks in it are theirs) and the
        names below it that lead to the file."""
        if not os.path.isabs(file_path):
            raise self._refused(file_path, "is not an absolute path: is telegram-bot-api running with --local?")
        path = os.path.normpath(file_path)
        if self._server_dir is None:
            working_dir, inside, below = path.partition(f"/{self._token}/")
            if not (self._token and inside):
                raise self._refused(file_path, "is not in this bot's folder of the server's working directory "
                                               "(DIR/TOKEN/…); telegram.local_files_map can serve another")
            return Path(working_dir or "/"), [self._token, *below.split("/")]
        relative = os.path.relpath(path, self._server_dir)
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            raise self._refused(file_path, f"is outside {self._server_dir}, the server side of "
                                           f"telegram.local_files_map")
        return self._local_dir, relative.split(os.sep)

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


def _open_below(root: Path, names: list[str]) -> int:
    """A descriptor of the file `names` lead to from `root`, each name opened from the folder before it with
    O_NOFOLLOW: no symlink below `root` is followed, even one swapped in while this runs. O_NONBLOCK: a FIFO
    is opened (and then refused) without waiting for a writer."""
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in names[:-1]:
            try:
                inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
            except NotADirectoryError:   # what O_DIRECTORY says of a symlink as of a file
                if stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP)) from None
                raise
            os.close(folder)
            folder = inner
        return os.open(names[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC,
                       dir_fd=folder)
    finally:
        os.close(folder)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # someone else's process with that id
        return True
    return True
