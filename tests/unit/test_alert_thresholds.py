"""Which thresholds a measure has reached (billing.alerts.thresholds), by worked examples."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from billing.alerts.thresholds import MAX_RECURRING_CROSSINGS, Threshold, reached, value_key


def _values(found):
    return [(str(c.value), c.recurring) for c in found]


@pytest.mark.parametrize(("current", "expected"), [
    (D("999.99"), []),
    (D(1000), [("1000", False)]),
    (D(4999), [("1000", False)]),
    (D(5000), [("1000", False), ("5000", False)]),
    (D(8000), [("1000", False), ("5000", False), ("7500", True)]),
    (D(10000), [("1000", False), ("5000", False), ("7500", True), ("10000", True)]),
])
def test_increasing_with_a_recurring_step_past_the_last_fixed_threshold(current, expected):
    thresholds = [Threshold(D(1000)), Threshold(D(5000)), Threshold(D(2500), recurring=True)]
    # The recurring threshold's value is a step from the highest fixed threshold: 7500, 10000, ...
    assert _values(reached(thresholds, current)) == expected


def test_recurring_alone_counts_from_zero():
    assert _values(reached([Threshold(D(10), recurring=True)], D(35))) == [("10", True), ("20", True), ("30", True)]


def test_a_large_jump_reports_the_highest_recurring_values_only():
    found = reached([Threshold(D(1), recurring=True)], D(1000))
    assert len(found) == MAX_RECURRING_CROSSINGS
    assert (found[0].value, found[-1].value) == (D(901), D(1000))


def test_decreasing_in_the_order_a_falling_balance_reaches_them():
    thresholds = [Threshold(D(200)), Threshold(D(500)), Threshold(D(50), recurring=True)]
    assert _values(reached(thresholds, D(600), direction="decreasing")) == []
    assert _values(reached(thresholds, D(500), direction="decreasing")) == [("500", False)]
    assert _values(reached(thresholds, D(90), direction="decreasing")) == [
        ("500", False), ("200", False), ("150", True), ("100", True)]
    assert _values(reached(thresholds, D(-40), direction="decreasing"))[-1] == ("0", True)


def test_value_keys_ignore_trailing_zeros():
    assert value_key(D("1000.00")) == value_key(D("1E+3")) == "1000"
    assert value_key(D("0.50")) == "0.5"
