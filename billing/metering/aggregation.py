"""Aggregation of a metric's events into units: pure functions, no database.

Events reach this module as `Fact`s (what the metric made of each event at ingestion). A set of
facts is summarised by a `Partial`, and partials combine associatively, which is what lets the
rollup tables answer for whole hours while raw events answer for the rest: the combination is the
same whichever way the facts were grouped. `reference_units` computes the same result the
straightforward way, from the facts alone, and the tests hold the two equal.

Semantics (docs/billing.md, Metering, with the choices made where Lago is silent):
- count_agg: number of events; sum_agg / custom_agg: sum of values; max_agg: largest value (0 if
  none); latest_agg: value of the latest event by timestamp (ties: the later ingested), never
  below 0; weighted_sum_agg: time-weighted average of the running total over the period;
  unique_count_agg: distinct values active during the period.
- Recurring metrics (sum, weighted_sum, unique_count) start the period with what the events
  before it added up to.
- Prorated charges (docs/billing.md, "Prorated charges") need the units held on each local day of
  the period: `daily_units` computes them from the per-day partials of `GroupUsage.days`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from billing.money import EXACT, parse_decimal

AGGREGATIONS = ("count_agg", "sum_agg", "max_agg", "unique_count_agg", "latest_agg", "weighted_sum_agg",
                "custom_agg")
RECURRING_AGGREGATIONS = ("sum_agg", "unique_count_agg", "weighted_sum_agg", "custom_agg")
NEEDS_FIELD = ("sum_agg", "max_agg", "unique_count_agg", "latest_agg", "weighted_sum_agg")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_seconds(moment: datetime) -> Decimal:
    """Exact Unix time of `moment` (microseconds kept), for the weighted sum."""
    delta = moment - EPOCH
    return EXACT.add(Decimal(delta.days * 86400 + delta.seconds), Decimal(delta.microseconds).scaleb(-6, EXACT))


@dataclass(frozen=True)
class Fact:
    id: int
    timestamp: datetime
    value: Decimal | None = None
    unique_value: str | None = None
    operation: str = "add"
    group_key: str = ""


@dataclass
class Partial:
    """A combinable summary of a set of facts of one group. Sums never round (`money.EXACT`): the same facts give
    the same sums to the last digit however they were grouped (rollups, raw events, another store)."""

    events_count: int = 0
    value_sum: Decimal = Decimal(0)
    value_max: Decimal | None = None
    value_time_sum: Decimal = Decimal(0)
    latest: tuple[datetime, int, Decimal] | None = None  # (timestamp, event id, value)

    def add(self, fact: Fact) -> None:
        value = fact.value if fact.value is not None else Decimal(0)
        self.merge(Partial(events_count=1, value_sum=value, value_max=value,
                           value_time_sum=EXACT.multiply(value, epoch_seconds(fact.timestamp)),
                           latest=(fact.timestamp, fact.id, value)))

    def merge(self, other: Partial) -> None:
        self.events_count += other.events_count
        self.value_sum = EXACT.add(self.value_sum, other.value_sum)
        self.value_time_sum = EXACT.add(self.value_time_sum, other.value_time_sum)
        if other.value_max is not None and (self.value_max is None or other.value_max > self.value_max):
            self.value_max = other.value_max
        if other.latest is not None and (self.latest is None or other.latest[:2] > self.latest[:2]):
            self.latest = other.latest


@dataclass
class UniqueTally:
    """One unique value's additions and removals, and its last operation."""

    adds: int = 0
    removes: int = 0
    last: tuple[datetime, int, str] | None = None  # (timestamp, event id, operation)

    def add(self, fact: Fact) -> None:
        self.merge(UniqueTally(adds=int(fact.operation != "remove"), removes=int(fact.operation == "remove"),
                               last=(fact.timestamp, fact.id, fact.operation)))

    def merge(self, other: UniqueTally) -> None:
        self.adds += other.adds
        self.removes += other.removes
        if other.last is not None and (self.last is None or other.last[:2] > self.last[:2]):
            self.last = other.last


@dataclass
class GroupUsage:
    """What one filter combination of one metric did before and during a period."""

    during: Partial = field(default_factory=Partial)
    before: Partial = field(default_factory=Partial)  # only for recurring metrics
    unique_during: dict[str, UniqueTally] = field(default_factory=dict)
    unique_before: dict[str, UniqueTally] = field(default_factory=dict)
    # Only when read per local day (prorated charges): `during` split by day index of the period.
    days: dict[int, Partial] = field(default_factory=dict)
    unique_days: dict[int, dict[str, UniqueTally]] = field(default_factory=dict)

    def merge(self, other: GroupUsage) -> None:
        self.during.merge(other.during)
        self.before.merge(other.before)
        for day, partial in other.days.items():
            self.days.setdefault(day, Partial()).merge(partial)
        pairs = [(self.unique_during, other.unique_during), (self.unique_before, other.unique_before)]
        pairs += [(self.unique_days.setdefault(day, {}), tallies) for day, tallies in other.unique_days.items()]
        for mine, theirs in pairs:
            for value, tally in theirs.items():
                mine.setdefault(value, UniqueTally()).merge(tally)


