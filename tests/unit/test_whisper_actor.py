import dataclasses
from contextlib import contextmanager

import pytest

from actors.api import API_PLACE
from actors.messages import (
    JobFailed,
    PieceTranscribed,
    Ping,
    ShowProgress,
    Transcribe,
    TranscribePiece,
    TranscriptReady,
    WorkerReady,
)
from actors.whisper import WhisperActor
from voicebot.core.audio import AudioPiece, DecodedAudio
from voicebot.core.domain import FailureReason, Segment, Transcript
from voicebot.core.errors import JobError, TelegramError

from helpers import make_job
from mailbox import RecordingMailbox, deliver


class FakeTranscriber:
    def __init__(self, outcome=None):
        self.calls: list[tuple[bytes, str | None]] = []
        self.loaded = self.warmed = False
        self.outcome = outcome or Transcript("hello world", "en", 0.98, 3.0, 0.5)

    def load(self):
        self.loaded = True

    def warm_up(self):
        self.warmed = True

    def close(self):
        self.loaded = False

    def transcribe(self, audio: bytes, language=None, on_segment=None, max_seconds=None, task=None,
                   vocabulary=None, words=False) -> Transcript:
        self.calls.append((audio, language))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        for segment in self.outcome.segments:
            if on_segment is not None:
                on_segment(segment)
        return self.outcome


class FakeAudioSource:
    def __init__(self, error: Exception | None = None):
        self.downloads: list[tuple[str, int]] = []
        self.error = error

    @contextmanager
    def fetch(self, file_id: str, max_bytes: int):
        self.downloads.append((file_id, max_bytes))
        if self.error:
            raise self.error
        yield b"audio of " + file_id.encode()


def start_worker(transcriber, source, dispatcher, sender=None, quarantine=None):
    return WhisperActor.start(name="w1", transcriber=transcriber, audio_source=source, dispatcher=dispatcher,
                              sender=sender or RecordingMailbox(), max_file_bytes=1000, quarantine=quarantine)


def test_it_loads_and_warms_its_model_before_announcing_itself():
    transcriber, dispatcher = FakeTranscriber(), RecordingMailbox()
    deliver(start_worker(transcriber, FakeAudioSource(), dispatcher))
    assert transcriber.loaded and transcriber.warmed
    assert dispatcher.messages == [WorkerReady("w1")]


def test_a_job_under_suspicion_runs_in_quarantine_and_one_that_killed_it_every_time_fails_alone():
    own, quarantine, dispatcher = FakeTranscriber(), FakeTranscriber(), RecordingMailbox()
    worker = start_worker(own, FakeAudioSource(), dispatcher, quarantine=quarantine)
    suspect, poison, next_one = make_job(message_id=4), make_job(message_id=5), make_job()
    deliver(worker, Transcribe(suspect, quarantined=True))
    quarantine.outcome = JobError(FailureReason.WORKER_CRASHED, "it killed the process transcribing it 2 times")
    deliver(worker, Transcribe(poison, quarantined=True), Transcribe(next_one))
    assert quarantine.calls == [(b"audio of file-4", None), (b"audio of file-5", None)]
    assert own.calls == [(b"audio of file-1", None)]   # the worker's own model is for everyone else
    assert [type(outcome) for outcome in dispatcher.messages[1:]] == [TranscriptReady, JobFailed, TranscriptReady]
    assert dispatcher.messages[2] == JobFailed(poison, FailureReason.WORKER_CRASHED, "w1")


def test_it_downloads_within_the_size_limit_and_reports_the_transcript():
    transcriber, source, dispatcher = FakeTranscriber(), FakeAudioSource(), RecordingMailbox()
    job = make_job(message_id=4)
    deliver(start_worker(transcriber, source, dispatcher), Transcribe(job))
    assert source.downloads == [("file-4", 1000)]
    assert transcriber.calls == [(b"audio of file-4", None)]
    assert dispatcher.of(TranscriptReady) == [TranscriptReady(job, transcriber.outcome, "w1")]


@pytest.mark.parametrize("error, reason", [
    (JobError(FailureReason.UNREADABLE_AUDIO), FailureReason.UNREADABLE_AUDIO),
    (JobError(FailureReason.TIMEOUT), FailureReason.TIMEOUT),
    (RuntimeError("ctranslate2 exploded"), FailureReason.INTERNAL),
])
def test_a_failing_transcription_is_reported_and_the_worker_lives_on(error, reason):
    dispatcher = RecordingMailbox()
    worker = start_worker(FakeTranscriber(outcome=error), FakeAudioSource(), dispatcher)
    job = make_job()
    deliver(worker, Transcribe(job))
    assert dispatcher.of(JobFailed) == [JobFailed(job, reason, "w1")]
    assert worker.is_alive()


