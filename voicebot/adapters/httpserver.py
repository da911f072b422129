"""What the bot's own HTTP endpoints (metrics, webhook) share: a standard-library server on HOST:PORT,
serving each request on its own thread, from a daemon thread until stop(); and the guards any port open
to strangers needs before they are authenticated: a cap on connections, caps on the request line and the
headers (the standard library's own let each connection hold 6.4 MB of headers before anything looks at
them), a deadline for the whole request (not per read: one byte every few seconds would hold a thread for
ever), and refusals logged at most once a minute."""
import logging
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)

REQUEST_DEADLINE_SECONDS = 10.0   # to send the request line, the headers and the body, all together
MAX_REQUEST_LINE_BYTES = 8 * 1024   # as nginx's large_client_header_buffers: past it, 414
MAX_HEADER_BYTES = 32 * 1024        # all header lines together (Telegram sends under 1 KiB): past it, 431
MAX_HEADERS = 50                    # header lines (Telegram sends about ten): past it, 431
REFUSALS_LOGGED_EVERY_SECONDS = 60.0


def bind_address(listen: str) -> tuple[str, int]:
    """HOST:PORT (an empty host meaning 127.0.0.1) as the address to bind."""
    host, _, port = listen.rpartition(":")
    return host or "127.0.0.1", int(port)


class GuardedServer(ThreadingHTTPServer):
    """Takes at most `max_connections` at once; one more is closed unanswered, as a listen queue that
    overflows would. Its handlers are GuardedHandlers."""

    def __init__(self, address: tuple[str, int], handler: type, name: str, max_connections: int):
        self.name = name
        self.refusals = RefusalLog(name)
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.refusals.note(client_address[0], "too many connections at once")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        # What fails here is the client's connection (reset, cut at the deadline): counted, no traceback.
        self.refusals.note(client_address[0], "the connection failed or missed the deadline")


class GuardedHandler(BaseHTTPRequestHandler):
    """One request per connection, which must arrive whole within REQUEST_DEADLINE_SECONDS: past that
    the socket is shut, whatever the client is doing. `request_read()` ends the deadline once the body
    is in, so the answer may take as long as its work does. A request line or headers past their caps
    are refused (414, 431: `refuse_head`) as soon as the cap is passed, the rest unread, and the
    connection closed."""
    server: GuardedServer
    timeout = REQUEST_DEADLINE_SECONDS   # each read, too: a client that sends nothing at all
    protocol_version = "HTTP/1.0"
    deadline_seconds = REQUEST_DEADLINE_SECONDS

    def setup(self) -> None:
        super().setup()
        self.rfile = _CappedHead(self.rfile)
        self._deadline = threading.Timer(self.deadline_seconds, self._cut)
        self._deadline.daemon = True
        self._deadline.start()

    def handle_one_request(self) -> None:
        self.requestline = self.request_version = self.command = ""   # until the request line is read
        try:
            super().handle_one_request()
        except HeadTooLarge as too_large:
            self.close_connection = True
            self.server.refusals.note(self.client_address[0], str(too_large))
            self.refuse_head(too_large.status)

    def refuse_head(self, status: HTTPStatus) -> None:
        """Answers a request whose line or headers passed their cap."""
        self.send_error(status)

    def request_read(self) -> None:
        self._deadline.cancel()

    def finish(self) -> None:
        self._deadline.cancel()
        super().finish()

    def _cut(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass   # closed already

    def log_message(self, format, *args) -> None:
        pass   # refusals are counted and logged by RefusalLog; one line per request would drown the job lines


class HeadTooLarge(Exception):
    """The request line or the headers passed their cap; `status` is the answer (414 or 431)."""

    def __init__(self, status: HTTPStatus, reason: str):
        super().__init__(reason)
        self.status = status


class _CappedHead:
    """A connection's input read as BaseHTTPRequestHandler reads it, the request's head within its caps: the
    request line, then the header lines up to the blank one; each read asks for no more than the cap leaves,
    so no more than that is ever held. HeadTooLarge once a cap is passed. Past the head, the input as it is."""

    def __init__(self, rfile):
        self._rfile = rfile
        self._request_line_read = False
        self._header_bytes = 0
        self._headers = 0
        self._in_body = False

    def readline(self, size: int = -1) -> bytes:
        if self._in_body:
            return self._rfile.readline(size)
        cap = MAX_HEADER_BYTES - self._header_bytes if self._request_line_read else MAX_REQUEST_LINE_BYTES
        line = self._rfile.readline(cap + 1 if size < 0 else min(size, cap + 1))
        if not self._request_line_read:
            self._request_line_read = True
            if len(line) > cap:
                raise HeadTooLarge(HTTPStatus.REQUEST_URI_TOO_LONG,
                                   f"a request line over {MAX_REQUEST_LINE_BYTES} bytes")
            return line
        self._header_bytes += len(line)
        if self._header_bytes > MAX_HEADER_BYTES:
            raise HeadTooLarge(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"headers over {MAX_HEADER_BYTES} bytes")
        if line in (b"\r\n", b"\n", b""):
            self._in_body = True
        else:
            self._headers += 1
            if self._headers > MAX_HEADERS:
                raise HeadTooLarge(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"more than {MAX_HEADERS} headers")
        return line

    def __getattr__(self, name: str):
        return getattr(self._rfile, name)   # read() for the body, close() …


class RefusalLog:
    """Logs the first refusal, then at most one line a minute with how many more there were, so that
    someone knocking on the port cannot flood the log."""

    def __init__(self, name: str, every_seconds: float = REFUSALS_LOGGED_EVERY_SECONDS):
        self._name = name
        self._every = every_seconds
        self._lock = threading.Lock()
        self._logged_at: float | None = None
        self._since = 0

    def note(self, client: str, reason: str) -> None:
        now = time.monotonic()
        with self._lock:
            if self._logged_at is not None and now - self._logged_at < self._every:
                self._since += 1
                return
            more, self._since, self._logged_at = self._since, 0, now
        log.warning("%s: refused a request from %s: %s%s", self._name, client, reason,
                    f" ({more} more refused in the last minute)" if more else "")


class BackgroundServer:
    """`server`, served from a daemon thread between start() and stop() (stop only a started one)."""

    def __init__(self, server: ThreadingHTTPServer, name: str, poll_seconds: float = 0.5):
        server.daemon_threads = True   # a request under way must not hold up the process's exit
        self._server = server
        # poll_seconds: how soon the serving loop notices stop()
        self._thread = threading.Thread(target=server.serve_forever, args=(poll_seconds,), name=name, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> "BackgroundServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
