"""A wallet's recurring top-up rules in words (wording.wallets)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

from wording.wallets import describe_rule


def rule(**fields):
    defaults = dict(trigger="interval", interval="monthly", method="fixed", threshold_credits=None,
                    target_ongoing_balance=None, paid_credits=Decimal(0), granted_credits=Decimal(0),
                    grants_target_top_up=None, expiration_at=None)
    return SimpleNamespace(**{**defaults, **fields})


def test_a_monthly_purchase_and_gift():
    text = describe_rule(rule(paid_credits=Decimal(10), granted_credits=Decimal(5)), rate=Decimal("1.5"),
                         currency="EUR")
    assert text == "Every month: 10 credits (€15.00) bought and 5 credits offered."


def test_a_threshold_top_up_to_a_target_until_a_day():
    text = describe_rule(rule(trigger="threshold", interval=None, method="target", threshold_credits=Decimal(20),
                              target_ongoing_balance=Decimal(100), grants_target_top_up=False,
                              expiration_at=datetime(2027, 1, 1, tzinfo=UTC)), rate=Decimal(1), currency="EUR")
    assert text == ("When your balance after current usage falls to 20 credits: topped up to 100 credits. "
                    "Until 1 Jan 2027.")


def test_free_target_top_ups_say_so():
    text = describe_rule(rule(interval="weekly", method="target", target_ongoing_balance=Decimal(50),
                              grants_target_top_up=True), rate=Decimal(1), currency="USD")
    assert text == "Every week: topped up with free credits to 50 credits."
