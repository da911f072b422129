"""What the operator reads of the billing ledger (tables transaction and payment): the figures of each day for
`voicebot billing report`, and the payments as `voicebot billing reconcile` compares them with Telegram's. Read
only: every change of the ledger is the repository's (Storage), in one transaction with what it changes."""
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from peewee import fn

from voicebot.adapters.storage.models import Payment, Transaction, database_errors
from voicebot.core.ledger import LedgerDay, StarCharge

# The LedgerDay figure each kind of row adds its seconds to (credit rows add, the others take).
_SECONDS_OF = {"credit": "sold_seconds", "use": "used_seconds", "refund": "refunded_seconds",
               "expire": "expired_seconds"}


class Ledger:
    """The ledger in the database the Storage opened (the one the process uses)."""

    def days(self, first: date, last: date, timezone: str) -> list[LedgerDay]:
        """Each day from `first` to `last` (days in `timezone`; the rows' times are UTC), oldest first, days
        without a row included: their balances are still outstanding."""
        zone = ZoneInfo(timezone)
        start, end = _utc_start(first, zone), _utc_start(last + timedelta(days=1), zone)
        # A use of free seconds only changes no balance and takes no Stars: only the other rows count here.
        counted = (Transaction.balance_change != 0) | (Transaction.stars != 0)
        with database_errors():
            opening = (Transaction.select(fn.SUM(Transaction.balance_change))
                       .where(Transaction.created_at < start).scalar()) or 0.0
            rows = list(Transaction.select(Transaction.created_at, Transaction.kind, Transaction.balance_change,
                                           Transaction.stars)
                        .where((Transaction.created_at >= start) & (Transaction.created_at < end) & counted)
                        .tuples())
        figures: dict[date, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for created_at, kind, change, stars in rows:
            day = figures[created_at.replace(tzinfo=UTC).astimezone(zone).date()]
            day["change"] += change
            day[_SECONDS_OF[kind]] += abs(change)
            day["stars_taken" if stars > 0 else "stars_refunded"] += abs(stars)
        outstanding, days = float(opening), []
        for n in range((last - first).days + 1):
            day = first + timedelta(days=n)
            found = figures.get(day, {})
            outstanding += found.get("change", 0.0)
            days.append(LedgerDay(day, int(found.get("stars_taken", 0)), int(found.get("stars_refunded", 0)),
                                  found.get("sold_seconds", 0.0), found.get("used_seconds", 0.0),
                                  found.get("refunded_seconds", 0.0), found.get("expired_seconds", 0.0),
                                  max(outstanding, 0.0)))   # a sum of floats a hair below zero is zero
        return days

    def payments(self) -> list[StarCharge]:
        """Every payment the ledger has, the oldest first."""
        with database_errors():
            return [StarCharge(row.charge_id, row.user_id, row.stars, row.refunded_at is not None)
                    for row in Payment.select().order_by(Payment.paid_at, Payment.charge_id)]


def _utc_start(day: date, zone: ZoneInfo) -> datetime:
    """When `day` starts in `zone`, as the naive UTC time the rows are stored in."""
    return datetime.combine(day, time(), zone).astimezone(UTC).replace(tzinfo=None)
