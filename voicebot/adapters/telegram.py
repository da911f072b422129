"""The Bot API adapter: the only module that imports pyTelegramBotAPI (telebot).

Every call goes through `TelegramClient._call`: one place that retries transient failures
(connection errors, timeouts, 5xx; 429 after exactly `retry_after`) and turns the library's
exceptions into `TelegramError`, whose text never contains the token.
"""
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import singledispatchmethod
from pathlib import Path
from typing import BinaryIO

import requests
from telebot import apihelper, types
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from voicebot.adapters.files import DownloadFolder, LocalFiles
from voicebot.core.billing import STARS
from voicebot.core.calls import (
    AnswerGuest,
    AnswerPreCheckout,
    AnswerPress,
    BotCall,
    Destination,
    EditButtons,
    EditCaption,
    EditText,
    InlineMessage,
    Keyboard,
    RefundStars,
    SendDocument,
    SendInvoice,
    SendText,
)
from voicebot.core.captions import entity_fields
from voicebot.core.channels import ChannelStanding
from voicebot.core.domain import BusinessConnection, FailureReason
from voicebot.core.errors import JobError, TelegramError
from voicebot.core.intake import UPDATE_TYPES, parse_update
from voicebot.core.ports import NO_METRICS, Fence, Metrics

log = logging.getLogger(__name__)

# What a node that no longer leads may still call: these change nothing at Telegram.
_READS = frozenset({"getMe", "getFile", "getWebhookInfo", "getChatMember", "getChat"})
_ADMINS = ("creator", "administrator")
_DOWNLOAD_CHUNK = 64 * 1024
_DOWNLOAD_TIMEOUT = (15, 60)
_STAR_TRANSACTIONS_PAGE = 100   # the most getStarTransactions gives at once


