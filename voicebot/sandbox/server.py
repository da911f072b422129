"""The HTTP side: a keep-alive server whose handler hands every request to ``BotApiSandbox._dispatch``,
and turning a request's path and body into a ``_Request``."""
from __future__ import annotations

import json
import re
import socket
import sys
import threading
from email.message import Message
from email.parser import HeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .protocol import _ApiError, _Request

if TYPE_CHECKING:
    from .bot_api import BotApiSandbox

_API_PATH = re.compile(r"/bot(?P<token>[^/]*)/(?P<name>[^/]*)")
_FILE_PATH = re.compile(r"/file/bot(?P<token>[^/]*)/(?P<name>.+)")


class _Server(ThreadingHTTPServer):
    """Keeps track of idle keep-alive connections: closing shuts those at once, while requests in progress
    (a long poll that stop() just ended, say) still get their answer before their connection closes."""
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: BotApiSandbox):
        super().__init__(address, _Handler)
        self.sandbox = sandbox
        self._idle: set[socket.socket] = set()
        self._idle_lock = threading.Lock()
        self._closing = False

    def set_idle(self, connection: socket.socket, idle: bool) -> bool:
        """Mark a connection as waiting for a request or not; False when it should close instead."""
        with self._idle_lock:
            if idle and not self._closing:
                self._idle.add(connection)
            else:
                self._idle.discard(connection)
            return not self._closing

    def close_connections(self) -> None:
        """Shut idle connections, whose handler threads would otherwise wait for a next request forever."""
        with self._idle_lock:
            self._closing = True
            idle, self._idle = self._idle, set()
        for connection in idle:
            _shutdown(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, injected delay) or a connection closed by stop() is routine.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real client and Telegram use
    disable_nagle_algorithm = True  # headers and body go out in two writes: don't stall 40 ms between them
    server: _Server

    def setup(self) -> None:
        super().setup()
        if not self.server.set_idle(self.connection, idle=True):
            _shutdown(self.connection)  # accepted while the server closes

    def finish(self) -> None:
        self.server.set_idle(self.connection, idle=False)
        super().finish()

    def do_GET(self) -> None:
        if not self.server.set_idle(self.connection, idle=False):
            self.close_connection = True
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply = self.server.sandbox._dispatch(self.path, self.headers.get("Content-Type", ""), body)
        if reply is None:
            self.close_connection = True
            _shutdown(self.connection)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
        self.close_connection = self.close_connection or not self.server.set_idle(self.connection, idle=True)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines carry the bot token, which must never reach a log."""


# --- request parsing


def _route(path: str) -> _Request | None:
    """The request a URL path names, with its query-string params; None when it is no Bot API path."""
    parts = urlsplit(path)
    download = _FILE_PATH.fullmatch(parts.path)
    if download:
        file_path = unquote(download["name"])
        return _Request(unquote(download["token"]), file_path, True, {"file_path": file_path})
    api = _API_PATH.fullmatch(parts.path)
    if not api:
        return None
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    return _Request(unquote(api["token"]), api["name"], False, params)


def _read_body(request: _Request, content_type: str, body: bytes) -> None:
    """Add the params (and uploads) of a form, JSON or multipart body to those of the query string."""
    header = Message()
    header["Content-Type"] = content_type or "text/plain"
    mime = header.get_content_type()
    if mime == "application/x-www-form-urlencoded":
        request.params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif mime == "application/json" and body:
        try:
            params = json.loads(body)
        except ValueError:
            params = None
        if not isinstance(params, dict):
            raise _ApiError(400, "Bad Request: can't parse JSON request body")
        request.params.update(params)
    elif mime == "multipart/form-data":
        fields, request.files = _parse_multipart(body, str(header.get_param("boundary", "")))
        request.params.update(fields)


def _parse_multipart(body: bytes, boundary: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """Split a multipart/form-data body into plain fields and uploaded files."""
    if not boundary:
        raise _ApiError(400, "Bad Request: multipart boundary is missing")
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    # Parts sit between "--boundary" lines: CRLF, headers, blank line, content, CRLF.
    for part in body.split(b"--" + boundary.encode())[1:-1]:
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        # pyTelegramBotAPI sends file names raw (UTF-8, unquoted), so decode the headers as UTF-8.
        headers = HeaderParser().parsestr(head.decode("utf-8", "replace"))
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = _raw_filename(headers.get("content-disposition", ""))
        if filename is None:
            fields[name] = content.decode("utf-8", "replace")
        else:
            files[name] = (filename, content)
    return fields, files


def _raw_filename(disposition: str) -> str | None:
    """The filename parameter, quoted or not; unquoted names may hold spaces, which the email parser cuts."""
    match = re.search(r';\s*filename="((?:[^"\\]|\\.)*)"|;\s*filename=([^;]*)', disposition)
    if match is None:
        return None
    quoted, bare = match.groups()
    return re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare.strip()



def _shutdown(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the other side
