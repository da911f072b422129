"""Every message the actors exchange: small frozen dataclasses, commands in the imperative,
events in the past tense. Messages are shared between threads, not copied: keep them immutable."""
from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from datetime import date

import pykka

from voicebot.core.api import ApiReplies, TranscriptionRequest
from voicebot.core.audio import AudioPiece
from voicebot.core.billing import Charge, Credit, Refund
from voicebot.core.buttons import Press
from voicebot.core.calls import BotCall, Destination, GuestChat, Keyboard
from voicebot.core.channels import ChannelStanding, ChannelSwitch
from voicebot.core.domain import (
    BusinessConnection,
    ChatSettings,
    FailureReason,
    Incoming,
    Job,
    JobKey,
    PendingJob,
    Remembered,
    Segment,
    StoredRecording,
    Transcript,
    UserSettings,
    UserState,
    UserSummary,
)
from voicebot.core.domain import ButtonPressed as ButtonPressed
from voicebot.core.domain import CommandReceived as CommandReceived
from voicebot.core.domain import TextReceived as TextReceived
from voicebot.core.domain import UnsupportedReceived as UnsupportedReceived
from voicebot.core.domain import VoiceReceived as VoiceReceived
from voicebot.core.ports import Mailbox


# --- supervision -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Ping:
    """Answered by every actor once its on_start has run: the start-up barrier."""


@dataclass(frozen=True, slots=True)
class ChildFailed:
    """A child crashed or could not start; `actor_urn` tells a stale report from a current one."""
    name: str
    actor_urn: str
    reason: str


@dataclass(frozen=True, slots=True)
class CheckChildren:
    """The Supervisor's periodic look at children that died without calling on_failure."""


@dataclass(frozen=True, slots=True)
class SystemReady:
    """Every actor has started: work that needs the others (resuming jobs) may begin. `restarted`: told to one
    actor restarted after a failure, while the others kept running."""
    restarted: bool = False


@dataclass(frozen=True, slots=True)
class Stopping:
    """The bot is shutting down: take no new work; what is under way may finish."""


@dataclass(frozen=True, slots=True)
class CrashOnNextMessage:
    """A test hook, as a fault injector would use it: the actor handles its next message, then raises, as
    if that handler had crashed at its end. Proves that a restarted actor of each kind works again."""


@dataclass(frozen=True, slots=True)
class AnnounceReady:
    """To the transcription workers after the Dispatcher was restarted (it knows none of them then): each
    says WorkerReady again once it is done with what it holds."""


@dataclass(frozen=True, slots=True)
class ResumeUnfinished:
    """To the QuotaActor after an actor that held jobs in memory (Dispatcher, sender) was restarted: the
    stored jobs not answered yet go ahead again; those still under way are recognised and not run twice."""


@dataclass(frozen=True, slots=True)
class WorkerLost:
    """A WhisperActor died; the Dispatcher retries or fails the job it held."""
    worker: str


# --- intake: TelegramPoller or TelegramWebhook -> QuotaActor -----------------------------
@dataclass(frozen=True, slots=True)
class PollNext:
    pass


@dataclass(frozen=True, slots=True)
class StoreIntake:
    """The poller's batch, to be made durable (jobs and the next offset) before it polls again; or
    one webhook update, whose `next_offset` is None: the saved offset stays as it is."""
    messages: tuple[Incoming, ...]
    next_offset: int | None
    reply_to: Mailbox


@dataclass(frozen=True, slots=True)
class IntakeStored:
    """The batch is stored; `messages` are those to act on (redelivered recordings left out)."""
    messages: tuple[Incoming | VoiceRefused, ...]
    next_offset: int | None


@dataclass(frozen=True, slots=True)
class VoiceRefused:
    """A recording the database refused to store for good (a value it cannot take): it is answered with a
    failure, and the updates after it go on."""
    voice: VoiceReceived


@dataclass(frozen=True, slots=True)
class PeekUpdates:
    """The poller's reminder, while a batch waits to be stored: newer updates are looked at for pre-checkout
    queries (Telegram waits 10 s for their answer), without confirming anything."""
    next_offset: int


