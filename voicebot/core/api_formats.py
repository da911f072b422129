"""The transcription API's answers as OpenAI shapes them (platform.openai.com/docs/api-reference/audio): a
transcript in each `response_format`, the server-sent events of `stream=true`, the model list, and errors as
{"error": {"message", "type", "param", "code"}} with their HTTP status. The HTTP adapter sends these; the
actors never see them."""
import json
import math
from dataclasses import dataclass
from http import HTTPStatus

from voicebot.core.api import Failed, Refused
from voicebot.core.domain import FailureReason, Segment, Task, Transcript
from voicebot.core.subtitles import srt, webvtt

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
STREAMED_FORMATS = ("json", "text")   # the events carry text only, as OpenAI's do
GRANULARITIES = ("segment", "word")
WHISPER_1 = "whisper-1"   # OpenAI's name for Whisper, which clients send by default: the bot's own model here

# Whisper's names of its languages, which verbose_json says in place of the code (OpenAI answers "english").
_LANGUAGE_NAMES = dict(pair.split(":") for pair in (
    "en:english zh:chinese de:german es:spanish ru:russian ko:korean fr:french ja:japanese pt:portuguese "
    "tr:turkish pl:polish ca:catalan nl:dutch ar:arabic sv:swedish it:italian id:indonesian hi:hindi fi:finnish "
    "vi:vietnamese he:hebrew uk:ukrainian el:greek ms:malay cs:czech ro:romanian da:danish hu:hungarian "
    "ta:tamil no:norwegian th:thai ur:urdu hr:croatian bg:bulgarian lt:lithuanian la:latin mi:maori "
    "ml:malayalam cy:welsh sk:slovak te:telugu fa:persian lv:latvian bn:bengali sr:serbian az:azerbaijani "
    "sl:slovenian kn:kannada et:estonian mk:macedonian br:breton eu:basque is:icelandic hy:armenian ne:nepali "
    "mn:mongolian bs:bosnian kk:kazakh sq:albanian sw:swahili gl:galician mr:marathi pa:punjabi si:sinhala "
    "km:khmer sn:shona yo:yoruba so:somali af:afrikaans oc:occitan ka:georgian be:belarusian tg:tajik sd:sindhi "
    "gu:gujarati am:amharic yi:yiddish lo:lao uz:uzbek fo:faroese ht:haitian_creole ps:pashto tk:turkmen "
    "nn:nynorsk mt:maltese sa:sanskrit lb:luxembourgish my:myanmar bo:tibetan tl:tagalog mg:malagasy "
    "as:assamese tt:tatar haw:hawaiian ln:lingala ha:hausa ba:bashkir jw:javanese su:sundanese yue:cantonese"
).split())


@dataclass(frozen=True, slots=True)
class Body:
    """What one answer sends: its bytes' text and their content type."""
    text: str
    content_type: str


@dataclass(frozen=True, slots=True)
class ApiError:
    """An error as OpenAI answers it: `type` is the error's family ("invalid_request_error", ...), `param` the
    request field at fault, `code` a name a program can test; `retry_after` whole seconds for Retry-After."""
    status: HTTPStatus
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    retry_after: int | None = None

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def transcript_body(transcript: Transcript, response_format: str, task: Task,
                    granularities: tuple[str, ...] = ()) -> Body:
    """The transcript as `response_format` writes it; verbose_json has its segments unless only "word" was
    asked for, and its words when "word" was (OpenAI's timestamp_granularities[])."""
    if response_format == "text":
        return Body(transcript.text + "\n" if transcript.text else "", "text/plain; charset=utf-8")
    if response_format == "srt":
        return Body(srt(transcript.segments), "application/x-subrip; charset=utf-8")
    if response_format == "vtt":
        return Body(webvtt(transcript.segments), "text/vtt; charset=utf-8")
    if response_format == "verbose_json":
        return _json(_verbose(transcript, task, granularities))
    return _json({"text": transcript.text, "usage": _usage(transcript)})


def no_speech(audio_seconds: float = 0.0) -> Transcript:
    """What a recording without speech is answered with: an empty text, as OpenAI answers it (no error)."""
    return Transcript("", "", 0.0, audio_seconds, 0.0)


def _verbose(transcript: Transcript, task: Task, granularities: tuple[str, ...]) -> dict:
    verbose = {"task": task.value, "language": language_name(transcript.language),
               "duration": _seconds(transcript.audio_seconds), "text": transcript.text}
    if "segment" in granularities or not granularities:
        verbose["segments"] = [_segment(number, segment) for number, segment in enumerate(transcript.segments)]
    if "word" in granularities:
        verbose["words"] = [{"word": word.text.strip(), "start": _seconds(word.start), "end": _seconds(word.end)}
                            for segment in transcript.segments for word in segment.words]
    verbose["usage"] = _usage(transcript)
    return verbose


