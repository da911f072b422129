"""The QuotaActor's table of users: the rules it applies, and one mutable record per user, owned by that
actor alone (never shared, so it needs no locking). Admission and the conversation both read and change it."""
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from voicebot.core.domain import UserSettings, UserState


@dataclass(frozen=True, slots=True)
class QuotaRules:
    daily_seconds: int
    rate_limit_seconds: int
    max_duration_seconds: int
    max_file_mb: int
    timezone: str = "UTC"
    unlimited_user_ids: frozenset[int] = frozenset()
    admin_user_ids: frozenset[int] = frozenset()
    languages: frozenset[str] = frozenset()
    charge_repeats: bool = False   # an answer from memory is charged (and refused) as a transcription is
    channel_daily_seconds: int = 3600   # a channel's own allowance (its jobs' user is the channel: a negative id)

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024


@dataclass(slots=True)
class User:
    settings: UserSettings = UserSettings()   # what they chose: replaced whole, never changed in place
    day: date | None = None             # the day `charged` counts
    charged: float = 0.0
    reserved: float = 0.0               # the shares of their jobs admitted and not settled yet
    last_admitted: float | None = None
    seen_language: str | None = None        # their Telegram app's, as their last update said
    last_pressed: float | None = None       # when a press of theirs (English) last started a transcription
    bought: float = 0.0                     # seconds bought with Stars and not spent (actors/billing.py)
    bought_until: datetime | None = None    # when those expire (None: never)


class UserBook:
    """Every user the bot has met since start, with today's usage: the first look after midnight (in
    the rules' time zone) starts a new day."""

    def __init__(self, rules: QuotaRules, users: Iterable[UserState], now: Callable[[], datetime]):
        self._rules = rules
        self._zone = ZoneInfo(rules.timezone)
        self._now = now
        today = self.today()
        self._users: dict[int, User] = {state.user_id: User(state.settings, today, state.charged_today)
                                        for state in users}

    def __getitem__(self, user_id: int) -> User:
        user = self._users.setdefault(user_id, User())
        today = self.today()
        if user.day != today:
            user.day, user.charged = today, 0.0
        return user

    def bought(self, user_id: int) -> float:
        """The user's balance bought with Stars, as far as it has not expired."""
        user = self[user_id]
        return 0.0 if user.bought_until is not None and user.bought_until <= self._now() else user.bought

    def free_left(self, user_id: int) -> float:
        """What is left of the day's free seconds, charged or not: they go before any bought ones."""
        return max(0.0, self.daily_seconds(user_id) - self[user_id].charged)

    def held_bought(self, user_id: int) -> float:
        """The bought seconds the user's jobs under way were promised: what they hold beyond the day's free ones."""
        return max(0.0, self[user_id].reserved - self.free_left(user_id))

    def is_unlimited(self, user_id: int) -> bool:
        return self[user_id].settings.unlimited or user_id in self._rules.unlimited_user_ids

    def daily_seconds(self, user_id: int) -> int:
        own = self[user_id].settings.daily_seconds
        if own is not None:
            return own
        return self._rules.channel_daily_seconds if is_channel(user_id) else self._rules.daily_seconds

    def forget_idle(self, now: float) -> None:
        """Users with nothing of their own to remember (no settings, nothing used today, no job running, out
        of their rate window) are dropped: they come back as new, with the same defaults, when they write."""
        today = self.today()
        for user_id, user in list(self._users.items()):
            recent = [at for at in (user.last_admitted, user.last_pressed)
                      if at is not None and now - at <= self._rules.rate_limit_seconds]
            if (user == User(day=user.day, last_admitted=user.last_admitted, seen_language=user.seen_language,
                             last_pressed=user.last_pressed, bought_until=user.bought_until)
                    and (user.day != today or not user.charged) and not recent):
                del self._users[user_id]

    def __len__(self) -> int:
        return len(self._users)

    def apply_settings(self, states: Iterable[UserState]) -> None:
        """Settings re-read from the database (an operator may have changed them with the CLI)."""
        loaded = {state.user_id: state.settings for state in states}
        for user_id, user in self._users.items():
            user.settings = loaded.get(user_id, UserSettings())

    def change_settings(self, user_id: int, **changes) -> UserSettings:
        """The user's settings with `changes` (field=value), kept and returned whole, ready to be saved."""
        user = self[user_id]
        user.settings = dataclasses.replace(user.settings, **changes)
        return user.settings

    def local_now(self) -> datetime:
        return self._now().astimezone(self._zone)

    def today(self) -> date:
        return self.local_now().date()


def is_channel(user_id: int) -> bool:
    """Whether a job's user is a channel: a channel's posts are charged to the channel, whose id is negative as
    every chat's but a person's."""
    return user_id < 0


COMMAND_BURST = 5            # answers a user may get at once ...
COMMAND_REFILL_SECONDS = 2.0  # ... and how fast that allowance comes back


@dataclass(slots=True)
class _Bucket:
    tokens: float = COMMAND_BURST
    at: float = 0.0
    warned: bool = False


class ReplyAllowance:
    """How many answers each user may be sent: commands are cheap, but each answer (a command's, or a
    refusal of a recording) is a Bot API call, and one user's flood must not queue up ahead of everyone
    else's results (50 forwarded voices must not become 49 refusals ahead of a group's transcripts)."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._buckets: dict[int, _Bucket] = {}

    def take(self, user_id: int) -> bool | None:
        """True: answer; False: one "slow down" notice instead; None: stay silent until the flood calms down."""
        bucket, now = self._buckets.setdefault(user_id, _Bucket(at=self._clock())), self._clock()
        bucket.tokens = min(COMMAND_BURST, bucket.tokens + (now - bucket.at) / COMMAND_REFILL_SECONDS)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.warned = False
            return True
        if bucket.warned:
            return None
        bucket.warned = True
        return False

    def forget_idle(self) -> None:
        """A full bucket is what a new user gets anyway."""
        now = self._clock()
        for user_id, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.at) / COMMAND_REFILL_SECONDS >= COMMAND_BURST:
                del self._buckets[user_id]

    def __len__(self) -> int:
        return len(self._buckets)
