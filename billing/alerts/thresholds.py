"""Which thresholds a measure has reached: pure, no database (tested with worked examples)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

# NOTE: a recurring threshold can be crossed many times between two evaluations (a small step, a burst of
# usage); one evaluation reports at most this many of its values, the highest ones (docs/billing.md, Alerts).
MAX_RECURRING_CROSSINGS = 100


@dataclass(frozen=True)
class Threshold:
    value: Decimal
    code: str | None = None
    recurring: bool = False


@dataclass(frozen=True)
class Crossed:
    value: Decimal
    code: str | None
    recurring: bool


def reached(thresholds: Iterable[Threshold], current: Decimal, *, direction: str = "increasing") -> list[Crossed]:
    """Every threshold value `current` has reached, in the order the measure reaches them.

    NOTE: as Lago's usage monitoring (lago-api UsageMonitoring::Alert#find_thresholds_crossed): increasing, a
    threshold is reached at current >= value; the recurring one's values are the highest other threshold
    (0 without one) plus each whole multiple of its own value. Decreasing (wallet balances), at current <= value,
    the recurring values going down from the lowest other threshold (never below 0).
    Which of them are new is the caller's business (billing.alerts.evaluation keeps what fired per period).
    """
    thresholds = list(thresholds)
    fixed = sorted({t.value for t in thresholds if not t.recurring})
    codes = {t.value: t.code for t in thresholds if not t.recurring}
    step = next((t for t in thresholds if t.recurring and t.value > 0), None)
    increasing = direction == "increasing"
    found = [Crossed(value, codes[value], False) for value in (fixed if increasing else reversed(fixed))
             if (current >= value if increasing else current <= value)]
    if step is not None:
        found += [Crossed(value, step.code, True)
                  for value in _recurring(fixed, step.value, current, increasing) if value not in codes]
    return found


def _recurring(fixed: list[Decimal], step: Decimal, current: Decimal, increasing: bool) -> list[Decimal]:
    if increasing:
        base = fixed[-1] if fixed else Decimal(0)
        count = int((current - base) // step) if current > base else 0
        first = max(count - MAX_RECURRING_CROSSINGS, 0) + 1
        return [base + step * k for k in range(first, count + 1)]
    if not fixed:
        return []  # falling from where? a decreasing recurring threshold counts down from the lowest fixed one
    base = fixed[0]
    count = int((base - max(current, Decimal(0))) // step) if current < base else 0
    count = min(count, int(base // step))  # no value below 0
    first = max(count - MAX_RECURRING_CROSSINGS, 0) + 1
    return [base - step * k for k in range(first, count + 1)]


def value_key(value: Decimal) -> str:
    """A threshold value as one string whatever its trailing zeros (the key of a crossing)."""
    normalized = value.normalize()
    return format(normalized if normalized else Decimal(0), "f")
