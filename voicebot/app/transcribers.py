"""The WhisperActors' models, made from the settings: one per actor, named after its slot."""
import logging

from voicebot.adapters.quarantine import ProcessQuarantine
from voicebot.adapters.transcriber import Transcriber
from voicebot.app.config import Settings, worker_count, worker_threads

log = logging.getLogger(__name__)


def worker_names(settings: Settings) -> list[str]:
    """The WhisperActors' slots on this node, in start order."""
    return [f"whisper-{number}" for number in range(1, worker_count(settings) + 1)]


def make_transcriber(settings: Settings, model_path: str, cpu_threads: int | None = None) -> Transcriber:
    """The configured model; `cpu_threads` overrides the share of the cores each WhisperActor gets."""
    whisper = settings.whisper
    return Transcriber(model_path, device=whisper.device, compute_type=whisper.compute_type,
                       cpu_threads=cpu_threads or worker_threads(settings), beam_size=whisper.beam_size,
                       language=whisper.language, timeout_seconds=whisper.timeout_seconds,
                       max_audio_seconds=settings.limits.max_duration_seconds)


class Transcribers:
    """Each WhisperActor's model, made as it starts. A standby makes the first ones ahead, loaded and warmed
    up, so that taking over costs no model load; a restarted WhisperActor always gets a fresh one."""

    def __init__(self, settings: Settings, model_path: str | None):
        self._settings = settings
        self._model_path = model_path
        self._ahead: dict[str, Transcriber] = {}

    def load_ahead(self, names) -> None:
        for name in names:
            transcriber = make_transcriber(self._settings, self._model_path)
            transcriber.load()
            transcriber.warm_up()
            self._ahead[name] = transcriber
        log.info("models loaded for %d transcription workers, ready to take over", len(self._ahead))

    def quarantine(self) -> ProcessQuarantine:
        """Where the WhisperActors transcribe a recording under suspicion: a child process per try, each loading
        its own copy of the model."""
        whisper = self._settings.whisper
        return ProcessQuarantine(make_transcriber(self._settings, self._model_path), whisper.quarantine_tries,
                                 whisper.timeout_seconds)

    def make(self, name: str) -> Transcriber:
        return self._ahead.pop(name, None) or make_transcriber(self._settings, self._model_path)
