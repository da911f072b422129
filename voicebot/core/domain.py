"""The project's own values: recordings, jobs, transcripts, users, and what an update from Telegram means.
Every layer speaks in these; none of them belongs to a library."""
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from voicebot.core.calls import ChannelCaption, Destination, GuestChat, PostedMessage, TextEntity


class MediaKind(StrEnum):
    VOICE = "voice"
    AUDIO = "audio"
    VIDEO_NOTE = "video_note"
    VIDEO = "video"
    DOCUMENT = "document"


class Task(StrEnum):
    """What Whisper does with a recording: write down its speech, or (its own translate task) say it in English."""
    TRANSCRIBE = "transcribe"
    TRANSLATE = "translate"


class FailureReason(StrEnum):
    """Why a job ended without a transcript; each has one plain-words reply."""
    UNREADABLE_AUDIO = "unreadable_audio"
    NO_SPEECH = "no_speech"
    TOO_LONG = "too_long"
    TOO_BIG = "too_big"
    DOWNLOAD_FAILED = "download_failed"
    TIMEOUT = "timeout"
    INTERNAL = "internal"
    WORKER_CRASHED = "worker_crashed"   # it took down a transcription worker every time it ran
    OVER_QUOTA = "over_quota"           # longer than what was left of the user's day
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class Media:
    kind: MediaKind
    file_id: str
    file_size: int | None = None
    duration: int | None = None
    mime_type: str | None = None
    file_name: str | None = None
    # Who sent the recording: not always whoever a job of it is for (/transcribe, English). Their /forget reaches
    # every copy of it. None: not known (a message without a sender).
    sender_id: int | None = None
    # Telegram's id of the file itself, the same in every copy of it (a forwarded voice keeps it), for any bot; it
    # cannot fetch the file. A recording transcribed before is known by it (see core.memory). None: not sent.
    file_unique_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelPost:
    """A job's recording is a channel's post: it is answered in the post's own caption (see core.captions), and
    the channel pays for it."""
    caption: str = ""                      # the post's caption as its author wrote it
    # The post's automatic forward in the channel's discussion group, which a comment replies to; None: no
    # discussion group, or its forward not seen (yet).
    comments: Destination | None = None
    entities: tuple[TextEntity, ...] = ()   # the caption's formatting, which every edit of it keeps


@dataclass(frozen=True, slots=True)
class BusinessOrigin:
    """A job's recording was sent to a user in one of their private chats, which they connected the bot to
    (a business connection): it is answered to that owner privately, or as a reply in that chat on their behalf
    (`reply`), and the owner pays for it (see core.business)."""
    connection_id: str
    owner_chat_id: int = 0       # the owner's private chat with the bot (0: not known until it is admitted)
    sender: str = ""             # who sent the recording, as the owner's header names them
    chat: str = ""               # the chat it was sent in, as the header names it
    reply: bool = False          # answered in the chat itself, on the owner's behalf


@dataclass(frozen=True, slots=True)
class JobKey:
    """A voice message is identified by where it was sent: one job per (chat, message, place)."""
    chat_id: int
    message_id: int
    # Whose view of the chat the ids are in: "" for the bot's own chats; guest_place(caller) for a guest job,
    # whose chat is as its caller sees it (a private chat between two users has the other user's id, which may
    # be one of the bot's own chats, and its message ids are another account's), so its keys never collide.
    place: str = ""


