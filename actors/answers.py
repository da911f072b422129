"""AnswerBook: each job's answer in the making, as calls to the outbox. A job gets one status message
("Processing…", "#2 in queue"), which follows it and finally shows its result; the rest of a long result follows
as replies, and once all of it is out the job's outcome is reported (ResultDelivered). A part of the
TelegramSender, not an actor. A channel's post is its own status message: its jobs are the caption book's
(actors/captions.py).

A job has at most one call waiting in the outbox at a time, so each next step is decided with what the one
before it did: the status message's id before it is edited, an edit that failed before a reply in its place."""
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from actors.captions import CaptionBook
from actors.messages import DeliverResult, JobFailed, PostStatus, ResultDelivered, StatusPosted
from actors.outbox import Made, Outbox, Outcome, Posting
from voicebot.core.calls import (
    BotCall,
    ChannelCaption,
    Destination,
    EditText,
    GuestChat,
    InlineMessage,
    Keyboard,
    PostedMessage,
    SendDocument,
    SendText,
    as_sent,
)
from voicebot.core.domain import FailureReason, JobKey
from voicebot.core.guests import guest_post
from voicebot.core.ports import Mailbox
from voicebot.core.text import split_message

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 3.0
TRANSCRIPT_FILE_NAME = "transcript.txt"


@dataclass
class _Answer:
    """What the book knows of one job's answer."""
    to: Destination | GuestChat            # where replies about the job go
    status: PostedMessage | InlineMessage | None = None    # its status message, once posted
    shown: str | None = None               # what that shows (None: not known, as after a restart)
    waiting: Posting | None = None         # the job's call waiting in the outbox
    wanted: str | None = None              # the status to show once that call is made
    result: DeliverResult | None = None
    first: tuple[str, Keyboard | None] = ("", None)   # the result's first part, and its buttons if it is the last
    tail: tuple[BotCall, ...] = ()         # the result's calls after its first part


