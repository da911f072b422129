import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.messages import JobFailed, NodeStatus, ShowProgress, TranscriptReady
from actors.wire import event_from_wire, event_to_wire, job_from_wire, job_to_wire
from voicebot.core.domain import FailureReason, Job, JobKey, Media, MediaKind, Segment, Transcript

ids = st.integers(min_value=-10**15, max_value=10**15)
texts = st.text(max_size=50)
optional_ints = st.none() | st.integers(min_value=0, max_value=10**9)
jobs = st.builds(
    Job, st.builds(JobKey, ids, ids), ids,
    st.builds(Media, st.sampled_from(MediaKind), texts, optional_ints, optional_ints, st.none() | texts,
              st.none() | texts),
    st.none() | st.sampled_from(["en", "de"]), st.booleans(), st.integers(min_value=1, max_value=9))
seconds = st.floats(min_value=0, max_value=10**4, allow_nan=False)
transcripts = st.builds(Transcript, texts, st.sampled_from(["en", "ru"]), seconds, seconds, seconds,
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
