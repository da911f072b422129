"""Transcriber against faster-whisper's own WhisperModel.transcribe().

The Transcriber encodes the first window once and drives faster-whisper's internals itself
(voicebot/adapters/transcriber/decoding.py says how). These tests fail if a faster-whisper upgrade changes those
internals so that its transcripts stop being transcribe()'s, segment for segment.
"""
import shutil
import subprocess
import time
from dataclasses import dataclass

import ctranslate2
import numpy as np
import pytest
from faster_whisper import WhisperModel
from faster_whisper.feature_extractor import FeatureExtractor
from faster_whisper.tokenizer import Tokenizer

from voicebot.adapters.audio import SAMPLE_RATE, decode
from voicebot.adapters.model_files import resolve_model
from voicebot.adapters.speech import SPOKEN_SAMPLES as SPOKEN
from voicebot.adapters.speech import synthesize
from voicebot.adapters.transcriber import Transcriber, decoded, decoding, features
from voicebot.adapters.transcriber.decoding import transcription_options
from voicebot.core.domain import FailureReason, Task
from voicebot.core.errors import JobError, SpeechError

from helpers import SHARED_AUDIO, normalized
from media import sox_wav, wav

BEAM_SIZE = 5
THREADS = 2
CLIPS = ["jfk_flac", "jfk_opus", *SPOKEN]


@dataclass
class Models:
    transcriber: Transcriber
    reference: WhisperModel


@pytest.fixture(scope="session")
def models():
    """The Transcriber and a plain WhisperModel loading the same model, seeded alike.

    When a window fails transcribe()'s quality checks it is decoded again by sampling at a higher
    temperature. CTranslate2 draws those numbers from a generator per worker thread, seeded from
    the global seed on first use; each model has its own worker. With one seed, and every test
    running the same audio through both models, both draw the same numbers and the comparison
    stays exact even then."""
    ctranslate2.set_random_seed(20240601)
    path = resolve_model("base")
    transcriber = Transcriber(path, cpu_threads=THREADS, beam_size=BEAM_SIZE)
    transcriber.load()
    loaded = Models(transcriber, WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=THREADS))
    yield loaded
    # CTranslate2 aborts the process if a model is still alive when the interpreter tears down.
    loaded.transcriber.close()
    loaded.reference = None


@pytest.fixture(scope="session")
def clip_files(tmp_path_factory) -> dict[str, bytes | str]:
    """Each clip's bytes, or why it cannot be made here."""
    folder = tmp_path_factory.mktemp("clips")
    clips: dict[str, bytes | str] = {}
    jfk = SHARED_AUDIO / "jfk.flac"
    clips["jfk_flac"] = jfk.read_bytes() if jfk.is_file() else f"{jfk} is missing"
    if not jfk.is_file():
        clips["jfk_opus"] = f"{jfk} is missing"
    elif shutil.which("ffmpeg") is None:
        clips["jfk_opus"] = "ffmpeg is not installed"
    else:
        opus = folder / "jfk.ogg"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(jfk), "-ac", "1", "-ar", "48000",
                        "-c:a", "libopus", "-b:a", "24k", str(opus)], check=True)
        clips["jfk_opus"] = opus.read_bytes()
    for name, (voice, text) in SPOKEN.items():
        try:
            (folder / f"{name}.wav").write_bytes(synthesize(text, voice=voice, words_per_minute=150))
            clips[name] = (folder / f"{name}.wav").read_bytes()
        except SpeechError as error:
            clips[name] = str(error)
    return clips


@pytest.fixture(params=CLIPS)
def clip(request, clip_files) -> bytes:
    made = clip_files[request.param]
    if isinstance(made, str):
        pytest.skip(f"clip {request.param}: {made}")
    return made


def run_both(models: Models, audio: bytes, language: str | None = None, on_segment=None, task=Task.TRANSCRIBE,
             vocabulary: str | None = None):
    """Our transcript and transcribe()'s (segments, info) for the same decoded samples, run back to
    back so both models draw the same random numbers (see `models`)."""
    samples = decode(audio, max_seconds=300)
    pieces, info = models.reference.transcribe(samples, beam_size=BEAM_SIZE, language=language, task=task.value,
                                               hotwords=vocabulary)
    # Times are kept to the centisecond (28.08, where transcribe() may have 28.080000000000002).
    expected = [(piece.text, round(piece.start, 2), round(piece.end, 2)) for piece in pieces]
    transcript = models.transcriber.transcribe(audio, language, on_segment=on_segment, task=task,
                                               vocabulary=vocabulary)
    return transcript, expected, info


