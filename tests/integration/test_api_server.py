"""The transcription API's HTTP server on its own, over real HTTP: driven by the real `openai` package and by
`curl`, its keys in a real database, in front of a fake TranscriptionDoor that answers what each test sets."""
import json
import logging
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pytest
import srt
import webvtt

from voicebot.adapters import api_server as api_server_module
from voicebot.adapters.api_server import ApiServer
from voicebot.adapters.audio import stated_length
from voicebot.adapters.storage import Storage
from voicebot.adapters.storage.api_keys import ApiKeys
from voicebot.core.api import Failed, Refused, TranscriptionRequest
from voicebot.core.domain import FailureReason, Segment, Task, Transcript, Word

from mailbox import wait_until

MODEL = "small"
MAX_FILE_BYTES = 1024 * 1024
SEGMENTS = (Segment(0.0, 2.5, " And so, my fellow Americans,", (Word(0.0, 0.4, " And"), Word(0.4, 0.9, " so,"))),
            Segment(2.5, 5.0, " ask not what your country can do for you."))
TRANSCRIPT = Transcript("And so, my fellow Americans, ask not what your country can do for you.", "en", 0.98, 5.25,
                        1.5, SEGMENTS)
RECORDING = b"RIFF" + bytes(range(256)) * 40   # the door is a fake: any bytes stand for a recording


@dataclass
class Submitted:
    request: TranscriptionRequest
    audio: bytes          # the file as the door found it on disk
    audio_existed: bool


@dataclass
class FakeDoor:
    """Answers each request from its own thread, as the actors do: `heard` each of `segments`, then `answer`."""
    answer: Transcript | Refused | Failed = TRANSCRIPT
    segments: tuple[Segment, ...] = SEGMENTS
    submitted: list[Submitted] = field(default_factory=list)
    replies: list = field(default_factory=list)
    held: bool = False    # True: it answers nothing until the test does, through `replies`
    went: list[bool] = field(default_factory=list)   # what each answer's `finished` said

    def submit(self, request, replies) -> None:
        self.submitted.append(Submitted(request, request.audio.read_bytes(), request.audio.exists()))
        self.replies.append(replies)
        if not self.held:
            threading.Thread(target=self._answer, args=(replies,)).start()

    def _answer(self, replies) -> None:
        for segment in self.segments:
            replies.heard(segment)
        self.went.append(replies.finished(self.answer))


@pytest.fixture
def storage(tmp_path):
    storage = Storage(f"sqlite:///{tmp_path / 'voicebot.db'}")
    storage.open()
    yield storage
    storage.close()


@pytest.fixture
def secret(storage):
    return ApiKeys().create("scripts")[1]


@pytest.fixture
def door():
    return FakeDoor()


@pytest.fixture
def server(door, storage):
    server = ApiServer("127.0.0.1:0", door, ApiKeys(), model=MODEL, languages=frozenset({"en", "de"}),
                       max_file_bytes=MAX_FILE_BYTES).start()
    yield server
    server.stop()


@pytest.fixture
def base_url(server):
    return f"http://{server.address}/v1"


def openai_client(base_url: str, key: str) -> openai.OpenAI:
    """The openai package's client, straight to the server (no proxy from the environment), without retries:
    a 429 or a 503 reaches the test as it was answered."""
    return openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=30,
                         http_client=openai.DefaultHttpxClient(trust_env=False))


@pytest.fixture
def client(base_url, secret):
    return openai_client(base_url, secret)


@pytest.fixture
def recording(tmp_path) -> Path:
    path = tmp_path / "speech.ogg"
    path.write_bytes(RECORDING)
    return path


def curl(*arguments: str) -> tuple[int, str, dict[str, str]]:
    """(status, body, headers in lower case) of one curl call."""
    done = subprocess.run(["curl", "--silent", "--show-error", "--include", "--noproxy", "*", *arguments],
                          capture_output=True, text=True, timeout=60, check=True)
    answer = done.stdout.replace("\r\n", "\n")
    while answer.startswith("HTTP/1.1 100"):   # curl's Expect: 100-continue, before the answer
        answer = answer.partition("\n\n")[2]
    head, _, body = answer.partition("\n\n")
    status_line, *header_lines = head.split("\n")
    headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in header_lines)}
    return int(status_line.split()[1]), body, headers


def curl_form(url: str, secret: str | None, *fields: str) -> tuple[int, str, dict[str, str]]:
    auth = ["-H", f"Authorization: Bearer {secret}"] if secret else []
    return curl(url, *auth, *(argument for form_field in fields for argument in ("-F", form_field)))


