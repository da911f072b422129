"""Leadership among the bot nodes sharing one PostgreSQL database: one leads (polls, admits, dispatches,
answers), the others stand by.

The leader is the node holding a session-level advisory lock, on a connection of its own, so the lock
lives exactly as long as that database session. A killed process's session ends with its TCP connection,
at once. A machine that is gone or cut off from the database sends nothing more, and the server ends the
session once it has been idle SESSION_IDLE_SECONDS (idle_session_timeout), which frees the lock.

Fencing. A leader cannot know that the server has ended its session while it is cut off. What it does know:
the server heard from it when it sent its last answered ping, or later, and ends the session no sooner than
SERVER_RELEASE_SECONDS after it last heard from it (idle_session_timeout, or its TCP keepalives giving up on
a silent client). So the lease runs from when that ping was sent, and the leader counts itself leader for
LEASE_SECONDS of it, a margin short of that release: a leader cut off has stopped acting before any other
node can take the lock. A ping that is slow to come back is only a warning until then: a database that
answers late is still holding the lock. Durations are measured on a clock that counts time suspended
(lease_clock), since the server's does: a host resumed from sleep finds its lease over at once.
Taking the lead also raises the term in the `leadership` row, and every write a leader makes reads that
row FOR SHARE and must find its own term (the repository does it): a deposed leader's writes fail, and the
raise waits for the writes under way to end.
"""
import logging
import threading
import time
from collections.abc import Callable

from playhouse.db_url import connect

from voicebot.adapters.storage.models import utc_now
from voicebot.core.errors import StorageError, one_line, without_password

log = logging.getLogger(__name__)

LEADER_LOCK = 0x766F696365626F75    # the migration lock's key ("voicebot") plus one
PING_SECONDS = 0.5
SLOW_PING_SECONDS = 1.0             # a ping answered later than this is logged: the lease is running down
SESSION_IDLE_SECONDS = 5
KEEPALIVE_IDLE_SECONDS, KEEPALIVE_INTERVAL_SECONDS, KEEPALIVE_PROBES = 3, 1, 2
# The soonest the server can end the session after it last heard from the leader: idle that long, or a silent
# client's TCP keepalives all unanswered.
SERVER_RELEASE_SECONDS = min(SESSION_IDLE_SECONDS,
                             KEEPALIVE_IDLE_SECONDS + KEEPALIVE_INTERVAL_SECONDS * KEEPALIVE_PROBES)
# What a call that passed the fence just before it came down has to go out before another node can lead.
FENCE_MARGIN_SECONDS = 1.0
LEASE_SECONDS = SERVER_RELEASE_SECONDS - FENCE_MARGIN_SECONDS
CONNECT_SECONDS = 3


_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)   # Linux only


def lease_clock() -> float:
    """Seconds on a clock that goes on while the machine is suspended (CLOCK_BOOTTIME; time.monotonic stops)
    where there is one, as the database server's time goes on."""
    if _BOOTTIME is None:
        return time.monotonic()
    return time.clock_gettime(_BOOTTIME)


def is_shared_database(url: str) -> bool:
    """Only PostgreSQL is shared by several machines; a SQLite file has one node."""
    return url.startswith(("postgres://", "postgresql://", "postgresext://", "postgresqlext://"))


class Leadership:
    """This node's part in the election: try_acquire() until it leads, then renew() every PING_SECONDS
    from one thread; holds() (any thread) says whether it may still act."""

    def __init__(self, url: str, holder: str, clock: Callable[[], float] = lease_clock):
        self._url = url
        self._holder = holder
        self._clock = clock
        self._db = None
        self._term = 0
        self._answered_at: float | None = None   # when the last answered ping was sent
        self._lost = False
        self._guard = threading.Lock()           # the connection serves one statement at a time

    @property
    def term(self) -> int:
        return self._term

    def try_acquire(self) -> bool:
        """Takes the lead if no node holds it, raising the term: True then. StorageError when the database
        cannot be reached (a standby tries again)."""
        sent = self._clock()
        with self._guard:
            try:
                db = self._connection()
                if not db.execute_sql("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)).fetchone()[0]:
                    return False
                self._term = db.execute_sql(
                    "UPDATE leadership SET term = term + 1, holder = %s, since = %s WHERE id = 1 RETURNING term",
                    (self._holder, utc_now())).fetchone()[0]
            except Exception as error:  # peewee and psycopg2 raise many types for one cause
                self._disconnect()
                raise StorageError(f"cannot take part in the leader election on {without_password(self._url)}: "
                                   f"{one_line(error)}", transient=True) from None
        self._answered_at = sent
        return True

    def renew(self) -> bool:
        """Pings the lock's session: False, for good, once it has ended (the lock went with it)."""
        sent = self._clock()
        with self._guard:
            try:
                self._db.execute_sql("SELECT 1")
            except Exception:  # whatever broke the session, the lock is gone with it
                self._lost = True
                self._disconnect()
                return False
        if self._lost:
            return False
        took = self._clock() - sent
        if took > SLOW_PING_SECONDS:
            log.warning("the database took %.1f s to answer the leader's ping; this node still leads, and steps "
                        "down once none has been answered for %.1f s", took, LEASE_SECONDS)
        self._answered_at = sent
        return True

    def holds(self) -> bool:
        answered_at = self._answered_at
        return not self._lost and answered_at is not None and self._clock() - answered_at < LEASE_SECONDS

    def close(self) -> None:
        """Gives the lead up (the session ends, and the lock with it)."""
        self._lost = True
        # A ping may hang on a connection cut off without a word: the process ends without waiting for it.
        if self._guard.acquire(timeout=PING_SECONDS):
            try:
                self._disconnect()
            finally:
                self._guard.release()

    def _connection(self):
        if self._db is None:
            # The server ends the session once idle past SESSION_IDLE_SECONDS; its keepalives notice a
            # vanished client sooner than the system's defaults (hours) would.
            options = (f"-c idle_session_timeout={SESSION_IDLE_SECONDS * 1000} "
                       f"-c tcp_keepalives_idle={KEEPALIVE_IDLE_SECONDS} "
                       f"-c tcp_keepalives_interval={KEEPALIVE_INTERVAL_SECONDS} "
                       f"-c tcp_keepalives_count={KEEPALIVE_PROBES}")
            # One connection for every thread (peewee's default is one per thread): the pings must keep the
            # very session that holds the lock alive, and must never open another.
            self._db = connect(self._url, unquote_password=True, thread_safe=False, autoconnect=False,
                               connect_timeout=CONNECT_SECONDS, options=options,
                               application_name=f"voicebot leader election ({self._holder})")
            self._db.connect()
        return self._db

    def _disconnect(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except Exception:  # closing a broken connection may fail too; it is dropped either way
                pass
