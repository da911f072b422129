"""WhisperActor: holds one loaded model and transcribes one job at a time, or one piece of a long recording
split over idle WhisperActors (see assembly)."""
import logging
import time

import pykka

from actors.api import is_api_job
from actors.assembly import Assembly
from actors.base import SupervisedActor
from actors.messages import (
    AnnounceReady,
    HelperLost,
    JobFailed,
    PieceTranscribed,
    ShowProgress,
    Transcribe,
    TranscribePiece,
    TranscriptReady,
    WorkerReady,
)
from voicebot.core.domain import FailureReason, Job, Segment, Transcript
from voicebot.core.errors import JobError, TelegramError, one_line
from voicebot.core.ports import NO_METRICS, AudioSource, Mailbox, Metrics, Quarantine, Transcriber
from voicebot.core.replies import Languages

log = logging.getLogger(__name__)

LIVE_TEXT_AFTER_SECONDS = 20


class WhisperActor(SupervisedActor):
    # A transcription stuck in native code must not keep the process alive after shutdown.
    use_daemon_thread = True

    def __init__(self, *, name: str, transcriber: Transcriber, audio_source: AudioSource, dispatcher: Mailbox,
                 sender: Mailbox, max_file_bytes: int, supervisor: Mailbox | None = None,
                 metrics: Metrics = NO_METRICS, languages: Languages | None = None,
                 quarantine: Quarantine | None = None):
        """`quarantine`: where a job under suspicion runs (None: here, as any other)."""
        super().__init__(name, supervisor)
        self._transcriber = transcriber
        self._quarantine = quarantine
        self._audio_source = audio_source
        self._dispatcher = dispatcher
        self._sender = sender
        self._max_file_bytes = max_file_bytes
        self._metrics = metrics
        self._languages = languages or Languages()
        self._assemblies: dict = {}   # JobKey -> Assembly: the split jobs this actor waits on pieces of

    def prepare(self) -> None:
        started = time.monotonic()
        self._transcriber.load()
        self._transcriber.warm_up()
        loaded_in = time.monotonic() - started
        self._metrics.model_loaded(loaded_in)
        log.info("%s ready: model loaded and warmed up in %.1f s", self.name, loaded_in)
        self._dispatcher.tell(WorkerReady(self.name))

    def on_stop(self) -> None:
        self._transcriber.close()

    def handle(self, message):
        match message:
            case Transcribe(job, (), quarantined):
                self._dispatcher.tell(self._attempt(job, lambda: self._transcribe(job, quarantined)))
            case Transcribe(job, helpers):
                self._tell_outcome(self._attempt(job, lambda: self._split(job, helpers)))
            case TranscribePiece() as piece:
                self._transcribe_piece(piece)
            case PieceTranscribed(key, index, transcript, None) if key in self._assemblies:
                self._assemblies[key].add(index, transcript)
                self._tell_outcome(self._outcome_of(key))
            case PieceTranscribed(key, _, _, failure) if key in self._assemblies:
                self._tell_outcome(JobFailed(self._assemblies.pop(key).job, failure, self.name))
            case HelperLost(key, helper) if key in self._assemblies:
                self._do_lost_piece(key, helper)
            case PieceTranscribed() | HelperLost():
                pass   # about a job that has ended already (failed, or lost with this actor's restart)
            case AnnounceReady():   # a restarted dispatcher asks; anything held was answered before this
                self._dispatcher.tell(WorkerReady(self.name))
            case _:
                return NotImplemented

    def _transcribe(self, job: Job, quarantined: bool = False) -> TranscriptReady:
        transcriber = self._quarantine if quarantined and self._quarantine is not None else self._transcriber
        with self._audio_source.fetch(job.media.file_id, self._max_file_bytes) as audio:
            transcript = transcriber.transcribe(audio, job.language, on_segment=self._progress_reporter(job),
                                                max_seconds=job.max_seconds, task=job.task, vocabulary=job.vocabulary,
                                                words=job.words)
        return self._done(job, transcript)

    def _split(self, job: Job, helpers: tuple[tuple[str, Mailbox], ...]) -> TranscriptReady | None:
        """A long recording on an idle bot: cut at pauses into a piece for this actor and one per helper, all
        transcribed at once; the outcome is told once every piece is back (None until then)."""
        transcriber = self._transcriber
        deadline = transcriber.deadline()
        with self._audio_source.fetch(job.media.file_id, self._max_file_bytes) as audio:
            recording = transcriber.decode(audio, job.max_seconds, deadline)
        pieces = transcriber.split(recording, 1 + len(helpers))
        if len(pieces) == 1:   # no pause to cut at: the one piece is the whole recording
            return self._done(job, transcriber.transcribe_piece(pieces[0], job.language, deadline,
                                                                on_segment=self._progress_reporter(job),
                                                                task=job.task, vocabulary=job.vocabulary,
                                                                words=job.words))
        language, probability = (job.language, 1.0) if job.language else transcriber.language_of(pieces[0].audio)
        given = helpers[:len(pieces) - 1]   # fewer pauses than helpers: the rest have nothing to do
        assembly = Assembly(job, pieces, {name: index for index, (name, _) in enumerate(given, start=1)},
                            language, probability, deadline)
        self._assemblies[job.key] = assembly
        for index, (_, helper) in enumerate(given, start=1):
            helper.tell(TranscribePiece(job, index, pieces[index], language, deadline, self.actor_ref))
        log.info("job %s/%s: split at pauses into %d pieces, starting at %s s, transcribed at once", job.chat_id,
                 job.message_id, len(pieces), ", ".join(f"{piece.offset:.0f}" for piece in pieces))
        assembly.add(0, transcriber.transcribe_piece(pieces[0], language, deadline,
                                                     on_segment=self._progress_reporter(job), task=job.task,
                                                     vocabulary=job.vocabulary, words=job.words))
        return self._outcome_of(job.key)

    def _transcribe_piece(self, told: TranscribePiece) -> None:
        job = told.job
        try:
            transcript = self._transcriber.transcribe_piece(told.piece, told.language, told.deadline, task=job.task,
                                                            vocabulary=job.vocabulary, words=job.words)
            answer = PieceTranscribed(job.key, told.index, transcript)
        except JobError as error:
            answer = PieceTranscribed(job.key, told.index, None, error.reason)
        except Exception:  # a bug or a native failure must cost one job, not the worker
            log.exception("%s: unexpected error on a piece of job %s/%s", self.name, job.chat_id, job.message_id)
            answer = PieceTranscribed(job.key, told.index, None, FailureReason.INTERNAL)
        try:
            told.reply_to.tell(answer)
        except pykka.ActorDeadError:
            pass   # the actor that split the job died: the job runs again as a whole

    def _do_lost_piece(self, key, helper: str) -> None:
        assembly = self._assemblies[key]
        index = assembly.piece_of(helper)
        if index is not None:
            outcome = self._attempt(assembly.job, lambda: self._own_piece(assembly, index))
            self._tell_outcome(outcome)

    def _own_piece(self, assembly: Assembly, index: int) -> TranscriptReady | None:
        job = assembly.job
        assembly.add(index, self._transcriber.transcribe_piece(assembly.pieces[index], assembly.language,
                                                               assembly.deadline, task=job.task,
                                                               vocabulary=job.vocabulary, words=job.words))
        return self._outcome_of(assembly.job.key)

    def _outcome_of(self, key) -> TranscriptReady | None:
        assembly = self._assemblies.get(key)
        if assembly is None or not assembly.complete:
            return None
        del self._assemblies[key]
        return self._done(assembly.job, assembly.joined())

    def _tell_outcome(self, outcome: TranscriptReady | JobFailed | None) -> None:
        if outcome is None:
            return
        if isinstance(outcome, JobFailed):
            self._assemblies.pop(outcome.job.key, None)
        self._dispatcher.tell(outcome)

    def _done(self, job: Job, transcript: Transcript) -> TranscriptReady:
        log.info("job %s/%s user %s: done, %.1f s of %s audio in %.2f s (%s)", job.chat_id, job.message_id,
                 job.user_id, transcript.audio_seconds, transcript.language, transcript.processing_seconds,
                 self.name)
        self._metrics.transcribed(transcript.audio_seconds, transcript.processing_seconds)
        return TranscriptReady(job, transcript, self.name)

    def _attempt(self, job: Job, work) -> TranscriptReady | JobFailed | None:
        """What `work` gives, or the job failed in plain words for what went wrong."""
        started = time.monotonic()
        try:
            return work()
        except JobError as error:
            outcome, detail = JobFailed(job, error.reason, self.name), str(error)
        except TelegramError as error:
            outcome, detail = JobFailed(job, FailureReason.DOWNLOAD_FAILED, self.name), str(error)
        except Exception as error:  # a bug or a native failure must cost one job, not the worker
            log.exception("%s: unexpected error on job %s/%s", self.name, job.chat_id, job.message_id)
            outcome, detail = JobFailed(job, FailureReason.INTERNAL, self.name), one_line(error)
        log.info("job %s/%s user %s: failed (%s) after %.2f s: %s", job.chat_id, job.message_id, job.user_id,
                 outcome.reason.value, time.monotonic() - started, detail)
        return outcome

    def _progress_reporter(self, job: Job):
        """Shows the text so far in the chat while a long recording is transcribed; short ones
        are done before anyone could read it. An API request's text goes out as it is heard, whatever its length
        (stream=true sends each segment at once)."""
        if (not is_api_job(job.key) and job.media.duration is not None
                and job.media.duration <= LIVE_TEXT_AFTER_SECONDS):
            return None
        pieces: list[str] = []
        words = self._languages[job.interface_language]

        def report(segment: Segment) -> None:
            pieces.append(segment.text)
            self._sender.tell(ShowProgress(job.key, words.in_progress("".join(pieces)), segment))
        return report
