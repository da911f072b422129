"""The transcription API's HTTP side: OpenAI's audio endpoints (POST /v1/audio/transcriptions and
/v1/audio/translations, GET /v1/models) served by aiohttp, the only module importing it.

A request goes no further than its key (Authorization: Bearer, looked up in the ApiKeyBook) and its form
(multipart/form-data, read by aiohttp's multipart reader: the file streamed to a temporary file, refused with
413 as soon as it passes limits.max_file_mb, never held whole in memory). Then it is a TranscriptionRequest
handed to the TranscriptionDoor, and its answer (core.api: a Transcript, Refused or Failed) goes back in the
shape OpenAI gives (core.api_formats).

The server runs its own asyncio loop on one thread. The door answers from the actors' threads, which only hand
what they call over to that loop (call_soon_threadsafe): a slow or vanished client never holds up an actor.
Every request is answered once: by the door, or by the server itself when the door has not answered within
`answer_seconds` or the server stops (503, Retry-After); an answer the door gives after that, or once its
client has gone, is told it did not go (ApiReplies.finished), so it is not charged.
The guards of the bot's other endpoints hold here too (voicebot.adapters.httpserver): a deadline for the
request's head, caps on the request line and the headers, and requests at once capped; the upload has a
deadline of its own, sized for the largest file on a slow line. The server speaks plain HTTP: TLS is the job
of the operator's proxy in front of it."""
import asyncio
import dataclasses
import logging
import math
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

from aiohttp import BodyPartReader, web

from voicebot.adapters.httpserver import (
    MAX_HEADERS,
    MAX_REQUEST_LINE_BYTES,
    REQUEST_DEADLINE_SECONDS,
    RefusalLog,
    bind_address,
)
from voicebot.core.api import ApiKey, Failed, Refused, TranscriptionDoor, TranscriptionRequest
from voicebot.core.api_formats import (
    GRANULARITIES,
    RESPONSE_FORMATS,
    STREAM_CONTENT_TYPE,
    STREAMED_FORMATS,
    WHISPER_1,
    ApiError,
    answer_error,
    delta_event,
    done_event,
    error_event,
    invalid,
    model_body,
    models_body,
    no_speech,
    transcript_body,
)
from voicebot.core.domain import FailureReason, Segment, Task, Transcript
from voicebot.core.errors import StorageError, one_line
from voicebot.core.ports import ApiKeyBook

log = logging.getLogger(__name__)

MAX_REQUESTS_AT_ONCE = 100      # as the webhook's connections: one more is answered 503 at once
MAX_FIELD_BYTES = 16 * 1024     # a form field other than the file (a prompt is at most a few hundred words)
MAX_FIELDS = 20
FORM_OVERHEAD_BYTES = MAX_FIELDS * (MAX_FIELD_BYTES + 1024)   # what a body may hold beside the file
# The slowest upload taken: a 1 Mbit/s line. At that rate the largest file has its time, and a client that
# trickles a byte now and then cannot hold a connection for ever.
MIN_UPLOAD_BYTES_PER_SECOND = 128 * 1024
CHUNK_BYTES = 64 * 1024
_NO_GRACE_SECONDS = 0.01
DEFAULT_ANSWER_SECONDS = 3600.0   # without the door's own deadline: an hour for any answer
COME_BACK_WRITE_SECONDS = 5.0   # at stop, for the answers of the requests told to come back to be written
COME_BACK_RETRY_SECONDS = 30   # the Retry-After of a request the server answers itself (at stop, or past its time)
TRANSCRIPTIONS = "/v1/audio/transcriptions"
TRANSLATIONS = "/v1/audio/translations"