def error_of(body: str) -> dict:
    return json.loads(body)["error"]


# --- what a caller gets ----------------------------------------------------------------------------------------

def test_the_openai_client_gets_the_transcript_and_the_door_the_request(client, door, recording, server):
    with recording.open("rb") as file:
        transcription = client.audio.transcriptions.create(model="whisper-1", file=file)

    assert transcription.text == TRANSCRIPT.text
    [submitted] = door.submitted
    assert submitted.audio == RECORDING and submitted.audio_existed
    assert (submitted.request.key.name, submitted.request.task, submitted.request.size,
            submitted.request.file_name, submitted.request.language, submitted.request.words) == (
        "scripts", Task.TRANSCRIBE, len(RECORDING), "speech.ogg", None, False)
    assert not submitted.request.audio.exists()   # deleted once answered


def test_language_prompt_and_the_bots_own_model_name_reach_the_door(client, door, recording):
    transcription = client.audio.transcriptions.create(model=MODEL, file=recording, language="de",
                                                       prompt="Kennedy, Berlin", temperature=0.2)

    assert transcription.text == TRANSCRIPT.text
    [submitted] = door.submitted
    assert (submitted.request.language, submitted.request.prompt) == ("de", "Kennedy, Berlin")


def test_text_format_is_the_text_alone(client, recording):
    assert client.audio.transcriptions.create(model="whisper-1", file=recording,
                                              response_format="text").strip() == TRANSCRIPT.text


def test_srt_and_vtt_parse_and_keep_the_segments_times(client, recording):
    subrip = client.audio.transcriptions.create(model="whisper-1", file=recording, response_format="srt")
    cues = list(srt.parse(subrip))
    assert " ".join(cue.content.replace("\n", " ") for cue in cues) == TRANSCRIPT.text
    assert (cues[0].start.total_seconds(), cues[-1].end.total_seconds()) == (0.0, 5.0)

    vtt = client.audio.transcriptions.create(model="whisper-1", file=recording, response_format="vtt")
    captions = webvtt.from_string(vtt, strict=True)
    assert " ".join(caption.text.replace("\n", " ") for caption in captions) == TRANSCRIPT.text
    assert (captions[0].start, captions[-1].end) == ("00:00:00.000", "00:00:05.000")


def test_verbose_json_has_the_language_duration_segments_and_words_when_asked(client, door, recording):
    verbose = client.audio.transcriptions.create(model="whisper-1", file=recording, response_format="verbose_json",
                                                 timestamp_granularities=["word", "segment"])

    assert (verbose.text, verbose.language, verbose.duration) == (TRANSCRIPT.text, "english", 5.25)
    assert [(segment.id, segment.start, segment.end, segment.text) for segment in verbose.segments] == [
        (0, 0.0, 2.5, " And so, my fellow Americans,"), (1, 2.5, 5.0, " ask not what your country can do for you.")]
    assert [(word.word, word.start, word.end) for word in verbose.words] == [("And", 0.0, 0.4), ("so,", 0.4, 0.9)]
    assert door.submitted[0].request.words

    plain = client.audio.transcriptions.create(model="whisper-1", file=recording, response_format="verbose_json")
    assert plain.words is None and len(plain.segments) == 2
    assert not door.submitted[1].request.words


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")   # the openai package marks translations so
def test_translations_go_to_the_door_as_translations(client, door, recording):
    translation = client.audio.translations.create(model="whisper-1", file=recording, response_format="verbose_json")

    assert translation.text == TRANSCRIPT.text
    assert door.submitted[0].request.task == Task.TRANSLATE
    assert translation.model_extra["task"] == "translate"


def test_stream_sends_the_text_as_it_is_heard_then_the_whole(client, recording):
    events = list(client.audio.transcriptions.create(model="whisper-1", file=recording, stream=True))

    assert [event.type for event in events] == ["transcript.text.delta", "transcript.text.delta",
                                                "transcript.text.done"]
    assert "".join(event.delta for event in events[:-1]) == TRANSCRIPT.text
    assert events[-1].text == TRANSCRIPT.text


def test_a_stream_that_fails_after_it_began_ends_with_an_error_the_client_raises(client, door, recording):
    door.answer = Failed(FailureReason.TIMEOUT, "The recording took too long to transcribe.")
    stream = client.audio.transcriptions.create(model="whisper-1", file=recording, stream=True)

    with pytest.raises(openai.APIError, match="took too long"):
        list(stream)


