"""WhisperActor: holds one loaded model and transcribes one job at a time."""
import logging
import time

from actors.base import SupervisedActor
from actors.messages import AnnounceReady, JobFailed, ShowProgress, Transcribe, TranscriptReady, WorkerReady
from voicebot.core.domain import FailureReason, Job, Segment
from voicebot.core.errors import JobError, TelegramError, one_line
from voicebot.core.ports import NO_METRICS, AudioSource, Mailbox, Metrics, Transcriber
from voicebot.core.replies import Languages

log = logging.getLogger(__name__)

LIVE_TEXT_AFTER_SECONDS = 20


class WhisperActor(SupervisedActor):
    # A transcription stuck in native code must not keep the process alive after shutdown.
    use_daemon_thread = True

    def __init__(self, name: str, transcriber: Transcriber, audio_source: AudioSource, dispatcher: Mailbox,
                 sender: Mailbox, max_file_bytes: int, supervisor: Mailbox | None = None,
                 metrics: Metrics = NO_METRICS, languages: Languages | None = None):
        super().__init__(name, supervisor)
        self._transcriber = transcriber
        self._audio_source = audio_source
        self._dispatcher = dispatcher
        self._sender = sender
        self._max_file_bytes = max_file_bytes
        self._metrics = metrics
        self._languages = languages or Languages()

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
            case Transcribe(job):
                self._dispatcher.tell(self._transcribe(job))
            case AnnounceReady():   # a restarted dispatcher asks; anything held was answered before this
                self._dispatcher.tell(WorkerReady(self.name))
            case _:
                return NotImplemented

    def _progress_reporter(self, job: Job):
        """Shows the text so far in the chat while a long recording is transcribed; short ones
        are done before anyone could read it."""
        if job.media.duration is not None and job.media.duration <= LIVE_TEXT_AFTER_SECONDS:
            return None
        pieces: list[str] = []
        words = self._languages[job.interface_language]

        def report(segment: Segment) -> None:
            pieces.append(segment.text)
            self._sender.tell(ShowProgress(job.key, words.in_progress("".join(pieces))))
        return report

    def _transcribe(self, job: Job) -> TranscriptReady | JobFailed:
        started = time.monotonic()
        try:
            with self._audio_source.fetch(job.media.file_id, self._max_file_bytes) as audio:
                transcript = self._transcriber.transcribe(audio, job.language,
                                                          on_segment=self._progress_reporter(job),
                                                          max_seconds=job.max_seconds)
        except JobError as error:
            outcome = JobFailed(job, error.reason, self.name)
            detail = str(error)
        except TelegramError as error:
            outcome = JobFailed(job, FailureReason.DOWNLOAD_FAILED, self.name)
            detail = str(error)
        except Exception as error:  # a bug or a native failure must cost one job, not the worker
            log.exception("%s: unexpected error on job %s/%s", self.name, job.chat_id, job.message_id)
            outcome = JobFailed(job, FailureReason.INTERNAL, self.name)
            detail = one_line(error)
        else:
            log.info("job %s/%s user %s: done, %.1f s of %s audio in %.2f s (%s)", job.chat_id, job.message_id,
                     job.user_id, transcript.audio_seconds, transcript.language, transcript.processing_seconds,
                     self.name)
            self._metrics.transcribed(transcript.audio_seconds, transcript.processing_seconds)
            return TranscriptReady(job, transcript, self.name)
        log.info("job %s/%s user %s: failed (%s) after %.2f s: %s", job.chat_id, job.message_id, job.user_id,
                 outcome.reason.value, time.monotonic() - started, detail)
        return outcome
