"""Charge models (billing/pricing): BILLING.md's worked examples, edge cases, validation and properties."""

import dataclasses
import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from billing import pricing
from billing.pricing import (
    CHARGE_MODELS,
    CURRENCY,
    EVENT_AMOUNTS_CENTS,
    EVENT_VALUES,
    ORDER_DEPENDENT,
    ChargeResult,
    InvalidProperties,
    MissingInput,
    price,
    required_inputs,
    validate_properties,
)

D = Decimal


def tiers(key: str, *rows: tuple, price_field: str = "per_unit_amount") -> dict:
    """Ranges from (from_value, to_value, price, flat_amount) rows."""
    return {key: [{"from_value": f, "to_value": t, price_field: p, "flat_amount": flat} for f, t, p, flat in rows]}


def graduated(*rows: tuple) -> dict:
    return tiers("graduated_ranges", *rows)


def volume(*rows: tuple) -> dict:
    return tiers("volume_ranges", *rows)


def graduated_percentage(*rows: tuple) -> dict:
    return tiers("graduated_percentage_ranges", *rows, price_field="rate")


PACKAGE = {"amount": "5", "package_size": 10, "free_units": 0}
GRADUATED = graduated((0, 10, "5", "200"), (11, None, "1", "300"))
GRADUATED_ADJACENT = graduated((0, 10, "5", "200"), (10, None, "1", "300"))
VOLUME = volume((0, 100, "2", "1"), (101, None, "1", "0"))
PERCENTAGE = {"rate": "2.5", "fixed_amount": "0.10", "free_units_per_events": 1}
PERCENTAGE_MIN_MAX = {**PERCENTAGE, "per_transaction_min_amount": "1", "per_transaction_max_amount": "5"}
EVENTS = [D(100), D(200), D(300)]

# Every worked example of BILLING.md, "Pricing" (the spec), then a few from Lago's docs.
WORKED_EXAMPLES = [
    pytest.param("standard", {"amount": "0.01"}, 250, {}, "2.50", id="standard: 0.01 x 250"),
    pytest.param("package", PACKAGE, "7.5", {}, "5.00", id="package: 7.5 units, size 10 -> 1 package"),
    pytest.param("package", PACKAGE, 0, {}, "0", id="package: 0 units -> 0"),
    pytest.param("package", {"amount": "5", "package_size": 100, "free_units": 100}, 250, {}, "10",
                 id="package: 250 units, 100 free, size 100 -> 2 packages"),
    pytest.param("graduated", GRADUATED, 15, {}, "555", id="graduated: 10x5+200 + 5x1+300"),
    pytest.param("graduated", GRADUATED, 0, {}, "200", id="graduated: 0 units -> first flat amount"),
    pytest.param("graduated", graduated((0, 10, "1", "0"), (11, None, "0.5", "10")), 15, {}, "22.50",
                 id="graduated: 10 + 2.5 + 10"),
    pytest.param("volume", volume((0, 10, "2", "0"), (11, None, "1.5", "0")), 12, {}, "18.00",
                 id="volume: 12 x 1.5"),
    pytest.param("volume", VOLUME, 150, {}, "150", id="volume: 150 x 1"),
    pytest.param("volume", VOLUME, 100, {}, "201", id="volume: 100 x 2 + 1"),
    pytest.param("percentage", PERCENTAGE, 600, {"event_values": EVENTS}, "12.70",
                 id="percentage: 500 x 2.5% + 2 x 0.10"),
    pytest.param("percentage", PERCENTAGE_MIN_MAX, 600, {"event_values": EVENTS}, "10.00",
                 id="percentage: 0 + min(5.10, 5) + min(7.60, 5)"),
    pytest.param("graduated_percentage", graduated_percentage((0, 1000, "2", "0"), (1001, None, "1", "5")), 1500, {},
                 "30", id="graduated_percentage: 20 + (5 + 5)"),
    pytest.param("dynamic", {}, 22, {"event_amounts_cents": [D(70), D(55), D(220)], "currency": "USD"}, "3.45",
                 id="dynamic: sum of precise_total_amount_cents"),
    # Lago docs, "Package": $5 per 100 units, first 100 free, 201 units -> $0 + $5 + $5.
    pytest.param("package", {"amount": "5", "package_size": 100, "free_units": 100}, 201, {}, "10",
                 id="lago docs package: 201 units"),
    # Lago docs, "Volume": 65,000 API calls -> 65,000 x $0.0006 + $10 = $49.
    pytest.param("volume", volume((0, 10000, "0.0010", "10"), (10001, 50000, "0.0008", "10"),
                                  (50001, 100000, "0.0006", "10"), (100001, None, "0.0004", "10")), 65000, {}, "49",
                 id="lago docs volume: 65,000 units"),
]


