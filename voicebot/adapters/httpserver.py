"""What the bot's own HTTP endpoints (metrics, webhook) share: a standard-library server on
HOST:PORT, serving each request on its own thread, from a daemon thread until stop()."""
import threading
from http.server import ThreadingHTTPServer


def bind_address(listen: str) -> tuple[str, int]:
    """HOST:PORT (an empty host meaning 127.0.0.1) as the address to bind."""
    host, _, port = listen.rpartition(":")
    return host or "127.0.0.1", int(port)


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
