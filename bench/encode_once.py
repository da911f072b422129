"""WhisperModel.transcribe() against the Transcriber's encode-once path (a benchmark, not a test).

    .venv/bin/python bench/encode_once.py [--repeats 3] [--threads 1] [--model base]

Both run on one model instance, beam 5, on the clips tests/integration/test_transcriber.py uses (JFK as FLAC
and as OGG/Opus where /work/shared/audio/jfk.flac exists; espeak-ng speech of 5, 7 and 34 s),
alternating, and the median of each is printed. "identical": every run gave transcribe()'s
segment texts and times and its language. "Δ p": our language probability minus transcribe()'s,
which differs under 30 s because transcribe() detects on one mel frame more than it decodes."""
import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voicebot.adapters.audio import decode  # noqa: E402
from voicebot.adapters.model_files import resolve_model  # noqa: E402
from voicebot.adapters.speech import SPOKEN_SAMPLES as SPOKEN
from voicebot.adapters.speech import synthesize
from voicebot.adapters.transcriber import Transcriber  # noqa: E402
from voicebot.core.errors import SpeechError

JFK = Path(__file__).resolve().parents[2] / "shared" / "audio" / "jfk.flac"


def clips(folder: Path) -> dict[str, bytes]:
    made = {}
    if JFK.is_file():
        made["jfk_flac"] = JFK.read_bytes()
        if shutil.which("ffmpeg"):
            subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(JFK), "-ac", "1", "-ar", "48000",
                            "-c:a", "libopus", "-b:a", "24k", str(folder / "jfk.ogg")], check=True)
            made["jfk_opus"] = (folder / "jfk.ogg").read_bytes()
    else:
        print(f"skipping the JFK clips: {JFK} is missing")
    for name, (voice, text) in SPOKEN.items():
        try:
            made[name] = synthesize(text, voice=voice, words_per_minute=150)
        except SpeechError as error:
            print(f"skipping {name}: {error}")
    return made


def timed(run) -> tuple[float, tuple]:
    started = time.perf_counter()
    outcome = run()
    return time.perf_counter() - started, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="base")
    args = parser.parse_args()
    transcriber = Transcriber(resolve_model(args.model), cpu_threads=args.threads, beam_size=5)
    transcriber.load()
    model = transcriber._model  # the same instance for both, so only the path differs

    def plain(samples):
        pieces, info = model.transcribe(samples, beam_size=5)
        segments = [(piece.text, piece.start, piece.end) for piece in pieces]
        return segments, info.language, info.language_probability

    def encode_once(samples):
        # The decoded samples, not the file: both sides time transcription alone.
        transcript = transcriber._transcribe_samples(samples, None, deadline=float("inf"))
        segments = [(segment.text, segment.start, segment.end) for segment in transcript.segments]
        return segments, transcript.language, transcript.language_probability

    try:
        transcriber.warm_up()
        with tempfile.TemporaryDirectory() as folder:
            audio = {name: decode(data, 300) for name, data in clips(Path(folder)).items()}
        print(f"faster-whisper {args.model}, int8, beam 5, {args.threads} thread(s), "
              f"median of {args.repeats}")
        print(f"{'clip':<17}{'audio s':>8}{'transcribe() s':>16}{'encode-once s':>15}{'speed-up':>10}"
              f"{'identical':>11}{'Δ p':>10}")
        for name, samples in audio.items():
            plain_times, ours_times, identical = [], [], True
            for repeat in range(args.repeats):
                # Alternating which goes first, so neither always finds the caches warm.
                order = (plain, encode_once) if repeat % 2 == 0 else (encode_once, plain)
                results = {run: timed(lambda run=run, samples=samples: run(samples)) for run in order}
                plain_times.append(results[plain][0])
                ours_times.append(results[encode_once][0])
                expected, got = results[plain][1], results[encode_once][1]
                identical &= got[:2] == expected[:2]
            before, after = statistics.median(plain_times), statistics.median(ours_times)
            print(f"{name:<17}{len(samples) / 16000:>8.1f}{before:>16.2f}{after:>15.2f}"
                  f"{before / after:>9.2f}x{'yes' if identical else 'no':>11}{got[2] - expected[2]:>+10.4f}")
    finally:
        transcriber.close()


if __name__ == "__main__":
    main()
