"""TelegramSender: sends every message the bot writes to a chat (replies, statuses, results, files) and
asks whether a user administers a group, so the pacing of chats lives in one place. (Polling, the webhook
registration and downloads are the poller's, the webhook actor's and the WhisperActors' own calls.)"""
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from actors.base import SupervisedActor
from actors.messages import (
    AnswerPress,
    ChatAdminChecked,
    CheckChatAdmin,
    DeliverResult,
    Drain,
    EditKeyboard,
    EditMessage,
    JobFailed,
    PostStatus,
    ResultDelivered,
    SendFile,
    SendReply,
    ShowProgress,
    StatusPosted,
    UpdateStatus,
)
from voicebot.core.buttons import Keyboard
from voicebot.core.domain import FailureReason, JobKey
from voicebot.core.errors import TelegramError
from voicebot.core.ports import BotApi, Mailbox
from voicebot.core.text import split_message

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 3.0
TRANSCRIPT_FILE_NAME = "transcript.txt"
MAX_TRIES = 5                     # of one call that fails on the way (no answer, 5xx, 429) ...
MAX_BACKOFF_SECONDS = 30.0        # ... waiting 1, 2, 4 … s between, or exactly the retry_after Telegram asks
ADMIN_CACHE_SECONDS = 300.0       # how long a group's answer to "is this user an admin" is trusted
MAX_NOTICE_CHARS = 200           # answerCallbackQuery's limit on a notice
MAX_REPLIES_WAITING = 50          # replies waiting in one chat; past that new ones are dropped, said in the log
FORGET_IDLE_EVERY_SECONDS = 60.0  # how often the per-chat books are swept of chats gone quiet


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
    kind: str                       # "send", "edit", "document", "edit_message" or "keyboard"
    chat_id: int
    text: str
    reply_to: int | None = None
    key: JobKey | None = None       # the job whose status message this is, or edits
    final: bool = False             # the job's result: falls back to a reply if the status is gone
    data: bytes | None = None
    report: DeliverResult | None = None   # the last call of a result: tell who waits for it
    tries: int = 0
    refused_text: str = ""          # a result's first part: what to say if Telegram refuses it for good
    refused: bool = False           # Telegram refused the call for good (4xx)
    thread_id: int | None = None    # the forum topic it goes to
    keyboard: Keyboard | None = None   # buttons under the message
    file_name: str = TRANSCRIPT_FILE_NAME   # a document's
    message_id: int | None = None   # the message an "edit_message" or "keyboard" call changes


class _TryAgain(Exception):
    """The call failed on the way; its chat waits `delay` seconds (on a timer), the others go on."""

    def __init__(self, delay: float):
        super().__init__(delay)
        self.delay = delay