class AnswerBook:
    def __init__(self, outbox: Outbox, storage: Mailbox | None, clock: Callable[[], float],
                 status_messages: dict[JobKey, int | str] | None = None):
        """`status_messages`: those of the stored jobs not answered yet, so that a restarted sender edits the
        results into them rather than leaving them saying "Processing…"."""
        self._outbox = outbox
        self._storage = storage
        self._clock = clock
        self._answers: dict[JobKey, _Answer] = {
            key: _Answer(_reply_to(key), status=_posted(key, message_id))
            for key, message_id in (status_messages or {}).items()}
        self._progress_at: dict[int, float] = {}
        self.captions = CaptionBook(outbox)   # channel posts, answered in their own captions

    def post_status(self, message: PostStatus) -> None:
        if isinstance(message.to, ChannelCaption):
            self.captions.post_status(message)
            return
        key = message.key
        answer = self._answers.setdefault(key, _Answer(message.to))
        if answer.result is not None:
            return   # the job is being answered already
        answer.to = message.to
        if message.status_message_id is not None:
            # Posted before a restart: the result goes into that one, so a resumed job repairs, not duplicates.
            # It is left as it is until then: the node that stopped may have put the result there already (and
            # stopped before recording it), which the same result leaves unchanged.
            answer.status = _posted(key, message.status_message_id, message.to)
        elif answer.status is not None or answer.waiting is not None:
            self.show(key, message.text)   # the job came round again: one status message per job
        else:
            self._post(answer, Posting(as_sent(SendText(message.to, message.text)),
                                       partial(self._status_posted, key, message.text)))

    def show(self, key: JobKey, text: str) -> None:
        """The status message now says `text` (or will, once the job's call before it is made)."""
        if key in self.captions:
            self.captions.show(key, text)
            return
        answer = self._answers.get(key)
        if answer is None or answer.result is not None:
            return   # no status to say it in, or the result is on its way
        if answer.waiting is not None:
            answer.wanted = text
            return
        if answer.status is not None and text != answer.shown:   # Telegram refuses an edit that changes nothing
            self._post(answer, self._status_edit(key, answer, text))

    def show_progress(self, key: JobKey, text: str) -> None:
        # Dropped rather than delayed when too soon: the next segment brings newer text anyway.
        last = self._progress_at.get(key.chat_id)
        if last is not None and self._clock() - last < PROGRESS_INTERVAL_SECONDS:
            return
        self._progress_at[key.chat_id] = self._clock()
        self.show(key, text)

    def deliver(self, result: DeliverResult) -> None:
        """The result goes into the status message (a reply when there is none), its further parts and file
        after it; then its outcome is reported."""
        if result.key in self.captions:
            self.captions.deliver(result)
            return
        answer = self._answers.setdefault(result.key, _Answer(_reply_to(result.key)))
        answer.result, answer.wanted = result, None
        first, *rest = split_message(result.text) or [result.text]
        texts = [SendText(answer.to, piece) for piece in rest]
        if texts:   # the buttons go under the transcript's last part
            texts[-1] = SendText(answer.to, texts[-1].text, result.keyboard)
        answer.first = (first, None if texts else result.keyboard)
        answer.tail = tuple(texts)
        if result.as_file:   # the text is encoded only for a result that also comes as a file
            answer.tail += (SendDocument(answer.to, TRANSCRIPT_FILE_NAME, result.text.encode(),
                                         result.file_caption or None),)
        if isinstance(answer.to, GuestChat):   # a guest post is one message: no further parts, file nor buttons
            post = guest_post(result.text, result.rest_elsewhere)
            answer.first, answer.tail = (post, None), ()
            if post != result.text and result.rest_to is not None:   # cut, and no link can fetch the rest later
                answer.tail = tuple(SendText(result.rest_to, piece) for piece in split_message(result.text))
        if (answer.waiting is not None and isinstance(answer.waiting.call, EditText)
                and self._outbox.withdraw(answer.waiting)):
            answer.waiting = None   # progress not shown yet: the result supersedes it
        if answer.waiting is None:   # else the status is still being posted: the result follows it
            for posting in self._first_part(result.key):
                self._post(answer, posting)

    def forget_idle(self) -> None:
        now = self._clock()
        for chat_id, at in list(self._progress_at.items()):
            if now - at > PROGRESS_INTERVAL_SECONDS:
                del self._progress_at[chat_id]

    def _post(self, answer: _Answer, posting: Posting) -> None:
        answer.waiting = posting
        self._outbox.post(posting)

    def _status_edit(self, key: JobKey, answer: _Answer, text: str) -> Posting:
        return Posting(EditText(answer.status, text), partial(self._status_edited, key, text))

    def _status_posted(self, key: JobKey, text: str, outcome: Outcome) -> Sequence[Posting]:
        answer = self._answers[key]
        if isinstance(outcome, Made) and outcome.message_id is not None:
            answer.status, answer.shown = _posted(key, outcome.message_id, answer.to), text
            if self._storage is not None:
                chat_id = answer.status.chat_id if isinstance(answer.status, PostedMessage) else None
                self._storage.tell(StatusPosted(key, outcome.message_id, chat_id))
        return self._next(key, answer)

    def _status_edited(self, key: JobKey, text: str, outcome: Outcome) -> Sequence[Posting]:
        answer = self._answers[key]
        if isinstance(outcome, Made):
            answer.shown = text
        return self._next(key, answer)

    def _next(self, key: JobKey, answer: _Answer) -> Sequence[Posting]:
        """After the job's status call: its result if that waited, else the newest status wanted meanwhile."""
        answer.waiting = None
        if answer.result is not None:
            return self._first_part(key)
        wanted, answer.wanted = answer.wanted, None
        if wanted is None or answer.status is None or wanted == answer.shown:
            return ()
        answer.waiting = self._status_edit(key, answer, wanted)
        return (answer.waiting,)

    # --- a result's route: its first part into the status message, or as a reply if that fails; a reply
    # Telegram refuses for good is replaced by the failure it means; then the tail; then the report.

    def _first_part(self, key: JobKey) -> Sequence[Posting]:
        answer = self._answers[key]
        text, keyboard = answer.first
        if answer.status is not None and text == answer.shown:
            return self._tail(key, delivered=True)
        if answer.status is not None:
            return (Posting(EditText(answer.status, text, keyboard), partial(self._first_part_edited, key)),)
        return self._first_part_as_reply(key)

    def _first_part_edited(self, key: JobKey, outcome: Outcome) -> Sequence[Posting]:
        if isinstance(outcome, Made):
            return self._tail(key, delivered=True)
        return self._first_part_as_reply(key)   # the status message is gone (deleted, say)

    def _first_part_as_reply(self, key: JobKey) -> Sequence[Posting]:
        answer = self._answers[key]
        text, keyboard = answer.first
        return (Posting(as_sent(SendText(answer.to, text, keyboard)), partial(self._first_part_sent, key)),)

    def _first_part_sent(self, key: JobKey, outcome: Outcome) -> Sequence[Posting]:
        refused_text = self._answers[key].result.refused_text
        if isinstance(outcome, Made):
            return self._tail(key, delivered=True)
        if outcome.refused and refused_text:
            return self._replaced_by_failure(key, refused_text)
        return self._tail(key, delivered=False)

    def _replaced_by_failure(self, key: JobKey, text: str) -> Sequence[Posting]:
        """Telegram refused the answer for good (a 400): the plain failure reply takes its place, in the status
        message if there is one, and the job ends as failed, never left unanswered for the next start."""
        answer = self._answers[key]
        as_reply = Posting(as_sent(SendText(answer.to, text)),
                           lambda _: self._tail(key, delivered=True, refused=True))
        if answer.status is None:
            return (as_reply,)
        return (Posting(EditText(answer.status, text),
                        lambda outcome: self._tail(key, True, True) if isinstance(outcome, Made) else (as_reply,)),)

    def _tail(self, key: JobKey, delivered: bool, refused: bool = False) -> Sequence[Posting]:
        """The result's further parts and file, then the report."""
        tail = self._answers[key].tail
        report = partial(self._report, key, delivered, refused)
        if not tail:
            report(None)
            return ()
        return (*(Posting(call) for call in tail[:-1]), Posting(tail[-1], report))

    def _report(self, key: JobKey, delivered: bool, refused: bool, _: Outcome | None) -> Sequence[Posting]:
        result = self._answers.pop(key).result
        if result.report_to is not None:
            outcome = JobFailed(result.outcome.job, FailureReason.INTERNAL) if refused else result.outcome
            result.report_to.tell(ResultDelivered(outcome, delivered or refused))
        return ()


def _posted(key: JobKey, message_id: int | str,
            to: Destination | GuestChat | None = None) -> PostedMessage | InlineMessage:
    """The status message posted for a job: a guest post is known by its inline_message_id; one posted to `to`
    is in its chat (a business job's: the owner's chat with the bot, or on the owner's behalf in theirs)."""
    if isinstance(message_id, str):
        return InlineMessage(message_id, key.chat_id)
    if isinstance(to, Destination):
        return PostedMessage(to.chat_id, message_id, to.business_connection_id)
    return PostedMessage(key.chat_id, message_id)


def _reply_to(key: JobKey) -> Destination:
    """Where replies about a job go when its status never said: in reply to its recording."""
    return Destination(key.chat_id, reply_to_message_id=key.message_id)