def _segment(number: int, segment: Segment) -> dict:
    # OpenAI's segments also carry Whisper's decoding figures (seek, tokens, avg_logprob, ...): the transcript
    # keeps none of them, and a made-up value would be worse than none (the README says so).
    return {"id": number, "start": _seconds(segment.start), "end": _seconds(segment.end), "text": segment.text}


def _usage(transcript: Transcript) -> dict:
    """OpenAI bills Whisper by the second, rounded up, and says so in `usage`."""
    return {"type": "duration", "seconds": math.ceil(transcript.audio_seconds)}


def language_name(code: str) -> str:
    """Whisper's name of a language (verbose_json's `language`); the code itself for one it has no name for."""
    return _LANGUAGE_NAMES.get(code, code)


def _seconds(value: float) -> float:
    return round(value, 3) if math.isfinite(value) else 0.0


def _json(value: dict) -> Body:
    return Body(json.dumps(value, ensure_ascii=False), "application/json")


# --- stream=true: server-sent events, as the openai package reads them ---------------------------------------

STREAM_CONTENT_TYPE = "text/event-stream"


def delta_event(delta: str) -> str:
    return _event({"type": "transcript.text.delta", "delta": delta})


def done_event(text: str) -> str:
    return _event({"type": "transcript.text.done", "text": text})


def error_event(error: ApiError) -> str:
    """An error after the stream has begun (its status already sent): the openai package raises it."""
    return _event(error.body())


def _event(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def models_body(model_ids: tuple[str, ...], created: int) -> dict:
    """GET /v1/models: the ids a request's `model` may name."""
    return {"object": "list", "data": [model_body(model_id, created) for model_id in model_ids]}


def model_body(model_id: str, created: int) -> dict:
    return {"id": model_id, "object": "model", "created": created, "owned_by": "voicebot"}


# --- errors ----------------------------------------------------------------------------------------------------

def invalid(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, message, param=param, code=code)


_REFUSALS = {
    "quota": (HTTPStatus.TOO_MANY_REQUESTS, "insufficient_quota", "insufficient_quota", None),
    "busy": (HTTPStatus.SERVICE_UNAVAILABLE, "server_error", "queue_full", None),
    "too_big": (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "invalid_request_error", "file_too_large", "file"),
    "too_long": (HTTPStatus.BAD_REQUEST, "invalid_request_error", "audio_too_long", "file"),
}

_FAILURES = {
    FailureReason.UNREADABLE_AUDIO: (HTTPStatus.BAD_REQUEST, "invalid_request_error", "invalid_audio", "file"),
    FailureReason.TOO_LONG: (HTTPStatus.BAD_REQUEST, "invalid_request_error", "audio_too_long", "file"),
    FailureReason.TOO_BIG: (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "invalid_request_error", "file_too_large", "file"),
    FailureReason.WORKER_CRASHED: (HTTPStatus.BAD_REQUEST, "invalid_request_error", "invalid_audio", "file"),
    FailureReason.OVER_QUOTA: (HTTPStatus.TOO_MANY_REQUESTS, "insufficient_quota", "insufficient_quota", None),
    FailureReason.BUSY: (HTTPStatus.SERVICE_UNAVAILABLE, "server_error", "queue_full", None),
    FailureReason.TIMEOUT: (HTTPStatus.INTERNAL_SERVER_ERROR, "server_error", "timeout", None),
}


def answer_error(answer: Refused | Failed) -> ApiError:
    """A refusal or a failure as OpenAI's error. A refusal the table does not know is the server's to lift when
    it says when to retry (503), else the request's (400); a failure it does not know is the server's (500)."""
    if isinstance(answer, Refused):
        retry_after = None if answer.retry_after is None else max(1, math.ceil(answer.retry_after))
        default = ((HTTPStatus.SERVICE_UNAVAILABLE, "server_error") if retry_after is not None
                   else (HTTPStatus.BAD_REQUEST, "invalid_request_error"))
        status, kind, code, param = _REFUSALS.get(answer.reason, (*default, answer.reason, None))
        return ApiError(status, answer.text, kind, param, code, retry_after)
    status, kind, code, param = _FAILURES.get(
        answer.reason, (HTTPStatus.INTERNAL_SERVER_ERROR, "server_error", answer.reason.value, None))
    return ApiError(status, answer.text, kind, param, code)
