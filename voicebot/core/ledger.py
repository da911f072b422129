"""The ledger of payments in Telegram Stars as the operator checks it (`voicebot billing report` and `reconcile`):
a day's figures, a payment as each side records it, Telegram's transaction list read as payments, and how the
ledger and Telegram differ. Stdlib only."""
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class LedgerDay:
    """One day of the ledger, in quota.timezone: Stars in and given back, and what happened to bought seconds.
    `outstanding_seconds` is the sum of every balance at the day's end."""
    day: date
    stars_taken: int = 0
    stars_refunded: int = 0
    sold_seconds: float = 0.0
    used_seconds: float = 0.0
    refunded_seconds: float = 0.0   # taken back by refunds: what was unspent of the packs refunded
    expired_seconds: float = 0.0
    outstanding_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class StarCharge:
    """A payment in Stars as one side records it: its telegram_payment_charge_id, who paid, how many Stars, and
    whether they were given back."""
    charge_id: str
    user_id: int
    stars: int
    refunded: bool = False


def charges_of(transactions: Iterable[dict]) -> list[StarCharge]:
    """Telegram's StarTransaction objects (getStarTransactions, oldest first) as the payments of invoices they
    hold, in that order: an incoming transaction from a user's invoice payment, and its refund, the outgoing one
    with the same id. Other transactions (a withdrawal, say) are no payment of an invoice."""
    charges: dict[str, StarCharge] = {}
    for transaction in transactions:
        charge_id, incoming = str(transaction.get("id", "")), "source" in transaction
        partner = transaction.get("source" if incoming else "receiver") or {}
        if partner.get("type") != "user" or partner.get("transaction_type") != "invoice_payment":
            continue
        if incoming:
            charges[charge_id] = StarCharge(charge_id, int(partner["user"]["id"]), int(transaction["amount"]))
        elif charge_id in charges:
            paid = charges[charge_id]
            charges[charge_id] = StarCharge(charge_id, paid.user_id, paid.stars, refunded=True)
    return list(charges.values())


def differences(telegram: list[StarCharge], ledger: list[StarCharge]) -> list[str]:
    """One line per difference between Telegram's payments and the ledger's: a payment one side has and the other
    lacks, or one whose payer, Stars or refund differ. Telegram's order first, then what only the ledger has."""
    recorded = {charge.charge_id: charge for charge in ledger}
    lines = []
    for charge in telegram:
        mine = recorded.pop(charge.charge_id, None)
        if mine is None:
            lines.append(f"{charge.charge_id}: Telegram has a payment of {charge.stars} Stars by user "
                         f"{charge.user_id}{' (refunded)' if charge.refunded else ''}; the ledger does not")
            continue
        if mine.user_id != charge.user_id:
            lines.append(f"{charge.charge_id}: paid by user {charge.user_id} at Telegram, by user {mine.user_id} "
                         f"in the ledger")
        if mine.stars != charge.stars:
            lines.append(f"{charge.charge_id}: {charge.stars} Stars at Telegram, {mine.stars} in the ledger")
        if mine.refunded != charge.refunded:
            lines.append(f"{charge.charge_id}: refunded at Telegram, not in the ledger" if charge.refunded
                         else f"{charge.charge_id}: refunded in the ledger, not at Telegram")
    lines.extend(f"{charge.charge_id}: the ledger has a payment of {charge.stars} Stars by user {charge.user_id}; "
                 f"Telegram does not" for charge in recorded.values())
    return lines


def agreement(charges: list[StarCharge]) -> str:
    """What agrees, when nothing differs."""
    refunds = sum(charge.refunded for charge in charges)
    return (f"ledger and Telegram agree: {len(charges)} payment{'' if len(charges) == 1 else 's'}, "
            f"{sum(charge.stars for charge in charges)} Stars, {refunds} refund{'' if refunds == 1 else 's'}")
