"""The pure rules of progressive billing: which threshold levels a lifetime usage passes, and their progress
(docs/billing.md, Progressive billing)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.catalog.models import UsageThreshold
from billing.invoicing.lifetime_usage import threshold_progress
from billing.invoicing.progressive import crossed_levels

NOW = datetime(2026, 11, 5, tzinfo=UTC)


def _thresholds(*amounts: int, recurring: int | None = None) -> list[UsageThreshold]:
    items = [UsageThreshold(id=f"t{a}", amount_cents=a, recurring=False) for a in amounts]
    if recurring is not None:
        items.append(UsageThreshold(id="r", amount_cents=recurring, recurring=True))
    return items


@pytest.mark.parametrize(("amounts", "recurring", "billed", "total", "expected"), [
    ((500, 1200), None, 0, 499, []),
    ((500, 1200), None, 0, 500, [500]),  # reaching the amount passes it
    ((500, 1200), None, 0, 1300, [500, 1200]),  # both at once: one invoice, both recorded
    ((500, 1200), None, 600, 1000, []),  # nothing between what was billed and the total
    ((500, 1200), None, 600, 1300, [1200]),
    ((500, 1200), None, 5000, 6000, []),  # historical usage past every threshold: none fires
    ((500,), 400, 0, 1400, [500, 1300]),  # the recurring one at its highest multiple passed: 500 + 2 × 400
    ((500,), 400, 1400, 1600, []),  # the next multiple is 1700
    ((500,), 400, 1400, 1700, [1700]),
    ((), 300, 0, 299, []),
    ((), 300, 0, 1000, [900]),  # no fixed threshold: multiples of 300
    ((), 300, 900, 1199, []),
])
def test_crossed_levels(amounts, recurring, billed, total, expected):
    assert [c.level for c in crossed_levels(_thresholds(*amounts, recurring=recurring), billed, total)] == expected


def test_progress_of_fixed_thresholds_counts_from_the_last_one_passed():
    lines = threshold_progress(_thresholds(500, 1200, 2000, recurring=400), 800, {("t500", 500): NOW}, NOW)
    assert [(p.amount_cents, p.completion_ratio, p.reached_at) for p in lines] == [
        (500, 1.0, NOW), (1200, 300 / 700, None), (2000, 0.0, None), (2400, 0.0, None)]


def test_progress_of_a_recurring_threshold_lists_each_multiple_passed_then_the_next():
    earlier = datetime(2026, 11, 2, tzinfo=UTC)
    lines = threshold_progress(_thresholds(500, recurring=400), 1450,
                               {("t500", 500): earlier, ("r", 1300): earlier}, NOW)
    assert [(p.amount_cents, p.completion_ratio, p.reached_at) for p in lines] == [
        (500, 1.0, earlier), (900, 1.0, earlier), (1300, 1.0, earlier), (1700, 150 / 400, None)]


def test_progress_lists_at_most_the_last_hundred_multiples():
    lines = threshold_progress(_thresholds(recurring=1), 10**9, {}, NOW)
    assert len(lines) == 101 and lines[0].amount_cents == 10**9 - 99 and lines[-1].amount_cents == 10**9 + 1
