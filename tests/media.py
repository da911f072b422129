"""Media the way Telegram users send it, made with ffmpeg (and sox) at test time; the benchmarks use it too."""
import io
import subprocess
import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000

_AUDIO_CODECS = {"mp3": ["-c:a", "libmp3lame", "-b:a", "64k"], "m4a": ["-c:a", "aac", "-b:a", "64k"],
                 "flac": ["-c:a", "flac"], "wav": ["-c:a", "pcm_s16le"],
                 "ogg": ["-c:a", "libopus", "-b:a", "24k", "-ar", "48000"]}


def ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *arguments], check=True, timeout=300)


def wav(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as a 16 kHz mono 16-bit WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(SAMPLE_RATE)
        file.writeframes((samples * 32767).astype(np.int16).tobytes())
    return buffer.getvalue()


def sox_wav(seconds: float, *synth: str) -> bytes:
    """Sound without speech from sox's `synth` ("sine 0" is silence, "pinknoise vol 0.3", "sine 50" a hum):
    a 16 kHz mono 16-bit WAV file."""
    return subprocess.run(["sox", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-t", "wav", "-", "synth",
                           str(seconds), *synth], capture_output=True, check=True, timeout=60).stdout


def audio_file(source: Path, extension: str, folder: Path, repeat: int = 1) -> bytes:
    """The speech in `source` as an audio file of the given kind, optionally `repeat` times over."""
    target = folder / f"{source.stem}x{repeat}.{extension}"
    ffmpeg("-stream_loop", str(repeat - 1), "-i", str(source), "-ac", "1", *_AUDIO_CODECS[extension], str(target))
    return target.read_bytes()


def video(source: Path, folder: Path, square: bool = False, with_sound: bool = True) -> bytes:
    """An MP4 with moving pictures and the speech as its sound (a round video note when square)."""
    size = "240x240" if square else "320x180"
    target = folder / f"{source.stem}-{size}-{'sound' if with_sound else 'mute'}.mp4"
    sound = ["-i", str(source), "-c:a", "aac", "-shortest"] if with_sound else ["-t", "5"]
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}:rate=10", *sound, "-c:v", "libx264", "-preset",
           "ultrafast", "-pix_fmt", "yuv420p", str(target))
    return target.read_bytes()


_NAMES = ("Maria", "Peter", "the teacher", "my neighbour", "a young farmer", "the old captain", "our doctor")
_VERBS = ("painted", "carried", "repaired", "found", "described", "cleaned", "sold", "measured", "opened")
_THINGS = ("a wooden boat", "the red door", "a heavy box", "the garden fence", "a small radio", "the kitchen table",
           "an old bicycle", "the blue window", "a broken clock", "the village bridge", "a long ladder")
_WHEN = ("on Monday morning", "after lunch", "before the storm", "late in the evening", "during the holidays")


def long_passage(characters: int) -> str:
    """Plain English sentences, none repeated, adding up to about `characters` characters."""
    sentences, number = [], 0
    while sum(map(len, sentences)) < characters:
        sentence = (f"{_NAMES[number % 7]} {_VERBS[number % 9]} {_THINGS[number % 11]} {_WHEN[number % 5]}.")
        sentences.append(sentence[0].upper() + sentence[1:])
        number += 1
    return " ".join(sentences)


def big_video(source: Path, target: Path, megabytes: int) -> Path:
    """A Matroska video of at least `megabytes` MB with the speech as its sound: uncompressed pictures, so it is
    big at once and costs no encoding. Written to `target`, never read into memory here."""
    width, height, rate = 640, 480, 25
    frame_bytes = width * height * 3 // 2   # yuv420p
    seconds = max(1, -(-megabytes * 1024 * 1024 // (frame_bytes * rate)))
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate={rate}", "-i", str(source),
           "-filter_complex", f"[1:a]apad=whole_dur={seconds}[sound]", "-map", "0:v", "-map", "[sound]",
           "-t", str(seconds), "-c:v", "rawvideo", "-pix_fmt", "yuv420p", "-c:a", "libopus", "-b:a", "24k",
           str(target))
    return target
