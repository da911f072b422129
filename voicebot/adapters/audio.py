"""PyAV, the only module that imports it: decoding any audio or video container into 16 kHz mono samples,
with a length cap; and encoding audio as a Telegram voice note (for the demo and tests).

A file is read from disk as it is decoded, a packet at a time (a 1 GB video never sits in memory), and
only its audio is decoded. Decoding stops as soon as the cap is passed, so a file that lies about its
duration (or a decompression bomb) never expands into hours of samples; the samples go into one buffer
sized for the cap, of which only what is written takes memory.
"""
import io
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from voicebot.core.domain import FailureReason
from voicebot.core.errors import JobError

SAMPLE_RATE = 16000
_PROBE_SECONDS = 5.0   # the most reading a container's header may take

# The containers recordings come in: voice notes, audio files, videos. FFmpeg refuses every other format,
# whatever the content claims to be: concat lists, playlists (HLS), manifests (DASH), SDP and image
# sequences make it open other files or streams, and none of them is a recording.
RECORDING_FORMATS = ("ogg", "mov", "matroska", "mp3", "flac", "wav", "w64", "aac", "amr", "asf", "aiff", "caf",
                     "avi", "flv", "mpegts", "mpeg", "au", "wv", "ape", "ac3", "eac3")
_CONFINED = {"format_whitelist": ",".join(RECORDING_FORMATS),
             # No protocol at all: the one file is read through its file object, and nothing it names is opened.
             "protocol_whitelist": "none"}


def decode(source: Path | BinaryIO | bytes, max_seconds: float, deadline: float | None = None) -> np.ndarray:
    """Float32 samples in [-1, 1] at 16 kHz mono from a file (named, or open as local mode hands it over) or
    bytes; JobError for unreadable, silent or too long input, and TIMEOUT past `deadline` (time.monotonic())."""
    if _is_empty(source):
        raise JobError(FailureReason.UNREADABLE_AUDIO, "empty file")
    try:
        # A file object, not its name: FFmpeg then guesses the format from the content alone, as for bytes,
        # never from a name a sender chose.
        with _stream(source) as stream:
            samples = _decode_capped(_Nameless(stream), int(max_seconds * SAMPLE_RATE), deadline)
    except (av.error.FFmpegError, ValueError, IndexError, OSError) as error:
        if deadline is not None and time.monotonic() > deadline:   # FFmpeg interrupted at the deadline
            raise JobError(FailureReason.TIMEOUT, "decoding ran past the timeout") from None
        raise JobError(FailureReason.UNREADABLE_AUDIO, type(error).__name__) from None
    if samples.size == 0:
        raise JobError(FailureReason.NO_SPEECH, "no audio samples")
    return samples


def stated_length(path: Path) -> float | None:
    """The length in seconds a recording's container states (its header; nothing is decoded), as a sender's
    reported duration is: trusted for nothing but a first estimate. A container written as it was recorded (a
    browser's MediaRecorder WebM) states none in its header: then its audio packets' times say it, read without
    decoding them. None when neither says, or it is no recording (decoding it says what is wrong)."""
    deadline = time.monotonic() + _PROBE_SECONDS
    try:
        with path.open("rb") as stream, av.open(_Nameless(stream), mode="r", metadata_errors="ignore",
                                               container_options=_CONFINED, timeout=_PROBE_SECONDS) as container:
            if container.duration is not None and container.duration > 0:
                return container.duration / av.time_base
            audio = container.streams.audio[0] if container.streams.audio else None
            if audio is None:
                return None
            if audio.duration is not None and audio.duration > 0 and audio.time_base is not None:
                return float(audio.duration * audio.time_base)
            return _packets_length(container, audio, deadline)
    except (av.error.FFmpegError, ValueError, IndexError, OSError):
        return None


