"""TelegramSender: sends every message the bot writes to a chat (replies, statuses, results, files) and
asks whether a user administers a group, so the pacing of chats lives in one place. (Polling, the webhook
registration and downloads are the poller's, the webhook actor's and the WhisperActors' own calls.)"""
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from actors.base import SupervisedActor
from actors.messages import (
    ChatAdminChecked,
    CheckChatAdmin,
    DeliverResult,
    Drain,
    PostStatus,
    ResultDelivered,
    SendReply,
    ShowProgress,
    StatusPosted,
    UpdateStatus,
)
from voicebot.core.domain import JobKey
from voicebot.core.errors import TelegramError
from voicebot.core.text import split_message

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 3.0
TRANSCRIPT_FILE_NAME = "transcript.txt"


@dataclass(frozen=True)
class Pace:
    """Telegram's limits: about one message a second in a chat, twenty a minute in a group,
    thirty a second in all. Short bursts are fine; sustained rates are not."""
    private_per_second: float = 1.0
    group_per_second: float = 20 / 60
    overall_per_second: float = 30.0
    burst: int = 3


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float = field(init=False)
    at: float = 0.0

    def __post_init__(self):
        self.tokens = self.capacity

    def wait(self, now: float) -> float:
        """Seconds until one more call is allowed (0: now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


@dataclass
class _Outgoing:
    """One Bot API call waiting for its chat's turn."""
    kind: str                       # "send", "edit" or "document"
    chat_id: int
    text: str
    reply_to: int | None = None
    key: JobKey | None = None       # the job whose status message this is, or edits
    final: bool = False             # the job's result: falls back to a reply if the status is gone
    data: bytes | None = None
    report: DeliverResult | None = None   # the last call of a result: tell who waits for it