class ApiServer:
    """Serves the API on `listen` (HOST:PORT) between start() and stop(). `door` takes the requests; `keys`
    says whose each is; `model` is the bot's model, which a request names by its id or as "whisper-1";
    `languages` the codes a request's `language` may be; `max_file_bytes` the largest file taken (413 past it);
    `grace_seconds` how long stop() lets requests under way wait for their answers (then they are told to come
    back); `answer_seconds` how long a request waits for the door's answer at most (a little more than the door's
    own deadline: the door answers first); `stated_length(path)` the length an upload's container states (None:
    none), probed off the loop and carried in its request. It may be started again after stop()."""

    def __init__(self, listen: str, door: TranscriptionDoor, keys: ApiKeyBook, *, model: str,
                 languages: frozenset[str], max_file_bytes: int, grace_seconds: float = 0.0,
                 answer_seconds: float = DEFAULT_ANSWER_SECONDS,
                 stated_length: Callable[[Path], float | None] = lambda path: None):
        self._listen = listen
        model_ids = (model, WHISPER_1) if model != WHISPER_1 else (model,)
        self._serving = (door, keys, model_ids, languages, max_file_bytes, grace_seconds, answer_seconds,
                         stated_length)
        self._requests: _Requests | None = None
        self._grace_seconds = grace_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._address = listen

    @property
    def address(self) -> str:
        """HOST:PORT it serves on (the port chosen when `listen` asked for port 0)."""
        return self._address

    def start(self) -> "ApiServer":
        """Serves from now on; OSError (one line for the operator) when `listen` cannot be bound."""
        self._requests = _Requests(*self._serving)
        self._loop = asyncio.new_event_loop()
        opened: Future = Future()
        self._thread = threading.Thread(target=self._serve, args=(opened,), name="api", daemon=True)
        self._thread.start()
        try:
            opened.result()
        except Exception as error:
            self.stop()
            raise OSError(f"the API cannot listen on api.listen {self._listen}: {one_line(error)}") from None
        log.info("api: serving the transcription API at http://%s/v1", self._address)
        return self

    def stop(self) -> None:
        """Takes no more requests; those under way have grace_seconds to be answered, then are told to come back
        (503, Retry-After), and what the door answers them later did not go."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._close(self._runner), self._loop).result()
            self._runner = None
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop = None
        if self._requests is not None:
            self._requests.close()
            self._requests = None

    @staticmethod
    async def _close(runner: web.AppRunner) -> None:
        """The listener closed and the requests under way ended; then what aiohttp left of connections it had
        already given up (one cut at its deadline), so that nothing is pending when the loop closes."""
        await runner.cleanup()
        left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    def _serve(self, opened: Future) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.create_task(self._open(opened))
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _open(self, opened: Future) -> None:
        application = web.Application(middlewares=[self._requests.guard])
        self._requests.route(application)
        application.on_shutdown.append(self._requests.wind_down)   # once the listener is closed
        # keepalive_timeout also closes a connection whose request's head has not come whole within it.
        # aiohttp reads a shutdown_timeout of 0 as "wait for ever".
        runner = web.AppRunner(application, access_log=None, handle_signals=False,
                               shutdown_timeout=max(self._grace_seconds, _NO_GRACE_SECONDS),
                               keepalive_timeout=REQUEST_DEADLINE_SECONDS,
                               max_line_size=MAX_REQUEST_LINE_BYTES, max_field_size=MAX_REQUEST_LINE_BYTES,
                               max_headers=MAX_HEADERS, logger=_ProtocolLog(self._requests.refusals))
        try:
            await runner.setup()
            host, port = bind_address(self._listen)
            site = web.TCPSite(runner, host, port)
            await site.start()
        except Exception as error:  # the bind fails: the address is in use, or not this machine's
            await runner.cleanup()
            opened.set_exception(error)
            return
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._address = f"{host}:{port}"
        opened.set_result(None)


class _ProtocolLog:
    """What aiohttp logs of a connection, as its `logger`: a request it could not parse (a header past its cap,
    bytes that are no HTTP) is a stranger's fault, counted as a refusal rather than logged with a traceback;
    anything else is one line."""

    def __init__(self, refusals: RefusalLog):
        self._refusals = refusals

    def debug(self, *args, **kwargs) -> None:
        pass

    def exception(self, message: str, *args, exc_info: BaseException | None = None, **kwargs) -> None:
        # The error's name only: its text may quote the request's bytes, which may hold a key.
        fault = type(exc_info).__name__ if isinstance(exc_info, BaseException) else "no error"
        if message.startswith("Error handling request from"):
            self._refusals.note(str(args[0]) if args else "?", f"a request that cannot be parsed ({fault})")
        else:
            log.error("api: %s (%s)", message % args if args else message, fault)


class _Refusal(Exception):
    """The request is answered with `error` before it reaches the door."""

    def __init__(self, error: ApiError):
        super().__init__(error.message)
        self.error = error


@dataclass
class _Form:
    """What a request's form said, as read; `audio` the file on disk (None: no file part)."""
    audio: Path | None = None
    size: int = 0
    file_name: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    granularities: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Asked:
    """A valid request: what goes to the door, and how its answer is written."""
    request: TranscriptionRequest
    response_format: str
    stream: bool
    granularities: tuple[str, ...]


