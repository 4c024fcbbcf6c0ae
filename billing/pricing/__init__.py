"""Charge models as pure functions: units, properties and per-event data in, an exact Decimal amount out.

Only `billing.money` and the standard library may be imported here (import-linter checks it).
Amounts are in the plan currency's major unit; the caller rounds each fee once with `money.to_minor`.

One module per charge model (`standard`, `package`, `graduated`, `volume`, `graduated_percentage`,
`percentage`, `dynamic`), each with `price(units, properties, *, event_values, event_amounts_cents,
currency)`, `validate(properties)` and `required_inputs(properties)`; this module registers them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from billing.pricing import dynamic, graduated, graduated_percentage, package, percentage, standard, volume
from billing.pricing.core import (
    CURRENCY,
    EVENT_AMOUNTS_CENTS,
    EVENT_VALUES,
    ChargeModelPrice,
    ChargeResult,
    InvalidProperties,
    MissingInput,
    PricingError,
)

__all__ = [
    "CHARGE_MODELS", "CURRENCY", "EVENT_AMOUNTS_CENTS", "EVENT_VALUES", "ORDER_DEPENDENT", "VALIDATORS",
    "ChargeModelPrice", "ChargeResult", "InvalidProperties", "MissingInput", "PricingError", "price",
    "required_inputs", "validate_properties",
]

_MODULES = (standard, package, graduated, volume, graduated_percentage, percentage, dynamic)

CHARGE_MODELS: dict[str, ChargeModelPrice] = {module.NAME: module.price for module in _MODULES}
VALIDATORS: dict[str, Callable[[Mapping[str, object]], dict[str, list[str]]]] = {
    module.NAME: module.validate for module in _MODULES}
_REQUIRED_INPUTS = {module.NAME: module.required_inputs for module in _MODULES}

# Models whose amount depends on the order of `event_values` (free units go to the first events).
ORDER_DEPENDENT = frozenset({percentage.NAME})


def validate_properties(charge_model: str, properties: object) -> dict[str, list[str]]:
    """Lago's validation reasons for a charge's properties, keyed by field ({} when valid)."""
    if charge_model not in CHARGE_MODELS:
        return {"charge_model": ["value_is_invalid"]}
    if not isinstance(properties, Mapping):
        return {"properties": ["invalid_type"]}
    return VALIDATORS[charge_model](properties)


def required_inputs(charge_model: str, properties: Mapping[str, object]) -> frozenset[str]:
    """What `price` needs besides units for these (valid) properties: a subset of
    {EVENT_VALUES, EVENT_AMOUNTS_CENTS, CURRENCY}, so callers load per-event data only when needed."""
    return _REQUIRED_INPUTS[charge_model](properties)


def price(charge_model: str, units: Decimal, properties: Mapping[str, object], *,
          event_values: Sequence[Decimal] | None = None, event_amounts_cents: Sequence[Decimal] | None = None,
          currency: str | None = None) -> ChargeResult:
    """Price one charge's period usage with its model.

    `units`: the aggregated units. `event_values`: each event's value (its contribution to the units,
    1 per event for count_agg), in timestamp order; used by percentage. `event_amounts_cents`: each
    event's `precise_total_amount_cents`, with the plan's `currency`; used by dynamic. Raises
    `InvalidProperties` for properties `validate_properties` refuses, `MissingInput` when the model
    needs per-event data (see `required_inputs`) that was not passed, KeyError for an unknown model.
    """
    return CHARGE_MODELS[charge_model](units, properties, event_values=event_values,
                                      event_amounts_cents=event_amounts_cents, currency=currency)
