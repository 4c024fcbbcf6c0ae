"""What every charge model shares: the result type, strict reading of properties, exact arithmetic."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow, localcontext
from typing import Protocol

from billing.money import parse_decimal

ZERO = Decimal(0)

# Inputs a model may need besides units and properties (see `required_inputs` of each model).
EVENT_VALUES = "event_values"
EVENT_AMOUNTS_CENTS = "event_amounts_cents"
CURRENCY = "currency"

# NOTE: amounts stay exact until the caller rounds once per fee (ARCHITECTURE.md, house rule 1):
# 1,000 significant digits hold any sum or product of NUMERIC(40,15) values, and an inexact step
# raises `decimal.Inexact` instead of rounding silently.
_EXACT = Context(prec=1000, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
# `unit_amount` is a quotient (amount ÷ units) shown next to the fee, not summed: 28 digits suffice.
_QUOTIENT = Context(prec=28, traps=[InvalidOperation, DivisionByZero, Overflow])


@dataclass(frozen=True)
class ChargeResult:
    """One charge's price for a period: exact `amount` in major units, before the per-fee rounding.

    `unit_amount` is amount ÷ units when units > 0, else the model's nominal unit price.
    `amount_details` uses the keys of Lago's fee `amount_details` (Decimal values, ints for counts).
    """

    amount: Decimal
    units: Decimal
    unit_amount: Decimal
    amount_details: Mapping[str, object] = field(default_factory=dict, hash=False)


class PricingError(ValueError):
    """A charge cannot be priced with what the caller gave."""


class InvalidProperties(PricingError):
    """The properties fail `validate_properties`; price only what validation accepted."""

    def __init__(self, charge_model: str, errors: Mapping[str, list[str]]):
        super().__init__(f"invalid {charge_model} properties: {dict(errors)}")
        self.charge_model = charge_model
        self.errors = dict(errors)


class MissingInput(PricingError):
    """The model needs per-event data (or a currency) that the caller did not pass."""


class ChargeModelPrice(Protocol):
    def __call__(self, units: Decimal, properties: Mapping[str, object], *,
                 event_values: Sequence[Decimal] | None = None,
                 event_amounts_cents: Sequence[Decimal] | None = None,
                 currency: str | None = None) -> ChargeResult: ...


@contextmanager
def exact() -> Iterator[None]:
    """Decimal arithmetic that never rounds (it raises instead)."""
    with localcontext(_EXACT):
        yield


def per_unit(rate_in_percent: Decimal) -> Decimal:
    """A rate in percent as a fraction of one (2.5 → 0.025), exactly."""
    with exact():
        return rate_in_percent.scaleb(-2)


def quotient(amount: Decimal, units: Decimal) -> Decimal:
    with localcontext(_QUOTIENT):
        return amount / units


def unit_amount(amount: Decimal, units: Decimal, nominal: Decimal) -> Decimal:
    """amount ÷ units when units > 0, else the model's nominal unit price."""
    return quotient(amount, units) if units > 0 else nominal


def read_decimal(value: object) -> Decimal | None:
    """A finite Decimal from a decimal string, an int or a Decimal; None otherwise.

    Floats are refused: Lago's API takes amounts as strings so that no binary rounding creeps in
    (`Validators::DecimalAmountService` accepts only strings; Tally also accepts JSON integers).
    """
    if isinstance(value, bool | float) or not isinstance(value, str | int | Decimal):
        return None
    return parse_decimal(value)


def read_amount(value: object) -> Decimal | None:
    """A non-negative decimal (Lago's `valid_amount?`), or None."""
    parsed = read_decimal(value)
    return parsed if parsed is not None and parsed >= 0 else None


def read_count(value: object) -> int | None:
    """An integer from a JSON integer or a string of digits (as `billing.validation.Checker.integer`)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def as_units(units: object) -> Decimal:
    if isinstance(units, bool) or not isinstance(units, Decimal | int):
        raise TypeError(f"units must be a Decimal, not {type(units).__name__}")
    units = Decimal(units)
    if not units.is_finite():
        raise ValueError(f"units must be finite, not {units}")
    return units


def as_decimals(values: Sequence[object], name: str) -> list[Decimal]:
    decimals = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, Decimal | int) or not Decimal(value).is_finite():
            raise TypeError(f"{name} must be finite Decimals, got {value!r}")
        decimals.append(Decimal(value))
    return decimals


def add_error(errors: dict[str, list[str]], field_name: str, reason: str) -> None:
    reasons = errors.setdefault(field_name, [])
    if reason not in reasons:
        reasons.append(reason)


def check_amount(errors: dict[str, list[str]], properties: Mapping[str, object], field_name: str, reason: str, *,
                 required: bool) -> None:
    """A non-negative decimal property; absent (or null) → `value_is_mandatory` when required."""
    raw = properties.get(field_name)
    if raw is None:
        if required:
            add_error(errors, field_name, "value_is_mandatory")
        return
    if read_amount(raw) is None:
        add_error(errors, field_name, reason)


def ensure_valid(charge_model: str, errors: Mapping[str, list[str]]) -> None:
    if errors:
        raise InvalidProperties(charge_model, errors)


def optional_amount(properties: Mapping[str, object], field_name: str) -> Decimal | None:
    raw = properties.get(field_name)
    return None if raw is None else read_amount(raw)


def required_amount(properties: Mapping[str, object], field_name: str) -> Decimal:
    """A validated non-negative decimal property."""
    amount = read_amount(properties.get(field_name))
    if amount is None:
        raise ValueError(f"{field_name} is not a non-negative decimal")  # validation refuses it first
    return amount