_COMMON_FIELDS = {"model", "prompt", "response_format", "temperature", "timestamp_granularities[]"}
_FIELDS = {Task.TRANSCRIBE: _COMMON_FIELDS | {"language", "stream"}, Task.TRANSLATE: _COMMON_FIELDS}


class _Requests:
    """The endpoints, and everything a request meets on its way to the door and back."""

    def __init__(self, door: TranscriptionDoor, keys: ApiKeyBook, model_ids: tuple[str, ...],
                 languages: frozenset[str], max_file_bytes: int, grace_seconds: float, answer_seconds: float,
                 stated_length: Callable[[Path], float | None]):
        self._door = door
        self._grace_seconds = grace_seconds
        self._answer_seconds = answer_seconds
        self._stated_length = stated_length
        self._answering: dict[_Answers, asyncio.Task] = {}   # the requests waiting for the door, by their handlers
        self._keys = keys
        self._model_ids = model_ids
        self._languages = languages
        self._max_file_bytes = max_file_bytes
        self._upload_seconds = REQUEST_DEADLINE_SECONDS + max_file_bytes / MIN_UPLOAD_BYTES_PER_SECOND
        self._created = int(time.time())
        self._under_way = 0
        self.refusals = RefusalLog("api")
        # Key lookups query the database: off the loop, on threads that keep their connection.
        self._lookups = ThreadPoolExecutor(max_workers=2, thread_name_prefix="api-keys")
        # An upload's header is read off the loop, and off the actors' threads (the door's mailbox never waits).
        self._probes = ThreadPoolExecutor(max_workers=2, thread_name_prefix="api-probe")
        self._spool = tempfile.TemporaryDirectory(prefix="voicebot-api-")

    def route(self, application: web.Application) -> None:
        application.router.add_post(TRANSCRIPTIONS, self._transcriptions)
        application.router.add_post(TRANSLATIONS, self._translations)
        application.router.add_get("/v1/models", self._models)
        application.router.add_get("/v1/models/{model}", self._model)

    def close(self) -> None:
        self._lookups.shutdown(wait=False)
        self._probes.shutdown(wait=False)
        self._spool.cleanup()

    async def wind_down(self, _application: web.Application) -> None:
        """At stop: the requests waiting have grace_seconds for the door's answers, then are told to come back."""
        if self._answering and self._grace_seconds > 0:
            await asyncio.wait(list(self._answering.values()), timeout=self._grace_seconds)
        left = list(self._answering.items())
        for answers, _ in left:
            answers.end(Refused("stopping", "The server is stopping; send the request again in a moment.",
                                COME_BACK_RETRY_SECONDS))
        if left:
            log.info("api: %d requests under way at stop told to come back", len(left))
            await asyncio.wait([task for _, task in left], timeout=COME_BACK_WRITE_SECONDS)

    @web.middleware
    async def guard(self, request: web.Request, handler) -> web.StreamResponse:
        """Requests at once capped; every refusal, the router's 404 and 405 too, in OpenAI's shape."""
        if self._under_way >= MAX_REQUESTS_AT_ONCE:
            self.refusals.note(request.remote or "?", "too many requests at once")
            return _error_response(ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "Too many requests at once: retry "
                                            "in a moment.", "server_error", code="server_busy", retry_after=1))
        self._under_way += 1
        try:
            return await handler(request)
        except _Refusal as refusal:
            return _error_response(refusal.error)
        except web.HTTPException as error:   # the router's: no such path, or not its method
            return _error_response(_http_error(request, error), error.headers.get("Allow"))
        except Exception as error:   # a fault of ours: the client learns nothing of it, the operator one line
            log.error("api: %s %s failed: %s: %s", request.method, request.path, type(error).__name__,
                      one_line(error))
            return _error_response(ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "The server failed to answer this "
                                            "request; try again.", "server_error"))
        finally:
            self._under_way -= 1

    async def _models(self, request: web.Request) -> web.Response:
        await self._key(request)
        return web.json_response(models_body(self._model_ids, self._created))

    async def _model(self, request: web.Request) -> web.Response:
        await self._key(request)
        model_id = request.match_info["model"]
        if model_id not in self._model_ids:
            raise _Refusal(ApiError(HTTPStatus.NOT_FOUND, f"The model '{model_id}' does not exist.", param="model",
                                    code="model_not_found"))
        return web.json_response(model_body(model_id, self._created))

    async def _transcriptions(self, request: web.Request) -> web.StreamResponse:
        return await self._transcribe(request, Task.TRANSCRIBE)

    async def _translations(self, request: web.Request) -> web.StreamResponse:
        return await self._transcribe(request, Task.TRANSLATE)

    async def _transcribe(self, request: web.Request, task: Task) -> web.StreamResponse:
        key = await self._key(request)
        form, answers = _Form(), None
        try:
            await self._read_form(request, form)
            asked = self._asked(key, task, form)
            loop = asyncio.get_running_loop()
            seconds = await loop.run_in_executor(self._probes, self._stated_length, form.audio)
            asked = dataclasses.replace(asked, request=dataclasses.replace(asked.request, seconds=seconds))
            answers = _Answers(loop, request, self._answer_seconds)
            self._answering[answers] = asyncio.current_task()
            try:
                self._door.submit(asked.request, answers)
            except Exception as error:   # the actors are stopping: nothing was taken
                log.warning("api: the door took no request: %s", one_line(error))
                raise _Refusal(ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "The server is not taking requests now; try "
                                        "again later.", "server_error", code="unavailable", retry_after=5)) from None
            return await _answer(request, asked, answers)
        finally:
            if answers is not None:
                answers.close()
                self._answering.pop(answers, None)
            if form.audio is not None:
                form.audio.unlink(missing_ok=True)

    async def _key(self, request: web.Request) -> ApiKey:
        """The request's key; 401 without one in use. Never logged: only a key's name ever is."""
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            self.refusals.note(request.remote or "?", "no API key")
            raise _Refusal(ApiError(HTTPStatus.UNAUTHORIZED, "You didn't provide an API key: send it in the "
                                    "Authorization header as 'Bearer YOUR_KEY'.", code="invalid_api_key"))
        try:
            key = await asyncio.get_running_loop().run_in_executor(self._lookups, self._keys.find, secret.strip())
        except StorageError as error:
            log.warning("api: cannot check an API key: %s", error)
            raise _Refusal(ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "The server cannot check API keys now; try "
                                    "again later.", "server_error", retry_after=5)) from None
        if key is None:
            self.refusals.note(request.remote or "?", "an unknown or revoked API key")
            raise _Refusal(ApiError(HTTPStatus.UNAUTHORIZED, "Incorrect API key provided, or it was revoked.",
                                    code="invalid_api_key"))
        return key

    async def _read_form(self, request: web.Request, form: _Form) -> None:
        """The form's fields and its file (on disk, within the limit), all within the upload's deadline."""
        if request.content_type != "multipart/form-data":
            raise _Refusal(ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Send the request as multipart/form-data, "
                                    f"not {request.content_type or 'without a Content-Type'}.",
                                    code="unsupported_media_type"))
        if (request.content_length or 0) > self._max_file_bytes + FORM_OVERHEAD_BYTES:
            raise _Refusal(self._too_big())
        try:
            async with asyncio.timeout(self._upload_seconds):
                await self._read_parts(request, form)
        except TimeoutError:
            raise _Refusal(ApiError(HTTPStatus.REQUEST_TIMEOUT, "The upload took longer than "
                                    f"{self._upload_seconds:.0f} seconds.", code="upload_timeout")) from None
        except ValueError as error:   # aiohttp's word for a form it cannot read (no boundary, a broken part)
            raise _Refusal(invalid(f"The multipart form cannot be read: {one_line(error)}.")) from None

    async def _read_parts(self, request: web.Request, form: _Form) -> None:
        reader = await request.multipart()
        parts = 0
        async for part in reader:
            parts += 1
            if not isinstance(part, BodyPartReader) or parts > MAX_FIELDS + 1:
                raise _Refusal(invalid("The form has nested or too many parts."))
            if part.name == "file":
                await self._spool_file(part, form)
            elif part.name == "timestamp_granularities[]":
                form.granularities.append(await _field_text(part))
            else:
                form.fields[part.name or ""] = await _field_text(part)

    async def _spool_file(self, part: BodyPartReader, form: _Form) -> None:
        if form.audio is not None:
            raise _Refusal(invalid("Send one file per request.", "file"))
        handle = tempfile.NamedTemporaryFile(dir=self._spool.name, delete=False)
        form.audio, form.file_name = Path(handle.name), part.filename
        with handle:
            async for chunk in _chunks(part):
                form.size += len(chunk)
                if form.size > self._max_file_bytes:
                    raise _Refusal(self._too_big())
                handle.write(chunk)

    def _too_big(self) -> ApiError:
        return ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"The file is larger than the "
                        f"{self._max_file_bytes // (1024 * 1024)} MB this server takes.", param="file",
                        code="file_too_large")

    def _asked(self, key: ApiKey, task: Task, form: _Form) -> _Asked:
        """The request the form makes, or the first thing wrong with it."""
        fields = form.fields
        unknown = sorted(set(fields) - _FIELDS[task])
        if unknown:
            raise _Refusal(invalid(f"Unrecognized request argument supplied: {unknown[0]}.", unknown[0]))
        if form.audio is None:
            raise _Refusal(invalid("A file is required: send the recording as the form's 'file' part.", "file"))
        if form.size == 0:
            raise _Refusal(invalid("The file is empty.", "file", "empty_file"))
        model = fields.get("model", "")
        if not model:
            raise _Refusal(invalid("A model is required: 'whisper-1', or an id from GET /v1/models.", "model"))
        if model not in self._model_ids:
            raise _Refusal(invalid(f"The model '{model}' does not exist here; use one of: "
                                   f"{', '.join(self._model_ids)}.", "model", "model_not_found"))
        response_format = fields.get("response_format", "json")
        if response_format not in RESPONSE_FORMATS:
            raise _Refusal(invalid(f"response_format must be one of {', '.join(RESPONSE_FORMATS)}; got "
                                   f"'{response_format}'.", "response_format"))
        language = fields.get("language") or None
        if language is not None and language not in self._languages:
            raise _Refusal(invalid(f"'{language}' is not a language code Whisper knows (ISO-639-1, such as "
                                   "'en').", "language"))
        _check_temperature(fields.get("temperature"))
        granularities = _granularities(form.granularities, response_format)
        stream = _stream(fields.get("stream"), response_format)
        request = TranscriptionRequest(key, form.audio, form.size, task, language, fields.get("prompt") or None,
                                       "word" in granularities, form.file_name)
        return _Asked(request, response_format, stream, granularities)


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK_BYTES):
        yield chunk


