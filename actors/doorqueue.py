"""DoorQueue: the jobs waiting for a worker, in one line per door they came in by (Telegram, the transcription
API), taken in turn, so that neither door's traffic starves the other's.

The policy: each door's jobs leave in the order they came; whenever a worker is free, the next job is the next
door's in turn that has one waiting (a door with none is skipped, so one door alone has every worker). While both
doors have jobs waiting they alternate, so a job with k jobs of its own door ahead of it is taken after at most
k + 1 jobs of the other door, however many that door has waiting: a burst of either door waits behind at most one
job of the other per job taken of its own. Each door's line holds up to `capacity` jobs: a full line refuses its
own door's next job ("busy"), never the other door's."""
from collections import deque
from collections.abc import Callable, Iterator

from voicebot.core.domain import Job


class DoorQueue:
    def __init__(self, doors: tuple[str, ...], door_of: Callable[[Job], str], capacity: int):
        """`doors`: the doors in their order of turns; `door_of(job)`: the door a job came in by, one of them."""
        self._lines: dict[str, deque[Job]] = {door: deque() for door in doors}
        self._door_of = door_of
        self._capacity = capacity
        self._turn = 0   # the index of the door whose turn is next

    @property
    def capacity(self) -> int:
        """How many jobs may wait, all doors together."""
        return self._capacity * len(self._lines)

    def full_for(self, job: Job) -> bool:
        """Whether the line of `job`'s door is full."""
        return len(self._lines[self._door_of(job)]) >= self._capacity

    def append(self, job: Job) -> None:
        self._lines[self._door_of(job)].append(job)

    def appendleft(self, job: Job) -> None:
        """`job` is its door's next (it was under way, and goes again)."""
        self._lines[self._door_of(job)].appendleft(job)

    def popleft(self) -> Job:
        """The next job in turn (there must be one)."""
        index = self._next_door({door: len(line) for door, line in self._lines.items()}, self._turn)
        self._turn = index + 1
        return self._lines[list(self._lines)[index]].popleft()

    def remove(self, job: Job) -> None:
        self._lines[self._door_of(job)].remove(job)

    def position_of_new(self, job: Job) -> int:
        """Where a job of `job`'s door coming now would be taken: 1 for the next."""
        door = self._door_of(job)
        waiting = {name: len(line) + (name == door) for name, line in self._lines.items()}
        doors, turn, position = list(self._lines), self._turn, 0
        while waiting[door]:
            index = self._next_door(waiting, turn)
            turn, position = index + 1, position + 1
            waiting[doors[index]] -= 1
        return position

    def __len__(self) -> int:
        return sum(len(line) for line in self._lines.values())

    def __iter__(self) -> Iterator[Job]:
        for line in self._lines.values():
            yield from line

    def _next_door(self, waiting: dict[str, int], turn: int) -> int:
        """The index of the door taken from next, of those with jobs `waiting`, when it is door `turn`'s turn."""
        doors = list(self._lines)
        for step in range(len(doors)):
            index = (turn + step) % len(doors)
            if waiting[doors[index]]:
                return index
        raise IndexError("no job is waiting")
