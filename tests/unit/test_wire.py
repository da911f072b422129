import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.messages import JobFailed, NodeStatus, ShowProgress, TranscriptReady
from actors.wire import MAX_SECONDS, event_from_wire, event_to_wire, job_from_wire, job_to_wire
from voicebot.core import subtitles
from voicebot.core.domain import FailureReason, Job, JobKey, Media, MediaKind, Segment, Transcript
from voicebot.core.replies import Wording

ids = st.integers(min_value=-10**15, max_value=10**15)
texts = st.text(max_size=50)
optional_ints = st.none() | st.integers(min_value=0, max_value=10**9)
jobs = st.builds(
    Job, st.builds(JobKey, ids, ids), ids,
    st.builds(Media, st.sampled_from(MediaKind), texts, optional_ints, optional_ints, st.none() | texts,
              st.none() | texts),
    st.none() | st.sampled_from(["en", "de"]), st.booleans(), st.integers(min_value=1, max_value=9))
seconds = st.floats(min_value=0, max_value=10**4, allow_nan=False)
probabilities = st.floats(min_value=0, max_value=1)
transcripts = st.builds(Transcript, texts, st.sampled_from(["en", "ru"]), probabilities, seconds, seconds,
                        st.lists(st.builds(Segment, seconds, seconds, texts), max_size=3).map(tuple))
events = st.one_of(
    st.builds(TranscriptReady, jobs, transcripts, texts),
    st.builds(JobFailed, jobs, st.sampled_from(FailureReason), texts),
    st.builds(ShowProgress, st.builds(JobKey, ids, ids), texts),
    st.builds(NodeStatus, texts, st.integers(min_value=0, max_value=64)))


@given(jobs)
def test_a_job_crosses_the_broker_unchanged(job):
    assert job_from_wire(json.loads(json.dumps(job_to_wire(job)))) == job


@given(events)
def test_every_event_crosses_the_broker_unchanged(event):
    assert event_from_wire(json.loads(json.dumps(event_to_wire(event)))) == event


@pytest.mark.parametrize("payload", [{}, {"type": "transcript"}, {"type": "node", "node": "n", "ready": "many"},
                                     {"type": "gossip"}, {"type": "failed", "job": {}, "reason": "x", "worker": ""}])
def test_a_payload_that_is_not_an_event_is_refused_with_value_error(payload):
    with pytest.raises(ValueError):
        event_from_wire(payload)


def test_a_payload_that_is_not_a_job_is_refused_with_value_error():
    with pytest.raises(ValueError, match="not a job"):
        job_from_wire({"chat_id": 1, "message_id": 2})


def _sample_events() -> list:
    """One event of each kind, every optional number on the wire present."""
    job = Job(JobKey(-1001234567890, 42), 7, Media(MediaKind.VOICE, "file", 2048, 3, "audio/ogg", "a.ogg"),
              "en", True, 1, 12.5)
    transcript = Transcript("hi", "en", 0.9, 3.0, 1.5, (Segment(0.0, 1.5, "hi"), Segment(1.5, 3.0, "there")))
    return [TranscriptReady(job, transcript, "node"), JobFailed(job, FailureReason.UNREADABLE_AUDIO, "node"),
            ShowProgress(job.key, "so far"), NodeStatus("node", 2)]