@dataclass(frozen=True, slots=True)
class IntakeOverdue:
    """The poller's deadline for the batch that moves the offset to `next_offset`: not stored by then, it
    is sent again."""
    next_offset: int


@dataclass(frozen=True, slots=True)
class IntakeFailed:
    reason: str


@dataclass(frozen=True, slots=True)
class UpdatePosted:
    """Telegram POSTed an update to the webhook. `incoming` is what it means (None: nothing for the
    bot); `answer` (a pykka ThreadingFuture) gets the HTTP status the request is to be answered with."""
    incoming: Incoming | None
    answer: pykka.Future


@dataclass(frozen=True, slots=True)
class IntakeAnswered:
    """The StorageActor's answer (IntakeStored or IntakeFailed) to one webhook update's StoreIntake,
    with that request's pending `answer`."""
    outcome: IntakeStored | IntakeFailed
    answer: pykka.Future


@dataclass(frozen=True, slots=True)
class CheckBusinessConnection:
    """Asks the TelegramSender what Telegram says of a business connection the bot never heard of (made before
    it asked for business_connection updates); answered with BusinessConnectionChecked."""
    connection_id: str
    reply_to: Mailbox


@dataclass(frozen=True, slots=True)
class BusinessConnectionChecked:
    connection_id: str
    connection: BusinessConnection | None   # None: no such connection, or Telegram could not be asked


@dataclass(frozen=True, slots=True)
class CheckChatAdmin:
    """Asks the TelegramSender (the one that calls the Bot API) whether the command's sender
    administers its group; answered with ChatAdminChecked."""
    command: CommandReceived
    reply_to: Mailbox


@dataclass(frozen=True, slots=True)
class ChatAdminChecked:
    command: CommandReceived
    is_admin: bool


@dataclass(frozen=True, slots=True)
class CheckChannelAdmin:
    """Asks the TelegramSender what the Bot API says of the channel a /channel command names and of its sender
    there; answered with ChannelAdminChecked."""
    command: CommandReceived
    switch: ChannelSwitch
    reply_to: Mailbox


@dataclass(frozen=True, slots=True)
class ChannelAdminChecked:
    command: CommandReceived
    switch: ChannelSwitch
    channel_id: int | None      # the channel's, once found
    standing: ChannelStanding


# --- admission and work: QuotaActor -> Dispatcher <-> WhisperActor -----------------------
@dataclass(frozen=True, slots=True)
class JobAdmitted:
    job: Job
    status_message_id: int | None = None   # a status posted before a restart, to edit again


@dataclass(frozen=True, slots=True)
class Transcribe:
    """`helpers`: idle WhisperActors (name, mailbox) reserved for this job, a long recording on an idle bot:
    the one told splits it at pauses and hands them a piece each. `quarantined`: the job was under way when its
    process died (or its worker crashed), so it runs in a process of its own (see adapters/quarantine.py)."""
    job: Job
    helpers: tuple[tuple[str, Mailbox], ...] = ()
    quarantined: bool = False


@dataclass(frozen=True)
class TranscribePiece:
    """A piece of a split recording (its audio, and where it starts), for a helper to transcribe in `language`
    by `deadline` (time.monotonic()) as `job` asks (its task and vocabulary) and answer `reply_to` with
    PieceTranscribed."""
    job: Job
    index: int
    piece: AudioPiece
    language: str
    deadline: float
    reply_to: Mailbox


@dataclass(frozen=True)
class PieceTranscribed:
    """A helper's piece: its transcript (times in the recording), or why it failed."""
    key: JobKey
    index: int
    transcript: Transcript | None
    failure: FailureReason | None = None


@dataclass(frozen=True, slots=True)
class HelperLost:
    """The helper given a piece of this job died: the WhisperActor that split it does that piece itself."""
    key: JobKey
    helper: str


@dataclass(frozen=True, slots=True)
class WorkerReady:
    worker: str