def test_models_lists_the_bots_model_and_whisper_1(client):
    assert [model.id for model in client.models.list()] == [MODEL, "whisper-1"]
    assert client.models.retrieve("whisper-1").owned_by == "voicebot"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o-transcribe")


def test_curl_posts_a_form_and_gets_json_and_srt(base_url, secret, recording):
    status, body, headers = curl_form(f"{base_url}/audio/transcriptions", secret, f"file=@{recording}",
                                      "model=whisper-1")
    assert (status, json.loads(body)["text"], headers["content-type"]) == (
        200, TRANSCRIPT.text, "application/json; charset=utf-8")

    status, body, _ = curl_form(f"{base_url}/audio/transcriptions", secret, f"file=@{recording}",
                                "model=whisper-1", "response_format=srt")
    assert status == 200 and list(srt.parse(body))


def test_a_recording_without_speech_is_an_empty_text_not_an_error(client, door, recording):
    door.segments, door.answer = (), Failed(FailureReason.NO_SPEECH, "No speech was found.")

    assert client.audio.transcriptions.create(model="whisper-1", file=recording).text == ""
    assert [event.type for event in client.audio.transcriptions.create(model="whisper-1", file=recording,
                                                                       stream=True)] == ["transcript.text.done"]


# --- refusals and errors -------------------------------------------------------------------------------------------

def test_no_key_a_wrong_key_and_a_revoked_key_get_401_and_reach_no_door(base_url, door, secret, recording, storage):
    wrong = openai_client(base_url, "vb-" + "x" * 40)
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.audio.transcriptions.create(model="whisper-1", file=recording)
    assert refused.value.code == "invalid_api_key"

    status, body, _ = curl_form(f"{base_url}/audio/transcriptions", None, f"file=@{recording}", "model=whisper-1")
    assert (status, error_of(body)["code"]) == (401, "invalid_api_key")

    ApiKeys().revoke("scripts")
    revoked = openai_client(base_url, secret)
    with pytest.raises(openai.AuthenticationError):
        revoked.audio.transcriptions.create(model="whisper-1", file=recording)
    with pytest.raises(openai.AuthenticationError):
        revoked.models.list()
    assert door.submitted == []


def test_the_key_never_reaches_a_log_line(base_url, client, secret, recording, caplog):
    caplog.set_level(logging.DEBUG)
    client.audio.transcriptions.create(model="whisper-1", file=recording)
    almost = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    curl_form(f"{base_url}/audio/transcriptions", almost, f"file=@{recording}", "model=whisper-1")

    assert caplog.records   # the refusal is logged
    assert not [record for record in caplog.records if secret[3:] in record.getMessage() or
                almost[3:] in record.getMessage()]


def test_a_form_that_is_not_multipart_gets_415(base_url, secret, door):
    status, body, _ = curl(f"{base_url}/audio/transcriptions", "-H", f"Authorization: Bearer {secret}",
                           "-H", "Content-Type: application/json", "-d", '{"model": "whisper-1"}')
    assert (status, error_of(body)["type"]) == (415, "invalid_request_error")
    assert door.submitted == []


def test_a_file_over_the_limit_gets_413_while_it_streams_in_and_nothing_stays_on_disk(base_url, secret, door,
                                                                                        server, tmp_path):
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (MAX_FILE_BYTES + 1))
    # Sent chunked, so no Content-Length tells the size before the file is read.
    status, body, _ = curl(f"{base_url}/audio/transcriptions", "-H", f"Authorization: Bearer {secret}",
                           "-H", "Transfer-Encoding: chunked", "-F", f"file=@{big}", "-F", "model=whisper-1")

    assert (status, error_of(body)["param"], error_of(body)["code"]) == (413, "file", "file_too_large")
    assert door.submitted == []
    assert list(Path(server._requests._spool.name).iterdir()) == []


def test_a_body_declared_over_the_limit_gets_413_before_it_is_read(base_url, secret, door, tmp_path):
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (MAX_FILE_BYTES + api_server_module.FORM_OVERHEAD_BYTES + 1))
    status, body, _ = curl_form(f"{base_url}/audio/transcriptions", secret, f"file=@{big}", "model=whisper-1")
    assert (status, error_of(body)["code"]) == (413, "file_too_large")


