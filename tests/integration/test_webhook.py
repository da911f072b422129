"""The webhook's HTTP server on its own: what reaches `receive`, and what is turned away before."""
import json
import logging
import socket
import threading
import time
import tracemalloc
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest

from voicebot.adapters import webhook as webhook_module
from voicebot.adapters.httpserver import MAX_HEADER_BYTES, MAX_HEADERS, MAX_REQUEST_LINE_BYTES, GuardedHandler
from voicebot.adapters.metrics import Metrics, MetricsServer
from voicebot.adapters.webhook import MAX_BODY_BYTES, SECRET_HEADER, WebhookServer

from helpers import free_port, send_http

SECRET = "the-webhook_SECRET-42"
UPDATE = {"update_id": 7, "message": {"message_id": 1, "chat": {"id": 5, "type": "private"}, "text": "hi"}}


class Receiver:
    """`receive` for the server: keeps each update and answers `status`."""

    def __init__(self, status: HTTPStatus = HTTPStatus.OK):
        self.status = status
        self.updates: list[dict] = []

    def __call__(self, update: dict) -> HTTPStatus:
        self.updates.append(update)
        return self.status


@pytest.fixture
def metrics():
    return Metrics()


@pytest.fixture
def receiver():
    return Receiver()


@pytest.fixture
def url(receiver, metrics):
    listen = f"127.0.0.1:{free_port()}"
    server = WebhookServer(listen, "/telegram/updates", SECRET, metrics).start(receiver)
    yield f"http://{listen}/telegram/updates"
    server.stop()


def post(url: str, body: bytes = json.dumps(UPDATE).encode(), secret: str | None = SECRET, **headers) -> int:
    if secret is not None:
        headers[SECRET_HEADER] = secret
    return send_http(url, body, headers)[0]


def test_an_update_with_the_secret_reaches_receive_and_gets_its_status(url, receiver, metrics):
    assert post(url) == 200
    assert receiver.updates == [UPDATE]
    receiver.status = HTTPStatus.SERVICE_UNAVAILABLE
    assert post(url) == 503
    assert metrics.registry.get_sample_value("voicebot_webhook_requests_total", {"status": "200"}) == 1


@pytest.mark.parametrize("secret", [None, "", "the-webhook_SECRET-43", SECRET + "x", "thé-secret"])
def test_a_wrong_or_missing_secret_is_forbidden_and_nothing_is_received(url, receiver, secret, caplog):
    assert post(url, secret=secret) == 403
    assert receiver.updates == []
    assert SECRET not in caplog.text and "Traceback" not in caplog.text


def test_only_posts_to_the_webhooks_path_are_served(url, receiver):
    assert post(url.replace("/telegram/updates", "/telegram/other")) == 404
    assert post(url.replace("/telegram/updates", "/")) == 404
    status, headers = send_http(url, method="GET")
    assert (status, headers["Allow"]) == (405, "POST")
    assert send_http(url.replace("/updates", "/x"), method="GET")[0] == 404
    assert receiver.updates == []


@pytest.mark.parametrize("body, status", [
    (b"not json", 400),
    (b"[1, 2, 3]", 400),
    (b"\xff\xfe", 400),
    (b"[" * 100_000, 400),   # deeper than Python's recursion limit
])
def test_a_body_that_is_not_one_json_object_is_a_bad_request(url, receiver, body, status, caplog):
    assert post(url, body) == status
    assert receiver.updates == []
    assert "Traceback" not in caplog.text


def test_a_body_over_the_cap_is_refused_unread(url, receiver):
    assert post(url, b"", **{"Content-Length": str(MAX_BODY_BYTES + 1)}) == 413
    assert receiver.updates == []


def test_refusals_are_logged_in_one_line_without_the_secret_and_at_most_once_a_minute(url, metrics, caplog):
    caplog.set_level(logging.WARNING)
    for _ in range(20):   # someone guessing: one line, not twenty
        post(url, secret="guess")
    post(url, secret=None)
    assert [record.getMessage().split(": ", 2)[-1] for record in caplog.records] == [f"wrong {SECRET_HEADER} header"]
    assert metrics.registry.get_sample_value("voicebot_webhook_requests_total", {"status": "403"}) == 21
    assert "guess" not in caplog.text and SECRET not in caplog.text


def test_a_content_length_of_superscript_digits_is_refused_not_a_crash(url, receiver):
    assert post(url, b"{}", **{"Content-Length": "²"}) == 411
    assert post(url) == 200   # the server is still there


def slow_client(url: str) -> socket.socket:
    """Sends the request line and then one header byte every so often: never a whole request."""
    parts = urlsplit(url)
    client = socket.create_connection((parts.hostname, parts.port), timeout=30)
    client.sendall(f"POST {parts.path} HTTP/1.1\r\nHost: x\r\n".encode())
    return client


def test_a_client_trickling_bytes_is_cut_at_the_whole_requests_deadline(url, monkeypatch):
    monkeypatch.setattr(GuardedHandler, "deadline_seconds", 1.0)
    client = slow_client(url)
    started = time.monotonic()
    try:
        while time.monotonic() - started < 10:
            client.sendall(b"X")   # well within the per-read timeout each time
            time.sleep(0.3)
    except OSError:
        pass   # cut: the server shut the connection
    finally:
        client.close()
    assert time.monotonic() - started < 5