def _numbers(data, path=()):
    """The path to every number in a wire payload (a bool is no number)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _numbers(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _numbers(value, (*path, index))
    elif isinstance(data, int | float) and not isinstance(data, bool):
        yield path


def _replaced(payload, path, value):
    copy = json.loads(json.dumps(payload))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.loads(json.dumps(copy))   # what the broker hands over: NaN survives json.loads


def _accepted(payload, path, value) -> bool:
    try:
        event_from_wire(_replaced(payload, path, value))
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), 1e300, -1e300])
def test_no_number_anywhere_on_the_wire_may_be_non_finite_or_absurd(bad):
    payloads = [event_to_wire(event) for event in _sample_events()]
    checked = [(payload, path) for payload in payloads for path in _numbers(payload)]
    assert len(checked) == 14 + 7 + 2 + 1   # every number of every kind of event, a new one included
    assert [(payload["type"], path) for payload, path in checked if _accepted(payload, path, bad)] == []


TIMES = [("job", "max_seconds"), ("job", "media", "duration"), ("transcript", "audio_seconds"),
         ("transcript", "processing_seconds"), ("transcript", "segments", 0, 0), ("transcript", "segments", 1, 1)]
COUNTS = [("job", "media", "file_size"), ("job", "attempt")]
IDS = [("job", "chat_id"), ("job", "message_id"), ("job", "user_id")]


@pytest.mark.parametrize("path", TIMES + COUNTS)
def test_times_sizes_and_counts_on_the_wire_are_not_negative(path):
    assert not _accepted(event_to_wire(_sample_events()[0]), path, -1)
    assert not _accepted(event_to_wire(_sample_events()[0]), path, -1e12)


@pytest.mark.parametrize("probability", [-0.1, 1.5, 7])
def test_a_language_probability_on_the_wire_is_between_zero_and_one(probability):
    assert not _accepted(event_to_wire(_sample_events()[0]), ("transcript", "language_probability"), probability)


@pytest.mark.parametrize("path", IDS + COUNTS + [("job", "media", "duration")])
@pytest.mark.parametrize("value", [1.5, 7.0, "7", True])
def test_ids_and_counts_on_the_wire_are_integers(path, value):
    assert not _accepted(event_to_wire(_sample_events()[0]), path, value)


@pytest.mark.parametrize("key", ["chat_id", "message_id"])
def test_live_text_and_heartbeats_carry_integers_only(key):
    assert not _accepted(event_to_wire(_sample_events()[2]), (key,), float("nan"))
    assert not _accepted(event_to_wire(_sample_events()[3]), ("ready",), -1)
    assert not _accepted(event_to_wire(_sample_events()[3]), ("ready",), 2.5)


@pytest.mark.parametrize("max_seconds", [float("nan"), float("inf"), -1.0])
def test_a_worker_refuses_a_job_whose_allowance_is_not_a_finite_non_negative_number(max_seconds):
    payload = _replaced(job_to_wire(_sample_events()[0].job), ("max_seconds",), max_seconds)
    with pytest.raises(ValueError, match="not a job"):
        job_from_wire(payload)


def test_the_extremes_the_wire_lets_through_are_read_back():
    payload = event_to_wire(_sample_events()[0])
    for path, value in [(("transcript", "language_probability"), 0), (("transcript", "language_probability"), 1),
                        (("transcript", "segments", 0, 0), 0), (("job", "max_seconds"), 0),
                        (("job", "media", "file_size"), 0), (("job", "chat_id"), -(2**62)),
                        (("transcript", "audio_seconds"), MAX_SECONDS), (("transcript", "segments", 1, 1), MAX_SECONDS),
                        # What the sender reports is for admission to judge; an admin may give a user 2e9 s a day.
                        (("job", "media", "duration"), 10**9), (("job", "max_seconds"), 2e9)]:
        assert _accepted(payload, path, value), path


@pytest.mark.parametrize("seconds", [0.0, MAX_SECONDS, 1e15, 1e307, -1.0, float("nan"), float("inf"), float("-inf")])
def test_no_segment_time_crashes_the_timestamps_or_the_subtitles(seconds):
    """Whatever a segment's time (the wire's largest, or one that came some other way), the transcript
    with [mm:ss] marks and both subtitle files are written."""
    segments = (Segment(seconds, seconds, "hello"), Segment(0.0, seconds, "there"))
    transcript = Transcript("hello there", "en", 0.9, 3.0, 1.0, segments)
    assert "hello" in Wording().transcript(transcript, None, timestamps=True)
    assert "hello" in subtitles.srt(segments) and "hello" in subtitles.webvtt(segments)


def test_a_worker_gives_whisper_no_control_token_from_a_jobs_vocabulary():
    """A bot node from before vocabularies were cleaned, or one stored then, sends them as they are."""
    payload = job_to_wire(dataclasses.replace(_sample_events()[0].job, vocabulary="Siobhan<|endoftext|> Niamh"))
    assert job_from_wire(json.loads(json.dumps(payload))).vocabulary == "Siobhan Niamh"
    payload["vocabulary"] = "<|translate|>"
    assert job_from_wire(payload).vocabulary is None
