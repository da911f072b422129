"""Making voice notes for the demo and tests: speech from espeak-ng, encoded like Telegram's
voice messages (OGG/Opus, 48 kHz mono) with PyAV, all in memory."""
import io
import shutil
import subprocess

import av

from voicebot.core.errors import SpeechError

# Clips the transcriber's equivalence test and bench/encode_once.py speak: name -> (espeak-ng voice,
# text). The long one runs over 30 s: two windows, and a first window that is the same for language
# detection and decoding.
_LONG_TEXT = ("The weather service expects heavy rain tomorrow morning, so the school trip to the museum "
              "has moved to Thursday. Parents should send a packed lunch, a coat and a signed form. The bus "
              "leaves at half past eight from the main gate and returns around four. If your child needs "
              "medicine during the day, please tell the class teacher before Wednesday evening. We will "
              "share photographs from the visit on the school website next week. Thank you for your help, "
              "and remember that the library is closed on Friday for the book fair.")
SPOKEN_SAMPLES = {
    "espeak_short_en": ("en", "Please call Stella. Ask her to bring these things with her from the store."),
    "espeak_german": ("de", "Guten Morgen. Heute ist ein schöner Tag, und wir gehen zusammen in den Park, "
                            "um spazieren zu gehen."),
    "espeak_long_en": ("en", _LONG_TEXT),
}


def synthesize(text: str, voice: str = "en", words_per_minute: int = 130) -> bytes:
    """WAV bytes of `text` spoken by espeak-ng."""
    if shutil.which("espeak-ng") is None:
        raise SpeechError("espeak-ng is not installed: apt-get install espeak-ng")
    spoken = subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "--stdout", text],
                            capture_output=True, check=True, timeout=60)
    return spoken.stdout


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
