"""The conversation, the QuotaActor's half that talks with users: commands, admin commands, group modes,
and flood control (the users' ReplyAllowance), so that one user's flood of commands cannot queue up ahead
of everyone else's replies. Every answer is in the language the user is answered in (language_for).

It reads and changes the users' settings in the QuotaActor's UserBook and the groups' own, each a whole
value (UserSettings, ChatSettings) replaced on a change and saved whole; answers that need the database
come back to the QuotaActor from the StorageActor and are finished here."""
import dataclasses
import logging

from actors.billing import Billing
from actors.business import BusinessChats
from actors.messages import (
    ChannelAdminChecked,
    ChatAdminChecked,
    CheckChannelAdmin,
    CheckChatAdmin,
    CommandReceived,
    DescribeUser,
    ForgetUser,
    GuestTranscriptLoaded,
    LoadGuestTranscript,
    SaveChatSettings,
    SaveUserSettings,
    TextReceived,
    UnsupportedReceived,
    UserDescribed,
    UserForgotten,
    VoiceReceived,
)
from actors.users import QuotaRules, ReplyAllowance, UserBook
from voicebot.core.billing import BUY_COMMAND, PAYSUPPORT_COMMAND, REFUND_COMMAND
from voicebot.core.business import BUSINESS_COMMAND
from voicebot.core.calls import Destination, SendText
from voicebot.core.channels import CHANNEL_COMMAND, ChannelStanding, channel_switch
from voicebot.core.domain import ChatSettings, GuestMentioned, UserSettings
from voicebot.core.guests import key_of_payload
from voicebot.core.intake import MAX_INTEGER
from voicebot.core.ports import Mailbox
from voicebot.core.replies import ENGLISH, Languages, Wording
from voicebot.core.text import split_message, vocabulary_words

log = logging.getLogger(__name__)

MAX_DAILY_SECONDS = 2 ** 31 - 1   # a day's allowance an admin sets, as storage keeps it (a 32-bit integer)
MAX_VOCABULARY_CHARS = 300   # Whisper takes hotwords up to half its context (224 tokens): about this much text