@dataclass(frozen=True, slots=True)
class TranscriptReady:
    """Told by a WhisperActor to the Dispatcher, which passes it on to the QuotaActor. `recalled`: no model ran, the
    transcript is one kept of the same recording (see AnswerFromMemory)."""
    job: Job
    transcript: Transcript
    worker: str = ""
    recalled: bool = False


@dataclass(frozen=True, slots=True)
class JobFailed:
    job: Job
    reason: FailureReason
    worker: str = ""


@dataclass(frozen=True, slots=True)
class AnswerFromMemory:
    """To the Dispatcher: the job's recording was transcribed before, as the job asks (core.memory), and
    `transcript` is the one kept of it; the job is answered with it, as with a worker's, and no worker runs.
    `status_message_id`: a status posted before a restart, to edit again."""
    job: Job
    transcript: Transcript
    status_message_id: int | None = None


@dataclass(frozen=True, slots=True)
class RefusedAsBusy:
    """Told by the Dispatcher to the QuotaActor: the backlog was full, so the job never started (its user was
    told the bot is busy)."""
    job: Job


# --- worker nodes: Dispatcher <-> RemoteWorkers <-> broker <-> NodeDispatcher <-> WhisperActor
@dataclass(frozen=True, slots=True)
class NodeStatus:
    """A worker node's heartbeat: how many of its WhisperActors have a model loaded and take jobs."""
    node: str
    ready: int


@dataclass(frozen=True, slots=True)
class WorkerGone:
    """A remote worker slot is no longer there (its node stopped reporting). Unlike WorkerLost, the
    job it held is not retried here: the broker gives it to another worker by itself."""
    worker: str


@dataclass(frozen=True, slots=True)
class CheckNodes:
    """RemoteWorkers' reminder to drop the slots of nodes that stopped reporting, and to chase the jobs out
    that nothing was heard of for too long."""


@dataclass(frozen=True, slots=True)
class StopTakingEvents:
    """RemoteWorkers' note to itself: this node no longer leads, so the broker's events are left for the one
    that does."""


@dataclass(frozen=True, slots=True)
class FlushOutbox:
    """RemoteWorkers' reminder to try again to hand jobs to the broker."""


@dataclass(frozen=True, slots=True)
class RunJob:
    """A job a worker node took off the broker; `done` (a concurrent.futures.Future) gets its outcome
    once that is on its way back, and only then is the broker message acknowledged."""
    job: Job
    done: concurrent.futures.Future


@dataclass(frozen=True, slots=True)
class ReportNode:
    """NodeDispatcher's reminder to send its heartbeat (NodeStatus)."""


# --- replies: anyone -> TelegramSender ---------------------------------------------------
# A call of core.calls (SendText, SendDocument, EditText, EditButtons, AnswerPress) told to the TelegramSender
# goes out through its outbox as it is. The messages below are about a job's answer, which the sender's answer
# book turns into such calls.
@dataclass(frozen=True, slots=True)
class PostStatus:
    """A status reply to the recording, remembered so the result can be edited into it; with
    `status_message_id` (posted before a restart) that message is edited instead."""
    key: JobKey
    text: str
    to: Destination | GuestChat   # where the job's answers go: its chat and forum topic, in reply to its recording
    status_message_id: int | str | None = None   # a guest post's is its inline_message_id


@dataclass(frozen=True, slots=True)
class UpdateStatus:
    """The job moved on (queued -> transcribing): its status message says so."""
    key: JobKey
    text: str


@dataclass(frozen=True, slots=True)
class ShowProgress:
    """Text so far of a long recording, edited into its status message at a polite pace; `segment`: the piece
    just heard, which an API request streams as it is (see actors/api.py)."""
    key: JobKey
    text: str
    segment: Segment | None = None


