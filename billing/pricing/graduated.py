"""graduated `{graduated_ranges: [{from_value, to_value, per_unit_amount, flat_amount}]}` (docs/billing.md, Pricing).

Each tier prices only the units that fall in it, plus its flat amount once the tier is reached; the
first tier's flat amount is due even at 0 units. Adjacent (0–10, 10–∞) and Lago's older
non-adjacent (0–10, 11–∞) ranges are both accepted; see `billing.pricing.tiers`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from billing.pricing.core import ChargeResult, as_units, ensure_valid, exact, unit_amount
from billing.pricing.tiers import graduate, read_tiers, validate_ranges

NAME = "graduated"
KEY = "graduated_ranges"


def validate(properties: Mapping[str, object]) -> dict[str, list[str]]:
    """Lago's `Charges::Validators::GraduatedService` reasons."""
    errors: dict[str, list[str]] = {}
    validate_ranges(errors, properties, key=KEY, price_field="per_unit_amount", price_reason="invalid_amount")
    return errors


def required_inputs(properties: Mapping[str, object]) -> frozenset[str]:
    return frozenset()


def price(units: Decimal, properties: Mapping[str, object], *, event_values: Sequence[Decimal] | None = None,
          event_amounts_cents: Sequence[Decimal] | None = None, currency: str | None = None) -> ChargeResult:
    """Sum the tiers `units` reaches; unit_amount at 0 units is the first tier's per_unit_amount."""
    ensure_valid(NAME, validate(properties))
    units = as_units(units)
    tiers = read_tiers(properties, key=KEY, price_field="per_unit_amount", percent=False)
    with exact():
        used = graduate(units, tiers)
        total = sum((use.total for use in used), Decimal(0))
    details = [{"from_value": use.tier.from_value, "to_value": use.tier.to_value, "flat_unit_amount": use.flat_amount,
                "per_unit_amount": use.tier.unit_price, "units": use.units, "per_unit_total_amount": use.per_unit_total,
                "total_with_flat_amount": use.total} for use in used]
    return ChargeResult(amount=total, units=units, unit_amount=unit_amount(total, units, tiers[0].unit_price),
                        amount_details={KEY: details})
