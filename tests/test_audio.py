import io

import av
import numpy as np
import pytest

from voicebot.audio import SAMPLE_RATE, decode
from voicebot.domain import FailureReason, JobError
from voicebot.speech import to_voice_note


def wav(seconds: float, frequency: float = 440.0) -> bytes:
    samples = (np.sin(np.arange(int(seconds * SAMPLE_RATE)) * 2 * np.pi * frequency / SAMPLE_RATE) * 8000)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=SAMPLE_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.astype(np.int16).reshape(1, -1), format="s16", layout="mono")
        frame.rate = SAMPLE_RATE
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def silent_video() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height = 32, 32
        for _ in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def test_a_voice_note_decodes_to_16khz_mono_of_its_length():
    voice_note, duration = to_voice_note(wav(3.0))
    samples = decode(voice_note, max_seconds=300)
    assert samples.dtype == np.float32 and abs(len(samples) / SAMPLE_RATE - 3.0) < 0.1
    assert duration == 3


def test_decoding_stops_at_the_cap_whatever_the_file_claims():
    with pytest.raises(JobError) as raised:
        decode(wav(12.0), max_seconds=10)
    assert raised.value.reason is FailureReason.TOO_LONG


@pytest.mark.parametrize("data, reason", [
    (b"", FailureReason.UNREADABLE_AUDIO),
    (bytes(range(256)) * 40, FailureReason.UNREADABLE_AUDIO),
    (b"OggS" + b"\x00" * 500, FailureReason.UNREADABLE_AUDIO),
])
def test_unreadable_input_is_a_job_error_not_a_crash(data, reason):
    with pytest.raises(JobError) as raised:
        decode(data, max_seconds=300)
    assert raised.value.reason is reason


def test_a_video_without_sound_is_reported_as_having_no_speech():
    with pytest.raises(JobError) as raised:
        decode(silent_video(), max_seconds=300)
    assert raised.value.reason is FailureReason.NO_SPEECH