@pytest.mark.parametrize(("fields", "param", "says"), [
    (("file=@{empty}", "model=whisper-1"), "file", "empty"),
    (("model=whisper-1",), "file", "file is required"),
    (("file=@{recording}",), "model", "model is required"),
    (("file=@{recording}", "model=gpt-4o-transcribe"), "model", "does not exist"),
    (("file=@{recording}", "model=whisper-1", "response_format=xml"), "response_format", "must be one of"),
    (("file=@{recording}", "model=whisper-1", "language=klingon"), "language", "not a language code"),
    (("file=@{recording}", "model=whisper-1", "temperature=hot"), "temperature", "from 0 to 1"),
    (("file=@{recording}", "model=whisper-1", "timestamp_granularities[]=word"), "timestamp_granularities",
     "verbose_json"),
    (("file=@{recording}", "model=whisper-1", "response_format=verbose_json", "timestamp_granularities[]=char"),
     "timestamp_granularities", "'segment' or 'word'"),
    (("file=@{recording}", "model=whisper-1", "stream=true", "response_format=srt"), "stream", "text only"),
    (("file=@{recording}", "model=whisper-1", "stream=maybe"), "stream", "true or false"),
    (("file=@{recording}", "model=whisper-1", "chunking_strategy=auto"), "chunking_strategy", "Unrecognized"),
])
def test_a_bad_form_gets_400_naming_the_field(base_url, secret, door, recording, tmp_path, fields, param, says):
    empty = tmp_path / "empty.ogg"
    empty.write_bytes(b"")
    status, body, _ = curl_form(f"{base_url}/audio/transcriptions", secret,
                                *(value.format(recording=recording, empty=empty) for value in fields))

    error = error_of(body)
    assert (status, error["type"], error["param"]) == (400, "invalid_request_error", param)
    assert says in error["message"]
    assert door.submitted == []


def test_translations_take_no_language_and_no_stream(base_url, secret, recording, door):
    for extra in ("language=en", "stream=true"):
        status, body, _ = curl_form(f"{base_url}/audio/translations", secret, f"file=@{recording}",
                                    "model=whisper-1", extra)
        assert (status, error_of(body)["param"]) == (400, extra.split("=")[0])
    assert door.submitted == []


def test_a_key_over_its_quota_gets_429_with_retry_after(client, door, recording, base_url, secret):
    door.segments, door.answer = (), Refused("quota", "This key has used its 10 minutes for today.", 3600.4)

    with pytest.raises(openai.RateLimitError) as refused:
        client.audio.transcriptions.create(model="whisper-1", file=recording)
    assert (refused.value.code, refused.value.response.headers["retry-after"]) == ("insufficient_quota", "3601")
    assert "10 minutes" in refused.value.message

    status, _, headers = curl_form(f"{base_url}/audio/transcriptions", secret, f"file=@{recording}",
                                   "model=whisper-1", "stream=true")
    assert (status, headers["retry-after"]) == (429, "3601")   # a stream is refused before it begins


def test_a_full_queue_gets_503_with_retry_after(client, door, recording):
    door.segments, door.answer = (), Refused("busy", "Too many recordings are waiting.", 30)

    with pytest.raises(openai.InternalServerError) as refused:
        client.audio.transcriptions.create(model="whisper-1", file=recording)
    assert (refused.value.status_code, refused.value.response.headers["retry-after"]) == (503, "30")


def test_unreadable_audio_gets_400_naming_the_file(client, door, recording):
    door.segments, door.answer = (), Failed(FailureReason.UNREADABLE_AUDIO, "This file holds no audio I can read.")

    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(model="whisper-1", file=recording)
    assert (refused.value.param, refused.value.code) == ("file", "invalid_audio")


def test_unknown_paths_get_404_and_wrong_methods_405(base_url, secret):
    status, body, _ = curl(f"{base_url}/audio/speech", "-X", "POST", "-H", f"Authorization: Bearer {secret}")
    assert (status, error_of(body)["code"]) == (404, "unknown_url")
    status, body, headers = curl(f"{base_url}/audio/transcriptions", "-H", f"Authorization: Bearer {secret}")
    assert (status, error_of(body)["code"], headers["allow"]) == (405, "method_not_allowed", "POST")


# --- the connection's guards, and the actors' side ---------------------------------------------------------------

def test_a_request_whose_head_never_ends_is_cut_at_the_deadline(monkeypatch, door, storage):
    monkeypatch.setattr(api_server_module, "REQUEST_DEADLINE_SECONDS", 0.5)
    server = ApiServer("127.0.0.1:0", door, ApiKeys(), model=MODEL, languages=frozenset(),
                       max_file_bytes=MAX_FILE_BYTES).start()
    try:
        host, port = server.address.split(":")
        with socket.create_connection((host, int(port)), timeout=30) as connection:
            connection.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n")
            assert connection.recv(1024) == b""   # closed, unanswered
    finally:
        server.stop()


