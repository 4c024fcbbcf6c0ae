"""Charge models as pure functions: units and properties in, an exact Decimal amount out.

Only `billing.money` and the standard library may be imported here (import-linter checks it).
Amounts are in the plan currency's major unit; the caller settles them with `money.to_minor`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from billing.money import parse_decimal


@dataclass(frozen=True)
class ChargeResult:
    amount: Decimal
    units: Decimal
    unit_amount: Decimal


def standard(units: Decimal, properties: Mapping[str, object]) -> ChargeResult:
    """Every unit at one price: `units × amount`."""
    amount = parse_decimal(properties.get("amount")) or Decimal(0)
    return ChargeResult(amount=units * amount, units=units, unit_amount=amount)


CHARGE_MODELS: dict[str, Callable[[Decimal, Mapping[str, object]], ChargeResult]] = {
    "standard": standard,
}


def validate_properties(charge_model: str, properties: object) -> dict[str, list[str]]:
    """Lago's validation reasons for a charge's properties, keyed by field ({} when valid)."""
    errors: dict[str, list[str]] = {}
    if charge_model not in CHARGE_MODELS:
        return {"charge_model": ["value_is_invalid"]}
    if not isinstance(properties, Mapping):
        return {"properties": ["invalid_type"]}
    if charge_model == "standard":
        raw = properties.get("amount")
        amount = parse_decimal(raw) if isinstance(raw, str | int) else None
        if raw is None:
            errors["amount"] = ["value_is_mandatory"]
        elif amount is None or amount < 0:
            errors["amount"] = ["invalid_amount"]
    return errors


def price(charge_model: str, units: Decimal, properties: Mapping[str, object]) -> ChargeResult:
    return CHARGE_MODELS[charge_model](units, properties)
