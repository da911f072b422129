"""The log-Mel features the model hears, made as faster-whisper's FeatureExtractor makes them."""
import numpy as np

from voicebot.adapters.audio import SAMPLE_RATE

_WHOLE_SAMPLES = 10 * 60 * SAMPLE_RATE   # up to this, the features are computed at once, as transcribe() does
_PIECE_FRAMES = 30_000                   # beyond it, this many frames (5 min) at a time


def log_mel(extractor, samples: np.ndarray) -> np.ndarray:
    """The log-Mel features faster-whisper's FeatureExtractor gives for `samples`. For a long recording a
    piece at a time: all at once its STFT of an hour takes some 3 GB (complex frames, their magnitudes)
    beside the 115 MB of features. Each frame depends on its 400 samples alone, and the one step over the
    whole (the floor 8 below the loudest value) comes after, so the pieces join into the same features."""
    if samples.size <= _WHOLE_SAMPLES:
        return extractor(samples)
    n_fft, hop = extractor.n_fft, extractor.hop_length
    # As extractor(): 160 zeros after the samples, then the STFT's centring (reflected n_fft // 2 each side).
    padded = np.pad(np.concatenate([samples, np.zeros(160, dtype=np.float32)]), n_fft // 2, mode="reflect")
    frames = (padded.size - n_fft) // hop   # the STFT's frames but the last, which extractor() drops
    window = np.hanning(n_fft + 1)[:-1].astype("float32")
    features = np.empty((extractor.mel_filters.shape[0], frames), dtype=np.float32)
    for first in range(0, frames, _PIECE_FRAMES):
        last = min(first + _PIECE_FRAMES, frames)
        piece = padded[first * hop:(last - 1) * hop + n_fft]
        stft = extractor.stft(piece, n_fft, hop, window=window, center=False, return_complex=True)
        magnitudes = np.abs(stft.astype("complex64")) ** 2
        features[:, first:last] = np.log10(np.clip(extractor.mel_filters @ magnitudes, a_min=1e-10, a_max=None))
    np.maximum(features, features.max() - 8.0, out=features)
    features += 4.0
    features /= 4.0
    return features