def _packets_length(container, audio, deadline: float) -> float | None:
    """From the first audio packet's start to the last one's end, demuxed (not decoded); None past `deadline`."""
    first = end = None
    for packet in container.demux(audio):
        if time.monotonic() > deadline:
            return None
        if packet.pts is None or packet.time_base is None:
            continue   # the demuxer's closing empty packet
        start = float(packet.pts * packet.time_base)
        first = start if first is None else min(first, start)
        end = max(end or start, start + float((packet.duration or 0) * packet.time_base))
    return None if first is None else max(0.0, end - first)


class _Nameless:
    """A file as PyAV reads it, without its name (PyAV hands a file object's name to FFmpeg as a hint)."""

    def __init__(self, stream):
        self.read, self.seek, self.tell = stream.read, stream.seek, stream.tell


def _stream(source: Path | BinaryIO | bytes):
    if isinstance(source, Path):
        return source.open("rb")
    if isinstance(source, bytes):
        return io.BytesIO(source)
    source.seek(0)
    return nullcontext(source)   # an open file: whoever opened it closes it


def _is_empty(source: Path | BinaryIO | bytes) -> bool:
    try:
        if isinstance(source, bytes):
            return not source
        return (source.stat() if isinstance(source, Path) else os.fstat(source.fileno())).st_size == 0
    except OSError:
        return False   # opening it says what is wrong


def _decode_capped(source, max_samples: int, deadline: float | None) -> np.ndarray:
    # The same resampling and scaling faster-whisper's decode_audio does (s16, mono, 16 kHz, / 32768), so
    # the samples, and therefore the transcripts, are identical to it.
    resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    samples = np.empty(max_samples, dtype=np.float32)   # untouched pages take no memory
    total = 0
    with av.open(source, mode="r", metadata_errors="ignore", container_options=_CONFINED,
                 timeout=_seconds_left(deadline)) as container:
        if not container.streams.audio:
            raise JobError(FailureReason.NO_SPEECH, "no audio track")
        for frame in _valid_frames(container.decode(audio=0)):
            if deadline is not None and time.monotonic() > deadline:
                raise JobError(FailureReason.TIMEOUT, "decoding ran past the timeout")
            frame.pts = None
            for resampled in resampler.resample(frame):
                total = _append(samples, resampled, total)
        for resampled in resampler.resample(None):
            total = _append(samples, resampled, total)
    return samples[:total]


def _seconds_left(deadline: float | None) -> float | None:
    """How long FFmpeg may wait for anything before it is interrupted (None: no deadline)."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise JobError(FailureReason.TIMEOUT, "decoding ran past the timeout")
    return left


def _append(samples: np.ndarray, frame, total: int) -> int:
    pcm = frame.to_ndarray().reshape(-1)
    if total + pcm.size > samples.size:
        raise JobError(FailureReason.TOO_LONG, f"longer than {samples.size // SAMPLE_RATE} s")
    np.divide(pcm, 32768.0, out=samples[total:total + pcm.size], casting="unsafe")
    return total + pcm.size


def _valid_frames(frames):
    """Skips frames FFmpeg cannot decode, as faster-whisper does, instead of failing the file."""
    iterator = iter(frames)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue

def to_voice_note(audio: bytes, bit_rate: int = 24000) -> tuple[bytes, int]:
    """Any audio re-encoded as an OGG/Opus voice note, with its duration in whole seconds."""
    encoded = io.BytesIO()
    samples = 0
    with av.open(io.BytesIO(audio)) as source, av.open(encoded, "w", format="ogg") as target:
        stream = target.add_stream("libopus", rate=48000, layout="mono")
        stream.bit_rate = bit_rate
        resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=48000)
        for frame in source.decode(audio=0):
            frame.pts = None
            for resampled in resampler.resample(frame):
                samples += resampled.samples
                target.mux(stream.encode(resampled))
        for resampled in resampler.resample(None):
            samples += resampled.samples
            target.mux(stream.encode(resampled))
        target.mux(stream.encode(None))
    return encoded.getvalue(), max(1, round(samples / 48000))
