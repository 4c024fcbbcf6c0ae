"""Amounts an invoice may hold: one out of range is refused before it is written."""

from __future__ import annotations

from collections.abc import Sequence

from billing.errors import ValidationFailed
from billing.validation import MAX_AMOUNT_CENTS


class AmountOutOfRange(ValidationFailed):
    """A fee or invoice total beyond MAX_AMOUNT_CENTS: that subscription's billing fails with this reason (nothing
    of it is written; the API answers 422, the clock names the subscription and goes on with the others)."""

    def __init__(self, subscription_id: str):
        super().__init__({"base": ["amount_out_of_range"]})
        self.subscription_id = subscription_id

    def __str__(self) -> str:
        return f"subscription {self.subscription_id}: an amount passes {MAX_AMOUNT_CENTS} minor units"


_CHECKED_AMOUNTS = ("amount_cents", "precise_amount_cents", "fees_amount_cents", "taxes_amount_cents",
                    "sub_total_excluding_taxes_amount_cents", "sub_total_including_taxes_amount_cents",
                    "total_amount_cents")


def check_amounts(items: Sequence[object], subscription_id: str) -> None:
    """Raise AmountOutOfRange when an amount of `items` (fees, invoices) passes MAX_AMOUNT_CENTS."""
    for item in items:
        for name in _CHECKED_AMOUNTS:
            value = getattr(item, name, None)
            if value is not None and abs(value) > MAX_AMOUNT_CENTS:
                raise AmountOutOfRange(subscription_id)
