"""volume `{volume_ranges: [{from_value, to_value, per_unit_amount, flat_amount}]}` (docs/billing.md, Pricing).

All units at the per-unit price of the one tier `u` falls in, plus that tier's flat amount. At 0
units that is the first tier: its flat amount is due (Lago since getlago/lago-api#5760).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from billing.pricing.core import ZERO, ChargeResult, as_units, ensure_valid, exact, unit_amount
from billing.pricing.tiers import read_tiers, validate_ranges, volume_tier

NAME = "volume"
KEY = "volume_ranges"


def validate(properties: Mapping[str, object]) -> dict[str, list[str]]:
    """Lago's `Charges::Validators::VolumeService` reasons."""
    errors: dict[str, list[str]] = {}
    validate_ranges(errors, properties, key=KEY, price_field="per_unit_amount", price_reason="invalid_amount")
    return errors


def required_inputs(properties: Mapping[str, object]) -> frozenset[str]:
    return frozenset()


def price(units: Decimal, properties: Mapping[str, object], *, event_values: Sequence[Decimal] | None = None,
          event_amounts_cents: Sequence[Decimal] | None = None, currency: str | None = None) -> ChargeResult:
    """Price all `units` in their tier (negative units count as 0); unit_amount at 0 units is tier 1's price."""
    ensure_valid(NAME, validate(properties))
    units = as_units(units)
    tiers = read_tiers(properties, key=KEY, price_field="per_unit_amount", percent=False)
    counted = max(units, ZERO)
    tier = volume_tier(counted, tiers)
    with exact():
        per_unit_total = counted * tier.unit_price
        total = per_unit_total + tier.flat_amount
    return ChargeResult(
        amount=total, units=units, unit_amount=unit_amount(total, units, tiers[0].unit_price),
        amount_details={"from_value": tier.from_value, "to_value": tier.to_value, "flat_unit_amount": tier.flat_amount,
                        "per_unit_amount": tier.unit_price, "per_unit_total_amount": per_unit_total})
