"""The files users and the bot send: kept in memory, or in local mode on disk where the real server keeps them."""
from __future__ import annotations

import itertools
import secrets
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str  # getFile's: relative to the download route, or in local mode the absolute path on disk
    data: bytes | None  # None in local mode, where the content lies at file_path
    size: int  # the size reported to the bot, which tests may inflate

    def ids(self) -> dict:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id}

    def content(self) -> bytes:
        return self.data if self.data is not None else Path(self.file_path).read_bytes()


class _FileStore:
    """Every file of one sandbox, by file_id and by file_path. Its own lock: it is called with the sandbox's
    lock held and without (a copy of a large file must not hold up the bot's calls)."""

    def __init__(self, token: str, local_dir: Path | None):
        self._token = token
        self.local_dir = None if local_dir is None else local_dir.resolve()  # getFile answers absolute paths
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._by_id: dict[str, _StoredFile] = {}
        self._by_path: dict[str, _StoredFile] = {}

    def store(self, content: bytes | Path, reported_size: int | None, folder: str, extension: str) -> _StoredFile:
        """Keep a file in memory or, in local mode, on disk where the real server's working directory holds it
        (<local_dir>/<token>/<folder>/file_<n>.<ext>). The copying happens unlocked: files may be large."""
        with self._lock:
            number = next(self._numbers)
        name = f"{folder}/file_{number}.{extension}"
        if self.local_dir is None:
            data = content if isinstance(content, bytes) else content.read_bytes()
            file_path, size = name, len(data)
        else:
            data = None
            path = _write_file(self.local_dir / self._token / name, content)
            file_path, size = str(path), path.stat().st_size
        # file_unique_id stays the same for the same file, as Telegram's does, whoever sends or forwards it.
        stored = _StoredFile(
            file_id=f"SBX{number}-{secrets.token_urlsafe(16)}", file_unique_id=f"SBXU{number}",
            file_path=file_path, data=data, size=size if reported_size is None else reported_size)
        with self._lock:
            self._by_id[stored.file_id] = stored
            self._by_path[stored.file_path] = stored
        return stored

    def get(self, file_id: str | None) -> _StoredFile | None:
        with self._lock:
            return self._by_id.get(file_id or "")

    def at(self, file_path: str) -> _StoredFile | None:
        with self._lock:
            return self._by_path.get(file_path)


def _extension(file_name: str, default: str) -> str:
    return file_name.rsplit(".", 1)[1] if "." in file_name else default


def _write_file(path: Path, content: bytes | Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        shutil.copyfile(content, path)
    return path
