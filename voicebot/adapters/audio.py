"""PyAV, the only module that imports it: decoding any audio or video container into 16 kHz mono samples,
in memory, with a length cap; and encoding audio as a Telegram voice note (for the demo and tests).

Decoding stops as soon as the cap is passed, so a file that lies about its duration (or a
decompression bomb) never expands into hours of samples.
"""
import io

import av
import numpy as np

from voicebot.core.domain import FailureReason
from voicebot.core.errors import JobError

SAMPLE_RATE = 16000


def decode(data: bytes, max_seconds: float) -> np.ndarray:
    """Float32 samples in [-1, 1] at 16 kHz mono; JobError for unreadable, silent or too long input."""
    if not data:
        raise JobError(FailureReason.UNREADABLE_AUDIO, "empty file")
    max_samples = int(max_seconds * SAMPLE_RATE)
    try:
        pcm = _decode_capped(data, max_samples)
    except (av.error.FFmpegError, ValueError, IndexError, OSError) as error:
        raise JobError(FailureReason.UNREADABLE_AUDIO, type(error).__name__) from None
    if pcm.size == 0:
        raise JobError(FailureReason.NO_SPEECH, "no audio samples")
    return pcm.astype(np.float32) / 32768.0


def _decode_capped(data: bytes, max_samples: int) -> np.ndarray:
    # The same resampling faster-whisper's decode_audio does (s16, mono, 16 kHz), so the
    # samples, and therefore the transcripts, are identical to it.
    resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
        if not container.streams.audio:
            raise JobError(FailureReason.NO_SPEECH, "no audio track")
        for frame in _valid_frames(container.decode(audio=0)):
            frame.pts = None
            for resampled in resampler.resample(frame):
                total += _append(chunks, resampled, total, max_samples)
        for resampled in resampler.resample(None):
            total += _append(chunks, resampled, total, max_samples)
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def _append(chunks: list, frame, total: int, max_samples: int) -> int:
    samples = frame.to_ndarray().reshape(-1)
    if total + samples.size > max_samples:
        raise JobError(FailureReason.TOO_LONG, f"longer than {max_samples // SAMPLE_RATE} s")
    chunks.append(samples)
    return samples.size


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