@dataclass(frozen=True)
class MetricSpec:
    """What aggregation needs to know of a billable metric."""

    aggregation_type: str
    recurring: bool = False
    rounding_function: str | None = None
    rounding_precision: int | None = None


def units(spec: MetricSpec, usage: GroupUsage, start: datetime, end: datetime) -> Decimal:
    """The period's units from its combined usage (rounded as the metric says)."""
    return apply_rounding(_raw_units(spec, usage, start, end), spec.rounding_function, spec.rounding_precision)


def _raw_units(spec: MetricSpec, usage: GroupUsage, start: datetime, end: datetime) -> Decimal:
    kind = spec.aggregation_type
    during = usage.during
    if kind == "count_agg":
        return Decimal(during.events_count)
    if kind in ("sum_agg", "custom_agg"):
        return during.value_sum + (usage.before.value_sum if spec.recurring else 0)
    if kind == "max_agg":
        return during.value_max if during.value_max is not None else Decimal(0)
    if kind == "latest_agg":
        # NOTE: Lago never bills a negative latest value: it counts as 0 (docs/billing.md, Metering).
        return max(during.latest[2], Decimal(0)) if during.latest else Decimal(0)
    if kind == "weighted_sum_agg":
        seconds = epoch_seconds(end) - epoch_seconds(start)
        if seconds <= 0:
            return Decimal(0)
        initial = usage.before.value_sum if spec.recurring else Decimal(0)
        # Σ over events of value × (end − t) = end × Σ value − Σ value × t: each event's delta
        # weighs for the time left in the period, the initial total for all of it.
        area = initial * seconds + epoch_seconds(end) * during.value_sum - during.value_time_sum
        return area / seconds
    if kind == "unique_count_agg":
        active = {value for value, tally in usage.unique_during.items() if tally.adds > 0}
        if spec.recurring:
            # NOTE: a value added before the period and not removed since is active during it, as
            # a seat is billed for each period it is held.
            active |= {value for value, tally in usage.unique_before.items()
                       if tally.last is not None and tally.last[2] != "remove"}
        return Decimal(len(active))
    raise ValueError(f"unknown aggregation type {kind!r}")


PRORATABLE_AGGREGATIONS = ("sum_agg", "custom_agg", "unique_count_agg")


def daily_units(spec: MetricSpec, usage: GroupUsage, days: int) -> list[Decimal]:
    """The units held on each of the `days` local days of the period, from `usage.days` (prorated charges).

    sum_agg / custom_agg: the running total at the end of the day (the recurring total before the
    period, plus every value up to that day's end): a value counts from the day it is sent, and a
    negative value (a removal) stops counting on its own day. unique_count_agg: the values held at
    some moment of the day: held when it starts (added before and not removed since) or added
    during it, so a value removed on a day still counts that day. Never below 0. Unrounded: the
    metric's rounding applies to the full units only.
    """
    # NOTE: Lago's prorated aggregations: a sum's value × (days from its day to the period's end,
    # both counted) / days of the period; a unique value for the days from its addition to its
    # removal, both counted (lago-api BillableMetrics::ProratedAggregations, docs/billing.md).
    # Σ over days of the day's running total is that same Σ value × days, read one day at a time.
    kind = spec.aggregation_type
    if kind not in PRORATABLE_AGGREGATIONS:
        raise ValueError(f"{kind} cannot be prorated")
    held: list[Decimal] = []
    if kind == "unique_count_agg":
        state = {value for value, tally in usage.unique_before.items()
                 if spec.recurring and tally.last is not None and tally.last[2] != "remove"}
        for day in range(days):
            tallies = usage.unique_days.get(day, {})
            on_day = state | {value for value, tally in tallies.items() if tally.adds > 0}
            held.append(Decimal(len(on_day)))
            for value, tally in tallies.items():
                if tally.last is not None:
                    (state.discard if tally.last[2] == "remove" else state.add)(value)
        return held
    running = usage.before.value_sum if spec.recurring else Decimal(0)
    for day in range(days):
        partial = usage.days.get(day)
        if partial is not None:
            running += partial.value_sum
        held.append(max(running, Decimal(0)))
    return held


