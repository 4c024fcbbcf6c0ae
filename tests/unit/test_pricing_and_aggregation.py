from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing.metering.aggregation import numeric_value
from billing.pricing import price, validate_properties


def test_standard_worked_example():
    # BILLING.md, Pricing: amount "0.01", u 250 → 2.50.
    assert price("standard", Decimal(250), {"amount": "0.01"}).amount == Decimal("2.50")


@given(st.decimals(min_value=0, max_value=10**9, places=4), st.decimals(min_value=0, max_value=1000, places=6))
def test_standard_is_exact_and_never_negative(units, amount):
    result = price("standard", units, {"amount": str(amount)})
    assert result.amount == units * amount and result.amount >= 0


def test_standard_properties_validation():
    assert validate_properties("standard", {"amount": "0.5"}) == {}
    assert validate_properties("standard", {}) == {"amount": ["value_is_mandatory"]}
    assert validate_properties("standard", {"amount": "-1"}) == {"amount": ["invalid_amount"]}
    assert validate_properties("standard", {"amount": "ten"}) == {"amount": ["invalid_amount"]}
    assert validate_properties("standard", {"amount": 1.5}) == {"amount": ["invalid_amount"]}  # floats refused
    assert validate_properties("unknown", {}) == {"charge_model": ["value_is_invalid"]}


def test_missing_or_non_numeric_values_count_as_zero():
    values = [numeric_value(props, "gb") for props in ({"gb": "10"}, {"gb": 2.5}, {"gb": "n/a"}, {}, None)]
    assert values == [Decimal(10), Decimal("2.5"), 0, 0, 0]
