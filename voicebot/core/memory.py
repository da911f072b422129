"""Answers from memory. Telegram keeps a file's file_unique_id in every copy of it (a forwarded voice, the same
file sent again), so a recording transcribed before, as a new job asks for it, is answered with the transcript
kept of it: no download, no model."""
import hashlib
import json

from voicebot.core.domain import Job


def memory_key(job: Job, model: str) -> str | None:
    """What a transcript of `job` is kept under and looked up by: the recording (its file_unique_id), the task, the
    language pinned, the vocabulary (exactly: none is not an empty one) and the model that transcribes. Jobs with
    one key get one transcript; another user's /vocab or pinned language is another key, so it never shapes their
    answer. A digest: one short column, indexed, whatever the length of a vocabulary. None: the recording has no
    file_unique_id to be known by."""
    if not job.media.file_unique_id:
        return None
    made_as = [job.media.file_unique_id, job.task.value, job.language, job.vocabulary, model]
    return hashlib.sha256(json.dumps(made_as).encode()).hexdigest()
