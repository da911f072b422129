"""Outbox: every Bot API call the bot makes to a chat waits here, in a queue per chat, and leaves at the pace
Telegram allows. It knows nothing of jobs: a call comes with what to do once it is made (`then`), which the
TelegramSender's answer book uses to chain a result's parts. A part of the TelegramSender, not an actor."""
import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from voicebot.core.calls import (
    AnswerPreCheckout,
    AnswerPress,
    BotCall,
    Destination,
    EditText,
    PostedMessage,
    SendDocument,
    SendText,
)
from voicebot.core.errors import TelegramError
from voicebot.core.ports import BotCalls

log = logging.getLogger(__name__)

MAX_TRIES = 5                     # of one call that fails on the way (no answer, 5xx, 429) ...
MAX_BACKOFF_SECONDS = 30.0        # ... waiting 1, 2, 4 … s between, or exactly the retry_after Telegram asks
MAX_WAITING = 50                  # bounded calls waiting in one chat; past that new ones are dropped, said in the log
# A call without a chat (a press's or a pre-checkout's answer) that fails on the way is made again within this
# much of its first try, no later: Telegram refuses such an answer once it is late (a pre-checkout's after 10 s).
AT_ONCE_RETRY_SECONDS = 8.0
# The calls without a chat that are made again: answers to a query, harmless twice. Any other (a refund) is made
# once: made again after a lost answer, it would be refused (CHARGE_ALREADY_REFUNDED) though it went through.
RETRIED_AT_ONCE = (AnswerPress, AnswerPreCheckout)


@dataclass(frozen=True)
class Pace:
    """Telegram's limits: about one message a second in a chat, twenty a minute in a group,
    thirty a second in all. Short bursts are fine; sustained rates are not."""
    private_per_second: float = 1.0
    group_per_second: float = 20 / 60
    overall_per_second: float = 30.0
    burst: int = 3


TELEGRAM_PACE = Pace()


@dataclass(frozen=True, slots=True)
class Made:
    """The call went through; `message_id`: the message it posted (None: it posts none), a guest post's
    inline_message_id for AnswerGuest."""
    message_id: int | str | None = None


@dataclass(frozen=True, slots=True)
class GaveUp:
    """The call did not go through: Telegram refused it for good (`refused`), or it failed on the way every try."""
    error: TelegramError

    @property
    def refused(self) -> bool:
        return not self.error.transient


Outcome = Made | GaveUp


@dataclass(frozen=True, eq=False)
class Posting:
    """A call for its chat's turn. `then` gets its outcome and returns the postings to make next in that chat,
    ahead of anything that waits there (a result's next part, a reply in place of a failed edit). One posting
    is one call, however alike another one is: it is known by its identity (see Outbox.withdraw)."""
    call: BotCall
    then: Callable[[Outcome], Sequence["Posting"]] | None = None


@dataclass(frozen=True, slots=True)
class _Queued:
    """A posting waiting in its chat's queue, and how often its call failed on the way so far."""
    posting: Posting
    tries: int = 0


@dataclass(frozen=True, slots=True)
class _Later:
    """The call failed on the way: its chat waits `delay` seconds (on a timer) before it is made again."""
    delay: float


@dataclass(frozen=True, slots=True)
class _Retry:
    """A call without a chat that failed on the way (`error`): made again at `due`, if that is before `until`."""
    posting: Posting
    due: float
    until: float
    error: TelegramError


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

    def full(self, now: float) -> bool:
        return self.wait(now) == 0 and self.tokens >= self.capacity