@dataclass(frozen=True, slots=True)
class Job:
    key: JobKey
    user_id: int
    media: Media
    language: str | None = None       # pinned by the user; None: detect
    timestamps: bool = False          # the user wants [mm:ss] marks per segment
    attempt: int = 1
    # The most audio this job may use: its share of what was left of the user's day when it was admitted,
    # beside their other jobs under way (the length a sender reports can be missing or wrong). None: the
    # global limit only.
    max_seconds: float | None = None
    # The language the bot answers in about this job: the sender's Telegram app's (as it arrived), then
    # what the user or the group chose (once admitted). None: English.
    interface_language: str | None = None
    thread_id: int | None = None      # the forum topic it was sent in: every answer goes there too
    task: Task = Task.TRANSCRIBE      # TRANSLATE: the user pressed English, or asked for it with /translate on
    vocabulary: str | None = None     # names and terms to spell right (/vocab): Whisper's hotwords
    # Guest mode: the query a mention of the bot brought, which its first answer answers (see core.guests).
    guest_query_id: str | None = None
    channel: ChannelPost | None = None   # a channel's post: answered in its caption, charged to the channel
    business: BusinessOrigin | None = None   # a recording in a business chat: answered to its owner, who pays
    words: bool = False               # each segment's words timed too (an API request's word timestamps)

    @property
    def chat_id(self) -> int:
        return self.key.chat_id

    @property
    def message_id(self) -> int:
        return self.key.message_id

    @property
    def suspected(self) -> bool:
        """Started before and never answered: under way when its process died, or its worker crashed. That is
        no evidence against the recording yet; it runs in quarantine until it is answered."""
        return self.attempt > 1

    @property
    def destination(self) -> Destination | GuestChat | ChannelCaption:
        """Where its answers go: its chat and forum topic, in reply to the recording; a guest job's, into the
        chat it was summoned in, as the answer to its query; a channel post's, into the post's caption."""
        if self.guest_query_id is not None:
            return GuestChat(self.guest_query_id, self.chat_id)
        if self.channel is not None:
            return ChannelCaption(PostedMessage(self.chat_id, self.message_id), self.channel.caption,
                                  self.channel.comments, self.channel.entities)
        if self.business is not None and self.business.reply:
            return Destination(self.chat_id, reply_to_message_id=self.message_id,
                               business_connection_id=self.business.connection_id)
        if self.business is not None:
            return Destination(self.business.owner_chat_id)
        return Destination(self.chat_id, self.thread_id, self.message_id)


@dataclass(frozen=True, slots=True)
class VoiceReceived:
    """A recording to transcribe, as it arrived; `requested`: someone asked with /transcribe in reply to it."""
    job: Job
    in_group: bool = False
    requested: bool = False


@dataclass(frozen=True, slots=True)
class CommandReceived:
    chat_id: int
    user_id: int
    message_id: int
    command: str
    argument: str = ""
    in_group: bool = False
    language_code: str | None = None   # the sender's Telegram app's language


@dataclass(frozen=True, slots=True)
class TextReceived:
    chat_id: int
    user_id: int
    message_id: int
    language_code: str | None = None   # the sender's Telegram app's language


@dataclass(frozen=True, slots=True)
class UnsupportedReceived:
    chat_id: int
    user_id: int
    message_id: int
    language_code: str | None = None   # the sender's Telegram app's language


@dataclass(frozen=True, slots=True)
class ButtonPressed:
    """A user pressed a button under one of the bot's messages (`message_id`, whose text was `message_text`)
    with callback `data`, which is the sender's to choose and so trusted in nothing; `query_id` is answered.
    `message_buttons`: the callback data of the buttons under that message, as Telegram reports the message
    (not the sender): data that is none of them was not pressed there."""
    query_id: str
    chat_id: int
    user_id: int
    message_id: int
    data: str
    message_text: str = ""
    in_group: bool = False
    language_code: str | None = None   # the presser's Telegram app's language
    thread_id: int | None = None       # the forum topic the message is in
    message_buttons: tuple[str, ...] = ()

    @property
    def message(self) -> PostedMessage:
        """The message pressed under."""
        return PostedMessage(self.chat_id, self.message_id)

    @property
    def destination(self) -> Destination:
        """Where answers to the press go: in reply to the message pressed under, in its topic."""
        return Destination(self.chat_id, self.thread_id, self.message_id)


@dataclass(frozen=True, slots=True)
class ChannelPostForwarded:
    """Telegram forwarded a channel's recording post (`key`) into its discussion group: comments on the post
    are replies to that forward (`comments`). When the bot answers no such post (it is no admin of the channel,
    or the channel is switched off), the forward is the group's own recording (`voice`), as any other there."""
    key: JobKey
    comments: Destination
    voice: VoiceReceived


