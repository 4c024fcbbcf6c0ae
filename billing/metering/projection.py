"""What a period will cost at today's pace: pure, no database (the portal's estimate for the current period).

NOTE: the pace is linear on the time elapsed in the period: units that accumulate (counted events, summed
values of a non-recurring metric) are projected to the period's end as `units × period ÷ elapsed`, then priced
by the charge's own model, so that tiers, packages and free units apply to the projected units (scaling the
amount instead would keep a graduated charge's free tier free all period). Units that do not accumulate (a
maximum, the latest value, a unique count, a recurring metric's units carried from period to period) are what
the period will bill if nothing changes: they stay as they are. The first day counts as a whole day elapsed,
so that the first minutes' pace is not multiplied by tens of thousands.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from billing import pricing

# Aggregations whose units grow with every event of the period (when the metric is not recurring).
ACCUMULATING = frozenset({"count_agg", "sum_agg", "custom_agg"})
LEAST_ELAPSED = timedelta(days=1)


def pace(*, elapsed: timedelta, period: timedelta) -> Decimal:
    """How many times the elapsed part fits in the whole period (1 once it is over)."""
    if period <= timedelta(0):
        return Decimal(1)
    elapsed = min(max(elapsed, LEAST_ELAPSED), period)
    return Decimal(int(period.total_seconds())) / Decimal(int(elapsed.total_seconds()))


def projected_units(units: Decimal, *, aggregation_type: str, recurring: bool, elapsed: timedelta,
                    period: timedelta) -> Decimal:
    """The units the period will end with at today's pace."""
    if recurring or aggregation_type not in ACCUMULATING:
        return units
    return units * pace(elapsed=elapsed, period=period)


def projected_amount(*, charge_model: str, properties: Mapping[str, object], units: Decimal, amount: Decimal,
                     aggregation_type: str, recurring: bool, elapsed: timedelta, period: timedelta,
                     currency: str) -> Decimal:
    """The charge's amount (major units, unrounded) at the period's end at today's pace.

    `units`, `amount`: the period's so far. A model that prices events one by one (percentage with per-transaction
    fees, dynamic) cannot be priced on units alone: its amount so far is scaled by the pace instead, each event
    costing what today's did.
    """
    if pricing.required_inputs(charge_model, properties) & {pricing.EVENT_VALUES, pricing.EVENT_AMOUNTS_CENTS}:
        accumulating = not recurring and aggregation_type in ACCUMULATING
        return amount * pace(elapsed=elapsed, period=period) if accumulating else amount
    future = projected_units(units, aggregation_type=aggregation_type, recurring=recurring, elapsed=elapsed,
                             period=period)
    return pricing.price(charge_model, future, properties, currency=currency).amount
