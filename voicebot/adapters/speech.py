"""Speech for the demo, the tests and the benchmark: espeak-ng speaking a text to WAV, in memory.
(voicebot.adapters.audio.to_voice_note makes a Telegram voice note of it.)"""
import shutil
import subprocess

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