@pytest.mark.parametrize(("model", "properties", "units", "inputs", "expected"), WORKED_EXAMPLES)
def test_worked_examples(model, properties, units, inputs, expected):
    result = price(model, D(units), properties, **inputs)
    assert result.amount == D(expected)
    assert result.units == D(units)


def test_graduated_percentage_lago_docs_transactions_add_up():
    # Lago docs, "Graduated percentage": transactions of $500, $550 and $4,000 cost $205, $306 and $80;
    # in arrears the period's fee is what they add up to.
    properties = graduated_percentage((0, 1000, "1", "200"), (1001, 10000, "2", "300"), (10001, None, "3", "400"))
    totals = [price("graduated_percentage", D(units), properties).amount for units in (500, 1050, 5050)]
    assert totals == [D(205), D(511), D(591)]
    assert [totals[0], totals[1] - totals[0], totals[2] - totals[1]] == [D(205), D(306), D(80)]


# --- Edge cases -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "properties", "inputs", "amount", "unit_amount"), [
    ("standard", {"amount": "0.01"}, {}, "0", "0.01"),
    ("package", PACKAGE, {}, "0", "0.5"),
    ("graduated", GRADUATED, {}, "200", "5"),
    ("volume", VOLUME, {}, "1", "2"),  # the first tier's flat amount (Lago since lago-api#5760)
    ("graduated_percentage", graduated_percentage((0, 1000, "2", "3"), (1001, None, "1", "5")), {}, "3", "0.02"),
    ("percentage", PERCENTAGE, {"event_values": []}, "0", "0.025"),
    ("percentage", {"rate": "1.2"}, {}, "0", "0.012"),
    ("dynamic", {}, {"event_amounts_cents": [], "currency": "EUR"}, "0", "0"),
])
def test_zero_units(model, properties, inputs, amount, unit_amount):
    result = price(model, D(0), properties, **inputs)
    assert (result.amount, result.unit_amount) == (D(amount), D(unit_amount))


@pytest.mark.parametrize(("properties", "units", "expected"), [
    (GRADUATED, 10, "250"),  # exactly on the boundary: the second tier is not reached, its flat amount not due
    (GRADUATED_ADJACENT, 10, "250"),
    (GRADUATED, 11, "551"),
    (GRADUATED_ADJACENT, 11, "551"),
    (GRADUATED, "10.5", "550.5"),  # fractional units between 0–10 and 11–∞ belong to the upper tier
    (GRADUATED_ADJACENT, "10.5", "550.5"),
    (GRADUATED, "0.25", "201.25"),
    (graduated((0, 10, "1", "0"), (11, 20, "2", "0"), (21, None, "3", "0")), 25, "45"),  # 10x1 + 10x2 + 5x3
])
def test_graduated_boundaries_and_fractions(properties, units, expected):
    assert price("graduated", D(units), properties).amount == D(expected)


def test_graduated_details_per_tier():
    result = price("graduated", D(15), GRADUATED)
    assert result.amount_details == {"graduated_ranges": [
        {"from_value": 0, "to_value": 10, "flat_unit_amount": 200, "per_unit_amount": 5, "units": 10,
         "per_unit_total_amount": 50, "total_with_flat_amount": 250},
        {"from_value": 11, "to_value": None, "flat_unit_amount": 300, "per_unit_amount": 1, "units": 5,
         "per_unit_total_amount": 5, "total_with_flat_amount": 305},
    ]}
    assert result.unit_amount == D(37)  # 555 / 15
    assert len(price("graduated", D(3), GRADUATED).amount_details["graduated_ranges"]) == 1  # tiers reached only