class TelegramSender(SupervisedActor):
    """Calls wait in a queue per chat, in order, and leave at the pace Telegram allows, so a
    burst is slowed down rather than refused. A call that fails on the way (no answer, 5xx, a 429 with
    its retry_after) is tried again later, and only its own chat waits for it: waiting is a timer, never a
    sleep, so one throttled chat never holds up the others."""

    def __init__(self, telegram: BotApi, storage: Mailbox | None = None, supervisor: Mailbox | None = None,
                 name: str = "sender", pace: Pace = Pace(), clock: Callable[[], float] = time.monotonic,
                 status_messages: dict[JobKey, int] | None = None):
        """`status_messages`: those of the stored jobs not answered yet, so that a restarted sender edits
        the results into them rather than leaving them saying "Processing…"."""
        super().__init__(name, supervisor)
        self._telegram = telegram
        self._storage = storage
        self._pace = pace
        self._clock = clock
        self._overall = _Bucket(pace.overall_per_second, pace.overall_per_second)
        self._chats: dict[int, _Bucket] = {}
        self._queues: dict[int, deque[_Outgoing]] = {}
        self._status_messages: dict[JobKey, int] = dict(status_messages or {})
        self._threads: dict[JobKey, int] = {}    # the forum topic of each job in one, from its PostStatus
        self._shown: dict[JobKey, str] = {}
        self._progress_at: dict[int, float] = {}
        self._delivered: dict[JobKey, bool] = {}   # whether a result's first part reached the user
        self._refused: set[JobKey] = set()        # results Telegram refused for good, replaced by a failure
        self._held_until: dict[int, float] = {}    # chats waiting to retry a failed call
        self._admins: dict[tuple[int, int], tuple[bool, float]] = {}   # (chat, user) -> (is admin, asked at)
        self._overflowing: set[int] = set()        # chats whose dropped replies were logged
        self._drain_due: float | None = None
        self._swept_at = clock()

    def handle(self, message):
        match message:
            case SendReply(chat_id, text, reply_to, thread_id):
                self._enqueue(_Outgoing("send", chat_id, text, reply_to, thread_id=thread_id))
            case SendFile(chat_id, file_name, data, reply_to, thread_id):
                self._enqueue(_Outgoing("document", chat_id, "", reply_to, data=data, thread_id=thread_id,
                                        file_name=file_name))
            case EditMessage(chat_id, message_id, text, keyboard):
                self._enqueue(_Outgoing("edit_message", chat_id, text, keyboard=keyboard, message_id=message_id))
            case EditKeyboard(chat_id, message_id, keyboard):
                self._enqueue(_Outgoing("keyboard", chat_id, "", keyboard=keyboard, message_id=message_id))
            case AnswerPress(query_id, text):
                self._answer_press(query_id, text)
            case PostStatus(key, text, None, thread_id):
                self._remember_thread(key, thread_id)
                self._enqueue(_Outgoing("send", key.chat_id, text, key.message_id, key, thread_id=thread_id))
            case PostStatus(key, _, message_id, thread_id):
                self._remember_thread(key, thread_id)
                # Posted before a restart: the result goes into that one, so a resumed job repairs, not
                # duplicates. It is left as it is until then: the node that stopped may have put the result
                # there already (and stopped before recording it), which the same result leaves unchanged.
                self._status_messages[key] = message_id
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
        calls = [_Outgoing("edit", key.chat_id, first, key.message_id, key, final=True,
                           refused_text=result.refused_text)]
        thread_id = self._threads.pop(key, None)
        calls[0].thread_id = thread_id   # a reply in its place when the status message is gone
        calls += [_Outgoing("send", key.chat_id, piece, key.message_id, thread_id=thread_id) for piece in rest]
        calls[-1].keyboard = result.keyboard   # under the transcript's last part
        if result.as_file:
            calls.append(_Outgoing("document", key.chat_id, result.file_caption, key.message_id,
                                   data=result.text.encode(), thread_id=thread_id))
        calls[-1].report = result
        for call in calls:
            self._enqueue(call)

    def _remember_thread(self, key: JobKey, thread_id: int | None) -> None:
        if thread_id is not None:
            self._threads[key] = thread_id

    def _enqueue(self, outgoing: _Outgoing) -> None:
        queue = self._queues.setdefault(outgoing.chat_id, deque())
        if outgoing.kind == "send" and outgoing.key is None and len(queue) >= MAX_REPLIES_WAITING:
            # Statuses and results always wait their turn (the Dispatcher bounds them); command answers and
            # refusals past this many would only hold up that chat's results.
            if outgoing.chat_id not in self._overflowing:
                log.warning("chat %s has %d replies waiting; dropping further ones until it drains",
                            outgoing.chat_id, len(queue))
                self._overflowing.add(outgoing.chat_id)
            return
        queue.append(outgoing)

    def _drain(self) -> None:
        """Sends whatever the pace allows now, round-robin over chats, and sets a reminder for the rest."""
        soonest = None
        progressed = True
        while progressed and self._queues:
            progressed = False
            for chat_id in list(self._queues):
                now = self._clock()
                wait = max(self._overall.wait(now), self._bucket(chat_id).wait(now),
                           self._held_until.get(chat_id, now) - now)
                if wait > 0:
                    soonest = wait if soonest is None else min(soonest, wait)
                    continue
                self._overall.take()
                self._chats[chat_id].take()
                queue = self._queues[chat_id]
                outgoing = queue.popleft()
                try:
                    self._execute(outgoing)
                except _TryAgain as again:
                    queue.appendleft(outgoing)   # first again once its chat's wait is over: order is kept
                    self._held_until[chat_id] = self._clock() + again.delay
                    soonest = again.delay if soonest is None else min(soonest, again.delay)
                    continue
                self._held_until.pop(chat_id, None)
                if not queue:
                    del self._queues[chat_id]
                    self._overflowing.discard(chat_id)
                progressed = True
        if self._queues and soonest is not None:
            self._remind_in(soonest)
        if self._clock() - self._swept_at > FORGET_IDLE_EVERY_SECONDS:
            self._forget_idle()

    def _forget_idle(self) -> None:
        """Per-chat books of chats with nothing waiting go once they hold nothing a new call would need, so
        a bot that has met a million chats does not keep a million buckets."""
        now = self._swept_at = self._clock()
        for chat_id, bucket in list(self._chats.items()):
            if chat_id not in self._queues and bucket.wait(now) == 0 and bucket.tokens >= bucket.capacity:
                del self._chats[chat_id]
        for chat_id, at in list(self._progress_at.items()):
            if now - at > PROGRESS_INTERVAL_SECONDS:
                del self._progress_at[chat_id]
        for asked, (_, at) in list(self._admins.items()):
            if now - at > ADMIN_CACHE_SECONDS:
                del self._admins[asked]

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
        """Makes the call; _TryAgain (before anything is changed here) when it is to be tried again later."""
        match outgoing.kind:
            case "send" if outgoing.key in self._status_messages:
                # The job came round again (resumed after a restart elsewhere): one status message per job.
                self._edit_status(outgoing)
            case "send":
                message_id = self._send(outgoing, outgoing.text, outgoing.reply_to)
                if outgoing.key is not None and message_id is not None:
                    self._status_messages[outgoing.key] = message_id
                    self._shown[outgoing.key] = outgoing.text
                    if self._storage is not None:
                        self._storage.tell(StatusPosted(outgoing.key, message_id))
            case "edit":
                self._edit_status(outgoing)
            case "document":
                self._send_document(outgoing)
            case "edit_message" | "keyboard":
                self._edit(outgoing, outgoing.message_id)
        result = outgoing.report
        if result is not None and result.report_to is not None:
            delivered = self._delivered.pop(result.key, False)
            if result.key in self._refused:
                self._refused.discard(result.key)
                result.report_to.tell(ResultDelivered(JobFailed(result.outcome.job, FailureReason.INTERNAL), True))
            else:
                result.report_to.tell(ResultDelivered(result.outcome, delivered))

    def _edit_status(self, outgoing: _Outgoing) -> None:
        key = outgoing.key
        status_id = self._status_messages.get(key)
        if status_id is not None and outgoing.text == self._shown.get(key):
            done = True   # Telegram refuses an edit that changes nothing
        elif status_id is not None and self._edit(outgoing, status_id):
            done = True
            if not outgoing.final:
                self._shown[key] = outgoing.text
        elif outgoing.final:
            # No status message to edit (it failed or was deleted): the result goes out as a reply.
            done = self._send(outgoing, outgoing.text, outgoing.reply_to) is not None
        else:
            done = False
        if outgoing.final and not done and outgoing.refused and outgoing.refused_text:
            self._replace_refused(outgoing, status_id)
            return
        if outgoing.final:
            self._status_messages.pop(key, None)
            self._shown.pop(key, None)
            self._delivered[key] = done

    def _replace_refused(self, outgoing: _Outgoing, status_id: int | None) -> None:
        """Telegram refused the answer for good: the plain failure reply takes its place (in the status
        message if there is one), and the job ends as failed, never left unanswered for the next start."""
        key = outgoing.key
        replaced = dataclasses.replace(outgoing, text=outgoing.refused_text, refused_text="", refused=False,
                                       keyboard=None)
        if not (status_id is not None and self._edit(replaced, status_id)):
            self._send(replaced, replaced.text, replaced.reply_to)
        self._status_messages.pop(key, None)
        self._shown.pop(key, None)
        self._refused.add(key)

    def _send(self, outgoing: _Outgoing, text: str, reply_to: int | None) -> int | None:
        try:
            return self._telegram.send_message(outgoing.chat_id, text, reply_to, outgoing.thread_id, outgoing.keyboard)
        except TelegramError as error:
            self._try_again_if_worth_it(outgoing, error)
            log.error("could not send a message to chat %s: %s", outgoing.chat_id, error)
            return None

    def _edit(self, outgoing: _Outgoing, message_id: int) -> bool:
        """Edits the message's text and buttons, or (a "keyboard" call) its buttons alone."""
        try:
            if outgoing.kind == "keyboard":
                self._telegram.edit_keyboard(outgoing.chat_id, message_id, outgoing.keyboard)
            else:
                self._telegram.edit_message_text(outgoing.chat_id, message_id, outgoing.text, outgoing.keyboard)
        except TelegramError as error:
            if "not modified" in error.description:
                return True
            self._try_again_if_worth_it(outgoing, error)
            log.warning("could not edit message %s in chat %s (%s)", message_id, outgoing.chat_id,
                        error.description)
            return False
        return True

    def _is_chat_admin(self, chat_id: int, user_id: int) -> bool:
        """Cached for a while: a flood of /auto in one group must not become a flood of Bot API calls."""
        known = self._admins.get((chat_id, user_id))
        if known is not None and self._clock() - known[1] <= ADMIN_CACHE_SECONDS:
            return known[0]
        try:
            is_admin = self._telegram.is_chat_admin(chat_id, user_id)
        except TelegramError as error:
            log.warning("could not check the admins of chat %s: %s", chat_id, error)
            return False
        self._admins[(chat_id, user_id)] = (is_admin, self._clock())
        return is_admin

    def _send_document(self, outgoing: _Outgoing) -> None:
        try:
            self._telegram.send_document(outgoing.chat_id, outgoing.file_name, outgoing.data, outgoing.text or None,
                                         outgoing.reply_to, outgoing.thread_id)
        except TelegramError as error:
            self._try_again_if_worth_it(outgoing, error)
            log.error("could not send %s to chat %s: %s", outgoing.file_name, outgoing.chat_id, error)

    def _answer_press(self, query_id: str, text: str | None) -> None:
        """At once, not in its chat's queue: the user's app shows a spinner until it comes, and it is no message
        in a chat, so the chat's pace does not apply. Never retried: Telegram refuses a late answer."""
        try:
            self._telegram.answer_press(query_id, text[:MAX_NOTICE_CHARS] if text else None)
        except TelegramError as error:
            log.warning("could not answer a button press: %s", error)

    def _try_again_if_worth_it(self, outgoing: _Outgoing, error: TelegramError) -> None:
        """_TryAgain for a failure on the way, within MAX_TRIES; a refusal (4xx) or the last try is final."""
        outgoing.tries += 1
        outgoing.refused = not error.transient
        if not error.transient or outgoing.tries >= MAX_TRIES:
            return
        delay = error.retry_after or min(MAX_BACKOFF_SECONDS, 2.0 ** (outgoing.tries - 1))
        log.warning("%s in chat %s: %s; trying again in %.0f s (this chat waits, the others go on)",
                    error.method, outgoing.chat_id, error.description, delay)
        raise _TryAgain(float(delay))