def test_connections_past_the_cap_are_closed_and_the_server_serves_again_once_they_are_gone(receiver, metrics,
                                                                                             monkeypatch):
    monkeypatch.setattr(webhook_module, "MAX_CONNECTIONS", 3)
    listen = f"127.0.0.1:{free_port()}"
    server = WebhookServer(listen, "/telegram/updates", SECRET, metrics).start(receiver)
    url = f"http://{listen}/telegram/updates"
    try:
        held = [slow_client(url) for _ in range(3)]
        time.sleep(0.2)
        with pytest.raises(OSError):
            post(url)   # the fourth is closed unanswered
        for client in held:
            client.close()
        time.sleep(0.2)
        assert post(url) == 200
    finally:
        server.stop()


def test_the_metrics_endpoint_cuts_a_trickling_client_too(monkeypatch):
    monkeypatch.setattr(GuardedHandler, "deadline_seconds", 1.0)
    listen = f"127.0.0.1:{free_port()}"
    server = MetricsServer(Metrics(), listen, lambda: "ok").start()
    try:
        client = slow_client(f"http://{listen}/metrics")
        started = time.monotonic()
        with pytest.raises(OSError):
            while time.monotonic() - started < 10:
                client.sendall(b"X")
                time.sleep(0.3)
        assert time.monotonic() - started < 5
        client.close()
        assert send_http(f"http://{listen}/healthz", method="GET")[0] == 200
    finally:
        server.stop()


def send_head(url: str, request_line: bytes, header_lines: list[bytes], repeat: int = 1,
              body: bytes = b"") -> int | None:
    """Sends a request line and headers (`header_lines` `repeat` times over) from a thread, reading the
    answer meanwhile as a client would: its status, or None when the server cut the connection first."""
    parts = urlsplit(url)
    client = socket.create_connection((parts.hostname, parts.port), timeout=30)

    def send():
        try:
            client.sendall(request_line + b"\r\n")
            for _ in range(repeat):
                for line in header_lines:
                    client.sendall(line)
            client.sendall(b"\r\n" + body)
        except OSError:
            pass   # refused: the server stopped reading

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    answer = b""
    try:
        while chunk := client.recv(4096):
            answer += chunk
    except OSError:
        pass
    finally:
        sender.join(30)
        client.close()
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None


def post_line(url: str, path: str | None = None) -> bytes:
    return f"POST {path or urlsplit(url).path} HTTP/1.1".encode()


def test_a_request_line_past_its_cap_is_refused_with_414(url, receiver, metrics):
    long_path = urlsplit(url).path + "?" + "x" * MAX_REQUEST_LINE_BYTES
    assert send_head(url, post_line(url, long_path), [f"{SECRET_HEADER}: {SECRET}\r\n".encode()]) == 414
    assert receiver.updates == []
    assert metrics.registry.get_sample_value("voicebot_webhook_requests_total", {"status": "414"}) == 1


@pytest.mark.parametrize("header_lines", [
    [b"X-Padding: " + b"p" * 2000 + b"\r\n"] * (MAX_HEADER_BYTES // 2000 + 1),   # too many bytes
    [b"X-A: b\r\n"] * (MAX_HEADERS + 1),                                          # too many headers
    [b"X-Padding: " + b"p" * (MAX_HEADER_BYTES + 1) + b"\r\n"],                  # one header too long
])
def test_headers_past_their_caps_are_refused_with_431_before_the_secret_is_looked_at(url, receiver, metrics,
                                                                                   header_lines):
    secret = f"{SECRET_HEADER}: {SECRET}\r\n".encode()
    assert send_head(url, post_line(url), [secret, *header_lines]) == 431
    assert receiver.updates == []
    assert metrics.registry.get_sample_value("voicebot_webhook_requests_total", {"status": "431"}) == 1


def test_a_request_within_the_caps_is_served(url, receiver):
    body = json.dumps(UPDATE).encode()
    padding = [f"X-Padding-{n}: ".encode() + b"p" * 900 + b"\r\n" for n in range(MAX_HEADER_BYTES // 1000 - 2)]
    headers = [f"{SECRET_HEADER}: {SECRET}\r\n".encode(), f"Content-Length: {len(body)}\r\n".encode(), *padding]
    assert send_head(url, post_line(url), headers, body=body) == 200
    assert receiver.updates == [UPDATE]


def test_connections_sending_megabytes_of_headers_are_refused_at_once_and_memory_stays_flat(url, receiver):
    """40 connections sending 6.4 MB of headers each (100 lines of 64,000 bytes: what the standard library
    takes) once took the process from 23 MB to 414 MB."""
    line = b"X-Padding: " + b"p" * 63_980 + b"\r\n"
    statuses: list[int | None] = []
    tracemalloc.start()
    try:
        started = time.monotonic()
        clients = [threading.Thread(target=lambda: statuses.append(send_head(url, post_line(url), [line], 100)))
                   for _ in range(20)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(60)
        took = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # None: cut before the answer was read (the rest of the headers unread, the server's close is a reset).
    assert len(statuses) == 20 and set(statuses) <= {431, None} and 431 in statuses, statuses
    assert peak < 4_000_000, f"{peak / 1e6:.1f} MB at the peak"
    assert took < 10
    assert receiver.updates == []
    assert post(url) == 200   # and the server serves on


def test_the_metrics_endpoint_caps_request_heads_too():
    listen = f"127.0.0.1:{free_port()}"
    server = MetricsServer(Metrics(), listen, lambda: "ok").start()
    try:
        url = f"http://{listen}/metrics"
        assert send_head(url, b"GET /metrics HTTP/1.1", [b"X-A: b\r\n"] * (MAX_HEADERS + 1)) == 431
        assert send_head(url, b"GET /metrics?" + b"x" * MAX_REQUEST_LINE_BYTES + b" HTTP/1.1", []) == 414
        assert send_http(f"http://{listen}/healthz", method="GET")[0] == 200
    finally:
        server.stop()
