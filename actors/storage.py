"""StorageActor: the only code that writes the database while the bot runs."""
import logging

from actors.base import SupervisedActor
from actors.messages import LoadUsage, RecordUsage
from voicebot.storage import StorageError

log = logging.getLogger(__name__)


class StorageActor(SupervisedActor):
    """peewee connections belong to a thread: this actor opens, uses and closes its own."""

    def __init__(self, storage, supervisor=None, name: str = "storage"):
        super().__init__(name, supervisor)
        self._storage = storage

    def prepare(self) -> None:
        self._storage.open()

    def on_stop(self) -> None:
        self._storage.close()

    def handle(self, message):
        match message:
            case RecordUsage(job, day, status, charged_seconds, transcript):
                try:
                    self._storage.record_usage(job, day, status, charged_seconds, transcript)
                except StorageError as error:
                    log.error("could not record usage of job %s/%s: %s", job.chat_id, job.message_id, error)
            case LoadUsage(day):
                return self._storage.charged_seconds_by_user(day)
            case _:
                return NotImplemented
