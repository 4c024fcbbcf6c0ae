"""package `{amount, package_size, free_units}`: `amount` per started package of `package_size` units.

packages = ceil(max(u − free_units, 0) / package_size); fee = packages × amount (docs/billing.md, Pricing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from billing.pricing.core import (
    ZERO,
    ChargeResult,
    add_error,
    as_units,
    check_amount,
    ensure_valid,
    exact,
    quotient,
    read_count,
    required_amount,
    unit_amount,
)

NAME = "package"


def validate(properties: Mapping[str, object]) -> dict[str, list[str]]:
    """Lago's `Charges::Validators::PackageService`: amount ≥ 0, package_size an integer > 0, free_units ≥ 0."""
    errors: dict[str, list[str]] = {}
    check_amount(errors, properties, "amount", "invalid_amount", required=True)
    raw_size = properties.get("package_size")
    size = read_count(raw_size)
    if raw_size is None:
        add_error(errors, "package_size", "value_is_mandatory")
    elif size is None or size <= 0:
        add_error(errors, "package_size", "invalid_package_size")
    raw_free = properties.get("free_units")
    # NOTE: a missing free_units means none (Lago's PackageService: `properties['free_units'] || 0`);
    # Lago's validator also wants it present, Tally does not insist.
    free = read_count(raw_free)
    if raw_free is not None and (free is None or free < 0):
        add_error(errors, "free_units", "invalid_free_units")
    return errors


def required_inputs(properties: Mapping[str, object]) -> frozenset[str]:
    return frozenset()


def price(units: Decimal, properties: Mapping[str, object], *, event_values: Sequence[Decimal] | None = None,
          event_amounts_cents: Sequence[Decimal] | None = None, currency: str | None = None) -> ChargeResult:
    """Price `units` by started packages after the free units; unit_amount at 0 units is amount ÷ package_size."""
    ensure_valid(NAME, validate(properties))
    units = as_units(units)
    amount = required_amount(properties, "amount")
    size = read_count(properties["package_size"]) or 1  # validated: an integer > 0
    free = read_count(properties.get("free_units")) or 0
    with exact():
        paid_units = max(units - free, ZERO)
        whole, rest = divmod(paid_units, size)  # exact: no float division (Lago's fdiv(...).ceil is binary)
        packages = whole + (1 if rest else 0)
        total = packages * amount
    return ChargeResult(
        amount=total, units=units, unit_amount=unit_amount(total, units, quotient(amount, Decimal(size))),
        amount_details={"free_units": Decimal(free), "paid_units": paid_units, "per_package_size": size,
                        "per_package_unit_amount": amount, "packages": int(packages)})
