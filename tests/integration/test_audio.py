import errno
import io
import os
import threading
import time

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.adapters.audio import SAMPLE_RATE, decode, to_voice_note
from voicebot.core.domain import FailureReason
from voicebot.core.errors import JobError


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


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=4096))
def test_any_bytes_at_all_decode_or_fail_with_a_job_error(data):
    try:
        samples = decode(data, max_seconds=30)
    except JobError:
        return
    assert samples.dtype == np.float32 and len(samples) <= 30 * SAMPLE_RATE


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_damaged_voice_notes_decode_or_fail_with_a_job_error(data):
    voice_note = _voice_note()
    cut = data.draw(st.integers(0, len(voice_note)))
    damaged = bytearray(voice_note[:cut])
    for _ in range(data.draw(st.integers(0, 20))):
        if damaged:
            damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    try:
        decode(bytes(damaged), max_seconds=30)
    except JobError:
        pass


_VOICE_NOTES: list[bytes] = []


def _voice_note() -> bytes:
    if not _VOICE_NOTES:
        _VOICE_NOTES.append(to_voice_note(wav(2.0))[0])
    return _VOICE_NOTES[0]


def test_a_decompression_bomb_is_stopped_at_the_cap():
    # An hour of silence compresses to almost nothing; decoding must stop at the cap, not expand it.
    silence = io.BytesIO()
    with av.open(silence, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, SAMPLE_RATE * 60), dtype=np.int16), format="s16",
                                           layout="mono")
        chunk.rate = SAMPLE_RATE
        for _ in range(60):
            container.mux(stream.encode(chunk))
        container.mux(stream.encode(None))
    assert len(silence.getvalue()) < 2_000_000
    with pytest.raises(JobError) as raised:
        decode(silence.getvalue(), max_seconds=300)
    assert raised.value.reason is FailureReason.TOO_LONG


# --- documents that make FFmpeg open other files or streams: only the recording handed over is ever read

def png_sequence(pictures: int = 3) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="image2pipe") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "rgb24"
        for _ in range(pictures):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")))
        container.mux(stream.encode(None))
    return buffer.getvalue()


HOSTILE_DOCUMENTS = {
    "concat, a relative entry": lambda folder: b"ffconcat version 1.0\nfile victim.wav\n",
    "concat, an absolute entry": lambda folder: f"ffconcat version 1.0\nfile {folder / 'victim.wav'}\n".encode(),
    "concat, a FIFO entry": lambda folder: b"ffconcat version 1.0\nfile pipe.wav\n",
    "HLS playlist": lambda folder: b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\npipe.wav\n#EXT-X-ENDLIST\n",
    "DASH manifest": lambda folder: (
        b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        b'mediaPresentationDuration="PT2S" minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:full:2011"><Period>'
        b'<AdaptationSet mimeType="audio/wav"><Representation id="a" bandwidth="256000"><BaseURL>pipe.wav</BaseURL>'
        b"</Representation></AdaptationSet></Period></MPD>\n"),
    "SDP": lambda folder: b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                          b"m=audio 5004 RTP/AVP 0\r\n",
    "image sequence": lambda folder: png_sequence(),
}


@pytest.mark.parametrize("kind", HOSTILE_DOCUMENTS)
def test_a_document_naming_other_files_or_streams_is_refused_in_time_reading_nothing_else(kind, tmp_path,
                                                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)   # where FFmpeg resolves relative entries
    (tmp_path / "victim.wav").write_bytes(wav(2.0))
    os.mkfifo(tmp_path / "pipe.wav")   # opening it would block until someone writes
    outcome: dict = {}

    def run():
        try:
            outcome["samples"] = decode(HOSTILE_DOCUMENTS[kind](tmp_path), 30, deadline=time.monotonic() + 1.0)
        except JobError as error:
            outcome["error"] = error

    started = time.monotonic()
    decoding = threading.Thread(target=run, daemon=True)
    decoding.start()
    decoding.join(3.0)
    seconds = time.monotonic() - started
    pipe_opened = _release_readers(tmp_path / "pipe.wav")   # and so a decode blocked on it ends
    decoding.join(3.0)
    assert seconds < 2.0, f"decoding a {kind} took {seconds:.1f} s against a 1 s deadline"
    assert not pipe_opened, f"a {kind} opened a FIFO it named"
    assert "samples" not in outcome, f"a {kind} decoded {outcome['samples'].size / SAMPLE_RATE:.1f} s of other files"
    assert outcome["error"].reason is FailureReason.UNREADABLE_AUDIO


def _release_readers(fifo) -> bool:
    """Whether anything has the FIFO open for reading (or waits to); a writer opening and closing it ends that."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as error:
        if error.errno == errno.ENXIO:   # no reader
            return False
        raise
    return True