@pytest.mark.parametrize(("units", "expected"), [(100, "201"), ("100.5", "100.5"), (101, "101"), ("0.5", "2")])
def test_volume_boundaries_and_fractions(units, expected):
    assert price("volume", D(units), VOLUME).amount == D(expected)


def test_volume_adjacent_ranges():
    properties = volume((0, 100, "2", "1"), (100, None, "1", "0"))
    assert price("volume", D(100), properties).amount == D(201)
    assert price("volume", D("100.01"), properties).amount == D("100.01")


def test_volume_details():
    assert price("volume", D(150), VOLUME).amount_details == {
        "from_value": 101, "to_value": None, "flat_unit_amount": 0, "per_unit_amount": 1, "per_unit_total_amount": 150}


@pytest.mark.parametrize(("units", "packages"), [(0, 0), ("0.0001", 1), (10, 1), ("10.0001", 2), (20, 2), (21, 3)])
def test_package_counts_started_packages(units, packages):
    result = price("package", D(units), PACKAGE)
    assert result.amount == 5 * packages
    assert result.amount_details["packages"] == packages


def test_package_free_units_and_details():
    properties = {"amount": "5", "package_size": 100, "free_units": 100}
    assert price("package", D(100), properties).amount == 0
    assert price("package", D("100.5"), properties).amount == 5
    assert price("package", D(250), properties).amount_details == {
        "free_units": 100, "paid_units": 150, "per_package_size": 100, "per_package_unit_amount": 5, "packages": 2}
    assert price("package", D(10), {"amount": "5", "package_size": 10}).amount == 5  # free_units may be left out


def test_standard_keeps_sub_cent_prices_exact():
    result = price("standard", D(3), {"amount": "0.0125"})
    assert result.amount == D("0.0375") and result.unit_amount == D("0.0125")


