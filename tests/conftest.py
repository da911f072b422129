import shutil
import subprocess
from pathlib import Path

import pykka
import pytest

from voicebot.adapters.speech import synthesize

from helpers import SHARED_AUDIO, SpeechSample

FALLBACK_SENTENCE = "Thank you for the lovely dinner last night."


def pytest_itemcollected(item):
    """The end-to-end tests run one after another on one xdist worker, beside the unit and integration tests on
    the other (setup.cfg: -n 2 --dist loadgroup): each starts `voicebot run`, whose model would share the
    cores with another's, and some share a broker's queues; the rest is mostly short and waits on I/O. Marked as
    each is collected: xdist reads the groups in its own pytest_collection_modifyitems."""
    if item.get_closest_marker("e2e") is not None:
        item.add_marker(pytest.mark.xdist_group("e2e"))


@pytest.fixture(autouse=True)
def _stop_actors():
    yield
    pykka.ActorRegistry.stop_all()


@pytest.fixture(scope="session")
def speech_file(tmp_path_factory) -> tuple[Path, str, int]:
    """Real speech: the JFK clip where present, else synthesized; (path, words, seconds)."""
    source = SHARED_AUDIO / "jfk.flac"
    if source.is_file():
        return source, "ask not what your country can do for you", 11
    target = tmp_path_factory.mktemp("speech") / "spoken.wav"
    target.write_bytes(synthesize(FALLBACK_SENTENCE))
    return target, "thank you for the lovely dinner last night", 3


@pytest.fixture(scope="session")
def speech(speech_file, tmp_path_factory) -> SpeechSample:
    """The speech as a Telegram voice note: OGG/Opus, converted with ffmpeg."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")
    source, words, seconds = speech_file
    target = tmp_path_factory.mktemp("audio") / "voice.ogg"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(source), "-ac", "1", "-ar", "48000",
                    "-c:a", "libopus", "-b:a", "24k", str(target)], check=True)
    return SpeechSample(target.read_bytes(), seconds, words)
