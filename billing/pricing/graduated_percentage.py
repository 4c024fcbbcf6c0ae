"""graduated_percentage `{graduated_percentage_ranges: [{from_value, to_value, rate, flat_amount}]}`.

Like graduated, with `rate` percent of the units (an amount) in each tier instead of a price per
unit, plus the tier's flat amount once reached (docs/billing.md, Pricing). The first tier's flat amount is
due even at 0 units, as for graduated (Lago since getlago/lago-api#5760).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from billing.pricing.core import ChargeResult, as_units, ensure_valid, exact, unit_amount
from billing.pricing.tiers import graduate, read_tiers, validate_ranges

NAME = "graduated_percentage"
KEY = "graduated_percentage_ranges"


def validate(properties: Mapping[str, object]) -> dict[str, list[str]]:
    """Lago's `Charges::Validators::GraduatedPercentageService` reasons (rate → `invalid_rate`)."""
    errors: dict[str, list[str]] = {}
    validate_ranges(errors, properties, key=KEY, price_field="rate", price_reason="invalid_rate")
    return errors


def required_inputs(properties: Mapping[str, object]) -> frozenset[str]:
    return frozenset()


def price(units: Decimal, properties: Mapping[str, object], *, event_values: Sequence[Decimal] | None = None,
          event_amounts_cents: Sequence[Decimal] | None = None, currency: str | None = None) -> ChargeResult:
    """Sum rate% of each tier's units plus reached flat amounts; unit_amount at 0 units is the first rate ÷ 100."""
    ensure_valid(NAME, validate(properties))
    units = as_units(units)
    tiers = read_tiers(properties, key=KEY, price_field="rate", percent=True)
    with exact():
        used = graduate(units, tiers)
        total = sum((use.total for use in used), Decimal(0))
    details = [{"from_value": use.tier.from_value, "to_value": use.tier.to_value, "flat_unit_amount": use.flat_amount,
                "rate": use.tier.raw_price, "units": use.units, "per_unit_total_amount": use.per_unit_total,
                "total_with_flat_amount": use.total} for use in used]
    return ChargeResult(amount=total, units=units, unit_amount=unit_amount(total, units, tiers[0].unit_price),
                        amount_details={KEY: details})
