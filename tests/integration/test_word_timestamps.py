"""Word timestamps, as an API request asks for them (timestamp_granularities[] "word"): the Transcriber's words
are those faster-whisper's own transcribe(word_timestamps=True) gives, and keep their times in the recording
across the pauses its VAD leaves out."""
import numpy as np
import pytest
from faster_whisper import WhisperModel

from voicebot.adapters.audio import SAMPLE_RATE, decode
from voicebot.adapters.model_files import resolve_model
from voicebot.adapters.speech import synthesize
from voicebot.adapters.transcriber import Transcriber

from helpers import SHARED_AUDIO, normalized
from media import wav

JFK = SHARED_AUDIO / "jfk.flac"


@pytest.fixture(scope="module")
def transcriber():
    loaded = Transcriber(resolve_model("base"), cpu_threads=2, beam_size=5)
    loaded.load()
    yield loaded
    loaded.close()   # CTranslate2 aborts the process if a model is still alive when the interpreter tears down


@pytest.mark.skipif(not JFK.is_file(), reason=f"{JFK} is missing")
def test_the_words_are_faster_whispers_own_with_their_times(transcriber):
    reference = WhisperModel(resolve_model("base"), device="cpu", compute_type="int8", cpu_threads=2)
    segments, _ = reference.transcribe(str(JFK), language="en", beam_size=5, word_timestamps=True)
    expected = [(word.word, round(word.start, 2), round(word.end, 2)) for segment in segments for word in segment.words]
    del reference
    transcript = transcriber.transcribe(JFK, "en", words=True)
    assert [(word.text, word.start, word.end) for segment in transcript.segments for word in segment.words] == expected
    assert all(segment.start <= word.start <= word.end <= segment.end
               for segment in transcript.segments for word in segment.words)
    assert all(segment.words == () for segment in transcriber.transcribe(JFK, "en").segments)   # not asked: none


def test_words_after_a_long_pause_keep_their_time_in_the_recording(transcriber):
    phrases = ["the river is wide and cold", "please open the window"]
    spoken = [decode(synthesize(phrase), 60) for phrase in phrases]
    pause = np.zeros(20 * SAMPLE_RATE, dtype=np.float32)
    second_starts = (spoken[0].size + pause.size) / SAMPLE_RATE
    transcript = transcriber.transcribe(wav(np.concatenate([spoken[0], pause, spoken[1]])), "en", words=True)
    words = [word for segment in transcript.segments for word in segment.words]
    assert normalized(" ".join(word.text for word in words)) == normalized(" ".join(phrases))
    window = next(word for word in words if "window" in word.text)
    river = next(word for word in words if "river" in word.text)
    assert window.start > second_starts - 1.0 and river.end < spoken[0].size / SAMPLE_RATE + 1.0
    # No segment lasts through the silence, and each one's text is its words.
    assert all(segment.end < second_starts - 5 or segment.start > second_starts - 1.0
               for segment in transcript.segments)
    assert all(normalized(segment.text) == normalized("".join(word.text for word in segment.words))
               for segment in transcript.segments)
