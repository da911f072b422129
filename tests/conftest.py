import shutil
import subprocess

import pykka
import pytest

from helpers import SHARED_AUDIO, SpeechSample
from voicebot.speech import synthesize, to_voice_note


@pytest.fixture(autouse=True)
def _stop_actors():
    yield
    pykka.ActorRegistry.stop_all()


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> SpeechSample:
    """Real speech: the JFK clip converted with ffmpeg; synthesized speech where it is absent."""
    source = SHARED_AUDIO / "jfk.flac"
    if source.is_file() and shutil.which("ffmpeg"):
        target = tmp_path_factory.mktemp("audio") / "jfk.ogg"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(source), "-ac", "1", "-ar", "48000",
                        "-c:a", "libopus", "-b:a", "24k", str(target)], check=True)
        return SpeechSample(target.read_bytes(), 11, "ask not what your country can do for you")
    voice_note, duration = to_voice_note(synthesize("Thank you for the lovely dinner last night."))
    return SpeechSample(voice_note, duration, "thank you for the lovely dinner last night")
