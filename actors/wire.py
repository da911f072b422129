"""What crosses the broker between the bot node and the worker nodes, as JSON-ready dicts: jobs one
way; outcomes, live text and heartbeats the other. A payload that does not decode raises ValueError.

Every number is checked for its kind before it is used (`_number`): json.loads reads NaN and Infinity, and a
peer with a bug sends any number it likes, which would be charged to a user or crash whoever formats it."""
import math
from dataclasses import dataclass

from actors.messages import JobFailed, NodeStatus, ShowProgress, TranscriptReady
from voicebot.core.domain import FailureReason, Job, JobKey, Media, MediaKind, Segment, Task, Transcript
from voicebot.core.text import vocabulary_words

MAX_INTEGER = 2 ** 63 - 1          # ids, sizes, counts and what a sender reports: what a bigint column holds
# Times Whisper measured: no recording plays, nor takes to transcribe, a year (2 GB, the most a local Bot API
# server serves, of Opus at 6 kbit/s plays for 33 days). An allowance is the admin's to set, up to MAX_INTEGER.
MAX_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class _Range:
    """What a kind of number on the wire may be: within [low, high], and a whole number if `integer`."""
    low: int
    high: int
    integer: bool = False


_ID = _Range(-MAX_INTEGER - 1, MAX_INTEGER, integer=True)
_COUNT = _Range(0, MAX_INTEGER, integer=True)
_ATTEMPT = _Range(1, MAX_INTEGER, integer=True)
_SECONDS = _Range(0, MAX_SECONDS)
_ALLOWANCE = _Range(0, MAX_INTEGER)
_PROBABILITY = _Range(0, 1)


def job_to_wire(job: Job) -> dict:
    media = job.media
    return {"chat_id": job.chat_id, "message_id": job.message_id, "place": job.key.place, "user_id": job.user_id,
            "language": job.language, "timestamps": job.timestamps, "attempt": job.attempt,
            "max_seconds": job.max_seconds, "task": job.task.value, "vocabulary": job.vocabulary,
            "media": {"kind": media.kind.value, "file_id": media.file_id, "file_size": media.file_size,
                      "duration": media.duration, "mime_type": media.mime_type, "file_name": media.file_name}}


def job_from_wire(data: dict) -> Job:
    try:
        media = data["media"]
        return Job(_key(data), _number(data["user_id"], _ID),
                   Media(MediaKind(media["kind"]), str(media["file_id"]), _optional(media["file_size"], _COUNT),
                         _optional(media["duration"], _COUNT), media["mime_type"], media["file_name"]),
                   data["language"], bool(data["timestamps"]), _number(data["attempt"], _ATTEMPT),
                   _optional(data.get("max_seconds"), _ALLOWANCE),
                   # A bot node older than translation and vocabularies sends neither.
                   task=Task(data.get("task", Task.TRANSCRIBE.value)),
                   # Whisper is given words only, whatever the sender kept (see vocabulary_words).
                   vocabulary=vocabulary_words(str(data.get("vocabulary") or "")) or None)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a job: {type(error).__name__} {error}") from None


def event_to_wire(event: TranscriptReady | JobFailed | ShowProgress | NodeStatus) -> dict:
    match event:
        case TranscriptReady(job, transcript, worker):
            return {"type": "transcript", "job": job_to_wire(job), "worker": worker,
                    "transcript": _transcript_to_wire(transcript)}
        case JobFailed(job, reason, worker):
            return {"type": "failed", "job": job_to_wire(job), "worker": worker, "reason": reason.value}
        case ShowProgress(key, text):
            return {"type": "progress", "chat_id": key.chat_id, "message_id": key.message_id, "place": key.place,
                    "text": text}
        case NodeStatus(node, ready):
            return {"type": "node", "node": node, "ready": ready}
    raise TypeError(f"{type(event).__name__} does not cross the broker")


def event_from_wire(data: dict) -> TranscriptReady | JobFailed | ShowProgress | NodeStatus:
    try:
        match data["type"]:
            case "transcript":
                return TranscriptReady(job_from_wire(data["job"]), _transcript_from_wire(data["transcript"]),
                                       str(data["worker"]))
            case "failed":
                return JobFailed(job_from_wire(data["job"]), FailureReason(data["reason"]), str(data["worker"]))
            case "progress":
                return ShowProgress(_key(data), str(data["text"]))
            case "node":
                return NodeStatus(str(data["node"]), _number(data["ready"], _COUNT))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not an event: {type(error).__name__} {error}") from None
    raise ValueError(f"unknown event type {data['type']!r}")


def _transcript_to_wire(transcript: Transcript) -> dict:
    return {"text": transcript.text, "language": transcript.language,
            "language_probability": transcript.language_probability, "audio_seconds": transcript.audio_seconds,
            "processing_seconds": transcript.processing_seconds,
            "segments": [[segment.start, segment.end, segment.text] for segment in transcript.segments]}


def _transcript_from_wire(data: dict) -> Transcript:
    return Transcript(str(data["text"]), str(data["language"]), _number(data["language_probability"], _PROBABILITY),
                      _number(data["audio_seconds"], _SECONDS), _number(data["processing_seconds"], _SECONDS),
                      tuple(Segment(_number(start, _SECONDS), _number(end, _SECONDS), str(text))
                            for start, end, text in data["segments"]))


def _key(data: dict) -> JobKey:
    # A node older than guest mode sends no place: its jobs are all in the bot's own chats.
    place = data.get("place", "")
    if not isinstance(place, str):
        raise ValueError(f"{place!r} is not a place")
    return JobKey(_number(data["chat_id"], _ID), _number(data["message_id"], _ID), place)


def _number(value: object, kind: _Range):
    """`value` as the number of its kind (a float unless whole numbers are meant); ValueError when it is
    no number (a bool, a string, a float where an id belongs), not finite, or out of range."""
    if isinstance(value, bool) or not isinstance(value, int if kind.integer else int | float):
        raise ValueError(f"{value!r} is not {'a whole number' if kind.integer else 'a number'}")
    if (isinstance(value, float) and not math.isfinite(value)) or not kind.low <= value <= kind.high:
        raise ValueError(f"{value!r} is not within [{kind.low}, {kind.high}]")
    return value if kind.integer else float(value)


def _optional(value: object, kind: _Range):
    return None if value is None else _number(value, kind)