class TelegramClient:
    def __init__(self, api_url: str, token: str, *, attempts: int = 5, max_backoff: float = 10.0,
                 metrics: Metrics = NO_METRICS, fence: Fence | None = None, local_files: LocalFiles | None = None,
                 downloads: DownloadFolder | None = None):
        """`fence`: a leader's (see core.ports.Fence); once it is down, nothing that changes anything at
        Telegram (a message sent, an update confirmed) goes out. `local_files`: local mode, where the server's
        files are seen from here; `downloads`: the private folder downloads go to otherwise."""
        self._token = token
        self._bot_id = int(token.partition(":")[0]) if token.partition(":")[0].isdigit() else 0   # the token's
        self.username = ""   # the bot's @username, once get_me has told it
        self._metrics = metrics
        self._fence = fence
        self._local_files = local_files            # local mode: getFile names a file on the server's disk
        self._downloads = downloads or DownloadFolder()
        self._attempts = attempts
        self._backoff = wait_random_exponential(multiplier=0.5, max=max_backoff)
        base = api_url.rstrip("/")
        # telebot keeps these as module globals; one process talks to one Bot API server.
        apihelper.API_URL = base + "/bot{0}/{1}"
        apihelper.FILE_URL = base + "/file/bot{0}/{1}"

    def redact(self, text: str) -> str:
        return text.replace(self._token, "<token>") if self._token else text

    def get_me(self) -> dict:
        me = self._call("getMe", apihelper.get_me, retry=False)
        self.username = me.get("username") or ""
        return me

    def delete_webhook(self) -> None:
        self._call("deleteWebhook", apihelper.delete_webhook)

    def set_webhook(self, url: str, secret_token: str, allowed_updates: Sequence[str]) -> None:
        self._call("setWebhook", apihelper.set_webhook, url=url, secret_token=secret_token,
                   allowed_updates=list(allowed_updates))

    def set_menus(self, commands: Sequence[tuple[str, str]], description: str, short_description: str,
                  language_code: str | None = None) -> None:
        """The command list, the description (shown before a user's first message) and the short description
        (the bot's profile) Telegram shows users whose app is in `language_code` (None: everyone else)."""
        bot_commands = [types.BotCommand(command, text) for command, text in commands]
        self._call("setMyCommands", apihelper.set_my_commands, bot_commands, language_code=language_code)
        self._call("setMyDescription", apihelper.set_my_description, description, language_code)
        self._call("setMyShortDescription", apihelper.set_my_short_description, short_description, language_code)

    def webhook_url(self) -> str:
        """The URL of the webhook Telegram has registered for the bot; empty when there is none."""
        return self._call("getWebhookInfo", apihelper.get_webhook_info).get("url") or ""

    def get_updates(self, offset: int | None, timeout: int) -> list[dict]:
        # No retry here: the poller simply polls again, and must stay responsive to stop.
        return self._call("getUpdates", apihelper.get_updates, offset=offset, long_polling_timeout=timeout,
                          allowed_updates=list(UPDATE_TYPES),
                          retry=False)

    def confirm_updates(self, offset: int) -> None:
        """Confirms every update before `offset`, without waiting for new ones. (apihelper.get_updates
        turns a timeout of 0 into its default long poll, hence the generic request.)"""
        self._call("getUpdates", apihelper._make_request, "getUpdates",
                   params={"offset": offset, "limit": 1, "long_polling_timeout": 0})

    @singledispatchmethod
    def perform(self, call: BotCall) -> int | str | None:
        """Makes one of the outbox's calls (core.calls), each with a method of its own below: the id of the message
        it posted (a guest post's inline_message_id), None for one that posts none."""
        raise TypeError(f"no Bot API method for {type(call).__name__}")

    @perform.register
    def _send_text(self, call: SendText) -> int:
        sent = self._call("sendMessage", apihelper.send_message, call.to.chat_id, call.text,
                          message_thread_id=call.to.thread_id, reply_parameters=_reply_parameters(call.to),
                          reply_markup=_markup(call.keyboard), business_connection_id=call.to.business_connection_id)
        return sent["message_id"]

    @perform.register
    def _send_document(self, call: SendDocument) -> int:
        sent = self._call("sendDocument", apihelper.send_data, call.to.chat_id, call.data, "document",
                          caption=call.caption, visible_file_name=call.file_name,
                          message_thread_id=call.to.thread_id, reply_parameters=_reply_parameters(call.to),
                          business_connection_id=call.to.business_connection_id)
        return sent["message_id"]

    @perform.register
    def _edit_text(self, call: EditText) -> None:
        if isinstance(call.message, InlineMessage):
            self._call("editMessageText", apihelper.edit_message_text, text=call.text,
                       inline_message_id=call.message.inline_message_id, reply_markup=_markup(call.keyboard))
            return
        self._call("editMessageText", apihelper.edit_message_text, text=call.text, chat_id=call.message.chat_id,
                   message_id=call.message.message_id, reply_markup=_markup(call.keyboard),
                   business_connection_id=call.message.business_connection_id)

    @perform.register
    def _answer_guest(self, call: AnswerGuest) -> str:
        # The result's id is the query's: one answer per query, so it need only be unique within it.
        result = types.InlineQueryResultArticle(call.to.query_id[:64], call.text[:64],
                                                types.InputTextMessageContent(call.text))
        return self._call("answerGuestQuery", apihelper.answer_guest_query, call.to.query_id,
                          result)["inline_message_id"]

    @perform.register
    def _edit_caption(self, call: EditCaption) -> None:
        self._call("editMessageCaption", apihelper.edit_message_caption, call.caption,
                   chat_id=call.message.chat_id, message_id=call.message.message_id,
                   caption_entities=[entity_fields(entity) for entity in call.entities] or None,
                   reply_markup=_markup(call.keyboard))

    @perform.register
    def _edit_buttons(self, call: EditButtons) -> None:
        self._call("editMessageReplyMarkup", apihelper.edit_message_reply_markup, chat_id=call.message.chat_id,
                   message_id=call.message.message_id, reply_markup=_markup(call.keyboard))

    @perform.register
    def _answer_press(self, call: AnswerPress) -> None:
        # Not retried: the user's app waits only seconds for the answer, and a late one is refused anyway.
        self._call("answerCallbackQuery", apihelper.answer_callback_query, call.query_id, text=call.text,
                   retry=False)

    @perform.register
    def _send_invoice(self, call: SendInvoice) -> int:
        # Stars: no provider token, one price; without reply_markup Telegram's first button is "Pay ⭐N".
        sent = self._call("sendInvoice", apihelper.send_invoice, call.to.chat_id, call.title, call.description,
                          call.payload, None, STARS, [types.LabeledPrice(call.label, call.stars)],
                          message_thread_id=call.to.thread_id, reply_parameters=_reply_parameters(call.to))
        return sent["message_id"]

    @perform.register
    def _answer_pre_checkout(self, call: AnswerPreCheckout) -> None:
        # Not retried: Telegram waits 10 s for it, and refuses a late one.
        self._call("answerPreCheckoutQuery", apihelper.answer_pre_checkout_query, call.query_id,
                   call.error_message is None, error_message=call.error_message, retry=False)

    @perform.register
    def _refund_stars(self, call: RefundStars) -> None:
        # Not retried here: a refund that went through and whose answer was lost would be refused the second
        # time (CHARGE_ALREADY_REFUNDED); its refunded_payment update records it either way.
        self._call("refundStarPayment", apihelper.refund_star_payment, call.user_id, call.charge_id, retry=False)

    def star_transactions(self) -> list[dict]:
        """Every Star transaction of the bot (StarTransaction objects), oldest first: getStarTransactions a page at
        a time. New ones come last, so the pages read before them stay as they were."""
        transactions: list[dict] = []
        while True:
            page = self._call("getStarTransactions", apihelper.get_star_transactions, offset=len(transactions),
                              limit=_STAR_TRANSACTIONS_PAGE)["transactions"]
            transactions += page
            if len(page) < _STAR_TRANSACTIONS_PAGE:
                return transactions

    def business_connection(self, connection_id: str) -> BusinessConnection | None:
        connection = self._call("getBusinessConnection", apihelper.get_business_connection, connection_id)
        # Read as the update that would have brought it: one reading of a connection.
        found = parse_update({"business_connection": connection})
        return found if isinstance(found, BusinessConnection) else None

    def is_chat_admin(self, chat_id: int, user_id: int) -> bool:
        member = self._call("getChatMember", apihelper.get_chat_member, chat_id, user_id)
        return member.get("status") in _ADMINS

    def channel_standing(self, channel: str, user_id: int) -> tuple[int | None, ChannelStanding]:
        """The channel `channel` names ("@name" or its id) and where it and `user_id` stand: whether the bot
        administers it with the right to edit its posts (where it answers), and whether the user administers it."""
        try:
            chat = self._call("getChat", apihelper.get_chat, channel)
        except TelegramError as error:
            if error.transient:
                raise
            return None, ChannelStanding.UNKNOWN   # no such chat, or one the bot cannot see
        if chat.get("type") != "channel" or not isinstance(chat.get("id"), int):
            return None, ChannelStanding.UNKNOWN
        bot = self._call("getChatMember", apihelper.get_chat_member, chat["id"], self._bot_id)
        if bot.get("status") != "administrator" or not bot.get("can_edit_messages"):
            return chat["id"], ChannelStanding.BOT_ABSENT
        if not self.is_chat_admin(chat["id"], user_id):
            return chat["id"], ChannelStanding.NOT_ADMIN
        return chat["id"], ChannelStanding.ADMIN

    @contextmanager
    def fetch(self, file_id: str, max_bytes: int) -> Iterator[Path | BinaryIO]:
        """The recording as a file on disk, for the block's duration: in local mode the Bot API server's own
        file, already open (read from that descriptor, never by its name again), else a download streamed to
        this process's private folder and deleted afterwards. JobError TOO_BIG for anything over max_bytes,
        before or while reading."""
        info = self._file_info(file_id, max_bytes)
        if self._local_files is not None:
            with self._local_files.open(info["file_path"], max_bytes) as file:
                yield file
            return
        with self._downloads.new_file() as path:
            self._with_retry("download", lambda: self._measured("download", self._download, info["file_path"],
                                                                 path, max_bytes))
            yield path

    def _file_info(self, file_id: str, max_bytes: int) -> dict:
        try:
            info = self._call("getFile", apihelper.get_file, file_id)
        except TelegramError as error:
            if error.status == 400 and "too big" in error.description.lower():
                raise JobError(FailureReason.TOO_BIG, "Bot API refused the download") from None
            raise
        if (info.get("file_size") or 0) > max_bytes:
            raise JobError(FailureReason.TOO_BIG, f"{info['file_size']} bytes")
        if not info.get("file_path"):
            raise TelegramError("getFile", "no file_path in the answer", status=200)
        return info

    def _download(self, file_path: str, target: Path, max_bytes: int) -> None:
        url = apihelper.FILE_URL.format(self._token, file_path)
        try:
            with requests.get(url, stream=True, timeout=_DOWNLOAD_TIMEOUT) as answer, open(target, "wb") as file:
                if answer.status_code != 200:
                    raise TelegramError("download", f"HTTP {answer.status_code}", status=answer.status_code)
                written = 0
                for chunk in answer.iter_content(_DOWNLOAD_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise JobError(FailureReason.TOO_BIG, "file larger than it claimed")
                    file.write(chunk)
        except requests.RequestException as error:
            raise TelegramError("download", type(error).__name__) from None

    def _call(self, method: str, function, *args, retry: bool = True, **kwargs):
        def attempt():
            return self._measured(method, self._translated_call, method, function, *args, **kwargs)
        return self._with_retry(method, attempt) if retry else attempt()

    def _with_retry(self, method: str, attempt):
        for attempt_state in Retrying(
                retry=retry_if_exception(lambda error: isinstance(error, TelegramError) and error.transient),
                wait=self._wait, stop=stop_after_attempt(self._attempts), reraise=True,
                before_sleep=lambda state: log.warning("%s: %s; retrying", method,
                                                       state.outcome.exception().description)):
            with attempt_state:
                return attempt()

    def _wait(self, retry_state) -> float:
        error = retry_state.outcome.exception()
        if error.retry_after:
            return float(error.retry_after)
        return self._backoff(retry_state)

    def _measured(self, method: str, function, *args, **kwargs):
        started, error = time.monotonic(), None
        try:
            return function(*args, **kwargs)
        except TelegramError as failure:
            error = str(failure.status or "none")
            raise
        finally:
            self._metrics.bot_api_called(method, time.monotonic() - started, error)

    def _translated_call(self, method: str, function, *args, **kwargs):
        if self._fence is not None and method not in _READS and not self._fence.holds():
            raise TelegramError(method, "not sent: this node no longer leads")
        try:
            return function(self._token, *args, **kwargs)
        except apihelper.ApiTelegramException as error:
            parameters = error.result_json.get("parameters") or {}
            raise TelegramError(method, self.redact(str(error.description)), error.error_code,
                                parameters.get("retry_after")) from None
        except (apihelper.ApiHTTPException, apihelper.ApiInvalidJSONException) as error:
            status = error.result.status_code
            raise TelegramError(method, f"HTTP {status} {self.redact(error.result.reason or '')}".strip(),
                                status if status != 200 else 502) from None
        except requests.RequestException as error:
            # The exception text of requests/urllib3 holds the URL, and so the token: drop it.
            raise TelegramError(method, type(error).__name__) from None


def _markup(keyboard: Keyboard | None) -> types.InlineKeyboardMarkup | None:
    if not keyboard:
        return None
    markup = types.InlineKeyboardMarkup()
    for row in keyboard:
        markup.row(*(types.InlineKeyboardButton(label, callback_data=data) for label, data in row))
    return markup


def _reply_parameters(to: Destination):
    if to.reply_to_message_id is None:
        return None
    return types.ReplyParameters(message_id=to.reply_to_message_id, allow_sending_without_reply=True)
