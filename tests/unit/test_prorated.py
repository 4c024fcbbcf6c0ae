"""Prorated charges, pure: the units held per local day and their price (docs/billing.md, "Prorated charges")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.metering.aggregation import Fact, GroupUsage, MetricSpec, Partial, UniqueTally, daily_units, units
from billing.money import to_minor
from billing.pricing import prorated
from billing.subscriptions.periods import local_day_cuts

D = Decimal
TIERS = [{"from_value": 0, "to_value": 10, "per_unit_amount": "2", "flat_amount": "1"},
         {"from_value": 10, "to_value": None, "per_unit_amount": "1", "flat_amount": "3"}]
SEATS = MetricSpec("unique_count_agg", recurring=True)
GB = MetricSpec("sum_agg", recurring=True)
START = datetime(2026, 10, 1, tzinfo=UTC)


def _price(model: str, daily: list[int], full: int, days: int, properties: dict) -> tuple[Decimal, int]:
    result = prorated.price(model, [D(u) for u in daily], D(full), days, properties)
    return result.units, to_minor(result.amount, "EUR")


def test_a_unit_held_22_of_31_days():
    # Lago's docs example (a $10 seat added on July 10th): 22/31 = 0.709677… → 0.70968 (rounded up at
    # 5 decimals) × 10 = 7.0968 → 7.10. (The docs print $7.33, which is 22/30: their example miscounts July.)
    assert _price("standard", [0] * 9 + [1] * 22, 1, 31, {"amount": "10"}) == (D("0.70968"), 710)


def test_a_unit_held_every_day_counts_exactly_one():
    assert _price("standard", [3] * 30, 3, 30, {"amount": "10"}) == (D(3), 3000)


def test_graduated_fills_tiers_day_by_day():
    # 5 units for 10 days, then 15 for 20 days, of 30: tier 0–10 holds (5×10 + 10×20)/30 = 8.33334,
    # tier 10–∞ holds 5×20/30 = 3.33334 (each rounded up at 5 decimals); both flat amounts (the most
    # units on a day, 15, reach the second tier): 16.66668 + 1 + 3.33334 + 3 = 24.00002 → 24.00.
    units_, cents = _price("graduated", [5] * 10 + [15] * 20, 15, 30, {"graduated_ranges": TIERS})
    assert (units_, cents) == (D("11.66667"), 2400)


def test_graduated_without_reaching_the_second_tier():
    # 4 units for the last 15 days of 30: 4 × 15/30 = 2 units at 2 + the first flat amount = 5.00.
    assert _price("graduated", [0] * 15 + [4] * 15, 4, 30, {"graduated_ranges": TIERS}) == (D(2), 500)


def test_volume_takes_the_tier_of_the_full_units():
    # Same usage: 11.66667 prorated units all at the price of the tier of 15 full units (1), + its flat 3.
    assert _price("volume", [5] * 10 + [15] * 20, 15, 30, {"volume_ranges": TIERS}) == (D("11.66667"), 1467)


@pytest.mark.parametrize("model,properties", [("standard", {"amount": "10"}),
                                              ("graduated", {"graduated_ranges": TIERS}),
                                              ("volume", {"volume_ranges": TIERS})])
def test_no_unit_held_costs_nothing(model, properties):
    assert _price(model, [0] * 31, 0, 31, properties) == (D(0), 0)


def test_other_models_cannot_be_prorated():
    with pytest.raises(ValueError):
        prorated.price("package", [D(1)], D(1), 30, {"amount": "1", "package_size": 1, "free_units": 0})


def _usage(before: list[Fact], by_day: dict[int, list[Fact]]) -> GroupUsage:
    usage = GroupUsage()
    for fact in before:
        usage.before.add(fact)
        if fact.unique_value is not None:
            usage.unique_before.setdefault(fact.unique_value, UniqueTally()).add(fact)
    for day, facts in by_day.items():
        for fact in facts:
            usage.during.add(fact)
            usage.days.setdefault(day, Partial()).add(fact)
            if fact.unique_value is not None:
                usage.unique_during.setdefault(fact.unique_value, UniqueTally()).add(fact)
                usage.unique_days.setdefault(day, {}).setdefault(fact.unique_value, UniqueTally()).add(fact)
    return usage


def _seat(n: int, day: int, seat: str, operation: str = "add") -> Fact:
    return Fact(id=n, timestamp=START + timedelta(days=day, hours=n), unique_value=seat, operation=operation)


def test_a_seat_counts_from_the_day_it_is_added_to_the_day_it_is_removed():
    usage = _usage([_seat(1, -3, "ann")], {2: [_seat(2, 2, "bob")], 4: [_seat(3, 4, "bob", "remove")],
                                           5: [_seat(4, 5, "cy"), _seat(5, 5, "cy", "remove")]})
    assert daily_units(SEATS, usage, 7) == [D(1), D(1), D(2), D(2), D(2), D(2), D(1)]


def test_a_sum_counts_a_value_from_its_day_and_a_removal_from_its_own_day():
    def gb(n: int, day: int, value: str) -> Fact:
        return Fact(id=n, timestamp=START + timedelta(days=day), value=D(value))

    usage = _usage([gb(1, -1, "10")], {1: [gb(2, 1, "5")], 3: [gb(3, 3, "-15")]})
    assert daily_units(GB, usage, 5) == [D(10), D(15), D(15), D(0), D(0)]


def test_local_days_in_a_half_hour_timezone():
    start = datetime(2026, 9, 30, 18, 30, tzinfo=UTC)  # Oct 1 00:00 in Asia/Kolkata
    cuts = local_day_cuts(start, datetime(2026, 10, 31, 18, 30, tzinfo=UTC), "Asia/Kolkata")
    assert len(cuts) + 1 == 31 and cuts[0] == datetime(2026, 10, 1, 18, 30, tzinfo=UTC)


seat_events = st.lists(st.tuples(st.integers(-5, 29), st.sampled_from("abcdef"), st.booleans()), max_size=30)


@given(events=seat_events, days=st.integers(1, 31))
def test_prorated_seats_never_exceed_the_full_units(events, days):
    """Prorated ≤ full units (seats active at some moment), and equal when every seat is held all period."""
    period_days = 31
    days = min(days, period_days)
    before = [_seat(n, day, seat, "remove" if removed else "add")
              for n, (day, seat, removed) in enumerate(events) if day < 0]
    by_day: dict[int, list[Fact]] = {}
    for n, (day, seat, removed) in enumerate(events):
        if 0 <= day < days:
            by_day.setdefault(day, []).append(_seat(n, day, seat, "remove" if removed else "add"))
    usage = _usage(before, by_day)
    full = units(SEATS, usage, START, START + timedelta(days=days))
    prorated_units = prorated.prorated_units(daily_units(SEATS, usage, days), period_days)
    assert D(0) <= prorated_units <= full
    if days == period_days and not by_day:
        assert prorated_units == full  # nothing changed during the period: every seat held every day


@given(daily=st.lists(st.integers(0, 1000), min_size=1, max_size=31), held=st.integers(0, 1000))
def test_prorated_units_bounds(daily, held):
    period_days = 31
    assert prorated.prorated_units([D(u) for u in daily], period_days) <= max(daily)
    assert prorated.prorated_units([D(held)] * period_days, period_days) == held


@pytest.mark.parametrize(("increase", "days_left", "period_days", "units"), [
    ("1", 20, 31, "0.64517"),  # Lago's scenario: a seat added 12 July bills 20/31, rounded up at 5 decimals
    ("1", 20, 30, "0.66667"),
    ("1", 16, 30, "0.53334"),
    ("2", 31, 31, "2"),  # the whole period: exactly the units
    ("0", 10, 30, "0"),
    ("1", 0, 30, "0"),
])
def test_advance_units_prorate_an_increase_for_the_days_left(increase, days_left, period_days, units):
    assert prorated.advance_units(Decimal(increase), days_left, period_days) == Decimal(units)
