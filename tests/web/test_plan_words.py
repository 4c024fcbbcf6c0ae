"""Prices in plain words (`wording.describe_charge` / `describe_fee`): a table of examples.

Pure functions, no database: what the portal's plan section and the admin plan list say.
"""

from __future__ import annotations

import pytest

from wording import describe_charge, describe_fee


def _tiers(*rows, price="per_unit_amount"):
    return [{"from_value": start, "to_value": end, price: amount, "flat_amount": flat}
            for start, end, amount, flat in rows]


@pytest.mark.parametrize(("model", "properties", "metric", "expected"), [
    ("standard", {"amount": "0.01"}, "API calls", "€0.01 per API call"),
    ("standard", {"amount": "0.005"}, "Storage", "€0.005 per unit of storage"),
    ("standard", {"amount": "0"}, "API calls", "API calls are free"),
    ("standard", {"amount": "1250"}, "Seats", "€1,250.00 per seat"),
    ("standard", {"amount": "2"}, "Compute seconds", "€2.00 per compute second"),
    ("package", {"amount": "5", "package_size": 100, "free_units": 100}, "GB", "€5.00 per 100 GB (first 100 free)"),
    ("package", {"amount": "5", "package_size": 10, "free_units": 0}, "API calls", "€5.00 per 10 API calls"),
    ("package", {"amount": "0.5", "package_size": 1}, "API calls", "€0.50 per API call"),
    ("graduated", {"graduated_ranges": _tiers((0, 1000, "0", "0"), (1000, None, "0.01", "0"))}, "API calls",
     "First 1,000 API calls free, then €0.01 each"),
    ("graduated", {"graduated_ranges": _tiers((0, 10, "5", "200"), (11, None, "1", "300"))}, "API calls",
     "First 10 API calls at €5.00 each + €200.00 flat, then €1.00 each + €300.00 flat"),
    ("graduated", {"graduated_ranges": _tiers((0, 1, "0", "0"), (1, 100, "2", "0"), (100, None, "1.5", "10"))},
     "Seats", "First seat free, then €2.00 each up to 100, then €1.50 each + €10.00 flat"),
    ("graduated", {"graduated_ranges": _tiers((0, 10, "0", "20"), (10, None, "0", "0"))}, "Seats",
     "First 10 seats €20.00 flat, then free"),
    ("graduated", {"graduated_ranges": _tiers((0, None, "0.02", "0"))}, "API calls", "€0.02 per API call"),
    ("graduated", {"graduated_ranges": _tiers((0, None, "0", "0"))}, "API calls", "API calls are free"),
    ("volume", {"volume_ranges": _tiers((0, 10, "2", "0"), (11, None, "1.5", "0"))}, "Seats",
     "€2.00 per seat up to 10; €1.50 per seat for all seats above 10"),
    ("volume", {"volume_ranges": _tiers((0, 100, "2", "1"), (101, 1000, "1", "0"), (1001, None, "0", "500"))},
     "API calls", "€2.00 per API call + €1.00 flat up to 100; €1.00 per API call for all API calls above 100 up to "
     "1,000; €500.00 flat for all API calls above 1,000"),
    ("graduated_percentage",
     {"graduated_percentage_ranges": _tiers((0, 1000, "2", "0"), (1001, None, "1", "5"), price="rate")},
     "Payment amount", "2% of payment amount up to 1,000, then 1% + €5.00 flat above 1,000"),
    ("graduated_percentage", {"graduated_percentage_ranges": _tiers((0, None, "1.25", "0"), price="rate")},
     "Payment amount", "1.25% of payment amount"),
    ("percentage", {"rate": "2.5", "fixed_amount": "0.10", "free_units_per_events": 1,
                    "per_transaction_min_amount": "1", "per_transaction_max_amount": "5"}, "Payment amount",
     "2.5% of payment amount + €0.10 per transaction (first transaction free), min €1.00, max €5.00 per transaction"),
    ("percentage", {"rate": "1"}, "Payment amount", "1% of payment amount"),
    ("percentage", {"rate": "1", "free_units_per_events": 3, "free_units_per_total_aggregation": "500"},
     "Payment amount", "1% of payment amount (first 3 transactions free, up to 500)"),
    ("percentage", {"rate": "1", "free_units_per_total_aggregation": "1000"}, "Payment amount",
     "1% of payment amount (first 1,000 free)"),
    ("percentage", {"rate": "3", "per_transaction_max_amount": "12"}, "Payment amount",
     "3% of payment amount, max €12.00 per transaction"),
    ("dynamic", {}, "Payment amount", "Priced per event by the amount sent"),
])
def test_each_charge_model_in_plain_words(model, properties, metric, expected):
    assert describe_charge({"charge_model": model, "properties": properties}, "EUR", metric) == expected


def test_other_currencies_keep_their_own_digits():
    assert describe_charge({"charge_model": "standard", "properties": {"amount": "3"}}, "JPY", "API calls") == \
        "¥3 per API call"
    assert describe_charge({"charge_model": "standard", "properties": {"amount": "0.0001"}}, "USD", "Tokens") == \
        "$0.0001 per token"


def test_a_minimum_is_said_per_period():
    charge = {"charge_model": "standard", "properties": {"amount": "0.01"}, "min_amount_cents": 500}
    assert describe_charge(charge, "EUR", "API calls", interval="monthly") == \
        "€0.01 per API call; at least €5.00 per month"
    assert describe_charge(charge, "EUR", "API calls") == "€0.01 per API call; at least €5.00 per billing period"


def test_properties_it_cannot_read_are_not_an_error():
    assert describe_charge({"charge_model": "graduated", "properties": {}}, "EUR", "API calls") == \
        "Priced by the graduated model"
    assert describe_charge({"charge_model": "standard", "properties": {"amount": "abc"}}, "EUR", "x") == \
        "Priced by the standard model"


@pytest.mark.parametrize(("amount_cents", "interval", "advance", "expected"), [
    (2900, "monthly", True, "€29.00 per month, billed in advance"),
    (2900, "monthly", False, "€29.00 per month, billed at the end of the month"),
    (49900, "yearly", False, "€499.00 per year, billed at the end of the year"),
    (900, "weekly", True, "€9.00 per week, billed in advance"),
    (0, "monthly", True, "No subscription fee"),
])
def test_the_subscription_fee_in_plain_words(amount_cents, interval, advance, expected):
    fee = describe_fee(amount_cents=amount_cents, currency="EUR", interval=interval, pay_in_advance=advance)
    assert fee == expected


def test_a_prorated_charge_says_so():
    charge = {"charge_model": "standard", "properties": {"amount": "30"}, "prorated": True}
    assert describe_charge(charge, "EUR", "Seats") == \
        "€30.00 per seat, prorated: each seat is billed for the days it is held in the period"
