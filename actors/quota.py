"""QuotaActor: owns all per-user state (the design's rule: one actor, so no user's state is ever shared
between threads) and does two things with it, each in its own module: admission and charging
(actors/admission.py) and the conversation with users (actors/conversation.py)."""
import dataclasses
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from actors.admission import Admission
from actors.base import SupervisedActor
from actors.billing import Billing
from actors.business import BusinessChats
from actors.buttons import Buttons
from actors.conversation import Conversation
from actors.messages import (
    AdmitRequest,
    BusinessConnectionChecked,
    ButtonPressed,
    CallMade,
    ChannelAdminChecked,
    ChargesListed,
    ChatAdminChecked,
    CommandReceived,
    GuestTranscriptLoaded,
    JobClosed,
    JobStored,
    LoadUnfinishedJobs,
    PaymentLookedUp,
    RecallOverdue,
    RecordingLoaded,
    RefreshDue,
    RefreshUsers,
    RefundRecorded,
    RefusedAsBusy,
    ResultDelivered,
    ResumeUnfinished,
    SystemReady,
    TextReceived,
    TranscriptRecalled,
    UnfinishedJobs,
    UnsentReceipts,
    UnsupportedReceived,
    UserDescribed,
    UserForgotten,
    UsersLoaded,
    VoiceReceived,
    VoiceRefused,
)
from actors.users import QuotaRules, ReplyAllowance, UserBook
from voicebot.core import replies
from voicebot.core.billing import NO_BILLING, Balances, BillingRules, Credit, PreCheckout, Refund
from voicebot.core.buttons import ButtonData
from voicebot.core.domain import (
    BusinessConnection,
    ChannelPostForwarded,
    ChatSettings,
    GuestMentioned,
    PendingJob,
    UserState,
)
from voicebot.core.ports import NO_METRICS, Mailbox, Metrics
from voicebot.core.replies import Languages, Wording

log = logging.getLogger(__name__)

REFRESH_SECONDS = 30.0       # how soon a change made with the operator CLI takes effect


