"""BusinessChats: the QuotaActor's part that knows each business connection (a user's connection of the bot to
their account) and turns a recording in one of those chats into its owner's job, or into nothing. Not an actor.

The owner pays: the job is theirs, in their language, within their daily quota, but outside their rate window,
which is theirs to use: a stranger who floods their chats spends the owner's day, never their turn (and holds
no more than admission.MAX_UNSETTLED_PER_CONNECTION places of the queue). Only the
transcript (and its status) ever goes into the business chat; every notice goes to the owner."""
import dataclasses
import logging
from collections.abc import Iterable

from actors.messages import BusinessConnectionChecked, CheckBusinessConnection, JobClosed, VoiceReceived
from actors.users import UserBook
from voicebot.core.business import BusinessMode, business_change, owners_job, reply_refused
from voicebot.core.calls import Destination, SendText
from voicebot.core.domain import BusinessConnection, CommandReceived, PendingJob, UserSettings
from voicebot.core.ports import Mailbox
from voicebot.core.replies import Wording

log = logging.getLogger(__name__)


class BusinessChats:
    def __init__(self, *, users: UserBook, sender: Mailbox, storage: Mailbox,
                 connections: Iterable[BusinessConnection] = (), quota: Mailbox | None = None):
        """`quota`: where the sender's answers about connections never heard of go."""
        self._quota = quota
        # Recordings of connections never heard of, waiting for Telegram's word on them (CheckBusinessConnection).
        self._unheard: dict[str, list[tuple[VoiceReceived, PendingJob | None]]] = {}
        self._users = users
        self._sender = sender
        self._storage = storage
        self._connections = {connection.connection_id: connection for connection in connections}
        self._told: set[str] = set()   # connections whose owner was told this run that it may not reply

    def connected(self, connection: BusinessConnection) -> None:
        """The connection as its latest update left it (stored already): a disabled one stops at once."""
        log.info("business connection %s of user %s: %s, %s", connection.connection_id, connection.owner_id,
                 "enabled" if connection.is_enabled else "disabled",
                 "may reply" if connection.can_reply else "may not reply")
        self._connections[connection.connection_id] = connection
        self._told.discard(connection.connection_id)

    def owners(self, voice: VoiceReceived, resumed: PendingJob | None = None,
               look_up: bool = True) -> VoiceReceived | None:
        """The owner's job for a recording in their business chat; None (and the stored job closed) when it is not
        answered. One of a connection never heard of (made before the bot asked for business_connection updates)
        waits while Telegram is asked about it (`look_up`), and then comes back with `checked`."""
        job = voice.job
        connection = self._connections.get(job.business.connection_id)
        if connection is None and look_up and self._quota is not None:
            self._wait_for(job.business.connection_id, voice, resumed)
            return None
        owners = None if connection is None else owners_job(job, connection,
                                                             self._users[connection.owner_id].settings)
        if owners is None:
            log.info("business message %s/%s of connection %s: not answered", job.chat_id, job.message_id,
                     job.business.connection_id)
            self._storage.tell(JobClosed(job.key))
            return None
        return dataclasses.replace(voice, job=owners, in_group=False)

    def as_resumed(self, voice: VoiceReceived, pending: PendingJob) -> tuple[VoiceReceived, PendingJob]:
        """An owner's job resumed after a restart goes on where its status was posted, whatever they chose since:
        as a reply only while the connection may still reply, else privately, with a new status (the one in
        their chat, which the bot may no longer edit, stays)."""
        job = voice.job
        if pending.status_message_id is None or pending.status_chat_id is None:
            return voice, pending
        was_reply = pending.status_chat_id != job.business.owner_chat_id
        if was_reply and not self._connections[job.business.connection_id].can_reply:
            pending = dataclasses.replace(pending, status_message_id=None)
        reply = was_reply and pending.status_message_id is not None
        return dataclasses.replace(voice, job=dataclasses.replace(
            job, business=dataclasses.replace(job.business, reply=reply))), pending

    def knows(self, connection_id: str) -> bool:
        return connection_id in self._connections

    def checked(self, checked: BusinessConnectionChecked) -> list[tuple[VoiceReceived, PendingJob | None]]:
        """Telegram's word on a connection never heard of (`connected` already, if there is one): the recordings
        that waited for it, to consider again (not looked up twice: closed if there is none)."""
        return self._unheard.pop(checked.connection_id, [])

    def _wait_for(self, connection_id: str, voice: VoiceReceived, resumed: PendingJob | None) -> None:
        waiting = self._unheard.setdefault(connection_id, [])
        if not waiting:
            log.info("business connection %s never heard of: asking Telegram", connection_id)
            self._sender.tell(CheckBusinessConnection(connection_id, self._quota))
        waiting.append((voice, resumed))

    def note_reply_refused(self, voice: VoiceReceived, words: Wording) -> None:
        """Once a run per connection: the owner chose replies, which their connection does not allow."""
        connection = self._connections[voice.job.business.connection_id]
        settings = self._users[connection.owner_id].settings
        if reply_refused(connection, settings) and connection.connection_id not in self._told:
            self._told.add(connection.connection_id)
            self._sender.tell(SendText(Destination(connection.owner_chat_id), words.BUSINESS_CANNOT_REPLY))

    def command(self, command: CommandReceived, words: Wording) -> tuple[str, UserSettings | None]:
        """/business [private|reply|off|mine on|mine off] in the bot's private chat: the reply, and the settings
        it makes (None: unchanged)."""
        settings = self._users[command.user_id].settings
        changed = business_change(command.argument, settings) if command.argument.strip() else None
        if command.in_group or (command.argument.strip() and changed is None):
            return words.BUSINESS_USAGE, None
        shown = changed or settings
        connection = self._connection_of(command.user_id)
        state = (None if connection is None else
                 (connection.is_enabled, connection.can_reply or shown.business != BusinessMode.REPLY))
        return words.business_is(shown.business, shown.business_mine, state, changed=changed is not None), changed

    def _connection_of(self, user_id: int) -> BusinessConnection | None:
        return next((connection for connection in reversed(self._connections.values())
                     if connection.owner_id == user_id), None)
