"""dynamic `{}`: fee = Σ `precise_total_amount_cents` of the period's events (docs/billing.md, Pricing).

The caller passes each event's `precise_total_amount_cents` as given (minor units, possibly
fractional) with the plan's `currency`; the amount is converted to major units here with
`billing.money.to_major_precise`, so the caller rounds it once per fee like any other charge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from billing.money import to_major_precise
from billing.pricing.core import (
    CURRENCY,
    EVENT_AMOUNTS_CENTS,
    ZERO,
    ChargeResult,
    MissingInput,
    as_decimals,
    as_units,
    ensure_valid,
    exact,
    unit_amount,
)

NAME = "dynamic"


def validate(properties: Mapping[str, object]) -> dict[str, list[str]]:
    """Nothing to check: the price comes with the events (Lago has no dynamic validator)."""
    return {}


def required_inputs(properties: Mapping[str, object]) -> frozenset[str]:
    return frozenset({EVENT_AMOUNTS_CENTS, CURRENCY})


def price(units: Decimal, properties: Mapping[str, object], *, event_values: Sequence[Decimal] | None = None,
          event_amounts_cents: Sequence[Decimal] | None = None, currency: str | None = None) -> ChargeResult:
    """Sum the events' amounts (cents of `currency`) in major units; unit_amount at 0 units is 0."""
    # NOTE: the sum is billed even when the units add up to 0 (docs/billing.md: "fee = Σ
    # precise_total_amount_cents"); Lago's DynamicService returns 0 when the units are 0.
    ensure_valid(NAME, validate(properties))
    units = as_units(units)
    if event_amounts_cents is None or currency is None:
        raise MissingInput("dynamic pricing needs event_amounts_cents and currency")
    cents = as_decimals(event_amounts_cents, "event_amounts_cents")
    with exact():
        total = to_major_precise(sum(cents, ZERO), currency)
    return ChargeResult(amount=total, units=units, unit_amount=unit_amount(total, units, ZERO))