async def _field_text(part: BodyPartReader) -> str:
    """A form field's value, at most MAX_FIELD_BYTES of UTF-8."""
    value = bytearray()
    async for chunk in _chunks(part):
        value += chunk
        if len(value) > MAX_FIELD_BYTES:
            raise _Refusal(invalid(f"The field '{part.name}' is longer than {MAX_FIELD_BYTES} bytes.", part.name))
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise _Refusal(invalid(f"The field '{part.name}' is not UTF-8 text.", part.name)) from None


def _check_temperature(text: str | None) -> None:
    """Accepted as OpenAI does (0 to 1), and not used: the bot decodes every recording alike (the README)."""
    if text is None:
        return
    try:
        temperature = float(text)
    except ValueError:
        temperature = math.nan
    if not 0.0 <= temperature <= 1.0:
        raise _Refusal(invalid(f"temperature must be a number from 0 to 1; got '{text}'.", "temperature"))


def _granularities(given: list[str], response_format: str) -> tuple[str, ...]:
    for granularity in given:
        if granularity not in GRANULARITIES:
            raise _Refusal(invalid(f"timestamp_granularities[] may be 'segment' or 'word'; got '{granularity}'.",
                                   "timestamp_granularities"))
    if given and response_format != "verbose_json":
        raise _Refusal(invalid("timestamp_granularities[] needs response_format 'verbose_json'.",
                               "timestamp_granularities"))
    return tuple(dict.fromkeys(given))


