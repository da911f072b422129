"""A test hook, on PYTHONPATH only for the bot processes of tests/e2e/test_poison_end_to_end.py: a recording that
holds POISON kills the process decoding it (SIGKILL, as a crash in FFmpeg or the model would), wherever it is
decoded: in the bot's own process or in a quarantine child. Nothing in the bot can reach it or turn it on."""
import os
import signal
from pathlib import Path

from voicebot.adapters import audio

POISON = b"VOICEBOT-E2E-POISON"
_decode = audio.decode


def _content(source) -> bytes:
    if isinstance(source, Path):
        return source.read_bytes()
    if isinstance(source, bytes):
        return source
    at = source.tell()
    try:
        return source.read()
    finally:
        source.seek(at)


def _decode_unless_poisoned(source, *args, **kwargs):
    if POISON in _content(source):
        os.kill(os.getpid(), signal.SIGKILL)
    return _decode(source, *args, **kwargs)


audio.decode = _decode_unless_poisoned
