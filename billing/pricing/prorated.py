"""Prorated charges: each unit priced for the share of the period's days it was held (docs/billing.md).

Input: the units held on each local day of the billed part of the period (`daily`), the days of the
whole period, the full (unprorated) units, and the charge's properties. Only `standard`, `graduated`
and `volume` can be prorated (Lago's rule). Amounts are exact in major units; the caller rounds once
per fee.

- Prorated units = Σ held units per day / days of the period, rounded UP at 5 decimals (Lago's
  `ceil(5)`). A unit held every day of the period counts 1; held 22 of 31 days, 0.70968.
- standard: prorated units × amount.
- volume: the tier is the one the FULL units fall in; all prorated units at its price, plus its
  flat amount (not prorated).
- graduated: the units held on a day fill the tiers from the bottom; each tier bills the prorated
  units it holds (Σ over days of the day's units in the tier / days of the period, rounded up at 5
  decimals per tier) at its price, plus the flat amount of every tier the most units held on one day
  reach (not prorated).
- No unit held on any day (0 prorated units): nothing is due, not even a flat amount.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from billing.pricing import graduated, standard, volume
from billing.pricing.core import (
    ZERO,
    ChargeResult,
    as_decimals,
    as_units,
    ensure_valid,
    exact,
    required_amount,
    unit_amount,
)
from billing.pricing.tiers import graduate, read_tiers, volume_tier

MODELS = (standard.NAME, graduated.NAME, volume.NAME)


def prorated_units(daily: Sequence[Decimal], period_days: int) -> Decimal:
    """Σ units held per day ÷ days of the period, rounded up at 5 decimals (Lago's ceil(5))."""
    daily = as_decimals(daily, "daily")
    if period_days <= 0:
        raise ValueError("a period has at least one day")
    return _ceil5(sum((max(units, ZERO) for units in daily), ZERO), period_days)


def advance_units(increase: Decimal, days_left: int, period_days: int) -> Decimal:
    """The prorated units of a pay-in-advance increase: units × days left in the period (the event's day
    included) ÷ days of the period, rounded up at 5 decimals (Lago's pay-in-advance proration coefficient
    and `ceil(5)`). 1 seat added with 20 of 31 days left: 0.64517."""
    if period_days <= 0:
        raise ValueError("a period has at least one day")
    return _ceil5(max(as_units(increase), ZERO) * max(days_left, 0), period_days)


def _ceil5(total: Decimal, period_days: int) -> Decimal:
    # Exact: total and period_days are finite, so (total × 10^5) ÷ days is a rational number whose
    # ceiling is computed with integers, never a rounded float or a truncated Decimal quotient.
    numerator, denominator = (total * 100_000).as_integer_ratio()
    denominator *= period_days
    return Decimal(-(-numerator // denominator)).scaleb(-5)


def price(charge_model: str, daily: Sequence[Decimal], full_units: Decimal, period_days: int,
          properties: Mapping[str, object]) -> ChargeResult:
    """Price a prorated charge; `ChargeResult.units` are the prorated units."""
    if charge_model not in MODELS:
        raise ValueError(f"{charge_model} charges cannot be prorated")
    daily = [max(units, ZERO) for units in as_decimals(daily, "daily")]
    full_units = as_units(full_units)
    units = prorated_units(daily, period_days)
    if charge_model == standard.NAME:
        ensure_valid(standard.NAME, standard.validate(properties))
        amount = required_amount(properties, "amount")
        with exact():
            total = units * amount
        return ChargeResult(amount=total, units=units, unit_amount=amount,
                            amount_details={"prorated": True, "full_units": full_units})
    if charge_model == volume.NAME:
        ensure_valid(volume.NAME, volume.validate(properties))
        tiers = read_tiers(properties, key=volume.KEY, price_field="per_unit_amount", percent=False)
        tier = volume_tier(max(full_units, ZERO), tiers)
        with exact():
            per_unit_total = units * tier.unit_price
            total = per_unit_total + tier.flat_amount if units > 0 else ZERO
        return ChargeResult(
            amount=total, units=units, unit_amount=unit_amount(total, units, tiers[0].unit_price),
            amount_details={"prorated": True, "full_units": full_units, "from_value": tier.from_value,
                            "to_value": tier.to_value, "flat_unit_amount": tier.flat_amount,
                            "per_unit_amount": tier.unit_price, "per_unit_total_amount": per_unit_total})
    ensure_valid(graduated.NAME, graduated.validate(properties))
    tiers = read_tiers(properties, key=graduated.KEY, price_field="per_unit_amount", percent=False)
    if units == 0:
        return ChargeResult(amount=ZERO, units=units, unit_amount=tiers[0].unit_price,
                            amount_details={"prorated": True, "full_units": full_units, graduated.KEY: []})
    held_in_tier = [ZERO] * len(tiers)  # Σ over days of the units held in each tier
    with exact():
        for units_on_day in daily:
            for index, use in enumerate(graduate(units_on_day, tiers)):
                held_in_tier[index] += use.units
        reached = graduate(max(daily, default=ZERO), tiers)
        details, total = [], ZERO
        for index, tier in enumerate(tiers):
            in_tier = _ceil5(held_in_tier[index], period_days)
            flat = tier.flat_amount if index < len(reached) else ZERO
            if in_tier == 0 and index >= len(reached):
                continue
            per_unit_total = in_tier * tier.unit_price
            total += per_unit_total + flat
            details.append({"from_value": tier.from_value, "to_value": tier.to_value, "flat_unit_amount": flat,
                            "per_unit_amount": tier.unit_price, "units": in_tier,
                            "per_unit_total_amount": per_unit_total, "total_with_flat_amount": per_unit_total + flat})
    return ChargeResult(amount=total, units=units, unit_amount=unit_amount(total, units, tiers[0].unit_price),
                        amount_details={"prorated": True, "full_units": full_units, graduated.KEY: details})
