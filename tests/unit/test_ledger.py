"""core.ledger: Telegram's Star transactions read as payments, and how they and the ledger's payments differ."""
from voicebot.core.ledger import StarCharge, agreement, charges_of, differences

ANN = {"id": 7, "is_bot": False, "first_name": "Ann"}


def paid(charge_id: str, stars: int, user: dict = ANN) -> dict:
    return {"id": charge_id, "amount": stars, "date": 1764892800, "source": {
        "type": "user", "transaction_type": "invoice_payment", "user": user, "invoice_payload": "v1"}}


def refunded(charge_id: str, stars: int, user: dict = ANN) -> dict:
    return {"id": charge_id, "amount": stars, "date": 1764896400, "receiver": {
        "type": "user", "transaction_type": "invoice_payment", "user": user, "invoice_payload": "v1"}}


def test_invoice_payments_and_their_refunds_are_payments_and_other_transactions_are_not():
    transactions = [paid("stx1", 50), {"id": "w1", "amount": 40, "date": 1764892900, "receiver": {"type": "fragment"}},
                    paid("stx2", 200, {"id": 8, "is_bot": False, "first_name": "Bob"}),
                    {"id": "g1", "amount": 5, "date": 1764893000, "source": {
                        "type": "user", "transaction_type": "gift_purchase", "user": ANN}},
                    refunded("stx1", 50), refunded("stx-unknown", 10)]
    assert charges_of(transactions) == [StarCharge("stx1", 7, 50, refunded=True), StarCharge("stx2", 8, 200)]


def test_a_payer_that_differs_is_a_difference_and_agreement_counts_what_agrees():
    assert differences([StarCharge("stx1", 7, 50)], [StarCharge("stx1", 8, 50)]) == [
        "stx1: paid by user 7 at Telegram, by user 8 in the ledger"]
    same = [StarCharge("stx1", 7, 50), StarCharge("stx2", 8, 1, refunded=True)]
    assert differences(same, list(same)) == []
    assert agreement(same) == "ledger and Telegram agree: 2 payments, 51 Stars, 1 refund"
    assert agreement([]) == "ledger and Telegram agree: 0 payments, 0 Stars, 0 refunds"