def test_a_failed_download_is_reported_as_such():
    dispatcher = RecordingMailbox()
    source = FakeAudioSource(TelegramError("getFile", "Bad Gateway", 502))
    job = make_job()
    deliver(start_worker(FakeTranscriber(), source, dispatcher), Transcribe(job))
    assert dispatcher.of(JobFailed) == [JobFailed(job, FailureReason.DOWNLOAD_FAILED, "w1")]


def test_a_model_that_fails_to_load_is_reported_not_announced():
    class BrokenTranscriber(FakeTranscriber):
        def load(self):
            raise RuntimeError("model.bin is corrupt")

    dispatcher, supervisor = RecordingMailbox(), RecordingMailbox()
    worker = WhisperActor.start(name="w1", transcriber=BrokenTranscriber(), audio_source=FakeAudioSource(),
                                dispatcher=dispatcher, sender=RecordingMailbox(), max_file_bytes=1000,
                                supervisor=supervisor)
    assert worker.ask(Ping()) == "w1 could not start: model.bin is corrupt"
    assert dispatcher.messages == []
    assert supervisor.messages[0].reason == "w1 could not start: model.bin is corrupt"


def test_a_long_recording_shows_its_text_so_far_and_a_short_one_does_not():
    segments = (Segment(0, 12, " And so my fellow Americans,"), Segment(12, 25, " ask not"))
    transcriber = FakeTranscriber(Transcript("And so my fellow Americans, ask not", "en", 0.9, 25, 3, segments))
    dispatcher, sender = RecordingMailbox(), RecordingMailbox()
    worker = start_worker(transcriber, FakeAudioSource(), dispatcher, sender)
    long_job, short_job = make_job(message_id=1, duration=25), make_job(message_id=2, duration=9)
    deliver(worker, Transcribe(long_job), Transcribe(short_job))
    assert sender.messages == [ShowProgress(long_job.key, "Processing…\n\nAnd so my fellow Americans,", segments[0]),
                               ShowProgress(long_job.key, "Processing…\n\nAnd so my fellow Americans, ask not",
                                            segments[1])]


def test_an_api_requests_text_goes_out_as_it_is_heard_however_short_it_is():
    segments = (Segment(0, 2, " And so"), Segment(2, 4, " ask not"))
    transcriber = FakeTranscriber(Transcript("And so ask not", "en", 0.9, 4, 1, segments))
    dispatcher, sender = RecordingMailbox(), RecordingMailbox()
    worker = start_worker(transcriber, FakeAudioSource(), dispatcher, sender)
    job = make_job(duration=4)
    request = dataclasses.replace(job, key=dataclasses.replace(job.key, place=API_PLACE))
    deliver(worker, Transcribe(request))
    assert [message.segment for message in sender.of(ShowProgress)] == list(segments)


class FakeSplittingTranscriber(FakeTranscriber):
    """The split path in the project's own types: every recording is 90 s with a pause at 60 s, and a piece's
    "samples" are the words said in it."""

    def deadline(self) -> float:
        return 1000.0

    def decode(self, audio, max_seconds, deadline) -> DecodedAudio:
        self.calls.append((audio, None))
        return DecodedAudio(90.0, "first second")

    def split(self, audio: DecodedAudio, pieces: int) -> list[AudioPiece]:
        return [AudioPiece(0.0, DecodedAudio(60.0, "first")), AudioPiece(60.0, DecodedAudio(30.0, "second"))]

    def language_of(self, audio: DecodedAudio) -> tuple[str, float]:
        return ("de", 0.9) if audio.samples == "first" else ("??", 0.0)

    def transcribe_piece(self, piece: AudioPiece, language, deadline, on_segment=None, task=None,
                         vocabulary=None, words=False) -> Transcript:
        segment = Segment(piece.offset, piece.offset + piece.audio.seconds, " " + piece.audio.samples)
        return Transcript(piece.audio.samples, language, 1.0, piece.audio.seconds, 0.1, (segment,))


def test_a_long_recording_is_split_and_a_helpers_piece_joins_its_own_in_order():
    transcriber, dispatcher, helper = FakeSplittingTranscriber(), RecordingMailbox(), RecordingMailbox("w2")
    worker = start_worker(transcriber, FakeAudioSource(), dispatcher)
    job = make_job(duration=90)
    deliver(worker, Transcribe(job, (("w2", helper),)))
    [told] = helper.of(TranscribePiece)
    assert (told.index, told.piece.offset, told.language, told.deadline) == (1, 60.0, "de", 1000.0)
    assert dispatcher.of(TranscriptReady) == []   # not before the helper's piece is back
    deliver(worker, PieceTranscribed(job.key, 1, transcriber.transcribe_piece(told.piece, "de", 1000.0)))
    [ready] = dispatcher.of(TranscriptReady)
    assert (ready.transcript.text, ready.transcript.language, ready.transcript.audio_seconds) == (
        "first second", "de", 90.0)
    assert [segment.start for segment in ready.transcript.segments] == [0.0, 60.0]