def test_huge_units_stay_exact():
    units = D("123456789012345678901234567890.123456789")
    amount = D("0.000123456789012345")
    result = price("standard", units, {"amount": str(amount)}).amount
    assert Fraction(result) == Fraction(units) * Fraction(amount)
    big = 10**30  # beyond the 28 digits of Python's default decimal context
    assert price("graduated", D(big), GRADUATED).amount == D(50 + 200 + (big - 10) + 300)
    assert price("volume", D(big), VOLUME).amount == D(big)
    assert price("package", D(big + 1), PACKAGE).amount == D((big // 10 + 1) * 5)
    assert Fraction(price("percentage", D(big), {"rate": "0.0001"}).amount) == Fraction(big, 10**6)


def test_percentage_details():
    result = price("percentage", D(600), PERCENTAGE, event_values=EVENTS)
    assert result.amount_details == {
        "units": 600, "free_units": 100, "paid_units": 500, "free_events": 1, "paid_events": 2, "rate": D("2.5"),
        "per_unit_total_amount": D("12.5"), "fixed_fee_unit_amount": D("0.10"), "fixed_fee_total_amount": D("0.20"),
        "min_max_adjustment_total_amount": 0}
    clamped = price("percentage", D(600), PERCENTAGE_MIN_MAX, event_values=EVENTS).amount_details
    assert clamped["min_max_adjustment_total_amount"] == D("10.00") - D("12.5") - D("0.20")


@pytest.mark.parametrize(("properties", "values", "expected"), [
    # free units capped by the total: the first $150 are free; the event reaching the cap pays on the rest
    ({"rate": "10", "free_units_per_total_aggregation": "150"}, [100, 100, 100], "15"),
    # both limits: the running total of the first 2 events (300), capped at 250
    ({"rate": "10", "free_units_per_events": 2, "free_units_per_total_aggregation": "250"}, [100, 200, 300], "35"),
    # both limits: the cap is not reached within the first event, the second event pays in full
    ({"rate": "10", "free_units_per_events": 1, "free_units_per_total_aggregation": "1000"}, [100, 200], "20"),
    # a zero cap means no cap (Lago): the first event is free whole
    ({"rate": "10", "free_units_per_events": 1, "free_units_per_total_aggregation": "0"}, [100, 200], "20"),
    # the fixed amount is due by every paying event; an event exactly reaching the cap pays it (Lago: `< cap`)
    ({"rate": "10", "fixed_amount": "1", "free_units_per_total_aggregation": "200"}, [100, 100, 100], "12"),
    # more free events than events: nothing to pay
    ({"rate": "10", "fixed_amount": "1", "free_units_per_events": 5}, [100, 200], "0"),
    # fixed amount only: one per event, even for an event of value 0
    ({"rate": "0", "fixed_amount": "0.30"}, [0, 5, 7], "0.90"),
    # min only: small transactions are raised to it
    ({"rate": "1", "per_transaction_min_amount": "0.50"}, [10, 100], "1.50"),
])
def test_percentage_free_units_fixed_amounts_and_clamps(properties, values, expected):
    values = [D(v) for v in values]
    assert price("percentage", sum(values, D(0)), properties, event_values=values).amount == D(expected)


def test_percentage_free_units_depend_on_timestamp_order():
    # "the first N events" are the first by timestamp: the caller passes event_values in that order.
    assert "percentage" in ORDER_DEPENDENT
    first_small = price("percentage", D(600), PERCENTAGE, event_values=[D(100), D(200), D(300)]).amount
    first_large = price("percentage", D(600), PERCENTAGE, event_values=[D(300), D(200), D(100)]).amount
    assert (first_small, first_large) == (D("12.70"), D("7.70"))


@pytest.mark.parametrize(("currency", "cents", "expected"), [
    ("USD", ["0.5", "1"], "0.015"), ("JPY", ["100", "250"], "350"), ("BHD", ["1000", "1"], "1.001")])
def test_dynamic_converts_cents_with_the_currency_exponent(currency, cents, expected):
    result = price("dynamic", D(2), {}, event_amounts_cents=[D(c) for c in cents], currency=currency)
    assert result.amount == D(expected)


def test_dynamic_bills_the_amounts_even_at_zero_units():
    assert price("dynamic", D(0), {}, event_amounts_cents=[D(150)], currency="EUR").amount == D("1.50")


# --- API shape ----------------------------------------------------------------------------------------------


def test_registry_and_required_inputs():
    assert set(CHARGE_MODELS) == {"standard", "package", "graduated", "volume", "graduated_percentage", "percentage",
                                  "dynamic"}
    assert CHARGE_MODELS["standard"](D(2), {"amount": "3"}).amount == 6
    assert required_inputs("standard", {"amount": "1"}) == frozenset()
    assert required_inputs("graduated", GRADUATED) == frozenset()
    assert required_inputs("percentage", {"rate": "1"}) == frozenset()
    assert required_inputs("percentage", {"rate": "1", "fixed_amount": "0"}) == frozenset()
    assert required_inputs("percentage", {"rate": "1", "fixed_amount": "0.1"}) == {EVENT_VALUES}
    assert required_inputs("percentage", {"rate": "1", "free_units_per_total_aggregation": "10"}) == {EVENT_VALUES}
    assert required_inputs("percentage", {"rate": "1", "per_transaction_max_amount": "10"}) == {EVENT_VALUES}
    assert required_inputs("dynamic", {}) == {EVENT_AMOUNTS_CENTS, CURRENCY}


def test_charge_result_is_a_frozen_hashable_dataclass():
    result = price("graduated", D(15), GRADUATED)
    assert isinstance(result, ChargeResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.amount = D(0)
    assert hash(result) == hash(price("graduated", D(15), GRADUATED))
    assert ChargeResult(D(1), D(1), D(1)).amount_details == {}


def test_price_refuses_what_it_cannot_price():
    with pytest.raises(InvalidProperties) as refused:
        price("standard", D(1), {"amount": "-1"})
    assert refused.value.errors == {"amount": ["invalid_amount"]}
    with pytest.raises(MissingInput):
        price("percentage", D(600), PERCENTAGE)  # fixed amount and free events need the events
    with pytest.raises(MissingInput):
        price("dynamic", D(1), {}, event_amounts_cents=[D(1)])  # no currency
    with pytest.raises(TypeError):
        price("standard", 1.5, {"amount": "1"})  # floats never
    with pytest.raises(TypeError):
        price("percentage", D(1), {"rate": "1", "fixed_amount": "1"}, event_values=[0.5])
    with pytest.raises(KeyError):
        price("unknown", D(1), {})


def test_pricing_package_exposes_one_module_per_model():
    for name in CHARGE_MODELS:
        module = getattr(pricing, name)
        assert module.NAME == name and callable(module.price) and callable(module.validate)


# --- Validation ---------------------------------------------------------------------------------------------


def _ranges(key, rows, price_field="per_unit_amount"):
    return tiers(key, *rows, price_field=price_field)


VALID = [
    ("standard", {"amount": "0.5"}),
    ("standard", {"amount": 3}),
    ("package", PACKAGE),
    ("package", {"amount": "5", "package_size": "100"}),  # an integer as a string of digits, as elsewhere in Tally
    ("graduated", GRADUATED),
    ("graduated", GRADUATED_ADJACENT),
    ("graduated", graduated((0, 10, "1", "0"), (10, 20, "1", "0"), (21, None, "1", "0"))),  # both styles mixed
    ("graduated", graduated((0, None, "0.001", "0"))),
    ("graduated", graduated(("0", "10.5", "1", "0"), ("10.5", None, "1", "0"))),
    ("volume", VOLUME),
    ("volume", volume((0, 100, "2", "1"), (100, None, "1", "0"))),
    ("graduated_percentage", graduated_percentage((0, 1000, "2", "0"), (1001, None, "1", "5"))),
    ("percentage", {"rate": "2.5"}),
    ("percentage", PERCENTAGE_MIN_MAX),
    ("percentage", {"rate": "0", "fixed_amount": None, "free_units_per_events": None,
                    "free_units_per_total_aggregation": "100", "per_transaction_min_amount": None,
                    "per_transaction_max_amount": "1"}),
    ("percentage", {"rate": "1", "per_transaction_min_amount": "2", "per_transaction_max_amount": "2"}),
    ("dynamic", {}),
]


@pytest.mark.parametrize(("model", "properties"), VALID)
def test_valid_properties(model, properties):
    assert validate_properties(model, properties) == {}


INVALID = [
    ("standard", {}, {"amount": ["value_is_mandatory"]}),
    ("standard", {"amount": "-1"}, {"amount": ["invalid_amount"]}),
    ("standard", {"amount": 0.5}, {"amount": ["invalid_amount"]}),
    ("standard", {"amount": "NaN"}, {"amount": ["invalid_amount"]}),
    ("standard", {"amount": True}, {"amount": ["invalid_amount"]}),
    ("package", {}, {"amount": ["value_is_mandatory"], "package_size": ["value_is_mandatory"]}),
    ("package", {**PACKAGE, "amount": "five"}, {"amount": ["invalid_amount"]}),
    ("package", {**PACKAGE, "package_size": 0}, {"package_size": ["invalid_package_size"]}),
    ("package", {**PACKAGE, "package_size": 2.5}, {"package_size": ["invalid_package_size"]}),
    ("package", {**PACKAGE, "package_size": "2.5"}, {"package_size": ["invalid_package_size"]}),
    ("package", {**PACKAGE, "package_size": True}, {"package_size": ["invalid_package_size"]}),
    ("package", {**PACKAGE, "free_units": -1}, {"free_units": ["invalid_free_units"]}),
    ("package", {**PACKAGE, "free_units": "1.5"}, {"free_units": ["invalid_free_units"]}),
    ("graduated", {}, {"graduated_ranges": ["missing_graduated_ranges"]}),
    ("graduated", {"graduated_ranges": []}, {"graduated_ranges": ["missing_graduated_ranges"]}),
    ("graduated", {"graduated_ranges": {"from_value": 0}}, {"graduated_ranges": ["invalid_graduated_ranges"]}),
    ("graduated", {"graduated_ranges": ["0-10"]}, {"graduated_ranges": ["invalid_graduated_ranges"]}),
    ("graduated", graduated((1, None, "1", "0")), {"graduated_ranges": ["invalid_graduated_ranges"]}),  # not from 0
    ("graduated", graduated((0, 10, "1", "0"), (12, None, "1", "0")),  # a hole
     {"graduated_ranges": ["invalid_graduated_ranges"]}),
    ("graduated", graduated((0, 10, "1", "0"), (9, None, "1", "0")),  # overlapping
     {"graduated_ranges": ["invalid_graduated_ranges"]}),
    ("graduated", graduated((0, 10, "1", "0"), (11, 20, "1", "0")),  # the last one is not open-ended
     {"graduated_ranges": ["invalid_graduated_ranges"]}),
    ("graduated", graduated((0, None, "1", "0"), (0, None, "1", "0")),  # open-ended before the last
     {"graduated_ranges": ["invalid_graduated_ranges"]}),
    ("graduated", graduated((0, 0, "1", "0"), (0, None, "1", "0")),  # to_value not above from_value
     {"graduated_ranges": ["invalid_graduated_ranges"]}),
    ("graduated", graduated((0, 10, "1", "0"), (11, 11, "1", "0"), (12, None, "1", "0")),
     {"graduated_ranges": ["invalid_graduated_ranges"]}),
    ("graduated", graduated((0.0, None, "1", "0")), {"graduated_ranges": ["invalid_graduated_ranges"]}),  # float
    ("graduated", graduated((0, "ten", "1", "0"), (11, None, "1", "0")),
     {"graduated_ranges": ["invalid_graduated_ranges"]}),
    ("graduated", graduated((0, 10, "-1", "0"), (11, None, 0.5, None)),
     {"per_unit_amount": ["invalid_amount"], "flat_amount": ["invalid_amount"]}),
    ("graduated", {"graduated_ranges": [{"from_value": 0, "to_value": None}]},
     {"per_unit_amount": ["invalid_amount"], "flat_amount": ["invalid_amount"]}),
    ("volume", {}, {"volume_ranges": ["missing_volume_ranges"]}),
    ("volume", volume((0, 100, "2", "1"), (102, None, "1", "0")), {"volume_ranges": ["invalid_volume_ranges"]}),
    ("volume", volume((0, 100, "x", "1"), (101, None, "1", "-2")),
     {"per_unit_amount": ["invalid_amount"], "flat_amount": ["invalid_amount"]}),
    ("graduated_percentage", {}, {"graduated_percentage_ranges": ["missing_graduated_percentage_ranges"]}),
    ("graduated_percentage", graduated_percentage((0, 10, "1", "0"), (5, None, "1", "0")),
     {"graduated_percentage_ranges": ["invalid_graduated_percentage_ranges"]}),
    ("graduated_percentage", graduated_percentage((0, 10, "-1", "0"), (11, None, 2, "x")),
     {"rate": ["invalid_rate"], "flat_amount": ["invalid_amount"]}),
    ("percentage", {}, {"rate": ["value_is_mandatory"]}),
    ("percentage", {"rate": "-1"}, {"rate": ["invalid_rate"]}),
    ("percentage", {"rate": 2.5}, {"rate": ["invalid_rate"]}),
    ("percentage", {"rate": "1", "fixed_amount": "x"}, {"fixed_amount": ["invalid_fixed_amount"]}),
    ("percentage", {"rate": "1", "fixed_amount": 0.1}, {"fixed_amount": ["invalid_fixed_amount"]}),
    ("percentage", {"rate": "1", "free_units_per_events": 0},
     {"free_units_per_events": ["invalid_free_units_per_events"]}),
    ("percentage", {"rate": "1", "free_units_per_events": 1.5},
     {"free_units_per_events": ["invalid_free_units_per_events"]}),
    ("percentage", {"rate": "1", "free_units_per_total_aggregation": "-5"},
     {"free_units_per_total_aggregation": ["invalid_free_units_per_total_aggregation"]}),
    ("percentage", {"rate": "1", "per_transaction_min_amount": "-1", "per_transaction_max_amount": "x"},
     {"per_transaction_min_amount": ["invalid_amount"], "per_transaction_max_amount": ["invalid_amount"]}),
    ("percentage", {"rate": "1", "per_transaction_min_amount": "5", "per_transaction_max_amount": "1"},
     {"per_transaction_max_amount": ["per_transaction_max_lower_than_per_transaction_min"]}),
    ("dynamic", [], {"properties": ["invalid_type"]}),
    ("standard", "0.5", {"properties": ["invalid_type"]}),
    ("tiered", {}, {"charge_model": ["value_is_invalid"]}),
]


@pytest.mark.parametrize(("model", "properties", "errors"), INVALID)
def test_invalid_properties(model, properties, errors):
    assert validate_properties(model, properties) == errors


# --- Properties ---------------------------------------------------------------------------------------------

amounts = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False)
quantities = st.decimals(min_value=0, max_value=10**7, places=4, allow_nan=False, allow_infinity=False)
event_values = st.lists(st.decimals(min_value=0, max_value=10**5, places=2, allow_nan=False, allow_infinity=False),
                        max_size=12)


@st.composite
def ranges(draw, price_field="per_unit_amount"):
    """Valid ranges, each tier adjacent to the previous one or one unit above it, at random."""
    count = draw(st.integers(min_value=1, max_value=5))
    rows, previous_to = [], None
    for index in range(count):
        from_value = 0 if index == 0 else previous_to + draw(st.sampled_from([0, 1]))
        to_value = None if index == count - 1 else from_value + draw(st.integers(min_value=1, max_value=500))
        rows.append({"from_value": from_value, "to_value": to_value, price_field: str(draw(amounts)),
                     "flat_amount": str(draw(amounts))})
        previous_to = to_value
    return rows


def _graduated_by_formula(units, rows, price_field="per_unit_amount", scale=1):
    """BILLING.md's formula, tier by tier: min(u, to) − from (+ 1 for non-adjacent tiers after the first)."""
    total, previous_to = Fraction(0), None
    for index, row in enumerate(rows):
        start, end = Fraction(row["from_value"]), row["to_value"]
        plus_one = 0 if index == 0 or start == previous_to else 1
        if index > 0 and not units > start - plus_one:
            break  # tier not reached
        top = units if end is None else min(units, Fraction(end))
        in_tier = top - start + plus_one if index > 0 else top
        total += max(in_tier, 0) * Fraction(Decimal(row[price_field])) * Fraction(scale) + Fraction(
            Decimal(row["flat_amount"]))
        previous_to = None if end is None else Fraction(end)
    return total


@given(ranges(), quantities)
def test_graduated_is_the_sum_of_its_tiers(rows, units):
    result = price("graduated", units, {"graduated_ranges": rows})
    assert Fraction(result.amount) == _graduated_by_formula(Fraction(units), rows)
    assert result.amount == sum((tier["total_with_flat_amount"] for tier in result.amount_details["graduated_ranges"]),
                                D(0))


@given(ranges(price_field="rate"), quantities)
def test_graduated_percentage_is_the_sum_of_its_tiers(rows, units):
    result = price("graduated_percentage", units, {"graduated_percentage_ranges": rows})
    assert Fraction(result.amount) == _graduated_by_formula(Fraction(units), rows, "rate", Fraction(1, 100))


@given(ranges(), quantities)
def test_volume_prices_every_unit_in_one_tier(rows, units):
    result = price("volume", units, {"volume_ranges": rows})
    # the tier: as many tiers are below units as have a to_value under it
    tier = rows[sum(1 for row in rows[:-1] if row["to_value"] < units)]
    assert result.amount == units * D(tier["per_unit_amount"]) + D(tier["flat_amount"])


@given(amounts, st.integers(min_value=1, max_value=1000), st.integers(min_value=0, max_value=1000), quantities,
       quantities)
def test_package_rounds_packages_up_and_never_decreases(amount, size, free, units, more_units):
    properties = {"amount": str(amount), "package_size": size, "free_units": free}
    low, high = sorted([units, more_units])
    packages = math.ceil(max(Fraction(units) - free, 0) / size)
    assert price("package", units, properties).amount == packages * amount
    assert price("package", low, properties).amount <= price("package", high, properties).amount


@given(amounts, amounts, st.one_of(st.none(), amounts), st.one_of(st.none(), amounts), event_values)
def test_percentage_with_min_max_is_the_sum_of_clamped_event_fees(rate, fixed, minimum, maximum, values):
    assume(minimum is not None or maximum is not None)
    if minimum is not None and maximum is not None and minimum > maximum:
        minimum, maximum = maximum, minimum
    properties = {"rate": str(rate), "fixed_amount": str(fixed), "per_transaction_min_amount": _str(minimum),
                  "per_transaction_max_amount": _str(maximum)}

    def clamp(fee):
        fee = max(fee, minimum) if minimum is not None else fee
        return min(fee, maximum) if maximum is not None else fee

    expected = sum((clamp(value * rate / 100 + fixed) for value in values), D(0))
    assert price("percentage", sum(values, D(0)), properties, event_values=values).amount == expected


@given(amounts, amounts, st.integers(min_value=1, max_value=5), amounts, amounts, event_values)
def test_percentage_free_events_are_free_and_the_rest_clamped(rate, fixed, free_events, low, high, values):
    low, high = sorted([low, high])
    properties = {"rate": str(rate), "fixed_amount": str(fixed), "free_units_per_events": free_events,
                  "per_transaction_min_amount": str(low), "per_transaction_max_amount": str(high)}
    expected = sum((min(max(v * rate / 100 + fixed, low), high) for v in values[free_events:]), D(0))
    assert price("percentage", sum(values, D(0)), properties, event_values=values).amount == expected


@given(amounts, amounts, event_values)
def test_percentage_without_clamps_is_the_sum_of_event_fees(rate, fixed, values):
    properties = {"rate": str(rate), "fixed_amount": str(fixed)}
    expected = sum((value * rate / 100 + fixed for value in values), D(0))
    assert price("percentage", sum(values, D(0)), properties, event_values=values).amount == expected


@given(amounts, amounts, st.one_of(st.none(), amounts), st.one_of(st.none(), amounts), event_values, st.randoms())
def test_percentage_without_free_units_ignores_event_order(rate, fixed, minimum, maximum, values, random):
    properties = {"rate": str(rate), "fixed_amount": str(fixed), "per_transaction_min_amount": _str(minimum),
                  "per_transaction_max_amount": _str(maximum)}
    assume(validate_properties("percentage", properties) == {})
    shuffled = list(values)
    random.shuffle(shuffled)
    units = sum(values, D(0))
    assert price("percentage", units, properties, event_values=values) == \
        price("percentage", units, properties, event_values=shuffled)


@given(st.lists(st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False, allow_infinity=False),
                max_size=10), st.randoms())
def test_dynamic_ignores_event_order(cents, random):
    shuffled = list(cents)
    random.shuffle(shuffled)
    result = price("dynamic", D(len(cents)), {}, event_amounts_cents=cents, currency="EUR")
    assert result == price("dynamic", D(len(cents)), {}, event_amounts_cents=shuffled, currency="EUR")
    assert result.amount == sum(cents, D(0)) / 100


def _str(value):
    return None if value is None else str(value)


@st.composite
def any_charge(draw):
    model = draw(st.sampled_from(sorted(CHARGE_MODELS)))
    if model == "standard":
        properties = {"amount": str(draw(amounts))}
    elif model == "package":
        properties = {"amount": str(draw(amounts)), "package_size": draw(st.integers(1, 500)),
                      "free_units": draw(st.integers(0, 500))}
    elif model in ("graduated", "volume"):
        properties = {f"{model}_ranges": draw(ranges())}
    elif model == "graduated_percentage":
        properties = {"graduated_percentage_ranges": draw(ranges(price_field="rate"))}
    elif model == "percentage":
        minimum, maximum = sorted([draw(amounts), draw(amounts)])
        properties = {"rate": str(draw(amounts)), "fixed_amount": str(draw(amounts)),
                      "free_units_per_events": draw(st.one_of(st.none(), st.integers(1, 5))),
                      "free_units_per_total_aggregation": _str(draw(st.one_of(st.none(), amounts))),
                      "per_transaction_min_amount": _str(draw(st.one_of(st.none(), st.just(minimum)))),
                      "per_transaction_max_amount": _str(draw(st.one_of(st.none(), st.just(maximum))))}
    else:
        properties = {}
    return model, properties


@given(any_charge(), event_values, st.randoms())
def test_no_negative_amounts_and_order_free_models_ignore_event_order(charge, values, random):
    model, properties = charge
    assert validate_properties(model, properties) == {}
    units = sum(values, D(0))
    inputs = {"event_values": values, "event_amounts_cents": values, "currency": "USD"}
    result = price(model, units, properties, **inputs)
    assert result.amount >= 0 and result.unit_amount >= 0
    assert result.units == units
    if model not in ORDER_DEPENDENT:
        shuffled = list(values)
        random.shuffle(shuffled)
        assert price(model, units, properties, **{**inputs, "event_values": shuffled,
                                                  "event_amounts_cents": shuffled}) == result
