"""`voicebot run` and `voicebot worker` as real processes whose log lines a test can wait for."""
import re
import threading
import time
from pathlib import Path

from voicebot.sandbox.harness import environment, start_voicebot, stop

from botprocess import TOKEN


class LoggedProcess:
    """A voicebot command whose stderr is read as it comes, line by line."""

    def __init__(self, *args: str, cwd: Path, **settings: str):
        """`settings`: extra environment variables, such as VOICEBOT_METRICS_LISTEN."""
        self.process = start_voicebot(*args, env=environment(TELEGRAM_BOT_TOKEN=TOKEN, **settings), cwd=cwd)
        self.lines: list[str] = []
        self.arrived: list[float] = []   # time.monotonic() as each line was read
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self.arrived.append(time.monotonic())
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float, start: int = 0) -> re.Match:
        """The first line from index `start` on that matches `pattern`; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    if match := re.search(pattern, line):
                        return match
                left = deadline - time.monotonic()
                assert left > 0 and self.process.poll() is None, (
                    f"no line matching {pattern!r} (exit code {self.process.poll()}):\n" + "\n".join(self.lines))
                self._changed.wait(min(left, 0.5))

    def arrival(self, pattern: str) -> float:
        """When the first line matching `pattern` was read (it must be there)."""
        return next(at for at, line in zip(self.arrived, self.lines, strict=False) if re.search(pattern, line))

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 90) -> int:
        return stop(self.process, timeout)

    @property
    def log(self) -> str:
        return "\n".join(self.lines)