class QuotaActor(SupervisedActor):
    """Every recording, command, text and button press from the intake comes here, as do the answers about
    them. `buttons`: what the buttons under transcripts carry, to read presses (a fresh secret by default)."""

    def __init__(self, *, rules: QuotaRules, dispatcher: Mailbox, sender: Mailbox, storage: Mailbox,
                 users: dict[int, UserState], chat_settings: dict[int, ChatSettings] | None = None,
                 resumed: tuple[PendingJob, ...] = (), supervisor: Mailbox | None = None, name: str = "quota",
                 now: Callable[[], datetime] = replies.utc_now, clock: Callable[[], float] = time.monotonic,
                 metrics: Metrics = NO_METRICS, languages: Languages | None = None,
                 buttons: ButtonData | None = None, transcribed_by: str | None = None,
                 business_connections: Iterable[BusinessConnection] = (), billing: BillingRules = NO_BILLING,
                 payload_key: bytes = b"", balances: Balances | None = None, address: Mailbox | None = None):
        """`transcribed_by`: the model transcripts are made with (whisper.model): a recording transcribed by it
        before, as a job asks for it, is answered from memory (see actors/admission.py); None: never. `billing`,
        `payload_key` and each user's bought balance as stored (`balances`): minutes sold for Stars
        (actors/billing.py). `address`: this actor's Address, which answers that may come after a restart are
        told to (the new actor takes them)."""
        super().__init__(name, supervisor)
        self._storage = storage
        self._sender = sender
        self._dispatcher = dispatcher
        self._resumed = resumed
        self._clock = clock
        self._users = UserBook(rules, users.values(), now)
        self._allowance = ReplyAllowance(clock)
        self._languages = languages = languages or Languages()
        self._billing = Billing(rules=billing, payload_key=payload_key, users=self._users, sender=sender,
                                storage=storage, quota=address or self.actor_ref, now=now, metrics=metrics,
                                balances=balances)
        self._admission = Admission(rules=rules, users=self._users, allowance=self._allowance, dispatcher=dispatcher,
                                    sender=sender, storage=storage, clock=clock, metrics=metrics, languages=languages,
                                    quota=self.actor_ref, transcribed_by=transcribed_by, remind=self.tell_self_later,
                                    offer=self._offer_minutes if billing.enabled else None)
        self._business = BusinessChats(users=self._users, sender=sender, storage=storage,
                                       connections=business_connections, quota=self.actor_ref)
        self._conversation = Conversation(rules=rules, users=self._users, allowance=self._allowance, sender=sender,
                                          storage=storage, quota=self.actor_ref, languages=languages,
                                          chat_settings=chat_settings, business=self._business,
                                          billing=self._billing)
        self._buttons = Buttons(data=buttons or ButtonData(secrets.token_bytes(32)), allowance=self._allowance,
                                admission=self._admission, sender=sender, storage=storage, quota=self.actor_ref)

    def prepare(self) -> None:
        self.tell_self_later(RefreshDue(), REFRESH_SECONDS)

    def handle(self, message):
        match message:
            case VoiceReceived():
                self._consider(message)
            case VoiceRefused(voice):
                self._refuse_unstorable(voice)
            case BusinessConnection():
                self._connected(message)
            case BusinessConnectionChecked(connection_id, connection):
                if connection is not None and not self._business.knows(connection_id):
                    self._connected(connection)
                for voice, resumed in self._business.checked(message):
                    self._consider(voice, resumed, looked_up=True)
            case CommandReceived() | TextReceived() | UnsupportedReceived():
                self._conversation.answer(message)
            case ChannelPostForwarded():   # where comments on a channel's post go: the sender answers there
                self._sender.tell(message)
            case ChannelAdminChecked():
                self._conversation.channel_checked(message)
            case GuestMentioned():
                self._conversation.guest_how_to(message)
            case GuestTranscriptLoaded():
                self._conversation.guest_transcript_loaded(message)
            case ChatAdminChecked():
                self._conversation.admin_checked(message)
            case ButtonPressed():
                self._buttons.pressed(message, self._words_of(message))
            case RecordingLoaded(press):
                self._buttons.loaded(message, self._words_of(press))
            case JobStored(voice, press) if self._buttons.stored(message, self._words_of(press)):
                self._consider(voice, pressed=True)
            case JobStored():
                pass   # the press was answered: the job is under way already, or could not be stored
            case TranscriptRecalled(job, remembered):
                self._admission.recalled(job, remembered)
            case RecallOverdue(key):
                self._admission.recall_overdue(key)
            case UserDescribed():
                self._conversation.described(message)
            case UserForgotten():
                self._conversation.forgotten(message)
            case SystemReady(restarted=restarted):
                self._resume()
                if self._billing.enabled:
                    self._billing.resume(restarted)
            case ResumeUnfinished():   # the StorageActor answers with UnfinishedJobs
                self._storage.tell(LoadUnfinishedJobs(self.actor_ref))
            case UnfinishedJobs(pending):
                self._resumed = pending
                self._resume()
            case ResultDelivered(outcome, delivered):
                self._admission.settle(outcome, delivered)
                self._buttons.settled(outcome.job.key)
            case RefusedAsBusy(job):
                self._admission.refused_as_busy(job)
                self._buttons.settled(job.key)
            case AdmitRequest(job):   # the transcription API's (actors/api.py)
                self._admission.admit_request(job)
            case RefreshDue():   # the StorageActor answers with UsersLoaded
                self._storage.tell(RefreshUsers(self._users.today(), self.actor_ref))
                self._users.forget_idle(self._clock())
                self._allowance.forget_idle()
                self.tell_self_later(message, REFRESH_SECONDS)
            case UsersLoaded(states):
                self._users.apply_settings(states)
            case PreCheckout(user_id=user_id, language_code=language_code):
                self._billing.pre_checkout(message, self._words_for(user_id, language_code))
            case Credit(user_id=user_id, language_code=language_code):
                self._billing.credited(message, self._words_for(user_id, language_code))
            case Refund(user_id=user_id, language_code=language_code):
                self._billing.refunded(message, self._words_for(user_id, language_code))
            case CallMade():
                self._billing.call_made(message)
            case PaymentLookedUp():
                self._billing.payment_looked_up(message)
            case RefundRecorded():
                self._billing.refund_recorded(message, self._words_for)
            case ChargesListed(user_id=user_id):
                self._billing.charges_listed(message, self._words_for(user_id))
            case UnsentReceipts(credits):
                self._billing.unsent(credits, self._words_for)
            case _:
                return NotImplemented

    def _connected(self, connection: BusinessConnection) -> None:
        self._conversation.note_app_language(connection.owner_id, connection.language_code)
        self._business.connected(connection)
        self._sender.tell(connection)   # nothing more goes out on a disabled one
        self._dispatcher.tell(connection)   # nor is anything under way of it answered

    def _consider(self, voice: VoiceReceived, resumed: PendingJob | None = None, pressed: bool = False,
                  looked_up: bool = False) -> None:
        """`looked_up`: a business chat's recording whose connection Telegram was asked about already."""
        voice = self._owners(voice, resumed, look_up=not looked_up)
        if voice is None:
            return
        if resumed is not None and voice.job.business is not None:
            voice, resumed = self._business.as_resumed(voice, resumed)
        voice = self._as_they_want_it(voice)
        if voice.job.business is not None:
            self._business.note_reply_refused(voice, self._languages[voice.job.interface_language])
        if self._conversation.transcribes(voice):
            self._billing.expire_if_due(voice.job.user_id)
            self._admission.admit(voice.job, resumed, pressed)
        else:
            self._storage.tell(JobClosed(voice.job.key))  # not asked for in an on-request group

    def _refuse_unstorable(self, voice: VoiceReceived) -> None:
        owned = self._owners(voice, look_up=False)
        if owned is not None:   # else a business chat's recording that is not answered anyway
            self._admission.refuse_unstorable(self._as_they_want_it(owned).job)

    def _owners(self, voice: VoiceReceived, resumed: PendingJob | None = None,
                look_up: bool = True) -> VoiceReceived | None:
        """A business chat's recording is its connection's owner's job, or nothing; any other is as it came."""
        return voice if voice.job.business is None else self._business.owners(voice, resumed, look_up)

    def _as_they_want_it(self, voice: VoiceReceived) -> VoiceReceived:
        """The job as its user (or group) wants it: answered in their language, with their vocabulary."""
        job, conversation = voice.job, self._conversation
        conversation.note_app_language(job.user_id, job.interface_language)   # the intake's: their app's
        language = conversation.language_for(job.user_id, job.chat_id, voice.in_group)
        vocabulary = conversation.vocabulary_for(job.user_id, job.chat_id, voice.in_group)
        return dataclasses.replace(voice, job=dataclasses.replace(job, interface_language=language,
                                                                  vocabulary=vocabulary))

    def _offer_minutes(self, job) -> None:
        self._billing.offer(job, self._languages[job.interface_language])

    def _words_for(self, user_id: int, app_language: str | None = None) -> Wording:
        """A user's words in their private chat with the bot (a payment's, a receipt's)."""
        self._conversation.note_app_language(user_id, app_language)
        return self._languages[self._conversation.language_for(user_id, user_id, in_group=False)]

    def _words_of(self, press: ButtonPressed) -> Wording:
        self._conversation.note_app_language(press.user_id, press.language_code)
        return self._languages[self._conversation.language_for(press.user_id, press.chat_id, press.in_group)]

    def _resume(self) -> None:
        """Jobs stored before a restart and not answered yet go ahead once every actor is up."""
        for pending in self._resumed:
            self._consider(pending.incoming, pending)
        self._resumed = ()
