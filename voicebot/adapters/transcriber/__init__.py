"""The faster-whisper adapter: the only package that imports faster_whisper. The Transcriber (model.py) holds
the model; decoding.py runs it on speech as WhisperModel.transcribe() does, encoding the first window once;
vad.py finds the speech and the pauses; features.py makes the log-Mel features a piece at a time."""
from voicebot.adapters.transcriber.model import Transcriber, decoded, supported_languages

__all__ = ["Transcriber", "decoded", "supported_languages"]
