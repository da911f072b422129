"""What crosses the broker between the bot node and the worker nodes, as JSON-ready dicts: jobs one
way; outcomes, live text and heartbeats the other. A payload that does not decode raises ValueError."""
from actors.messages import JobFailed, NodeStatus, ShowProgress, TranscriptReady
from voicebot.core.domain import FailureReason, Job, JobKey, Media, MediaKind, Segment, Task, Transcript


def job_to_wire(job: Job) -> dict:
    media = job.media
    return {"chat_id": job.chat_id, "message_id": job.message_id, "user_id": job.user_id,
            "language": job.language, "timestamps": job.timestamps, "attempt": job.attempt,
            "max_seconds": job.max_seconds, "task": job.task.value, "vocabulary": job.vocabulary,
            "media": {"kind": media.kind.value, "file_id": media.file_id, "file_size": media.file_size,
                      "duration": media.duration, "mime_type": media.mime_type, "file_name": media.file_name}}


def job_from_wire(data: dict) -> Job:
    try:
        media = data["media"]
        return Job(JobKey(int(data["chat_id"]), int(data["message_id"])), int(data["user_id"]),
                   Media(MediaKind(media["kind"]), str(media["file_id"]), media["file_size"], media["duration"],
                         media["mime_type"], media["file_name"]),
                   data["language"], bool(data["timestamps"]), int(data["attempt"]),
                   None if data.get("max_seconds") is None else float(data["max_seconds"]),
                   # A bot node older than translation and vocabularies sends neither.
                   task=Task(data.get("task", Task.TRANSCRIBE.value)),
                   vocabulary=None if data.get("vocabulary") is None else str(data["vocabulary"]))
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
            return {"type": "progress", "chat_id": key.chat_id, "message_id": key.message_id, "text": text}
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
                return ShowProgress(JobKey(int(data["chat_id"]), int(data["message_id"])), str(data["text"]))
            case "node":
                return NodeStatus(str(data["node"]), int(data["ready"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not an event: {type(error).__name__} {error}") from None
    raise ValueError(f"unknown event type {data['type']!r}")


def _transcript_to_wire(transcript: Transcript) -> dict:
    return {"text": transcript.text, "language": transcript.language,
            "language_probability": transcript.language_probability, "audio_seconds": transcript.audio_seconds,
            "processing_seconds": transcript.processing_seconds,
            "segments": [[segment.start, segment.end, segment.text] for segment in transcript.segments]}


def _transcript_from_wire(data: dict) -> Transcript:
    return Transcript(str(data["text"]), str(data["language"]), float(data["language_probability"]),
                      float(data["audio_seconds"]), float(data["processing_seconds"]),
                      tuple(Segment(float(start), float(end), str(text)) for start, end, text in data["segments"]))
