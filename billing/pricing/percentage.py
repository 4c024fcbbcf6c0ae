"""percentage `{rate, fixed_amount, free_units_per_events, free_units_per_total_aggregation,
per_transaction_min_amount, per_transaction_max_amount}` (docs/billing.md, Pricing).

fee = (u − free units) × rate/100 + (events − free events) × fixed_amount, where the free units are
the running total of the first `free_units_per_events` events, capped by
`free_units_per_total_aggregation`. With a per-transaction min or max, each paying event is priced
on its own as clamp(value × rate/100 + fixed_amount, min, max) and the fee is their sum.

Free units are taken from the events in the order given, which must be timestamp order: with free
units per events or per total aggregation the result depends on that order ("the first N events").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing.pricing.core import (
    EVENT_VALUES,
    ZERO,
    ChargeResult,
    MissingInput,
    add_error,
    as_decimals,
    as_units,
    check_amount,
    ensure_valid,
    exact,
    optional_amount,
    per_unit,
    read_count,
    required_amount,
    unit_amount,
)

NAME = "percentage"


def validate(properties: Mapping[str, object]) -> dict[str, list[str]]:
    """Lago's `Charges::Validators::PercentageService` reasons.

    rate ≥ 0 (`invalid_rate`); optional fixed_amount ≥ 0 (`invalid_fixed_amount`), free_units_per_events an
    integer > 0 (`invalid_free_units_per_events`), free_units_per_total_aggregation ≥ 0
    (`invalid_free_units_per_total_aggregation`), per_transaction_min_amount / per_transaction_max_amount ≥ 0
    (`invalid_amount` on that field), and min ≤ max (`per_transaction_max_lower_than_per_transaction_min` on
    per_transaction_max_amount). Lago applies the min/max checks to premium licences only; Tally to everyone.
    """
    errors: dict[str, list[str]] = {}
    check_amount(errors, properties, "rate", "invalid_rate", required=True)
    check_amount(errors, properties, "fixed_amount", "invalid_fixed_amount", required=False)
    raw_events = properties.get("free_units_per_events")
    free_events = read_count(raw_events)
    if raw_events is not None and (free_events is None or free_events <= 0):
        add_error(errors, "free_units_per_events", "invalid_free_units_per_events")
    check_amount(errors, properties, "free_units_per_total_aggregation", "invalid_free_units_per_total_aggregation",
                 required=False)
    check_amount(errors, properties, "per_transaction_min_amount", "invalid_amount", required=False)
    check_amount(errors, properties, "per_transaction_max_amount", "invalid_amount", required=False)
    minimum = optional_amount(properties, "per_transaction_min_amount")
    maximum = optional_amount(properties, "per_transaction_max_amount")
    if minimum is not None and maximum is not None and minimum > maximum:
        add_error(errors, "per_transaction_max_amount", "per_transaction_max_lower_than_per_transaction_min")
    return errors


@dataclass(frozen=True)
class _Terms:
    rate: Decimal
    fixed_amount: Decimal
    free_events: int | None
    free_total: Decimal | None
    minimum: Decimal | None
    maximum: Decimal | None

    @property
    def has_free_units(self) -> bool:
        return self.free_events is not None or self.free_total is not None

    @property
    def per_transaction(self) -> bool:
        return self.minimum is not None or self.maximum is not None

    @property
    def needs_events(self) -> bool:
        return self.has_free_units or self.per_transaction or self.fixed_amount != 0

    def clamp(self, amount: Decimal) -> Decimal:
        if self.minimum is not None and amount < self.minimum:
            return self.minimum
        if self.maximum is not None and amount > self.maximum:
            return self.maximum
        return amount


def _terms(properties: Mapping[str, object]) -> _Terms:
    free_total = optional_amount(properties, "free_units_per_total_aggregation")
    return _Terms(
        rate=required_amount(properties, "rate"),
        fixed_amount=optional_amount(properties, "fixed_amount") or ZERO,
        free_events=read_count(properties.get("free_units_per_events")),
        # NOTE: a zero free_units_per_total_aggregation means no cap, as in Lago's PercentageService and
        # sum aggregation (`free_units_per_total_aggregation.zero?` → the first N events are free whole).
        free_total=free_total or None,
        minimum=optional_amount(properties, "per_transaction_min_amount"),
        maximum=optional_amount(properties, "per_transaction_max_amount"))


def required_inputs(properties: Mapping[str, object]) -> frozenset[str]:
    """`event_values` unless the properties are a bare rate (fixed amount 0, no free units, no min/max)."""
    ensure_valid(NAME, validate(properties))
    return frozenset({EVENT_VALUES}) if _terms(properties).needs_events else frozenset()


@dataclass(frozen=True)
class _Split:
    free_units: Decimal
    free_events: int
    paying_values: list[Decimal]


def _split_free(values: Sequence[Decimal], terms: _Terms) -> _Split:
    """Walk the events in timestamp order, taking free units until the allowance is used up.

    An event is free while it is among the first `free_units_per_events` events and the running total,
    this event included, stays below `free_units_per_total_aggregation`. The event that reaches the cap
    pays on the part of its value above what was left of it; then the allowance is over.
    """
    # NOTE: "below" the cap, strictly: Lago counts free events as running totals `< cap`
    # (PercentageService#free_units_count) and prices an event that reaches the cap exactly as paying
    # (compute_amount_with_transaction_min_max). Unlike Lago's min/max path, the cap stops applying
    # after the first N events when both limits are set: docs/billing.md's "running total of the first
    # free_units_per_events events, capped by free_units_per_total_aggregation", also Lago's
    # free_units_value without min/max.
    remaining_events = terms.free_events
    remaining_total = terms.free_total
    allowance_open = terms.has_free_units
    free_units, free_events, paying = ZERO, 0, []
    for value in values:
        if allowance_open:
            if remaining_events is not None:
                remaining_events -= 1
            if remaining_total is None or value < remaining_total:
                free_units += value
                free_events += 1
                if remaining_total is not None:
                    remaining_total -= value
                allowance_open = remaining_events is None or remaining_events > 0
                continue
            free_units += remaining_total
            value -= remaining_total
            allowance_open = False
        paying.append(value)
    return _Split(free_units=free_units, free_events=free_events, paying_values=paying)


def price(units: Decimal, properties: Mapping[str, object], *, event_values: Sequence[Decimal] | None = None,
          event_amounts_cents: Sequence[Decimal] | None = None, currency: str | None = None) -> ChargeResult:
    """Price `units` at rate % plus fixed amounts; `event_values`: each event's value, in timestamp order.

    `event_values` is needed unless the properties are a bare rate (see `required_inputs`); their sum is
    expected to be `units`. unit_amount at 0 units is rate ÷ 100.
    """
    ensure_valid(NAME, validate(properties))
    units = as_units(units)
    terms = _terms(properties)
    if terms.needs_events and event_values is None:
        raise MissingInput("percentage with fixed_amount, free units or per-transaction min/max needs event_values")
    values = as_decimals(event_values or (), "event_values")
    rate = per_unit(terms.rate)
    with exact():
        split = _split_free(values, terms)
        paid_events = len(split.paying_values)
        fixed_total = paid_events * terms.fixed_amount
        if terms.per_transaction:
            per_unit_total = sum((value * rate for value in split.paying_values), ZERO)
            total = sum((terms.clamp(value * rate + terms.fixed_amount) for value in split.paying_values), ZERO)
        else:
            # NOTE: no negative percentage part: Lago's PercentageService returns 0 when the free units exceed
            # the units.
            per_unit_total = max(units - split.free_units, ZERO) * rate
            total = per_unit_total + fixed_total
        adjustment = total - per_unit_total - fixed_total
    known = event_values is not None
    return ChargeResult(amount=total, units=units, unit_amount=unit_amount(total, units, rate), amount_details={
        "units": units, "free_units": split.free_units, "paid_units": max(units - split.free_units, ZERO),
        "free_events": split.free_events if known else None, "paid_events": paid_events if known else None,
        "rate": terms.rate, "per_unit_total_amount": per_unit_total, "fixed_fee_unit_amount": terms.fixed_amount,
        "fixed_fee_total_amount": fixed_total, "min_max_adjustment_total_amount": adjustment})
