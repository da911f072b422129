"""Leadership among the bot nodes sharing one PostgreSQL database: one leads (polls, admits, dispatches,
answers), the others stand by.

The leader is the node holding a session-level advisory lock, on a connection of its own, so the lock
lives exactly as long as that database session. A killed process's session ends with its TCP connection,
at once. A machine that is gone or cut off from the database sends nothing more, and the server ends the
session once it has been idle SESSION_IDLE_SECONDS (idle_session_timeout), which frees the lock.

Fencing. A leader cannot know that the server has ended its session while it is cut off, so it counts
itself leader only for LEASE_SECONDS after the last ping of that connection that was answered, measured
from when the ping was sent (so never later than the server saw it). The lease is shorter than the
server's idle limit: a leader cut off has stopped acting before any other node can take the lock.
Taking the lead also raises the term in the `leadership` row, and every write a leader makes reads that
row FOR SHARE and must find its own term (the repository does it): a deposed leader's writes fail, and the
raise waits for the writes under way to end.
"""
import threading
import time
from collections.abc import Callable

from playhouse.db_url import connect

from voicebot.adapters.storage.models import utc_now
from voicebot.core.errors import StorageError, one_line, without_password

LEADER_LOCK = 0x766F696365626F75    # the migration lock's key ("voicebot") plus one
PING_SECONDS = 0.5
LEASE_SECONDS = 2.5
SESSION_IDLE_SECONDS = 5
CONNECT_SECONDS = 3


def is_shared_database(url: str) -> bool:
    """Only PostgreSQL is shared by several machines; a SQLite file has one node."""
    return url.startswith(("postgres://", "postgresql://", "postgresext://", "postgresqlext://"))


class Leadership:
    """This node's part in the election: try_acquire() until it leads, then renew() every PING_SECONDS
    from one thread; holds() (any thread) says whether it may still act."""

    def __init__(self, url: str, holder: str, clock: Callable[[], float] = time.monotonic):
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
        if not self._lost:
            self._answered_at = sent
        return not self._lost

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
            options = (f"-c idle_session_timeout={SESSION_IDLE_SECONDS * 1000} -c tcp_keepalives_idle=2 "
                       f"-c tcp_keepalives_interval=1 -c tcp_keepalives_count=2")
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