def test_an_upload_that_stalls_gets_408(monkeypatch, door, storage, secret):
    monkeypatch.setattr(api_server_module, "REQUEST_DEADLINE_SECONDS", 0.5)
    monkeypatch.setattr(api_server_module, "MIN_UPLOAD_BYTES_PER_SECOND", 10 ** 12)
    server = ApiServer("127.0.0.1:0", door, ApiKeys(), model=MODEL, languages=frozenset(),
                       max_file_bytes=MAX_FILE_BYTES).start()
    try:
        host, port = server.address.split(":")
        with socket.create_connection((host, int(port)), timeout=30) as connection:
            connection.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
                               b"Authorization: Bearer " + secret.encode() + b"\r\n"
                               b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000\r\n\r\n"
                               b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.ogg\"\r\n\r\nabc")
            assert connection.recv(1024).startswith(b"HTTP/1.1 408")
    finally:
        server.stop()
    assert door.submitted == []


def test_headers_past_their_caps_are_refused_and_the_server_serves_on(base_url, secret, caplog):
    status, _, _ = curl(f"{base_url}/models", "-H", f"Authorization: Bearer {secret}",
                        "-H", "X-Padding: " + "x" * (api_server_module.MAX_REQUEST_LINE_BYTES + 1))
    assert status == 400
    assert curl(f"{base_url}/models", "-H", f"Authorization: Bearer {secret}")[0] == 200
    # A stranger's bad request is a refusal counted in one line, not a traceback.
    [refusal] = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert "cannot be parsed" in refusal.getMessage() and refusal.exc_info is None


def held_request(server: ApiServer, secret: str, recording: Path) -> tuple[threading.Thread, list]:
    """A request under way on its own thread; what the client got (a transcription or an error) once it ends."""
    client = openai_client(f"http://{server.address}/v1", secret)
    got: list = []

    def ask() -> None:
        try:
            got.append(client.audio.transcriptions.create(model="whisper-1", file=recording))
        except openai.APIError as error:
            got.append(error)

    asking = threading.Thread(target=ask)
    asking.start()
    return asking, got


def test_a_request_under_way_at_stop_is_told_to_come_back_and_a_later_answer_did_not_go(door, storage, secret,
                                                                                           recording):
    door.held = True
    server = ApiServer("127.0.0.1:0", door, ApiKeys(), model=MODEL, languages=frozenset(),
                       max_file_bytes=MAX_FILE_BYTES).start()
    asking, got = held_request(server, secret, recording)
    assert wait_until(lambda: door.replies, timeout=30)
    server.stop()
    asking.join(30)
    [refused] = got
    assert isinstance(refused, openai.InternalServerError) and refused.status_code == 503
    assert refused.response.headers["retry-after"] == "30"   # answered, as the README says, not cut

    [replies] = door.replies
    replies.heard(SEGMENTS[0])   # an actor's thread: nothing to wait for, nothing raised
    assert replies.finished(TRANSCRIPT) is False   # so the door reports it undelivered: not charged


def test_an_answer_within_the_grace_at_stop_is_delivered(door, storage, secret, recording):
    door.held = True
    server = ApiServer("127.0.0.1:0", door, ApiKeys(), model=MODEL, languages=frozenset(),
                       max_file_bytes=MAX_FILE_BYTES, grace_seconds=60).start()
    asking, got = held_request(server, secret, recording)
    assert wait_until(lambda: door.replies, timeout=30)
    stopping = threading.Thread(target=server.stop)
    stopping.start()
    went = door.replies[0].finished(TRANSCRIPT)
    stopping.join(60)
    asking.join(30)
    assert went is True and [transcription.text for transcription in got] == [TRANSCRIPT.text]


def test_a_request_with_no_answer_in_time_gets_503_and_a_later_answer_did_not_go(door, storage, secret, recording):
    door.held = True   # its job was lost on the way
    server = ApiServer("127.0.0.1:0", door, ApiKeys(), model=MODEL, languages=frozenset(),
                       max_file_bytes=MAX_FILE_BYTES, answer_seconds=0.5).start()
    try:
        asking, got = held_request(server, secret, recording)
        asking.join(60)
        [refused] = got
        assert isinstance(refused, openai.InternalServerError) and refused.status_code == 503
        assert (refused.code, refused.response.headers["retry-after"]) == ("no_answer", "30")
        assert door.replies[0].finished(TRANSCRIPT) is False
        assert list(Path(server._requests._spool.name).iterdir()) == []   # its file is not kept
    finally:
        server.stop()