def _stream(text: str | None, response_format: str) -> bool:
    if text is None or text.lower() == "false":
        return False
    if text.lower() != "true":
        raise _Refusal(invalid(f"stream must be true or false; got '{text}'.", "stream"))
    if response_format not in STREAMED_FORMATS:
        raise _Refusal(invalid("stream=true sends text only: use response_format 'json' or 'text'.", "stream"))
    return True


class _Answers:
    """The ApiReplies of one request: what the actors' threads call, handed to the server's loop in order. It
    takes one answer: the door's, or the server's own (`end`) when the door has none within `answer_seconds` or
    the server stops; whichever comes second did not go, nor does one whose client has gone."""

    def __init__(self, loop: asyncio.AbstractEventLoop, request: web.Request, answer_seconds: float):
        self._loop = loop
        self._request = request
        self._deadline = loop.time() + answer_seconds
        self._queue: asyncio.Queue[Segment | Transcript | Refused | Failed] = asyncio.Queue()
        # Both sides hand items over with the loop's call_soon, in the order they take this lock: the handler reads
        # them in that order, so the one answer taken is the one handed first.
        self._lock = threading.Lock()
        self._open = True

    def heard(self, segment: Segment) -> None:
        with self._lock:
            if self._open:
                self._hand(segment)

    def finished(self, answer: Transcript | Refused | Failed) -> bool:
        with self._lock:
            if not self._open:
                return False
            self._open = False
            transport = self._request.transport
            client_waits = transport is not None and not transport.is_closing()
            return self._hand(answer) and client_waits   # handed all the same: its handler ends with it

    def end(self, answer: Refused) -> None:
        """The server's own answer (on its loop): the door's, if it comes later, did not go."""
        with self._lock:
            if self._open:
                self._open = False
                self._loop.call_soon(self._queue.put_nowait, answer)

    def close(self) -> None:
        """The request is answered: nothing handed later goes."""
        with self._lock:
            self._open = False

    def _hand(self, item) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
            return True
        except RuntimeError:
            return False   # the server has stopped: no one waits for it any more

    async def next(self) -> Segment | Transcript | Refused | Failed:
        try:
            async with asyncio.timeout_at(self._deadline):
                return await self._queue.get()
        except TimeoutError:
            log.warning("api: a request had no answer within its time; told to come back")
            self.end(Refused("no_answer", "The server did not answer in time; send the request again later.",
                             COME_BACK_RETRY_SECONDS))
            return await self._queue.get()


