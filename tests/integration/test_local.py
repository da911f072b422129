"""`voicebot transcribe` on local files, through `voicebot.app.cli.main`, with the bundled model."""
import io
import os
import re

import numpy as np
import pytest

from voicebot.adapters.speech import synthesize
from voicebot.app import local
from voicebot.app.cli import main
from voicebot.core.domain import Segment
from voicebot.core.errors import SpeechError

from media import wav

SENTENCE = "Please call Stella. Ask her to bring these things with her from the store."
RESULT_LINE = re.compile(r"^(?P<path>.+): \[en, (?P<audio>[0-9.]+) s of audio in [0-9.]+ s, "
                         r"RTF (?P<rtf>[0-9]+\.[0-9]{2})\] (?P<text>.+)$")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """Defaults only: no ./config.toml from the checkout, no VOICEBOT_ settings from the shell;
    two threads keep it quick on a small machine."""
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("VOICEBOT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("VOICEBOT_WHISPER_CPU_THREADS", "2")


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    try:
        data = synthesize(SENTENCE)
    except SpeechError as error:
        pytest.skip(str(error))
    path = tmp_path_factory.mktemp("local") / "stella.wav"
    path.write_bytes(data)
    return path


def test_a_file_gives_one_line_with_its_text_and_real_time_factor(spoken, capsys):
    code = main(["transcribe", str(spoken)])
    out, err = capsys.readouterr()
    assert code == 0, err
    [line] = out.splitlines()
    result = RESULT_LINE.match(line)
    assert result, line
    assert result["path"] == str(spoken)
    assert "bring these things with her from the store" in result["text"].lower()
    assert 2 < float(result["audio"]) < 10 and float(result["rtf"]) > 0
    assert "\r" not in err  # stderr is no terminal here: no progress bar


def test_a_file_that_is_not_audio_gives_one_line_and_exit_1(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a recording\n" * 50)
    code = main(["transcribe", str(notes)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert [line for line in err.splitlines() if str(notes) in line] == [f"{notes}: unreadable audio"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _silence_wav(seconds: float) -> bytes:
    return wav(np.zeros(int(seconds * 16000), dtype=np.float32))


def _written(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("with_tqdm", [True, False])
def test_a_long_file_on_a_terminal_shows_progress_and_clears_it(monkeypatch, tmp_path, with_tqdm):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    if not with_tqdm:
        monkeypatch.setattr(local, "_has_tqdm", lambda: False)
    with local._progress(_written(tmp_path / "long.wav", _silence_wav(40)), 300) as on_segment:
        on_segment(Segment(0.0, 20.0, " half"))
        assert "50%" in terminal.getvalue() and "40 s" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r")  # the bar's line is wiped for the result line


def test_a_short_file_or_no_terminal_shows_no_progress(monkeypatch, tmp_path):
    monkeypatch.setattr("sys.stderr", _Terminal())
    with local._progress(_written(tmp_path / "short.wav", _silence_wav(10)), 300) as on_segment:
        assert on_segment is None
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with local._progress(_written(tmp_path / "long.wav", _silence_wav(40)), 300) as on_segment:
        assert on_segment is None