def test_an_answer_whose_client_has_gone_did_not_go(door, server, secret, recording):
    door.held = True
    host, port = server.address.split(":")
    body = (b"--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
            b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.ogg\"\r\n\r\n" + RECORDING +
            b"\r\n--b--\r\n")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
                           b"Authorization: Bearer " + secret.encode() + b"\r\n"
                           b"Content-Type: multipart/form-data; boundary=b\r\n"
                           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        assert wait_until(lambda: door.replies, timeout=30)
    [replies] = door.replies   # the client left while its request waited
    assert wait_until(lambda: replies._request.transport is None or replies._request.transport.is_closing(),
                      timeout=30)
    assert replies.finished(TRANSCRIPT) is False


def test_the_length_a_browsers_recording_holds_reaches_the_door_though_its_header_states_none(door, storage, secret,
                                                                                                tmp_path, speech_file):
    # MediaRecorder writes WebM as it records, never going back to write its duration: ffmpeg into a pipe alike.
    source, _, _ = speech_file
    webm = tmp_path / "recording.webm"
    with webm.open("wb") as target:
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(source), "-c:a", "libopus", "-f", "webm",
                        "pipe:1"], stdout=target, check=True, timeout=120)
    server = ApiServer("127.0.0.1:0", door, ApiKeys(), model=MODEL, languages=frozenset(),
                       max_file_bytes=MAX_FILE_BYTES, stated_length=stated_length).start()
    try:
        openai_client(f"http://{server.address}/v1", secret).audio.transcriptions.create(model="whisper-1", file=webm)
    finally:
        server.stop()
    assert stated_length(source) is not None
    assert door.submitted[0].request.seconds == pytest.approx(stated_length(source), abs=0.1)


def test_a_file_longer_than_its_header_states_is_told_so_not_refused_as_over_quota(door, storage, secret,
                                                                                      recording):
    door.segments = ()
    door.answer = Failed(FailureReason.OVER_QUOTA, "This recording is longer than what is left of your daily limit.")
    server = ApiServer("127.0.0.1:0", door, ApiKeys(), model=MODEL, languages=frozenset(),
                       max_file_bytes=MAX_FILE_BYTES, stated_length=lambda path: 10.0).start()
    try:
        with pytest.raises(openai.BadRequestError) as refused:
            openai_client(f"http://{server.address}/v1", secret).audio.transcriptions.create(model="whisper-1",
                                                                                         file=recording)
    finally:
        server.stop()
    assert (refused.value.code, refused.value.param) == ("audio_length_misstated", "file")
    assert "10 s" in refused.value.message


def test_a_port_in_use_is_one_line_for_the_operator(server, door):
    with pytest.raises(OSError, match=f"cannot listen on api.listen {server.address}") as failure:
        ApiServer(server.address, door, ApiKeys(), model=MODEL, languages=frozenset(),
                  max_file_bytes=MAX_FILE_BYTES).start()
    assert "\n" not in str(failure.value)


def test_a_broken_multipart_body_gets_400(base_url, secret, door):
    status, body, _ = curl(f"{base_url}/audio/transcriptions", "-H", f"Authorization: Bearer {secret}",
                           "-H", "Content-Type: multipart/form-data; boundary=zz", "--data-binary", "no parts here")
    assert (status, error_of(body)["type"]) == (400, "invalid_request_error")
    assert "multipart form cannot be read" in error_of(body)["message"]
    assert door.submitted == []


def test_a_door_that_takes_nothing_gets_503_and_the_file_is_not_kept(client, door, recording, server, monkeypatch):
    def stopped(request, replies):
        raise RuntimeError("actor stopped")
    monkeypatch.setattr(door, "submit", stopped)

    with pytest.raises(openai.InternalServerError) as refused:
        client.audio.transcriptions.create(model="whisper-1", file=recording)
    assert refused.value.status_code == 503
    assert list(Path(server._requests._spool.name).iterdir()) == []


def test_a_stopped_server_starts_again(server, client, recording):
    server.stop()
    server.start()
    restarted = openai_client(f"http://{server.address}/v1", client.api_key)
    assert restarted.audio.transcriptions.create(model="whisper-1", file=recording).text == TRANSCRIPT.text
