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
