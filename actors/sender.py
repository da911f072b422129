"""TelegramSender: makes every Bot API call that speaks in a chat (replies, statuses, results, files, button
changes, answers to presses) and asks whether a user administers a group, so the pacing of chats lives in one
place. Two parts do the work: the outbox (actors/outbox.py) queues, paces and retries the calls; the answer
book (actors/answers.py) turns each job's status and result into calls. (Polling, the webhook registration and
downloads are the poller's, the webhook actor's and the WhisperActors' own calls.)"""
import dataclasses
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pykka

from actors.answers import AnswerBook
from actors.base import SupervisedActor
from actors.messages import (
    BusinessConnectionChecked,
    CallMade,
    ChannelAdminChecked,
    ChatAdminChecked,
    CheckBusinessConnection,
    CheckChannelAdmin,
    CheckChatAdmin,
    DeliverResult,
    Drain,
    MakeCall,
    PostStatus,
    ShowProgress,
    UpdateStatus,
)
from actors.outbox import TELEGRAM_PACE, GaveUp, Outbox, Outcome, Pace, Posting
from voicebot.core.calls import (
    AnswerPreCheckout,
    AnswerPress,
    ChannelCaption,
    EditButtons,
    EditCaption,
    EditText,
    SendDocument,
    SendInvoice,
    SendText,
    as_sent,
)
from voicebot.core.captions import notice
from voicebot.core.channels import ChannelStanding
from voicebot.core.domain import BusinessConnection, ChannelPostForwarded, JobKey
from voicebot.core.errors import TelegramError
from voicebot.core.ports import BotCalls, Mailbox

log = logging.getLogger(__name__)

ADMIN_CACHE_SECONDS = 300.0       # how long a group's answer to "is this user an admin" is trusted
MAX_NOTICE_CHARS = 200            # answerCallbackQuery's limit on a notice
FORGET_IDLE_EVERY_SECONDS = 60.0  # how often the per-chat books are swept of chats gone quiet


