"""OpenAI's shapes of the API's answers: what a client parses, and the status and code of each refusal."""
import json
from http import HTTPStatus

import pytest

from voicebot.core.api import Failed, Refused
from voicebot.core.api_formats import answer_error, delta_event, done_event, no_speech, transcript_body
from voicebot.core.domain import FailureReason, Segment, Task, Transcript, Word

TRANSCRIPT = Transcript("Hallo Welt.", "de", 0.9, 2.2, 0.5,
                        (Segment(0.0, 2.2, " Hallo Welt.", (Word(0.0, 1.0, " Hallo"), Word(1.0, 2.2, " Welt."))),))


def test_json_has_the_text_and_the_seconds_billed_rounded_up_as_openai_bills():
    body = transcript_body(TRANSCRIPT, "json", Task.TRANSCRIBE)
    assert (json.loads(body.text), body.content_type) == (
        {"text": "Hallo Welt.", "usage": {"type": "duration", "seconds": 3}}, "application/json")


def test_verbose_json_with_words_only_has_no_segments_and_names_the_language():
    verbose = json.loads(transcript_body(TRANSCRIPT, "verbose_json", Task.TRANSLATE, ("word",)).text)
    assert (verbose["task"], verbose["language"], verbose["duration"]) == ("translate", "german", 2.2)
    assert "segments" not in verbose
    assert verbose["words"] == [{"word": "Hallo", "start": 0.0, "end": 1.0}, {"word": "Welt.", "start": 1.0,
                                                                               "end": 2.2}]


def test_a_language_whisper_has_no_name_for_is_given_by_its_code():
    transcript = Transcript("x", "xx", 0.5, 1.0, 0.1)
    assert json.loads(transcript_body(transcript, "verbose_json", Task.TRANSCRIBE).text)["language"] == "xx"


def test_no_speech_is_an_empty_text_in_every_format():
    assert transcript_body(no_speech(), "text", Task.TRANSCRIBE).text == ""
    assert json.loads(transcript_body(no_speech(), "json", Task.TRANSCRIBE).text)["text"] == ""
    assert transcript_body(no_speech(), "srt", Task.TRANSCRIBE).text == ""
    assert transcript_body(no_speech(), "vtt", Task.TRANSCRIBE).text == "WEBVTT\n\n"


def test_stream_events_are_server_sent_events_of_openais_types():
    assert delta_event("Hallo") == 'data: {"type": "transcript.text.delta", "delta": "Hallo"}\n\n'
    assert done_event("Hallo Welt.") == 'data: {"type": "transcript.text.done", "text": "Hallo Welt."}\n\n'


@pytest.mark.parametrize(("answer", "status", "code", "retry_after"), [
    (Refused("quota", "Used up.", 59.2), HTTPStatus.TOO_MANY_REQUESTS, "insufficient_quota", 60),
    (Refused("busy", "Full.", 0.2), HTTPStatus.SERVICE_UNAVAILABLE, "queue_full", 1),
    (Refused("too_big", "Too big."), HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large", None),
    (Refused("too_long", "Too long."), HTTPStatus.BAD_REQUEST, "audio_too_long", None),
    (Refused("paused", "Back soon.", 10), HTTPStatus.SERVICE_UNAVAILABLE, "paused", 10),
    (Refused("banned", "No."), HTTPStatus.BAD_REQUEST, "banned", None),
    (Failed(FailureReason.UNREADABLE_AUDIO, "No audio."), HTTPStatus.BAD_REQUEST, "invalid_audio", None),
    (Failed(FailureReason.TIMEOUT, "Too slow."), HTTPStatus.INTERNAL_SERVER_ERROR, "timeout", None),
    (Failed(FailureReason.INTERNAL, "Oops."), HTTPStatus.INTERNAL_SERVER_ERROR, "internal", None),
])
def test_each_refusal_and_failure_has_its_status_code_and_retry_after(answer, status, code, retry_after):
    error = answer_error(answer)
    assert (error.status, error.code, error.retry_after) == (status, code, retry_after)
    assert error.body()["error"]["message"] == answer.text