@dataclass(frozen=True, slots=True)
class DeliverResult:
    """The job's final text: edited into its status message, or sent as a reply if there is none;
    continued in further replies past Telegram's limit, and also sent as a .txt file if asked.
    Once it is out, `outcome` goes to `report_to` with ResultDelivered."""
    key: JobKey
    text: str
    as_file: bool = False
    outcome: TranscriptReady | JobFailed | None = None
    report_to: Mailbox | None = None
    file_caption: str = ""   # the .txt file's caption, in the user's language
    # Said instead when Telegram refuses the answer for good (a 400: too long for it, say): the job then
    # ends as failed, not charged, rather than staying unanswered for the next start.
    refused_text: str = ""
    keyboard: Keyboard | None = None   # the buttons under the transcript's last part
    # A guest job's answer is one post: said after it when the text is cut to fit (where the whole of it is).
    rest_elsewhere: str = ""
    # Where the whole text then goes too (the caller's chat with the bot), when no /start can fetch it later
    # (transcripts not kept); None: the link in `rest_elsewhere` fetches it.
    rest_to: Destination | None = None


@dataclass(frozen=True, slots=True)
class ResultDelivered:
    """`outcome` (TranscriptReady or JobFailed) reached the user, or could not (`delivered` False)."""
    outcome: TranscriptReady | JobFailed
    delivered: bool


@dataclass(frozen=True, slots=True)
class Drain:
    """The TelegramSender's reminder that a paced chat may send again."""


# --- persistence: QuotaActor -> StorageActor ---------------------------------------------
@dataclass(frozen=True, slots=True)
class RecordUsage:
    """`memory_key`: what the transcript, if it is kept, is recalled by later (see core.memory); None: nothing."""
    job: Job
    day: date
    status: str
    charged_seconds: float = 0.0
    transcript: Transcript | None = None
    memory_key: str | None = None
    bought_seconds: float = 0.0   # the part of charged_seconds taken from the user's bought balance


@dataclass(frozen=True, slots=True)
class JobStarted:
    key: JobKey


@dataclass(frozen=True, slots=True)
class StatusPosted:
    key: JobKey
    message_id: int | str   # a guest post's inline_message_id
    chat_id: int | None = None   # the chat it was posted in (a business job's: its owner's, or theirs with someone)


@dataclass(frozen=True, slots=True)
class JobClosed:
    """The job ends without a transcription (refused, or not for the bot): not to be resumed."""
    key: JobKey


@dataclass(frozen=True, slots=True)
class LoadOffset:
    """Asked by the poller (or webhook) as it starts: the saved getUpdates offset, or None."""


@dataclass(frozen=True, slots=True)
class LoadUnfinishedJobs:
    """The stored jobs not answered yet (PendingJob), to resume: asked by the QuotaActor as it starts, or
    told, with `reply_to`, which then gets UnfinishedJobs."""
    reply_to: Mailbox | None = None


@dataclass(frozen=True, slots=True)
class UnfinishedJobs:
    pending: tuple[PendingJob, ...]


@dataclass(frozen=True, slots=True)
class LoadUsers:
    """Asked once at start: the UserState of every user with settings or usage on `day`."""
    day: date


@dataclass(frozen=True, slots=True)
class LoadChatSettings:
    """Asked once at start: the ChatSettings of every group whose admins chose something, by chat id."""


@dataclass(frozen=True, slots=True)
class LoadBusinessConnections:
    """Asked once at start: every business connection (core.domain.BusinessConnection) as it was last left."""


@dataclass(frozen=True, slots=True)
class FlushWrites:
    """The StorageActor's reminder to write the usage records it has gathered, in one transaction."""


@dataclass(frozen=True, slots=True)
class RefreshDue:
    """The QuotaActor's reminder to re-read user settings (an operator may have changed them with the CLI)."""


@dataclass(frozen=True, slots=True)
class RefreshUsers:
    """Asks the StorageActor for every user's settings; answered with UsersLoaded."""
    day: date
    reply_to: Mailbox


@dataclass(frozen=True, slots=True)
class UsersLoaded:
    users: tuple[UserState, ...]


@dataclass(frozen=True, slots=True)
class SaveUserSettings:
    """The user's settings, whole, as the QuotaActor holds them now."""
    user_id: int
    settings: UserSettings


