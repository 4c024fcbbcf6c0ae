"""Input checks shared by every service: bad strings are reasons, never exceptions (never a 500)."""

from __future__ import annotations

import pytest

from billing.validation import Checker, parse_datetime


@pytest.mark.parametrize("raw", ["--2", "1.5", "ten", " ", "2-"])
def test_integer_refuses_what_is_not_an_integer(raw):
    check = Checker({"n": raw})
    assert check.integer("n", minimum=None) is None
    assert check.errors == {"n": ["invalid_type"]}


def test_integer_accepts_signed_digit_strings_and_empty_means_absent():
    assert Checker({"n": " -3 "}).integer("n", minimum=None) == -3
    empty = Checker({"n": ""})
    assert empty.integer("n") is None and empty.errors == {}


@pytest.mark.parametrize("raw", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1800-01-01", 1e20,
                                 "-5", True, "", "soon"])
def test_dates_out_of_range_or_malformed_are_none(raw):
    assert parse_datetime(raw) is None


@pytest.mark.parametrize(("raw", "fits"), [
    ("1e400", False), ("1e-400", False), ("123456789012345678901234567890", False), ("1000000000000000", False),
    ("0.0000000000000001", False), ("NaN", False), ("Infinity", False),
    ("999999999999999.999999999999999", True), ("-999999999999999", True), ("0.000000000000001", True),
    ("1.500000000000000000000", True), ("0E-500", True), ("0", True)])
def test_decimals_are_held_to_the_limits_table(raw, fits):
    from decimal import Decimal

    from billing.validation import decimal_in_range

    assert decimal_in_range(Decimal(raw)) is fits
    check = Checker({"n": raw})
    check.decimal("n", minimum=None)
    assert (check.errors == {}) is fits


def test_integers_default_to_their_column_and_amounts_to_the_amount_limit():
    from billing.validation import MAX_AMOUNT_CENTS, MAX_DAYS

    check = Checker({"n": 2**31, "cents": MAX_AMOUNT_CENTS + 1, "ok": MAX_AMOUNT_CENTS, "days": MAX_DAYS + 1})
    assert check.integer("n") is None and check.amount_cents("cents") is None and check.days("days") is None
    assert check.amount_cents("ok") == MAX_AMOUNT_CENTS
    assert check.errors == {"n": ["value_is_out_of_range"], "cents": ["value_is_out_of_range"],
                            "days": ["value_is_out_of_range"]}


def test_a_field_refused_is_not_also_missing():
    check = Checker({"amount_cents": 2**63})
    check.amount_cents("amount_cents")
    check.fail("amount_cents", "value_is_mandatory")
    assert check.errors == {"amount_cents": ["value_is_out_of_range"]}