async def _answer(request: web.Request, asked: _Asked, answers: _Answers) -> web.StreamResponse:
    """Waits for the door's answer (the file stays until it comes: a worker may be reading it). A refusal or a
    failure gets its error status even with stream=true: the stream begins with the first text heard."""
    item = await answers.next()
    if asked.stream and isinstance(item, Segment):
        return await _stream_answer(request, asked, answers, item)
    while isinstance(item, Segment):
        item = await answers.next()
    transcript = _transcript_of(item)
    if transcript is None:
        return _error_response(_error_of(item, asked.request))
    if asked.stream:
        return await _stream_answer(request, asked, answers, transcript)
    body = transcript_body(transcript, asked.response_format, asked.request.task, asked.granularities)
    return web.Response(text=body.text, headers={"Content-Type": body.content_type})


async def _stream_answer(request: web.Request, asked: _Asked, answers: _Answers,
                         item: Segment | Transcript) -> web.StreamResponse:
    """Server-sent events: each piece of text as it is heard, then the whole text. A client that goes away is
    written to no more, and the answer is still waited for."""
    response = web.StreamResponse(headers={"Content-Type": STREAM_CONTENT_TYPE, "Cache-Control": "no-cache"})
    await response.prepare(request)
    sent = ""
    while isinstance(item, Segment):
        delta = item.text.lstrip() if not sent else item.text
        sent += delta
        await _send(response, delta_event(delta))
        item = await answers.next()
    transcript = _transcript_of(item)
    if transcript is None:
        await _send(response, error_event(_error_of(item, asked.request)))
    else:
        if not sent and transcript.text:   # nothing was heard piece by piece (an answer from memory)
            await _send(response, delta_event(transcript.text))
        await _send(response, done_event(transcript.text))
    try:
        await response.write_eof()
    except ConnectionError:
        pass   # the client went away
    return response