def test_same_transcript_as_faster_whispers_transcribe(models, clip):
    heard = []
    transcript, expected, info = run_both(models, clip, on_segment=heard.append)

    assert [(segment.text, segment.start, segment.end) for segment in transcript.segments] == expected
    # on_segment heard each segment once, in order (the long clip has several).
    assert tuple(heard) == transcript.segments
    assert transcript.text == "".join(text for text, _, _ in expected).strip()
    assert transcript.language == info.language
    # transcribe() detects the language on features[..., :3000] but decodes features[:, :len - 1],
    # padded to 3000 frames: the same window from 30 s on, one frame apart below. Ours is
    # measured on the decoded window, so it is transcribe()'s from 30 s on and close below.
    if transcript.audio_seconds >= 30:
        assert transcript.language_probability == pytest.approx(info.language_probability, abs=1e-6)
    else:
        assert transcript.language_probability == pytest.approx(info.language_probability, abs=0.05)
    decoded_window = models.reference.feature_extractor(decode(clip, max_seconds=300))[:, :-1]
    language, probability, _ = models.reference.detect_language(features=decoded_window)
    assert transcript.language == language
    assert transcript.language_probability == pytest.approx(probability, abs=1e-6)


@pytest.mark.parametrize(("name", "task", "vocabulary"), [
    ("espeak_german", Task.TRANSLATE, None),
    ("espeak_german", Task.TRANSLATE, "Stella, Nakamura"),
    ("espeak_short_en", Task.TRANSCRIBE, "Stella, Siobhan, Kubernetes"),
    ("jfk_flac", Task.TRANSLATE, None),
    ("espeak_long_en", Task.TRANSCRIBE, "Stella"),
])
def test_same_translation_and_hotwords_as_faster_whispers_transcribe(models, clip_files, name, task, vocabulary):
    """The translate task (English, from any language) and a vocabulary (hotwords) decode as transcribe()'s do,
    word for word, window after window."""
    clip = clip_files[name]
    if isinstance(clip, str):
        pytest.skip(f"clip {name}: {clip}")
    transcript, expected, info = run_both(models, clip, task=task, vocabulary=vocabulary)

    assert [(segment.text, segment.start, segment.end) for segment in transcript.segments] == expected
    assert transcript.language == info.language
    if task is Task.TRANSLATE and name == "espeak_german":
        assert not {"guten", "morgen", "heute"} & set(normalized(transcript.text).split()), transcript.text


def test_same_decoding_options_as_faster_whispers_transcribe(models):
    """Temperature fallback and the thresholds change nothing on clips that decode cleanly at
    temperature 0, so the options themselves are compared too."""
    tokenizer = Tokenizer(models.reference.hf_tokenizer, True, task="transcribe", language="en")
    # transcribe() decodes lazily: its options come back before any window is decoded.
    silence = np.zeros(SAMPLE_RATE, np.float32)
    _, info = models.reference.transcribe(silence, beam_size=BEAM_SIZE, language="en")

    assert transcription_options(tokenizer, BEAM_SIZE) == info.transcription_options


def test_the_first_window_is_encoded_once(models, clip_files, monkeypatch):
    audio = _espeak(clip_files, "espeak_short_en")
    model = models.transcriber._model
    encoded = []

    def counted_encode(features):
        encoded.append(features.shape)
        return WhisperModel.encode(model, features)

    monkeypatch.setattr(model, "encode", counted_encode)

    transcript, expected, _ = run_both(models, audio)

    assert len(encoded) == 1
    assert [(segment.text, segment.start, segment.end) for segment in transcript.segments] == expected


def test_a_pinned_language_is_used_without_detection(models, clip_files, monkeypatch):
    audio = _espeak(clip_files, "espeak_short_en")
    model = models.transcriber._model
    monkeypatch.setattr(model, "model", _NoLanguageDetection(model.model))

    transcript, expected, _ = run_both(models, audio, language="en")

    assert (transcript.language, transcript.language_probability) == ("en", 1.0)
    assert [(segment.text, segment.start, segment.end) for segment in transcript.segments] == expected


def test_the_deadline_is_kept_on_a_copy_and_the_shared_model_is_left_as_it_is(models, clip_files):
    """While a job runs, the model others hold (language_of, the next job, a test) is the one loaded."""
    model = models.transcriber._model
    loaded = model.model
    seen = []
    models.transcriber.transcribe(_espeak(clip_files, "espeak_short_en"), "en",
                                  on_segment=lambda segment: seen.append(model.model))
    assert seen and all(held is loaded for held in seen) and model.model is loaded


def test_running_past_the_timeout_is_a_timeout(clip_files):
    # A Transcriber of its own: the timeout is fixed when it is built.
    impatient = Transcriber(resolve_model("base"), cpu_threads=THREADS, timeout_seconds=0.001)
    impatient.load()
    try:
        with pytest.raises(JobError) as raised:
            impatient.transcribe(_espeak(clip_files, "espeak_short_en"))
    finally:
        impatient.close()
    assert raised.value.reason is FailureReason.TIMEOUT


def _espeak(clip_files, name: str) -> bytes:
    made = clip_files[name]
    if isinstance(made, str):
        pytest.skip(f"clip {name}: {made}")
    return made


class _NoLanguageDetection:
    """The CTranslate2 model, except that detecting a language fails the test."""

    def __init__(self, model):
        self._model = model

    def detect_language(self, *args, **kwargs):
        raise AssertionError("a pinned language must not be detected")

    def __getattr__(self, name):
        return getattr(self._model, name)


