"""A recording stand-in for voicebot.adapters.broker.BrokerLink, for the actors that talk to the broker."""
from voicebot.core.errors import BrokerError


class FakeLink:
    """Records what is sent; refuses to send while `down`; hands consumers' handlers to the test."""

    def __init__(self, down: bool = False):
        self.down = down
        self.jobs: list[dict] = []
        self.events: list[tuple[dict, float | None]] = []
        self.event_handler = None
        self.consuming = False

    def send_job(self, payload: dict) -> None:
        self._refuse_while_down()
        self.jobs.append(payload)

    def send_event(self, payload: dict, max_age_seconds: float | None = None) -> None:
        self._refuse_while_down()
        self.events.append((payload, max_age_seconds))

    def consume_events(self, handler) -> None:
        self.event_handler, self.consuming = handler, True

    def stop_consuming(self, grace_seconds: float) -> None:
        self.consuming = False

    def events_of(self, kind: str) -> list[dict]:
        return [payload for payload, _ in self.events if payload["type"] == kind]

    def _refuse_while_down(self) -> None:
        if self.down:
            raise BrokerError("broker amqp://guest:***@127.0.0.1:5672/: connection refused")