class Conversation:
    def __init__(self, *, rules: QuotaRules, users: UserBook, allowance: ReplyAllowance, sender: Mailbox,
                 storage: Mailbox, quota: Mailbox, languages: Languages | None = None,
                 chat_settings: dict[int, ChatSettings] | None = None, business: BusinessChats | None = None,
                 billing: Billing | None = None):
        self._rules = rules
        self._users = users
        self._sender = sender
        self._storage = storage
        self._quota = quota   # where the StorageActor's answers to our questions go
        self._allowance = allowance
        self._languages = languages or Languages()
        self._chats = dict(chat_settings or {})   # each group's own settings; a group not here has ChatSettings()
        self._waiting: dict[tuple[int, int], Wording] = {}   # (chat, message) -> the words its answer is in
        self._business = business   # the users' business connections, which /business shows
        self._billing = billing     # minutes sold for Stars: /buy, /paysupport, /refund, and /usage's balance

    def note_app_language(self, user_id: int, app_language: str | None) -> None:
        """Remember the language of the user's Telegram app, as an update of theirs said (if it said one)."""
        if app_language:
            self._users[user_id].seen_language = app_language

    def language_for(self, user_id: int, chat_id: int, in_group: bool) -> str | None:
        """The language the bot answers in: the group's, chosen by its admins; else the user's, chosen with
        /lang; else their Telegram app's as last noted (the first two letters: "pt-br" is "pt"), if there is a
        catalog for it; else None, which is English."""
        user = self._users[user_id]
        for choice in (self._chat(chat_id).interface_language if in_group else None,
                       user.settings.interface_language, user.seen_language):
            if (catalog := self._languages.catalog_for(choice)) is not None:
                return catalog
        return None

    def vocabulary_for(self, user_id: int, chat_id: int, in_group: bool) -> str | None:
        """The names and terms to spell right: the group's, set by its admins; else the user's own."""
        return ((self._chat(chat_id).vocabulary if in_group else None)
                or self._users[user_id].settings.vocabulary)

    def transcribes(self, voice: VoiceReceived) -> bool:
        """Whether this recording is for the bot: always, but in a group that transcribes only on request."""
        return voice.requested or not voice.in_group or self._chat(voice.job.chat_id).automatic

    def answer(self, message: CommandReceived | TextReceived | UnsupportedReceived) -> None:
        words = self._words(message)
        allowed = self._allowance.take(message.user_id)
        if allowed is None:
            return
        match message:
            case _ if not allowed:
                text = words.SLOW_DOWN
            case CommandReceived():
                text = self._answer_command(message, words)
            case TextReceived():
                text = words.TEXT_ONLY
            case UnsupportedReceived():
                text = words.UNSUPPORTED
        if text:
            self._reply(message.chat_id, text, message.message_id)

    def guest_how_to(self, mention: GuestMentioned) -> None:
        """A mention with nothing to transcribe: its query is answered with how to use one, in the caller's
        language (or told to slow down, as any message is)."""
        words = self._words(mention)
        allowed = self._allowance.take(mention.user_id)
        if allowed is not None:
            self._sender.tell(SendText(mention.destination, words.GUEST_HOW_TO if allowed else words.SLOW_DOWN))

    def admin_checked(self, checked: ChatAdminChecked) -> None:
        """A group setting asked for by someone the sender checked: changed if they administer the group."""
        command = checked.command
        words = self._answer_words(command.chat_id, command.message_id)
        text = _GROUP_SWITCHES[command.command](self, command, words) if checked.is_admin else words.ADMINS_ONLY
        self._reply(command.chat_id, text, command.message_id)

    def channel_checked(self, checked: ChannelAdminChecked) -> None:
        """A channel's switch asked for by someone the sender looked up: made if they administer the channel."""
        command, switch = checked.command, checked.switch
        words = self._answer_words(command.chat_id, command.message_id)
        if checked.standing is ChannelStanding.ADMIN:
            log.info("user %s switched channel %s %s", command.user_id, checked.channel_id,
                     "on" if switch.on else "off")
            self._change_chat_settings(checked.channel_id, automatic=switch.on)
        self._reply(command.chat_id, words.channel_switched(checked.standing, switch.on, switch.channel),
                    command.message_id)

    def described(self, described: UserDescribed) -> None:
        user_id, words = described.user_id, self._answer_words(described.chat_id, described.message_id)
        charged, daily = self._users[user_id].charged, self._users.daily_seconds(user_id)
        bought = self._users.bought(user_id)
        billed = self._billing is not None and (self._billing.enabled or bought > 0)
        # With minutes bought, what the day counts beyond its free seconds was paid for: the day shows its own.
        text = words.usage(min(charged, daily) if billed else charged, daily, self._users.is_unlimited(user_id),
                           described.summary, self._users.local_now())
        if billed:
            text += "\n" + words.bought_balance(bought, self._users[user_id].bought_until if bought else None)
        self._reply(described.chat_id, text, described.message_id)

    def forgotten(self, forgotten: UserForgotten) -> None:
        words = self._answer_words(forgotten.chat_id, forgotten.message_id)
        self._reply(forgotten.chat_id, words.forgotten(forgotten.removed), forgotten.message_id)

    def _words(self, message: CommandReceived | TextReceived | UnsupportedReceived | GuestMentioned) -> Wording:
        self.note_app_language(message.user_id, message.language_code)
        in_group = getattr(message, "in_group", False)
        return self._languages[self.language_for(message.user_id, message.chat_id, in_group)]

    def _answer_words(self, chat_id: int, message_id: int) -> Wording:
        """The words of a command whose answer came back from the StorageActor or the sender."""
        return self._waiting.pop((chat_id, message_id), self._languages[ENGLISH])

    def _later(self, command: CommandReceived, words: Wording) -> None:
        self._waiting[(command.chat_id, command.message_id)] = words

    def _answer_command(self, command: CommandReceived, words: Wording) -> str | None:
        """The answer, or None when it comes later (from the StorageActor's or the sender's reply)."""
        if command.command in _ADMIN_COMMANDS and command.user_id in self._rules.admin_user_ids:
            return _ADMIN_COMMANDS[command.command](self, command, words)
        if command.command in _USER_COMMANDS:
            return _USER_COMMANDS[command.command](self, command, words)
        return words.UNKNOWN_COMMAND

    def _start(self, command: CommandReceived, words: Wording) -> str | None:
        """/start, the help; with the payload of a guest post's deep link, the whole transcript of that
        caller's guest job instead (another's payload names none of theirs)."""
        key = None if command.in_group else key_of_payload(command.argument, command.user_id)
        if key is None:
            return self._help(command, words)
        self._later(command, words)
        self._storage.tell(LoadGuestTranscript(key, command.chat_id, command.message_id, self._quota))
        return None

    def guest_transcript_loaded(self, loaded: GuestTranscriptLoaded) -> None:
        words = self._answer_words(loaded.chat_id, loaded.message_id)
        for part in split_message(loaded.text or "") or [words.GUEST_TRANSCRIPT_GONE]:
            self._reply(loaded.chat_id, part, loaded.message_id)

    def _help(self, command: CommandReceived, words: Wording) -> str:
        rules = self._rules
        return words.help_text(rules.max_duration_seconds, rules.max_file_mb, rules.daily_seconds,
                               rules.rate_limit_seconds, admin=command.user_id in rules.admin_user_ids,
                               billing=self._billing is not None and self._billing.enabled)

    def _ask_storage_about(self, user_id: int, command: CommandReceived, words: Wording) -> None:
        self._later(command, words)
        self._storage.tell(DescribeUser(user_id, self._users.today(), command.chat_id, command.message_id,
                                        self._quota))

    def _usage(self, command: CommandReceived, words: Wording) -> None:
        self._ask_storage_about(command.user_id, command, words)

    def _language(self, command: CommandReceived, words: Wording) -> str:
        user, wanted = self._users[command.user_id], command.argument.strip().lower()
        if not wanted:
            return words.language_is(user.settings.language)
        if wanted not in self._rules.languages and wanted != "auto":
            return words.unknown_language(wanted, sorted(self._rules.languages))
        settings = self._change_settings(command.user_id, language=None if wanted == "auto" else wanted)
        return words.language_set(settings.language)

    def _transcribe_hint(self, command: CommandReceived, words: Wording) -> str:
        return words.TRANSCRIBE_HINT

    def _auto(self, command: CommandReceived, words: Wording) -> str | None:
        if not command.in_group:
            return words.AUTO_IN_GROUPS_ONLY
        if command.argument.strip().lower() not in ("on", "off"):
            return words.auto_mode(self._chat(command.chat_id).automatic, changed=False)
        self._ask_if_admin(command, words)
        return None

    def _ask_if_admin(self, command: CommandReceived, words: Wording) -> None:
        self._later(command, words)
        self._sender.tell(CheckChatAdmin(command, self._quota))  # the answer comes as ChatAdminChecked

    def _switch_group_mode(self, command: CommandReceived, words: Wording) -> str:
        automatic = command.argument.strip().lower() == "on"
        self._change_chat_settings(command.chat_id, automatic=automatic)
        return words.auto_mode(automatic, changed=True)

    def _lang(self, command: CommandReceived, words: Wording) -> str | None:
        """The language the bot answers in: a user's own, or, set by its admins, a group's."""
        wanted = command.argument.strip().lower()
        if wanted != "auto" and wanted not in self._languages:
            return words.interface_languages(self._languages.codes)
        if command.in_group:
            self._ask_if_admin(command, words)
            return None
        self._change_settings(command.user_id, interface_language=None if wanted == "auto" else wanted)
        return self._words(command).interface_chosen(automatic=wanted == "auto", in_group=False)

    def _switch_group_language(self, command: CommandReceived, words: Wording) -> str:
        wanted = command.argument.strip().lower()
        self._change_chat_settings(command.chat_id, interface_language=None if wanted == "auto" else wanted)
        return self._words(command).interface_chosen(automatic=wanted == "auto", in_group=True)

    def _channel(self, command: CommandReceived, words: Wording) -> str | None:
        """/channel on|off @channel, in the bot's private chat: its admins switch a channel's voice posts."""
        switch = None if command.in_group else channel_switch(command.argument)
        if switch is None:
            return words.CHANNEL_USAGE
        self._later(command, words)
        self._sender.tell(CheckChannelAdmin(command, switch, self._quota))
        return None

    def _business_chats(self, command: CommandReceived, words: Wording) -> str:
        """/business: where recordings in the user's business chats are answered (see actors/business.py)."""
        if self._business is None:
            return words.BUSINESS_USAGE
        text, settings = self._business.command(command, words)
        if settings is not None:
            self._change_settings(command.user_id, business=settings.business, business_mine=settings.business_mine)
        return text

    def _buy(self, command: CommandReceived, words: Wording) -> str | None:
        """/buy: packs of minutes for Telegram Stars (actors/billing.py); unknown while billing is off."""
        if self._billing is None or not self._billing.enabled:
            return words.UNKNOWN_COMMAND
        return self._billing.buy(command, words)

    def _paysupport(self, command: CommandReceived, words: Wording) -> str | None:
        """/paysupport: how to get help with a payment, and the user's latest ones."""
        if self._billing is None or not self._billing.enabled:
            return words.UNKNOWN_COMMAND
        return self._billing.paysupport(command, words)

    def _refund(self, command: CommandReceived, words: Wording) -> str | None:
        """An admin's /refund CHARGE_ID: possible whether billing is on or off (a payment taken stays refundable)."""
        if self._billing is None:
            return words.UNKNOWN_COMMAND
        return self._billing.refund_command(command, words)

    def _timestamps(self, command: CommandReceived, words: Wording) -> str:
        return words.timestamps(*self._switch_user_setting(command, "timestamps"))

    def _translate(self, command: CommandReceived, words: Wording) -> str:
        return words.translate(*self._switch_user_setting(command, "translate"))

    def _switch_user_setting(self, command: CommandReceived, setting: str) -> tuple[bool, bool]:
        """/COMMAND on or off for one of the user's settings: (whether it is on now, whether it changed)."""
        settings, wanted = self._users[command.user_id].settings, command.argument.strip().lower()
        changed = wanted in ("on", "off")
        if changed:
            settings = self._change_settings(command.user_id, **{setting: wanted == "on"})
        return getattr(settings, setting), changed

    def _vocab(self, command: CommandReceived, words: Wording) -> str | None:
        """/vocab shows the vocabulary, /vocab clear clears it, /vocab WORDS sets it: the user's own, or in a
        group the group's, which only its admins change."""
        vocabulary = _vocabulary(command.argument)
        if len(vocabulary or "") > MAX_VOCABULARY_CHARS:
            return words.vocabulary_too_long(MAX_VOCABULARY_CHARS)
        if not command.argument.strip():
            shown = (self._chat(command.chat_id).vocabulary if command.in_group else
                     self._users[command.user_id].settings.vocabulary)
            return words.vocabulary_is(shown, command.in_group)
        if command.in_group:
            self._ask_if_admin(command, words)
            return None
        self._change_settings(command.user_id, vocabulary=vocabulary)
        return words.vocabulary_set(vocabulary, in_group=False)

    def _switch_group_vocabulary(self, command: CommandReceived, words: Wording) -> str:
        vocabulary = _vocabulary(command.argument)
        self._change_chat_settings(command.chat_id, vocabulary=vocabulary)
        return words.vocabulary_set(vocabulary, in_group=True)

    def _forget(self, command: CommandReceived, words: Wording) -> None:
        self._later(command, words)
        self._storage.tell(ForgetUser(command.user_id, self._users.today(), command.chat_id, command.message_id,
                                      self._quota))

    def _grant(self, command: CommandReceived, words: Wording) -> str:
        return self._change_user(command, words, unlimited=True)

    def _revoke(self, command: CommandReceived, words: Wording) -> str:
        return self._change_user(command, words, unlimited=False)

    def _set_quota(self, command: CommandReceived, words: Wording) -> str:
        target, _, seconds = command.argument.partition(" ")
        daily_seconds = _whole_number(seconds, MAX_DAILY_SECONDS)
        if daily_seconds is None:
            return words.ADMIN_USAGE
        return self._change_user(dataclasses.replace(command, argument=target), words, daily_seconds=daily_seconds)

    def _show_user(self, command: CommandReceived, words: Wording) -> str | None:
        user_id = _whole_number(command.argument)
        if user_id is None:
            return words.ADMIN_USAGE
        self._ask_storage_about(user_id, command, words)
        return None

    def _change_user(self, command: CommandReceived, words: Wording, **changes) -> str:
        """An admin's change (field=value) to the settings of the user the command names."""
        user_id = _whole_number(command.argument)
        if user_id is None:
            return words.ADMIN_USAGE
        settings = self._change_settings(user_id, **changes)
        log.info("admin %s changed user %s: unlimited=%s daily_seconds=%s", command.user_id, user_id,
                 settings.unlimited, settings.daily_seconds)
        return words.user_changed(user_id, settings.unlimited, self._users.daily_seconds(user_id))

    def _change_settings(self, user_id: int, **changes) -> UserSettings:
        """The user's settings with `changes` (field=value), kept in the book and saved whole."""
        settings = self._users.change_settings(user_id, **changes)
        self._storage.tell(SaveUserSettings(user_id, settings))
        return settings

    def _chat(self, chat_id: int) -> ChatSettings:
        return self._chats.get(chat_id, ChatSettings())

    def _change_chat_settings(self, chat_id: int, **changes) -> None:
        """The group's settings with `changes` (field=value), kept and saved whole."""
        self._chats[chat_id] = settings = dataclasses.replace(self._chat(chat_id), **changes)
        self._storage.tell(SaveChatSettings(chat_id, settings))

    def _reply(self, chat_id: int, text: str, message_id: int) -> None:
        """In reply to the message `message_id` of the chat."""
        self._sender.tell(SendText(Destination(chat_id, reply_to_message_id=message_id), text))


