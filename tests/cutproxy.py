"""A TCP proxy a test can cut without a word: the network between a node and its database failing as a
cable or a firewall does, with no reset and no close, while both ends live on."""
import select
import socket
import threading
import time


class CuttableProxy:
    """Forwards 127.0.0.1:`port` to `target`; after cut() it forwards nothing more and accepts nobody, but
    leaves every connection open, so neither end learns of it but by waiting."""

    def __init__(self, target: tuple[str, int]):
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._delay = 0.0
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self._cut.set()

    def slow_down(self, seconds: float) -> None:
        """From now on, what the client sends reaches the server `seconds` late: a slow network or database."""
        self._delay = seconds

    def close(self) -> None:
        self._cut.set()
        for connection in [self._listener, *self._held]:
            connection.close()

    def _accept(self) -> None:
        while not self._cut.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                self._held.append(client)
                return
            server = socket.create_connection(self._target)
            self._held += [client, server]
            threading.Thread(target=self._forward, args=(client, server), daemon=True).start()

    def _forward(self, client: socket.socket, server: socket.socket) -> None:
        peers = {client: server, server: client}
        while not self._cut.is_set():
            try:
                readable, _, _ = select.select(list(peers), [], [], 0.2)
                for source in readable:
                    data = source.recv(65536)
                    if not data:   # an end closed: so does the other
                        client.close()
                        server.close()
                        return
                    if source is client and self._delay:
                        time.sleep(self._delay)
                    if not self._cut.is_set():
                        peers[source].sendall(data)
            except OSError:
                return