async def _send(response: web.StreamResponse, event: str) -> None:
    try:
        await response.write(event.encode())
    except ConnectionError:
        pass   # the client went away: the rest is not sent, and nothing waits on it


def _transcript_of(answer: Transcript | Refused | Failed) -> Transcript | None:
    """The transcript to answer with; a recording without speech has an empty one, as OpenAI answers it."""
    if isinstance(answer, Failed) and answer.reason is FailureReason.NO_SPEECH:
        return no_speech()
    return answer if isinstance(answer, Transcript) else None


def _error_of(answer: Refused | Failed, request: TranscriptionRequest) -> ApiError:
    """A refusal or a failure as OpenAI's error. A file whose container states a length the key's day had room
    for, and which held more than its share, was misstated: the request's fault, not the quota's (the same
    file stated right is refused with 429 and Retry-After, or taken)."""
    if isinstance(answer, Failed) and answer.reason is FailureReason.OVER_QUOTA and request.seconds is not None:
        return invalid(f"The file holds more audio than the {request.seconds:.0f} s its container states; send "
                       "it with its true length in its header.", "file", "audio_length_misstated")
    return answer_error(answer)


def _http_error(request: web.Request, error: web.HTTPException) -> ApiError:
    if error.status == HTTPStatus.METHOD_NOT_ALLOWED:
        return ApiError(HTTPStatus.METHOD_NOT_ALLOWED, f"{request.method} is not allowed on {request.path}.",
                        code="method_not_allowed")
    if error.status == HTTPStatus.NOT_FOUND:
        return ApiError(HTTPStatus.NOT_FOUND, f"Invalid URL ({request.method} {request.path}).",
                        code="unknown_url")
    return ApiError(HTTPStatus(error.status), error.reason, code=None)


def _error_response(error: ApiError, allow: str | None = None) -> web.Response:
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    if allow is not None:
        headers["Allow"] = allow
    if error.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
        headers["Connection"] = "close"   # the rest of the body is not read
    return web.json_response(error.body(), status=error.status, headers=headers)