def _vocabulary(argument: str) -> str | None:
    """What /vocab was given, as it is kept: its words, one space apart, none of Whisper's control tokens
    among them; None for "clear", or when nothing else is left."""
    words = vocabulary_words(argument)
    return None if words.lower() in ("", "clear") else words


def _whole_number(text: str, limit: int = MAX_INTEGER) -> int | None:
    """A user id or a number of seconds as an admin typed it: ASCII digits only ("²".isdigit() is true, and
    int("²") fails) and at most `limit` (a database's 64-bit integer); None otherwise."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > limit:
        return None
    return int(text)


_USER_COMMANDS = {"start": Conversation._start, "help": Conversation._help, "usage": Conversation._usage,
                  "language": Conversation._language, "forget": Conversation._forget,
                  "timestamps": Conversation._timestamps, "transcribe": Conversation._transcribe_hint,
                  "auto": Conversation._auto, "lang": Conversation._lang, "translate": Conversation._translate,
                  "vocab": Conversation._vocab, CHANNEL_COMMAND: Conversation._channel,
                  BUSINESS_COMMAND: Conversation._business_chats, BUY_COMMAND: Conversation._buy,
                  PAYSUPPORT_COMMAND: Conversation._paysupport}
# Group settings only its admins change, once the sender has checked who asks.
_GROUP_SWITCHES = {"auto": Conversation._switch_group_mode, "lang": Conversation._switch_group_language,
                   "vocab": Conversation._switch_group_vocabulary}
_ADMIN_COMMANDS = {"grant": Conversation._grant, "revoke": Conversation._revoke,
                   "setquota": Conversation._set_quota, "user": Conversation._show_user,
                   REFUND_COMMAND: Conversation._refund}
