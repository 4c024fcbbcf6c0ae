"""The current period's estimate: units at today's pace, priced by the charge's model (billing.metering.projection)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from billing.metering.projection import pace, projected_amount, projected_units

DAY = timedelta(days=1)
MONTH = 30 * DAY
GRADUATED = {"graduated_ranges": [
    {"from_value": 0, "to_value": 100, "per_unit_amount": "0", "flat_amount": "0"},
    {"from_value": 100, "to_value": None, "per_unit_amount": "0.10", "flat_amount": "5"}]}


def estimate(units: str, amount: str, *, model="standard", properties=None, aggregation="count_agg",
             recurring=False, elapsed=10 * DAY) -> Decimal:
    return projected_amount(charge_model=model, properties=properties or {"amount": "0.05"}, units=Decimal(units),
                            amount=Decimal(amount), aggregation_type=aggregation, recurring=recurring,
                            elapsed=elapsed, period=MONTH, currency="EUR")


def test_standard_charge_triples_after_a_third_of_the_period():
    assert pace(elapsed=10 * DAY, period=MONTH) == Decimal(3)
    assert estimate("40", "2.00") == Decimal("6.00")


def test_graduated_tiers_price_the_projected_units_not_a_scaled_amount():
    # 80 calls in 10 days: all free so far; 240 by the end, 140 of them in the paid tier, with its flat 5.
    assert estimate("80", "0", model="graduated", properties=GRADUATED) == Decimal("19.00")
    # Half-way in the free tier after 20 days stays free: 75 × 1.5 = 112.5, 12.5 paid units.
    assert estimate("75", "0", model="graduated", properties=GRADUATED, elapsed=20 * DAY) == Decimal("6.250")


def test_the_first_day_counts_as_a_whole_day():
    # Two hours into the period, 10 calls: 10 × 30, not 10 × 360.
    assert projected_units(Decimal(10), aggregation_type="count_agg", recurring=False, elapsed=timedelta(hours=2),
                           period=MONTH) == Decimal(300)
    assert estimate("10", "0.50", elapsed=timedelta(hours=2)) == Decimal("15.00")
    assert estimate("0", "0", elapsed=timedelta(0)) == Decimal("0")


def test_units_that_do_not_accumulate_stay_as_they_are():
    assert estimate("7", "0.35", aggregation="max_agg") == Decimal("0.35")
    assert estimate("7", "0.35", aggregation="sum_agg", recurring=True) == Decimal("0.35")
    assert estimate("7", "0.35", aggregation="unique_count_agg") == Decimal("0.35")


def test_a_period_over_is_its_own_total():
    assert estimate("40", "2.00", elapsed=MONTH + DAY) == Decimal("2.00")


def test_per_event_models_scale_their_amount_so_far():
    properties = {"rate": "1", "fixed_amount": "0.10"}  # percentage with a fee per transaction
    assert estimate("200", "2.40", model="percentage", properties=properties, aggregation="sum_agg") == \
        Decimal("7.20")