class Outbox:
    """Calls wait in a queue per chat, in order, so a burst is slowed down rather than refused. A call that
    fails on the way (no answer, 5xx, a 429 with its retry_after) is made again later, and only its own chat
    waits for it: `remind_in(delay)` sets the owner's timer, never a sleep, so one throttled chat never holds up
    the others. A call without a chat (answering a button press or a pre-checkout query) is made at once, and
    again after a failure on the way only while Telegram would still take it (AT_ONCE_RETRY_SECONDS)."""

    def __init__(self, telegram: BotCalls, pace: Pace, clock: Callable[[], float],
                 remind_in: Callable[[float], None]):
        self._telegram = telegram
        self._pace = pace
        self._clock = clock
        self._remind_in = remind_in
        self._overall = _Bucket(pace.overall_per_second, pace.overall_per_second)
        self._chats: dict[int, _Bucket] = {}
        self._queues: dict[int, deque[_Queued]] = {}
        self._held_until: dict[int, float] = {}    # chats waiting to make a failed call again
        self._overflowing: set[int] = set()        # chats whose dropped calls were logged
        self._ended_business: set[str] = set()     # business connections disabled: nothing goes out on them
        self._retries: list[_Retry] = []           # calls without a chat, to be made again

    def post(self, posting: Posting, bounded: bool = False) -> None:
        """Queues the call in its chat. `bounded`: one of many that may pile up (command answers, refusals),
        dropped past MAX_WAITING, which would only hold up that chat's results."""
        chat_id = posting.call.chat_id
        if chat_id is None:
            self._make_at_once(posting)
            return
        queue = self._queues.setdefault(chat_id, deque())
        if bounded and len(queue) >= MAX_WAITING:
            if chat_id not in self._overflowing:
                log.warning("chat %s has %d replies waiting; dropping further ones until it drains", chat_id,
                            len(queue))
                self._overflowing.add(chat_id)
            return
        queue.append(_Queued(posting))

    def business_connection(self, connection_id: str, enabled: bool) -> None:
        """Calls on behalf of a business account whose connection is disabled are refused here, as Telegram
        would refuse them: whatever waited to answer in its chats ends as answered nowhere."""
        if enabled:
            self._ended_business.discard(connection_id)
        else:
            self._ended_business.add(connection_id)

    def withdraw(self, posting: Posting) -> bool:
        """Takes back a call not made yet (progress a result supersedes); False if it was made already."""
        queue = self._queues.get(posting.call.chat_id, ())
        waiting = next((queued for queued in queue if queued.posting is posting), None)
        if waiting is None:
            return False
        queue.remove(waiting)
        return True

    def drain(self) -> None:
        """Makes whatever the pace allows now, round-robin over chats, and sets a reminder for the rest."""
        soonest = self._retry_due()
        progressed = True
        while progressed and self._queues:
            progressed = False
            for chat_id in list(self._queues):
                wait = self._wait(chat_id)
                if wait > 0:
                    soonest = wait if soonest is None else min(soonest, wait)
                    continue
                self._overall.take()
                self._chats[chat_id].take()
                queue = self._queues[chat_id]
                queued = queue.popleft()
                match self._make(queued.posting.call, queued.tries):
                    case _Later(delay):
                        queue.appendleft(dataclasses.replace(queued, tries=queued.tries + 1))   # order is kept
                        self._held_until[chat_id] = self._clock() + delay
                        soonest = delay if soonest is None else min(soonest, delay)
                        continue
                    case outcome:
                        self._held_until.pop(chat_id, None)
                        following = self._then(queued.posting, outcome)
                        queue.extendleft(_Queued(posting) for posting in reversed(following))
                if not queue:
                    del self._queues[chat_id]
                    self._overflowing.discard(chat_id)
                progressed = True
        if soonest is not None:
            self._remind_in(soonest)

    def forget_idle(self) -> None:
        """The pacing of chats with nothing waiting goes once a new call would not need it, so a bot that has met
        a million chats does not keep a million buckets."""
        now = self._clock()
        for chat_id, bucket in list(self._chats.items()):
            if chat_id not in self._queues and bucket.full(now):
                del self._chats[chat_id]

    def _wait(self, chat_id: int) -> float:
        now = self._clock()
        return max(self._overall.wait(now), self._bucket(chat_id).wait(now), self._held_until.get(chat_id, now) - now)

    def _bucket(self, chat_id: int) -> _Bucket:
        if chat_id not in self._chats:
            rate = self._pace.group_per_second if chat_id < 0 else self._pace.private_per_second
            self._chats[chat_id] = _Bucket(rate, self._pace.burst)
        return self._chats[chat_id]

    def _make(self, call: BotCall, tries: int) -> Outcome | _Later:
        if _business_connection(call) in self._ended_business:
            return GaveUp(TelegramError(type(call).__name__, "the business connection is disabled", 400))
        try:
            return Made(self._telegram.perform(call))
        except TelegramError as error:
            if "not modified" in error.description:
                return Made()   # an edit to what the message shows already: it shows what was meant
            if error.transient and tries + 1 < MAX_TRIES:
                delay = float(error.retry_after or min(MAX_BACKOFF_SECONDS, 2.0 ** tries))
                log.warning("%s in chat %s: %s; trying again in %.0f s (this chat waits, the others go on)",
                            error.method, call.chat_id, error.description, delay)
                return _Later(delay)
            log.warning("%s in chat %s failed: %s", error.method, call.chat_id, error.description)
            return GaveUp(error)

    def _make_at_once(self, posting: Posting, until: float | None = None) -> None:
        """`until`: its last chance to be made (None: it is made for the first time now)."""
        now = self._clock()
        until = now + AT_ONCE_RETRY_SECONDS if until is None else until
        try:
            outcome = Made(self._telegram.perform(posting.call))
        except TelegramError as error:
            now, delay = self._clock(), float(error.retry_after or 1.0)   # the call may have taken a while
            if error.transient and isinstance(posting.call, RETRIED_AT_ONCE) and now + delay < until:
                log.warning("%s failed: %s; trying again in %.0f s", error.method, error.description, delay)
                self._retries.append(_Retry(posting, now + delay, until, error))
                return
            log.warning("%s failed: %s", error.method, error.description)
            outcome = GaveUp(error)
        for follow_up in self._then(posting, outcome):
            self.post(follow_up)

    def _retry_due(self) -> float | None:
        """Makes the calls without a chat whose time to be made again has come; how soon the next one's comes."""
        now = self._clock()
        due = [retry for retry in self._retries if retry.due <= now]
        self._retries = [retry for retry in self._retries if retry.due > now]
        for retry in due:
            if retry.until > self._clock():
                self._make_at_once(retry.posting, retry.until)
            else:   # its reminder came late: Telegram would refuse it now
                for follow_up in self._then(retry.posting, GaveUp(retry.error)):
                    self.post(follow_up)
        if not self._retries:
            return None
        return min(retry.due for retry in self._retries) - now

    @staticmethod
    def _then(posting: Posting, outcome: Outcome) -> Sequence[Posting]:
        return posting.then(outcome) if posting.then is not None else ()


def _business_connection(call: BotCall) -> str | None:
    """The business connection a call is made on (None: the bot's own)."""
    match call:
        case SendText(to=Destination() as to) | SendDocument(to=Destination() as to):
            return to.business_connection_id
        case EditText(message=PostedMessage() as message):
            return message.business_connection_id
    return None
