"""The webhook's HTTP side: a standard-library server taking the updates Telegram POSTs.

An update goes no further unless the request is a POST to the path of telegram.webhook_url, carries
the secret in X-Telegram-Bot-Api-Secret-Token (compared in constant time) and holds one JSON object
of at most MAX_BODY_BYTES. What a well-formed request is answered is up to `receive`: a 2xx tells
Telegram the update is taken, anything else makes it send the update again later. The server
speaks plain HTTP: TLS is the job of the operator's proxy in front of it."""
import hmac
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import urlsplit

from voicebot.adapters.httpserver import BackgroundServer, GuardedHandler, GuardedServer, bind_address
from voicebot.core.ports import Metrics

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES = 1024 * 1024    # an update is a few KB: a larger body is not from Telegram
MAX_CONNECTIONS = 100           # Telegram opens at most 40 (setWebhook's max_connections defaults to 40)


class WebhookServer:
    """Serves `path` on `listen` (HOST:PORT) between start() and stop(), as often as asked (a restarted
    webhook actor starts it again). `receive(update)` runs on the request's own thread and returns the
    status to answer; it may wait (for the update to be stored) without holding up others."""

    def __init__(self, listen: str, path: str, secret: str, metrics: Metrics):
        self._listen = listen
        self._path = path or "/"
        self._secret = secret
        self._metrics = metrics
        self._serving: BackgroundServer | None = None

    @property
    def address(self) -> str:
        return self._serving.address if self._serving is not None else self._listen

    def start(self, receive: Callable[[dict], HTTPStatus]) -> "WebhookServer":
        server = _Server(bind_address(self._listen), self._path, self._secret, receive, self._metrics)
        self._serving = BackgroundServer(server, "webhook", poll_seconds=0.1).start()
        log.info("webhook: taking updates at http://%s%s", self.address, self._path)
        return self

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None


class _Refused(Exception):
    """A request turned away before its update reached `receive`; the text is for the log."""

    def __init__(self, status: HTTPStatus, reason: str):
        super().__init__(reason)
        self.status = status


class _Server(GuardedServer):
    def __init__(self, address: tuple[str, int], path: str, secret: str, receive: Callable[[dict], HTTPStatus],
                 metrics: Metrics):
        self.path = path
        self.secret = secret.encode()
        self.receive = receive
        self.metrics = metrics
        super().__init__(address, _Handler, "webhook", MAX_CONNECTIONS)


class _Handler(GuardedHandler):
    server: _Server

    def do_POST(self) -> None:
        try:
            update = self._authenticated_update()
        except _Refused as refused:
            self.server.refusals.note(self.client_address[0], str(refused))
            self._answer(refused.status)
            return
        self.request_read()
        self._answer(self.server.receive(update))

    def _not_post(self) -> None:
        self._answer(HTTPStatus.METHOD_NOT_ALLOWED if self._path_is_served() else HTTPStatus.NOT_FOUND)

    do_GET = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _not_post

    def refuse_head(self, status: HTTPStatus) -> None:
        self._answer(status)

    def _authenticated_update(self) -> dict:
        if not self._path_is_served():
            raise _Refused(HTTPStatus.NOT_FOUND, "not the webhook's path")
        given = self.headers.get(SECRET_HEADER, "")
        # Constant time, and a missing header compared too, so timing tells nothing about the secret.
        if not hmac.compare_digest(given.encode(), self.server.secret):
            raise _Refused(HTTPStatus.FORBIDDEN, f"{'wrong' if given else 'no'} {SECRET_HEADER} header")
        return self._read_update()

    def _path_is_served(self) -> bool:
        return urlsplit(self.path).path == self.server.path

    def _read_update(self) -> dict:
        length = self.headers.get("Content-Length", "")
        if not (length.isascii() and length.isdigit()):   # "²".isdigit() is true, and int("²") fails
            raise _Refused(HTTPStatus.LENGTH_REQUIRED, "no Content-Length")
        if int(length) > MAX_BODY_BYTES:
            raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a body of {length} bytes")
        try:
            update = json.loads(self.rfile.read(int(length)))
        except (ValueError, RecursionError):   # RecursionError: JSON nested deeper than Python's stack
            update = None
        if not isinstance(update, dict):
            raise _Refused(HTTPStatus.BAD_REQUEST, "the body is not a JSON object")
        return update

    def _answer(self, status: HTTPStatus) -> None:
        body = f"{status.value} {status.phrase}\n".encode()
        # Counted before the answer goes out, so whoever has the answer also finds it counted.
        self.server.metrics.webhook_answered(status.value)
        self.send_response(status)
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", "POST")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