@dataclass(frozen=True, slots=True)
class SaveChatSettings:
    """The group's settings, whole, as the QuotaActor holds them now."""
    chat_id: int
    settings: ChatSettings


@dataclass(frozen=True, slots=True)
class LoadRecording:
    """A button was pressed (`press`, whose data asks for `asked`) under the transcript of the job `key`: the
    StorageActor answers `reply_to` with RecordingLoaded."""
    key: JobKey
    press: ButtonPressed
    asked: Press
    reply_to: Mailbox


@dataclass(frozen=True, slots=True)
class RecordingLoaded:
    """`recording` is None when the database no longer knows it; `failed`: it could not be read just now."""
    press: ButtonPressed
    asked: Press
    recording: StoredRecording | None
    failed: bool = False


@dataclass(frozen=True, slots=True)
class StoreJob:
    """A job that comes from a press (English), stored as the intake stores recordings, so that it survives a
    restart; answered to `reply_to` with JobStored."""
    voice: VoiceReceived
    press: ButtonPressed
    reply_to: Mailbox


@dataclass(frozen=True, slots=True)
class JobStored:
    """`new` False: the same job is under way already, or (`failed`) the database could not take it now."""
    voice: VoiceReceived
    press: ButtonPressed
    new: bool
    failed: bool = False


@dataclass(frozen=True, slots=True)
class RecallTranscript:
    """Asks the StorageActor for the transcript kept under `memory_key` (a recording transcribed before as `job`,
    admitted, asks for it); answered to `reply_to` with TranscriptRecalled."""
    job: Job
    memory_key: str
    reply_to: Mailbox


@dataclass(frozen=True, slots=True)
class TranscriptRecalled:
    """`remembered` is None when no transcript is kept under the job's key (never made, not kept, gone with /forget
    or retention), or the database could not be read just now: the job is transcribed then."""
    job: Job
    remembered: Remembered | None


@dataclass(frozen=True, slots=True)
class RecallOverdue:
    """The QuotaActor's deadline for the StorageActor's answer about the job `key`: not answered by then (the
    StorageActor was restarted with the question in its mailbox), the job is transcribed."""
    key: JobKey


@dataclass(frozen=True, slots=True)
class ForgetUser:
    user_id: int
    day: date
    chat_id: int
    message_id: int
    reply_to: Mailbox


@dataclass(frozen=True, slots=True)
class UserForgotten:
    """`removed` is None when the database could not be changed."""
    user_id: int
    chat_id: int
    message_id: int
    removed: int | None


@dataclass(frozen=True, slots=True)
class DescribeUser:
    user_id: int
    day: date
    chat_id: int
    message_id: int
    reply_to: Mailbox


@dataclass(frozen=True, slots=True)
class UserDescribed:
    """`summary` is None for a user the database does not know (or could not be read)."""
    user_id: int
    summary: UserSummary | None
    chat_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class LoadGuestTranscript:
    """/start with the payload of a guest post's deep link (command `message_id` in `chat_id`): the whole
    transcript of guest job `key`, told to `reply_to` as GuestTranscriptLoaded."""
    key: JobKey
    chat_id: int
    message_id: int
    reply_to: Mailbox


@dataclass(frozen=True, slots=True)
class GuestTranscriptLoaded:
    """`text` is None when there is none to give: not that caller's job, not kept, gone, or not readable now."""
    chat_id: int
    message_id: int
    text: str | None


@dataclass(frozen=True, slots=True)
class PruneTranscripts:
    """The StorageActor's daily reminder to apply storage.retention_days."""


# --- billing with Telegram Stars (core.billing): QuotaActor <-> StorageActor, TelegramSender -------------
@dataclass(frozen=True, slots=True)
class MakeCall:
    """A Bot API call whose outcome someone waits for (a refund, a receipt): `reply_to` gets CallMade once it
    was made, or given up on. `about`: what the call is for (a receipt's charge id), told back with CallMade."""
    call: BotCall
    reply_to: Mailbox
    about: str | None = None