class TelegramSender(SupervisedActor):
    """A call told here as it is (SendText, SendDocument, EditText, EditButtons, AnswerPress) goes out through
    the outbox; PostStatus, UpdateStatus, ShowProgress and DeliverResult go through the answer book first. The
    outbox's waits are timers (Drain), never sleeps: one throttled chat never holds up the others."""

    def __init__(self, telegram: BotCalls, *, storage: Mailbox | None = None, supervisor: Mailbox | None = None,
                 name: str = "sender", pace: Pace = TELEGRAM_PACE, clock: Callable[[], float] = time.monotonic,
                 status_messages: dict[JobKey, int | str] | None = None):
        """`status_messages`: those of the stored jobs not answered yet (see AnswerBook)."""
        super().__init__(name, supervisor)
        self._telegram = telegram
        self._clock = clock
        self._outbox = Outbox(telegram, pace, clock, self._remind_in)
        self._answers = AnswerBook(self._outbox, storage, clock, status_messages)
        # (chat, user) -> (what the Bot API said of them, asked at); a channel is as a /channel command named it
        self._admins: dict[tuple[int | str, int], tuple[Any, float]] = {}
        self._drain_due: float | None = None
        self._swept_at = clock()

    def handle(self, message):
        match message:
            case SendText(to=ChannelCaption() as post, text=text):
                self._outbox.post(Posting(notice(post, text)), bounded=True)
            case SendText():
                self._outbox.post(Posting(as_sent(message)), bounded=True)
            case ChannelPostForwarded(key, comments):
                self._answers.captions.comments_at(key, comments)
            case BusinessConnection(connection_id, is_enabled=enabled):
                self._outbox.business_connection(connection_id, enabled)
            case SendDocument() | EditText() | EditCaption() | EditButtons() | SendInvoice() | AnswerPreCheckout():
                self._outbox.post(Posting(message))
            case MakeCall(call, reply_to, about):
                self._outbox.post(Posting(call, then=partial(_tell_outcome, reply_to, call, about)))
            case AnswerPress(_, text):
                self._outbox.post(Posting(dataclasses.replace(message, text=text[:MAX_NOTICE_CHARS] if text else None)))
            case PostStatus():
                self._answers.post_status(message)
            case UpdateStatus(key, text):
                self._answers.show(key, text)
            case ShowProgress(key, text):
                self._answers.show_progress(key, text)
            case DeliverResult():
                self._answers.deliver(message)
            case CheckChannelAdmin(command, switch, reply_to):
                reply_to.tell(ChannelAdminChecked(command, switch, *self._channel_standing(switch.channel,
                                                                                           command.user_id)))
            case CheckBusinessConnection(connection_id, reply_to):
                reply_to.tell(BusinessConnectionChecked(connection_id, self._business_connection(connection_id)))
            case CheckChatAdmin(command, reply_to):
                reply_to.tell(ChatAdminChecked(command, self._is_chat_admin(command.chat_id, command.user_id)))
            case Drain():
                self._drain_due = None
            case _:
                return NotImplemented
        self._outbox.drain()
        if self._clock() - self._swept_at > FORGET_IDLE_EVERY_SECONDS:
            self._forget_idle()

    def _remind_in(self, delay: float) -> None:
        due = self._clock() + delay
        if self._drain_due is None or due < self._drain_due:
            self._drain_due = due
            self.tell_self_later(Drain(), delay)

    def _forget_idle(self) -> None:
        """Per-chat books go once they hold nothing a new call would need, so a bot that has met a million chats
        does not keep a million of them."""
        now = self._swept_at = self._clock()
        self._outbox.forget_idle()
        self._answers.forget_idle()
        for asked, (_, at) in list(self._admins.items()):
            if now - at > ADMIN_CACHE_SECONDS:
                del self._admins[asked]

    def _channel_standing(self, channel: str, user_id: int) -> tuple[int | None, ChannelStanding]:
        """Cached as a group's admins are (a username in any case names the same channel): its three calls hold
        up every chat's replies while they are made."""
        return self._cached((channel.lower(), user_id), partial(self._telegram.channel_standing, channel, user_id),
                            (None, ChannelStanding.UNKNOWN), f"look up channel {channel}")

    def _business_connection(self, connection_id: str) -> BusinessConnection | None:
        """Asked once per connection the bot never heard of (the QuotaActor waits for the answer): not cached."""
        try:
            return self._telegram.business_connection(connection_id)
        except TelegramError as error:
            log.warning("could not look up business connection %s: %s", connection_id, error)
            return None

    def _is_chat_admin(self, chat_id: int, user_id: int) -> bool:
        return self._cached((chat_id, user_id), partial(self._telegram.is_chat_admin, chat_id, user_id), False,
                            f"check the admins of chat {chat_id}")

    def _cached(self, asked: tuple[int | str, int], look_up: Callable[[], Any], failed: Any, what: str) -> Any:
        """What the Bot API said of a user in a chat, trusted for a while: a flood of /auto in one group, or of
        /channel, must not become a flood of Bot API calls. A failed look-up is `failed`, and not kept."""
        known = self._admins.get(asked)
        if known is not None and self._clock() - known[1] <= ADMIN_CACHE_SECONDS:
            return known[0]
        try:
            answer = look_up()
        except TelegramError as error:
            log.warning("could not %s: %s", what, error)
            return failed
        self._admins[asked] = (answer, self._clock())
        return answer


def _tell_outcome(reply_to: Mailbox, call, about: str | None, outcome: Outcome) -> tuple:
    """MakeCall's answer: whether the call went through, and Telegram's reason when it did not. An asker gone
    (stopped, or dead and not restarted at an Address) hears nothing: the call is made, and the sender goes on."""
    gave_up = isinstance(outcome, GaveUp)
    try:
        reply_to.tell(CallMade(call, outcome.error.description if gave_up else None, about,
                               unanswered=gave_up and not outcome.refused))
    except pykka.ActorDeadError:
        log.warning("the asker of %s stopped before its answer; dropped", type(call).__name__)
    return ()
