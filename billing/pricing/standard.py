"""standard `{amount}`: every unit at one price, `units × amount` (docs/billing.md, Pricing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from billing.pricing.core import ChargeResult, as_units, check_amount, ensure_valid, exact, required_amount

NAME = "standard"


def validate(properties: Mapping[str, object]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    check_amount(errors, properties, "amount", "invalid_amount", required=True)
    return errors


def required_inputs(properties: Mapping[str, object]) -> frozenset[str]:
    return frozenset()


def price(units: Decimal, properties: Mapping[str, object], *, event_values: Sequence[Decimal] | None = None,
          event_amounts_cents: Sequence[Decimal] | None = None, currency: str | None = None) -> ChargeResult:
    """Price `units` at `amount` each; unit_amount is always `amount`."""
    ensure_valid(NAME, validate(properties))
    units = as_units(units)
    amount = required_amount(properties, "amount")
    with exact():
        return ChargeResult(amount=units * amount, units=units, unit_amount=amount)
