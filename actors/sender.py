"""TelegramSender: owns every outgoing Bot API call, so pacing and retries live in one place."""
import logging

from actors.base import SupervisedActor
from actors.messages import DeliverResult, PostStatus, SendReply
from voicebot.domain import JobKey
from voicebot.telegram import TelegramError
from voicebot.text import split_message

log = logging.getLogger(__name__)


class TelegramSender(SupervisedActor):
    def __init__(self, telegram, supervisor=None, name: str = "sender"):
        super().__init__(name, supervisor)
        self._telegram = telegram
        self._status_messages: dict[JobKey, int] = {}

    def handle(self, message):
        match message:
            case SendReply(chat_id, text, reply_to):
                self._send(chat_id, text, reply_to)
            case PostStatus(key, text):
                message_id = self._send(key.chat_id, text, key.message_id)
                if message_id is not None:
                    self._status_messages[key] = message_id
            case DeliverResult(key, text):
                self._deliver(key, text)
            case _:
                return NotImplemented

    def _deliver(self, key: JobKey, text: str) -> None:
        first, *rest = split_message(text) or [text]
        status_id = self._status_messages.pop(key, None)
        # Editing the status message rather than sending anew means no stray "Processing…" stays.
        if status_id is None or not self._edit(key.chat_id, status_id, first):
            self._send(key.chat_id, first, key.message_id)
        for piece in rest:
            self._send(key.chat_id, piece, key.message_id)

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
            log.warning("could not edit message %s in chat %s (%s); sending it anew", message_id, chat_id,
                        error.description)
            return False
        return True