@dataclass(frozen=True, slots=True)
class GuestMentioned:
    """Guest mode: a user mentioned the bot in chat `chat_id` (as they see it) without a recording to
    transcribe; query `query_id` is answered with how to use it."""
    query_id: str
    chat_id: int
    user_id: int
    language_code: str | None = None   # the caller's Telegram app's language

    @property
    def destination(self) -> GuestChat:
        return GuestChat(self.query_id, self.chat_id)


@dataclass(frozen=True, slots=True)
class BusinessConnection:
    """A user connected the bot to their account (or changed or ended that): the private chats of theirs it
    sees come as business messages of connection `connection_id`."""
    connection_id: str
    owner_id: int
    owner_chat_id: int         # the owner's private chat with the bot
    can_reply: bool            # the bot may send in those chats on the owner's behalf
    is_enabled: bool           # False: disabled or ended; nothing of it is answered any more
    language_code: str | None = None   # the owner's Telegram app's language


# What one update means to the bot.
Incoming = (VoiceReceived | CommandReceived | TextReceived | UnsupportedReceived | ButtonPressed | ChannelPostForwarded
            | GuestMentioned | BusinessConnection)


@dataclass(frozen=True, slots=True)
class PendingJob:
    """A stored job not answered yet, found at start: resumed where it was."""
    incoming: VoiceReceived
    status_message_id: int | str | None   # a guest post's is its inline_message_id
    attempts: int
    status_chat_id: int | None = None   # the chat that status is in (None: not known)


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a segment, timed: asked for by an API request's timestamp_granularities[] "word"."""
    start: float
    end: float
    text: str   # as the model wrote it: with the space before it


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()   # its words, timed, when the job asked for them (Job.words); else none


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str
    language_probability: float
    audio_seconds: float
    processing_seconds: float
    segments: tuple[Segment, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredRecording:
    """A recording the bot answered, as the database keeps it, for the buttons under its transcript: the
    file to fetch again, and the transcript with its segments (None when it is not kept:
    storage.keep_transcripts off, /forget, retention)."""
    key: JobKey
    media: Media
    task: Task
    transcript: Transcript | None


@dataclass(frozen=True, slots=True)
class Remembered:
    """A transcript kept of a recording, found by its memory key (see core.memory), and who sent that recording:
    their /forget reaches every copy answered from it."""
    transcript: Transcript
    sender_id: int | None


@dataclass(frozen=True, slots=True)
class UserSettings:
    """Everything a user (or an admin, for them) chose, as one value: loaded, changed (dataclasses.replace)
    and saved whole. The defaults are what a user who chose nothing gets; a new setting is one more field
    here, a column of the same name in the database, and the command that sets it."""
    unlimited: bool = False
    daily_seconds: int | None = None    # None: the configured quota.daily_seconds
    language: str | None = None         # None: detect per message
    timestamps: bool = False            # [mm:ss] marks in transcripts
    interface_language: str | None = None   # the language the bot answers in, chosen with /lang; None: the app's
    translate: bool = False             # /translate on: recordings come back in English
    vocabulary: str | None = None       # /vocab: names and terms to spell right
    business: str = "private"           # /business: where recordings in their business chats are answered
    business_mine: bool = False         # /business mine on: their own recordings there too


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """What a group's admins chose for it, as one value; the defaults are a group's that chose nothing."""
    automatic: bool = True              # False: transcribe only what is asked for with /transcribe
    interface_language: str | None = None   # the language the bot answers in there, chosen with /lang
    vocabulary: str | None = None       # /vocab: names and terms to spell right


@dataclass(frozen=True, slots=True)
class UserState:
    """What the QuotaActor needs to know of a user, loaded at start and re-read while it runs."""
    user_id: int
    settings: UserSettings = UserSettings()
    charged_today: float = 0.0


@dataclass(frozen=True, slots=True)
class UserSummary:
    user_id: int
    first_seen: datetime
    unlimited: bool
    daily_seconds: int | None
    language: str | None
    charged_today: float
    total_seconds: float
    transcriptions: int
    failures: int


@dataclass(frozen=True, slots=True)
class DayStats:
    day: date
    users: int
    transcriptions: int
    audio_seconds: float
    failures: int
    average_processing_seconds: float
