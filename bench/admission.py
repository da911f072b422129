"""Admission latency of the QuotaActor with 10,000 known users (a benchmark, not a test).

    .venv/bin/python bench/admission.py [--users 10000] [--decisions 20000]

Prints p50/p99 of (a) the decision itself, the QuotaActor's Admission.admit called directly, and (b) the whole
trip through the actor's mailbox: VoiceReceived told -> JobAdmitted arrives at the dispatcher."""
import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.admission import Admission  # noqa: E402
from actors.messages import JobAdmitted, VoiceReceived  # noqa: E402
from actors.quota import QuotaActor, QuotaRules  # noqa: E402
from actors.users import ReplyAllowance, UserBook  # noqa: E402
from voicebot.core.domain import Job, JobKey, Media, MediaKind, UserSettings, UserState  # noqa: E402
from voicebot.core.ports import NO_METRICS  # noqa: E402
from voicebot.core.replies import Languages, utc_now  # noqa: E402

RULES = QuotaRules(daily_seconds=10**9, rate_limit_seconds=0, max_duration_seconds=300, max_file_mb=20,
                   unlimited_user_ids=frozenset(range(0, 10_000, 97)))


class Discard:
    def tell(self, message):
        pass


class Signal:
    """A dispatcher stand-in that wakes the benchmark when a job is admitted."""

    def __init__(self):
        self.arrived = threading.Event()

    def tell(self, message):
        if isinstance(message, JobAdmitted):
            self.arrived.set()


def job(user_id: int, number: int) -> Job:
    return Job(JobKey(user_id, number), user_id, Media(MediaKind.VOICE, f"f{number}", 20_000, random.randint(1, 60)))


def known_users(count: int) -> dict[int, UserState]:
    return {user_id: UserState(user_id, charged_today=random.uniform(0, 500),
                               settings=UserSettings(language=random.choice([None, "en", "de"])))
            for user_id in range(count)}


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples_ns, n=100)
    return cuts[49] / 1000, cuts[98] / 1000


def direct(users: dict, decisions: int) -> list[int]:
    admission = Admission(rules=RULES, users=UserBook(RULES, users.values(), utc_now),
                          allowance=ReplyAllowance(time.monotonic), dispatcher=Discard(), sender=Discard(),
                          storage=Discard(), clock=time.monotonic, metrics=NO_METRICS, languages=Languages())
    samples = []
    for number in range(decisions):
        candidate = job(random.randrange(len(users)), number)
        started = time.perf_counter_ns()
        admission.admit(candidate)
        samples.append(time.perf_counter_ns() - started)
    return samples


def through_mailbox(users: dict, decisions: int) -> list[int]:
    dispatcher = Signal()
    quota = QuotaActor.start(rules=RULES, dispatcher=dispatcher, sender=Discard(), storage=Discard(), users=users)
    samples = []
    try:
        for number in range(decisions):
            dispatcher.arrived.clear()
            started = time.perf_counter_ns()
            quota.tell(VoiceReceived(job(random.randrange(len(users)), number)))
            dispatcher.arrived.wait(5)
            samples.append(time.perf_counter_ns() - started)
    finally:
        quota.stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=20_000)
    args = parser.parse_args()
    random.seed(1)
    users = known_users(args.users)
    print(f"admission latency, {args.users} known users, {args.decisions} decisions each")
    print(f"{'path':<34}{'p50 µs':>10}{'p99 µs':>10}")
    for name, measure in (("decision (Admission.admit)", direct), ("mailbox trip (tell -> JobAdmitted)",
                                                                     through_mailbox)):
        p50, p99 = percentiles(measure(users, args.decisions))
        print(f"{name:<34}{p50:>10.1f}{p99:>10.1f}")


if __name__ == "__main__":
    main()