class TelegramSender(SupervisedActor):
    """Calls wait in a queue per chat, in order, and leave at the pace Telegram allows, so a
    burst is slowed down rather than refused. Waiting for a chat's turn is a timer, never a sleep."""

    def __init__(self, telegram, storage=None, supervisor=None, name: str = "sender", pace: Pace = Pace(),
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(name, supervisor)
        self._telegram = telegram
        self._storage = storage
        self._pace = pace
        self._clock = clock
        self._overall = _Bucket(pace.overall_per_second, pace.overall_per_second)
        self._chats: dict[int, _Bucket] = {}
        self._queues: dict[int, deque[_Outgoing]] = {}
        self._status_messages: dict[JobKey, int] = {}
        self._shown: dict[JobKey, str] = {}
        self._progress_at: dict[int, float] = {}
        self._delivered: dict[JobKey, bool] = {}   # whether a result's first part reached the user
        self._drain_due: float | None = None

    def handle(self, message):
        match message:
            case SendReply(chat_id, text, reply_to):
                self._enqueue(_Outgoing("send", chat_id, text, reply_to))
            case PostStatus(key, text, None):
                self._enqueue(_Outgoing("send", key.chat_id, text, key.message_id, key))
            case PostStatus(key, text, message_id):
                # Posted before a restart: edit that one, so a resumed job repairs, not duplicates.
                self._status_messages[key] = message_id
                self._enqueue(_Outgoing("edit", key.chat_id, text, key=key))
            case UpdateStatus(key, text):
                self._enqueue(_Outgoing("edit", key.chat_id, text, key=key))
            case ShowProgress(key, text):
                self._show_progress(key, text)
            case DeliverResult():
                self._deliver(message)
            case CheckChatAdmin(command, reply_to):
                reply_to.tell(ChatAdminChecked(command, self._is_chat_admin(command.chat_id, command.user_id)))
            case Drain():
                self._drain_due = None
            case _:
                return NotImplemented
        self._drain()

    def _show_progress(self, key: JobKey, text: str) -> None:
        # Dropped rather than delayed when too soon: the next segment brings newer text anyway.
        last = self._progress_at.get(key.chat_id)
        if last is not None and self._clock() - last < PROGRESS_INTERVAL_SECONDS:
            return
        self._progress_at[key.chat_id] = self._clock()
        self._enqueue(_Outgoing("edit", key.chat_id, text, key=key))

    def _deliver(self, result: DeliverResult) -> None:
        key = result.key
        queue = self._queues.get(key.chat_id, ())
        for waiting in [item for item in queue if item.kind == "edit" and item.key == key]:
            queue.remove(waiting)  # the result supersedes progress not shown yet
        first, *rest = split_message(result.text) or [result.text]
        calls = [_Outgoing("edit", key.chat_id, first, key.message_id, key, final=True)]
        calls += [_Outgoing("send", key.chat_id, piece, key.message_id) for piece in rest]
        if result.as_file:
            calls.append(_Outgoing("document", key.chat_id, "The whole transcript as a file.", key.message_id,
                                   data=result.text.encode()))
        calls[-1].report = result
        for call in calls:
            self._enqueue(call)

    def _enqueue(self, outgoing: _Outgoing) -> None:
        self._queues.setdefault(outgoing.chat_id, deque()).append(outgoing)

    def _drain(self) -> None:
        """Sends whatever the pace allows now, round-robin over chats, and sets a reminder for the rest."""
        soonest = None
        progressed = True
        while progressed and self._queues:
            progressed = False
            for chat_id in list(self._queues):
                wait = max(self._overall.wait(self._clock()), self._bucket(chat_id).wait(self._clock()))
                if wait > 0:
                    soonest = wait if soonest is None else min(soonest, wait)
                    continue
                self._overall.take()
                self._chats[chat_id].take()
                queue = self._queues[chat_id]
                self._execute(queue.popleft())
                if not queue:
                    del self._queues[chat_id]
                progressed = True
        if self._queues and soonest is not None:
            self._remind_in(soonest)

    def _remind_in(self, delay: float) -> None:
        due = self._clock() + delay
        if self._drain_due is None or due < self._drain_due:
            self._drain_due = due
            self.tell_self_later(Drain(), delay)

    def _bucket(self, chat_id: int) -> _Bucket:
        if chat_id not in self._chats:
            rate = self._pace.group_per_second if chat_id < 0 else self._pace.private_per_second
            self._chats[chat_id] = _Bucket(rate, self._pace.burst)
        return self._chats[chat_id]

    def _execute(self, outgoing: _Outgoing) -> None:
        match outgoing.kind:
            case "send":
                message_id = self._send(outgoing.chat_id, outgoing.text, outgoing.reply_to)
                if outgoing.key is not None and message_id is not None:
                    self._status_messages[outgoing.key] = message_id
                    self._shown[outgoing.key] = outgoing.text
                    if self._storage is not None:
                        self._storage.tell(StatusPosted(outgoing.key, message_id))
            case "edit":
                self._edit_status(outgoing)
            case "document":
                self._send_document(outgoing)
        result = outgoing.report
        if result is not None and result.report_to is not None:
            delivered = self._delivered.pop(result.key, False)
            result.report_to.tell(ResultDelivered(result.outcome, delivered))

    def _edit_status(self, outgoing: _Outgoing) -> None:
        key = outgoing.key
        status_id = self._status_messages.get(key)
        if outgoing.final:
            self._status_messages.pop(key, None)
            shown = self._shown.pop(key, None)
        else:
            shown = self._shown.get(key)
        if status_id is not None and outgoing.text == shown:
            if outgoing.final:
                self._delivered[key] = True
            return  # Telegram refuses an edit that changes nothing
        if status_id is not None and self._edit(outgoing.chat_id, status_id, outgoing.text):
            if outgoing.final:
                self._delivered[key] = True
            else:
                self._shown[key] = outgoing.text
        elif outgoing.final:
            # No status message to edit (it failed or was deleted): the result goes out as a reply.
            self._delivered[key] = self._send(outgoing.chat_id, outgoing.text, outgoing.reply_to) is not None

    def _send(self, chat_id: int, text: str, reply_to: int | None) -> int | None:
        try:
            return self._telegram.send_message(chat_id, text, reply_to)
        except TelegramError as error:
            log.error("could not send a message to chat %s: %s", chat_id, error)
            return None

    def _edit(self, chat_id: int, message_id: int, text: str) -> bool:
        try:
            self._telegram.edit_message_text(chat_id, message_id, text)
        except TelegramError as error:
            if "not modified" in error.description:
                return True
            log.warning("could not edit message %s in chat %s (%s)", message_id, chat_id, error.description)
            return False
        return True

    def _is_chat_admin(self, chat_id: int, user_id: int) -> bool:
        try:
            return self._telegram.is_chat_admin(chat_id, user_id)
        except TelegramError as error:
            log.warning("could not check the admins of chat %s: %s", chat_id, error)
            return False

    def _send_document(self, outgoing: _Outgoing) -> None:
        try:
            self._telegram.send_document(outgoing.chat_id, TRANSCRIPT_FILE_NAME, outgoing.data, outgoing.text,
                                         outgoing.reply_to)
        except TelegramError as error:
            log.error("could not send the transcript file to chat %s: %s", outgoing.chat_id, error)