def test_decoding_stops_at_what_is_left_of_the_users_day(speech_file):
    path, _, seconds = speech_file
    transcriber = Transcriber("unused: decoding comes before the model", max_audio_seconds=300)
    with pytest.raises(JobError) as refused:
        transcriber.transcribe(path.read_bytes(), max_seconds=seconds / 3)
    assert refused.value.reason is FailureReason.OVER_QUOTA


def test_a_long_recordings_features_made_a_piece_at_a_time_are_those_made_at_once(monkeypatch):
    extractor = FeatureExtractor()
    samples = (np.random.default_rng(7).standard_normal(75 * SAMPLE_RATE) * 0.1).astype(np.float32)
    samples[SAMPLE_RATE:2 * SAMPLE_RATE] = 0.0   # silence too: the floor below the loudest value matters
    monkeypatch.setattr(features, "_WHOLE_SAMPLES", 10 * SAMPLE_RATE)
    monkeypatch.setattr(features, "_PIECE_FRAMES", 1234)   # pieces that end anywhere
    assert np.array_equal(features.log_mel(extractor, samples), extractor(samples))


def _noise(kind: str, seconds: int) -> bytes:
    """sox's noise, hum and silence, as the bot would decode them."""
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed (apt-get install sox)")
    return sox_wav(seconds, *kind.split())


@pytest.mark.parametrize("kind", ["sine 0", "pinknoise vol 0.3", "sine 50 vol 0.5", "brownnoise vol 0.3"])
def test_a_recording_without_speech_is_no_speech_before_any_model_time(models, monkeypatch, kind):
    heard = []
    monkeypatch.setattr(models.transcriber, "_transcribe_samples", lambda *args, **kwargs: heard.append(args))
    with pytest.raises(JobError) as raised:
        models.transcriber.transcribe(_noise(kind, 15))
    assert raised.value.reason is FailureReason.NO_SPEECH and heard == []


def test_long_pauses_are_not_heard_and_every_phrase_keeps_its_own_time(models):
    phrases = ["the river is wide and cold", "please open the window", "my brother plays the piano"]
    spoken = [decode(synthesize(phrase), 60) for phrase in phrases]
    pause = np.zeros(25 * SAMPLE_RATE, dtype=np.float32)
    recording = np.concatenate([spoken[0], pause, spoken[1], pause, spoken[2]])
    starts = [0.0, (spoken[0].size + pause.size) / SAMPLE_RATE,
              (spoken[0].size + spoken[1].size + 2 * pause.size) / SAMPLE_RATE]
    shown = []
    transcript = models.transcriber.transcribe(wav(recording), "en", on_segment=shown.append)
    text = " ".join(normalized(segment.text) for segment in transcript.segments)
    assert all(phrase in text for phrase in phrases), text
    assert transcript.audio_seconds == pytest.approx(recording.size / SAMPLE_RATE, abs=0.05)   # charged whole
    for phrase, start in zip(phrases, starts, strict=True):
        [segment] = [segment for segment in transcript.segments if phrase.split()[-1] in normalized(segment.text)]
        assert abs(segment.start - start) < 1.0, (phrase, segment, start)
    assert shown == list(transcript.segments)   # live progress in the recording's time too


def test_a_job_past_its_timeout_is_stopped_at_the_next_model_call_even_inside_one_window():
    class Model:
        calls = 0

        def generate(self, *args):
            Model.calls += 1
            return "decoded"

    deadlined = decoding.Deadlined(Model(), time.monotonic() + 60, 60)
    assert deadlined.generate() == "decoded"
    stuck = decoding.Deadlined(Model(), time.monotonic() - 1, 60)
    with pytest.raises(JobError) as raised:
        stuck.generate()   # as temperature fallback calls it again for the same window
    assert raised.value.reason is FailureReason.TIMEOUT and Model.calls == 1


def test_decoding_a_file_counts_against_the_timeout(clip_files):
    with pytest.raises(JobError) as raised:
        decode(_espeak(clip_files, "espeak_short_en"), 300, deadline=time.monotonic() - 1)
    assert raised.value.reason is FailureReason.TIMEOUT



def test_a_recording_is_split_in_pauses_into_pieces_that_join_into_the_whole(models):
    phrases = ["the river is wide and cold", "please open the window", "my brother plays the piano",
               "the train leaves at noon"]
    pause = np.zeros(SAMPLE_RATE, dtype=np.float32)
    recording = np.concatenate([part for phrase in phrases for part in (decode(synthesize(phrase), 60), pause)])
    pieces = models.transcriber.split(decoded(recording), 2)
    assert len(pieces) == 2 and pieces[0].offset == 0.0
    assert np.array_equal(np.concatenate([piece.audio.samples for piece in pieces]), recording)   # all, in order
    cut = int(pieces[1].offset * SAMPLE_RATE)
    assert not np.any(recording[cut - 800:cut + 800])   # in a pause, never inside a word
    deadline = models.transcriber.deadline()
    texts = [models.transcriber.transcribe_piece(piece, "en", deadline) for piece in pieces]
    assert texts[1].segments[0].start >= pieces[1].offset   # times in the recording
    joined = " ".join(normalized(transcript.text) for transcript in texts)
    assert all(phrase in joined for phrase in phrases), joined

