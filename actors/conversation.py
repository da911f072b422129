"""The conversation, the QuotaActor's half that talks with users: commands, admin commands, group modes,
and flood control (the users' ReplyAllowance), so that one user's flood of commands cannot queue up ahead
of everyone else's replies.

It reads and changes the users' settings in the QuotaActor's UserBook; answers that need the database
come back to the QuotaActor from the StorageActor and are finished here."""
import dataclasses
import logging
from collections.abc import Callable

from actors.messages import (
    ChatAdminChecked,
    CheckChatAdmin,
    CommandReceived,
    DescribeUser,
    ForgetUser,
    SaveChatSettings,
    SaveUserSettings,
    SendReply,
    TextReceived,
    UnsupportedReceived,
    UserDescribed,
    UserForgotten,
    VoiceReceived,
)
from actors.users import QuotaRules, ReplyAllowance, UserBook
from voicebot.core import replies
from voicebot.core.intake import MAX_INTEGER
from voicebot.core.ports import Mailbox

log = logging.getLogger(__name__)

class Conversation:
    def __init__(self, rules: QuotaRules, users: UserBook, allowance: ReplyAllowance, sender: Mailbox,
                 storage: Mailbox, quota: Mailbox, on_request_chats: frozenset[int]):
        self._rules = rules
        self._users = users
        self._sender = sender
        self._storage = storage
        self._quota = quota   # where the StorageActor's answers to our questions go
        self._on_request_chats = set(on_request_chats)   # groups that transcribe only on /transcribe
        self._allowance = allowance

    def transcribes(self, voice: VoiceReceived) -> bool:
        """Whether this recording is for the bot: always, but in a group that transcribes only on request."""
        return voice.requested or not voice.in_group or voice.job.chat_id not in self._on_request_chats

    def answer(self, message: CommandReceived | TextReceived | UnsupportedReceived) -> None:
        allowed = self._allowance.take(message.user_id)
        if allowed is None:
            return
        match message:
            case _ if not allowed:
                text = replies.SLOW_DOWN
            case CommandReceived():
                text = self._answer_command(message)
            case TextReceived():
                text = replies.TEXT_ONLY
            case UnsupportedReceived():
                text = replies.UNSUPPORTED
        if text:
            self._reply(message.chat_id, text, message.message_id)

    def admin_checked(self, checked: ChatAdminChecked) -> None:
        command = checked.command
        self._reply(command.chat_id, self._switch_group_mode(command, checked.is_admin), command.message_id)

    def described(self, described: UserDescribed) -> None:
        user_id = described.user_id
        text = replies.usage(self._users[user_id].charged, self._users.daily_seconds(user_id),
                             self._users.is_unlimited(user_id), described.summary, self._users.local_now())
        self._reply(described.chat_id, text, described.message_id)

    def forgotten(self, forgotten: UserForgotten) -> None:
        self._reply(forgotten.chat_id, replies.forgotten(forgotten.removed), forgotten.message_id)

    def _answer_command(self, command: CommandReceived) -> str | None:
        """The answer, or None when it comes later (from the StorageActor's or the sender's reply)."""
        if command.command in _ADMIN_COMMANDS and command.user_id in self._rules.admin_user_ids:
            return _ADMIN_COMMANDS[command.command](self, command)
        if command.command in _USER_COMMANDS:
            return _USER_COMMANDS[command.command](self, command)
        return replies.UNKNOWN_COMMAND

    def _help(self, command: CommandReceived) -> str:
        rules = self._rules
        return replies.help_text(rules.max_duration_seconds, rules.max_file_mb, rules.daily_seconds,
                                 rules.rate_limit_seconds, admin=command.user_id in rules.admin_user_ids)

    def _ask_storage_about(self, user_id: int, command: CommandReceived) -> None:
        self._storage.tell(DescribeUser(user_id, self._users.today(), command.chat_id, command.message_id,
                                        self._quota))

    def _usage(self, command: CommandReceived) -> None:
        self._ask_storage_about(command.user_id, command)

    def _language(self, command: CommandReceived) -> str:
        user, wanted = self._users[command.user_id], command.argument.strip().lower()
        if not wanted:
            return replies.language_is(user.language)
        if wanted not in self._rules.languages and wanted != "auto":
            return replies.unknown_language(wanted, sorted(self._rules.languages))
        user.language = None if wanted == "auto" else wanted
        self._save_settings(command.user_id)
        return replies.language_set(user.language)

    def _transcribe_hint(self, command: CommandReceived) -> str:
        return replies.TRANSCRIBE_HINT

    def _auto(self, command: CommandReceived) -> str | None:
        if not command.in_group:
            return replies.AUTO_IN_GROUPS_ONLY
        if command.argument.strip().lower() not in ("on", "off"):
            return replies.auto_mode(command.chat_id not in self._on_request_chats, changed=False)
        self._sender.tell(CheckChatAdmin(command, self._quota))  # the answer comes as ChatAdminChecked
        return None

    def _switch_group_mode(self, command: CommandReceived, is_admin: bool) -> str:
        if not is_admin:
            return replies.ADMINS_ONLY
        automatic = command.argument.strip().lower() == "on"
        if automatic:
            self._on_request_chats.discard(command.chat_id)
        else:
            self._on_request_chats.add(command.chat_id)
        self._storage.tell(SaveChatSettings(command.chat_id, automatic))
        return replies.auto_mode(automatic, changed=True)

    def _timestamps(self, command: CommandReceived) -> str:
        user, wanted = self._users[command.user_id], command.argument.strip().lower()
        if wanted in ("on", "off"):
            user.timestamps = wanted == "on"
            self._save_settings(command.user_id)
        return replies.timestamps(user.timestamps, changed=wanted in ("on", "off"))

    def _forget(self, command: CommandReceived) -> None:
        self._storage.tell(ForgetUser(command.user_id, self._users.today(), command.chat_id, command.message_id,
                                      self._quota))

    def _grant(self, command: CommandReceived) -> str:
        return self._change_user(command, lambda user: setattr(user, "unlimited", True))

    def _revoke(self, command: CommandReceived) -> str:
        return self._change_user(command, lambda user: setattr(user, "unlimited", False))

    def _set_quota(self, command: CommandReceived) -> str:
        target, _, seconds = command.argument.partition(" ")
        daily_seconds = _whole_number(seconds)
        if daily_seconds is None:
            return replies.ADMIN_USAGE
        return self._change_user(dataclasses.replace(command, argument=target),
                                 lambda user: setattr(user, "daily_seconds", daily_seconds))

    def _show_user(self, command: CommandReceived) -> str | None:
        user_id = _whole_number(command.argument)
        if user_id is None:
            return replies.ADMIN_USAGE
        self._ask_storage_about(user_id, command)
        return None

    def _change_user(self, command: CommandReceived, change: Callable) -> str:
        user_id = _whole_number(command.argument)
        if user_id is None:
            return replies.ADMIN_USAGE
        user = self._users[user_id]
        change(user)
        self._save_settings(user_id)
        log.info("admin %s changed user %s: unlimited=%s daily_seconds=%s", command.user_id, user_id,
                 user.unlimited, user.daily_seconds)
        return replies.user_changed(user_id, user.unlimited, self._users.daily_seconds(user_id))

    def _save_settings(self, user_id: int) -> None:
        user = self._users[user_id]
        self._storage.tell(SaveUserSettings(user_id, user.unlimited, user.daily_seconds, user.language,
                                            user.timestamps))

    def _reply(self, chat_id: int, text: str, reply_to: int) -> None:
        self._sender.tell(SendReply(chat_id, text, reply_to))


def _whole_number(text: str) -> int | None:
    """A user id or a number of seconds as an admin typed it: ASCII digits only ("²".isdigit() is true, and
    int("²") fails) and within a database's 64-bit integer; None otherwise."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_INTEGER:
        return None
    return int(text)


_USER_COMMANDS = {"start": Conversation._help, "help": Conversation._help, "usage": Conversation._usage,
                  "language": Conversation._language, "forget": Conversation._forget,
                  "timestamps": Conversation._timestamps, "transcribe": Conversation._transcribe_hint,
                  "auto": Conversation._auto}
_ADMIN_COMMANDS = {"grant": Conversation._grant, "revoke": Conversation._revoke,
                   "setquota": Conversation._set_quota, "user": Conversation._show_user}