@dataclass(frozen=True, slots=True)
class CallMade:
    """`error`: why Telegram refused the call, or why it failed every try (None: it went through); `unanswered`:
    it failed on the way every try (no answer, a timeout, a 5xx), so Telegram may have made it or not."""
    call: BotCall
    error: str | None = None
    about: str | None = None
    unanswered: bool = False


@dataclass(frozen=True, slots=True)
class ReceiptSent:
    """The payer has their receipt for payment `charge_id`: it is not sent again at the next start."""
    charge_id: str


@dataclass(frozen=True, slots=True)
class LoadUnsentReceipts:
    """The payments whose receipt has not gone out (a crash came between): answered with UnsentReceipts."""
    reply_to: Mailbox


@dataclass(frozen=True, slots=True)
class UnsentReceipts:
    credits: tuple[Credit, ...]


@dataclass(frozen=True, slots=True)
class LoadBalances:
    """Asked once at start: each user's bought balance and when it expires, {user_id: (seconds, until)}."""


@dataclass(frozen=True, slots=True)
class ExpireBalance:
    """The user's bought balance expired: what was left of it goes, with an "expire" row in the ledger."""
    user_id: int


@dataclass(frozen=True, slots=True)
class LookUpPayment:
    """An admin's /refund CHARGE_ID: answered with PaymentLookedUp."""
    charge_id: str
    reply_to: Mailbox


@dataclass(frozen=True, slots=True)
class PaymentLookedUp:
    """`payer`: the payment's user id (None: no such payment, or the database could not be read: `failed`)."""
    charge_id: str
    payer: int | None
    failed: bool = False


@dataclass(frozen=True, slots=True)
class RecordRefund:
    """Telegram gave payment `charge_id`'s Stars back: the refund is written (once), and told to `reply_to` as
    RefundRecorded. `held`: the payer's bought seconds that jobs under way were promised, which it leaves."""
    charge_id: str
    reply_to: Mailbox
    held: float = 0.0


@dataclass(frozen=True, slots=True)
class RefundRecorded:
    """`refund` is None when the payment is unknown or the database could not be written."""
    charge_id: str
    refund: Refund | None


@dataclass(frozen=True, slots=True)
class ListCharges:
    """/paysupport: the user's latest payments, answered with ChargesListed."""
    user_id: int
    chat_id: int
    message_id: int
    reply_to: Mailbox


@dataclass(frozen=True, slots=True)
class ChargesListed:
    """`charges` is None when the database could not be read."""
    user_id: int
    charges: tuple[Charge, ...] | None
    chat_id: int
    message_id: int


# --- the transcription API (core.api): ApiDoor -> QuotaActor -> Dispatcher -> WhisperActor -> ApiDoor ------------
@dataclass(frozen=True, slots=True)
class AskTranscription:
    """An HTTP request handed to the ApiDoor (its file on disk), to be answered through `replies`."""
    request: TranscriptionRequest
    replies: ApiReplies


@dataclass(frozen=True, slots=True)
class AdmitRequest:
    """The ApiDoor's job for an API request, to the QuotaActor: admitted as its program asked for it."""
    job: Job


@dataclass(frozen=True, slots=True)
class RequestRefused:
    """An API request's job was not taken (`reason` as refusals are measured: "quota", "too_big", "busy"...):
    told where its answers go (the ApiDoor), with `retry_after` seconds when waiting helps."""
    key: JobKey
    reason: str
    text: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class QueueLost:
    """To the ApiDoor: the Dispatcher was restarted, and knows no more the jobs it held (or the QuotaActor was, and
    the requests in its mailbox are lost). A Telegram job is resumed from the database; an API request's job is
    not stored, so its request is answered now: to come back."""


@dataclass(frozen=True, slots=True)
class RequestOverdue:
    """The ApiDoor's reminder: the request of `key` had its time (ApiDoor's `deadline_seconds`)."""
    key: JobKey