def reference_daily_units(spec: MetricSpec, facts: Iterable[Fact], start: datetime, end: datetime,
                          cuts: list[datetime], subscription_start: datetime) -> list[Decimal]:
    """`daily_units` the naive way from every raw fact, for [start, end) cut at local midnights `cuts` (the oracle)."""
    facts = sorted(facts, key=lambda f: (f.timestamp, f.id))
    days = len(cuts) + 1
    ends = [*cuts, end]
    held = []
    for day in range(days):
        day_start = start if day == 0 else cuts[day - 1]
        upto = [f for f in facts if (subscription_start if spec.recurring else start) <= f.timestamp < ends[day]]
        if spec.aggregation_type == "unique_count_agg":
            state: dict[str, str] = {}
            for fact in upto:
                if fact.timestamp < day_start:
                    state[fact.unique_value] = fact.operation
            on_day = {v for v, op in state.items() if op != "remove"}
            on_day |= {f.unique_value for f in upto if f.timestamp >= day_start and f.operation != "remove"}
            held.append(Decimal(len(on_day)))
        else:
            held.append(max(sum((f.value or Decimal(0) for f in upto), Decimal(0)), Decimal(0)))
    return held


def apply_rounding(value: Decimal, function: str | None, precision: int | None) -> Decimal:
    if not function:
        return value
    quantum = Decimal(1).scaleb(-(precision or 0))
    mode = {"round": ROUND_HALF_UP, "ceil": ROUND_CEILING, "floor": ROUND_FLOOR}[function]
    return value.quantize(quantum, rounding=mode)


def reference_units(spec: MetricSpec, facts: Iterable[Fact], start: datetime, end: datetime,
                    subscription_start: datetime) -> Decimal:
    """The period's units computed the naive way from every raw fact (the oracle for the rollups)."""
    facts = sorted(facts, key=lambda f: (f.timestamp, f.id))
    during = [f for f in facts if start <= f.timestamp < end]
    before = [f for f in facts if subscription_start <= f.timestamp < start] if spec.recurring else []
    kind = spec.aggregation_type
    values = [f.value if f.value is not None else Decimal(0) for f in during]
    if kind == "count_agg":
        result = Decimal(len(during))
    elif kind in ("sum_agg", "custom_agg"):
        result = sum(values, Decimal(0)) + sum((f.value or Decimal(0) for f in before), Decimal(0))
    elif kind == "max_agg":
        result = max(values, default=Decimal(0))
    elif kind == "latest_agg":
        result = max(values[-1], Decimal(0)) if values else Decimal(0)
    elif kind == "weighted_sum_agg":
        running = sum((f.value or Decimal(0) for f in before), Decimal(0))
        area, cursor = Decimal(0), start
        for fact in during:
            area += running * (epoch_seconds(fact.timestamp) - epoch_seconds(cursor))
            running += fact.value or Decimal(0)
            cursor = fact.timestamp
        area += running * (epoch_seconds(end) - epoch_seconds(cursor))
        seconds = epoch_seconds(end) - epoch_seconds(start)
        result = area / seconds if seconds > 0 else Decimal(0)
    elif kind == "unique_count_agg":
        state: dict[str, str] = {}
        for fact in before:
            state[fact.unique_value] = fact.operation
        active = {v for v, op in state.items() if op != "remove"}
        active |= {f.unique_value for f in during if f.operation != "remove"}
        result = Decimal(len(active))
    else:
        raise ValueError(kind)
    return apply_rounding(result, spec.rounding_function, spec.rounding_precision)


# ---------------------------------------------------------------- from an event to a fact


def numeric_value(properties: Mapping[str, object] | None, field_name: str | None) -> Decimal:
    """The event's value for `field_name`; missing or non-numeric counts as 0 (Lago's behaviour)."""
    if not properties or not field_name:
        return Decimal(0)
    value = parse_decimal(properties.get(field_name))
    return value if value is not None else Decimal(0)


def group_key(properties: Mapping[str, object] | None, filter_keys: Iterable[str]) -> str:
    """The event's values for the metric's filter keys, as a canonical string ('' when it has none)."""
    if not properties:
        return ""
    present = {key: _as_filter_value(properties[key]) for key in sorted(filter_keys) if key in properties}
    return json.dumps(present, separators=(",", ":"), sort_keys=True) if present else ""


def group_values(key: str) -> dict[str, str]:
    return json.loads(key) if key else {}


def _as_filter_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def matching_filter(values: Mapping[str, str], filters: Iterable[tuple[str, Mapping[str, list[str]]]]) -> str | None:
    """The id of the charge filter an event belongs to: the matching one with the most keys (docs/billing.md)."""
    best: tuple[int, str] | None = None
    for filter_id, wanted in filters:
        if all(values.get(key) in allowed for key, allowed in wanted.items()):
            if best is None or len(wanted) > best[0]:
                best = (len(wanted), filter_id)
    return best[1] if best else None
