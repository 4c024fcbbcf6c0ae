from decimal import Decimal

import pytest

from billing.money import decimal_str, exponent, parse_decimal, round_minor, to_minor, to_minor_exactly


@pytest.mark.parametrize(("amount", "currency", "minor"), [
    (Decimal("9.875"), "EUR", 988),      # half up, not banker's rounding (which would give 988 too)
    (Decimal("0.125"), "EUR", 13),       # banker's rounding would give 12
    (Decimal("2.5"), "JPY", 3),          # zero-decimal currency
    (Decimal("1.0005"), "BHD", 1001),    # three-decimal currency
    (Decimal("0"), "USD", 0),
    (Decimal("-0.125"), "EUR", -13),     # half away from zero for credits
])
def test_to_minor_rounds_half_up_at_the_currency_exponent(amount, currency, minor):
    assert to_minor(amount, currency) == minor


def test_round_minor_is_the_one_rule():
    assert round_minor(Decimal("1100.5")) == 1101
    assert round_minor(Decimal("1645.161290322580645")) == 1645


def test_exponents():
    assert (exponent("EUR"), exponent("JPY"), exponent("KWD")) == (2, 0, 3)


@pytest.mark.parametrize(("raw", "parsed"), [
    ("0.0125", Decimal("0.0125")), (3, Decimal(3)), (2.5, Decimal("2.5")), (0.1, Decimal("0.1")),
    ("abc", None), (True, None), (None, None), ("NaN", None), (float("inf"), None), ([], None),
])
def test_parse_decimal_never_lets_float_noise_in(raw, parsed):
    assert parse_decimal(raw) == parsed


def test_decimal_str():
    assert [decimal_str(Decimal(v)) for v in ("250", "19.750", "0.0125", "1E+2")] == ["250", "19.75", "0.0125", "100"]


def test_unit_prices_keep_every_sub_cent_digit_and_the_currency_digits():
    from billing.money import format_price

    assert format_price(Decimal("0.005"), "EUR") == "€0.005"
    assert format_price(Decimal("0.5"), "EUR") == "€0.50"
    assert format_price(Decimal("5"), "JPY") == "¥5"
    assert format_price(Decimal("8.709677419354838709677"), "EUR") == "€8.709677419354838709677"  # as configured


@pytest.mark.parametrize(("stored", "shown"), [
    ("0.0002", "0.0002"),                                  # few decimals: as stored
    ("0.001", "0.001"), ("0.5", "0.5"), ("49", "49"), ("49.000000000000000", "49"), ("0", "0"),
    ("8.709677419354838709677", "8.709677"),               # a prorated fee: 6 decimals from 1 up
    ("0.000123456789", "0.000123457"),                     # below 1: 6 significant digits
    ("1E-12", "1E-12"),                                    # tiny, still exact: one significant digit
    ("2.0000005", "2.000001"), ("0.12345650", "0.123457"),  # half up, as money (half even: 2.000000, 0.123456)
    ("0.99999999", "1"),
    ("-8.709677419354838709677", "-8.709677"),
    ("1234567890123456789012345.123456789", "1234567890123456789012345.123457"),  # beyond 28 digits
])
def test_a_fees_unit_price_is_shown_to_6_significant_digits_below_1_and_6_decimals_above(stored, shown):
    from billing.money import displayed_unit_price

    assert displayed_unit_price(Decimal(stored)) == Decimal(shown)
    assert str(displayed_unit_price(Decimal(stored))) == shown  # trailing zeros dropped


@pytest.mark.parametrize(("stored", "currency", "locale", "text"), [
    ("0.0002", "EUR", "en_US", "€0.0002"), ("49", "EUR", "en_US", "€49.00"), ("0.5", "EUR", "en_US", "€0.50"),
    ("8.709677419354838709677", "EUR", "en_US", "€8.709677"),
    ("8.709677419354838709677", "EUR", "fr_FR", "8,709677\u00a0€"),
    ("1E-12", "EUR", "en_US", "€0.000000000001"),
    ("1234567890123456789012345.123456789", "USD", "en_US", "$1,234,567,890,123,456,789,012,345.123457"),
    ("8.709677419354838709677", "JPY", "en_US", "¥8.709677"), ("49", "JPY", "en_US", "¥49"),
])
def test_a_fees_unit_price_is_written_with_at_least_the_currencys_digits(stored, currency, locale, text):
    from billing.money import format_unit_price

    assert format_unit_price(Decimal(stored), currency, locale) == text


@pytest.mark.parametrize(("typed", "currency", "result"), [
    ("29.99", "EUR", (2999, None)), (" 10 ", "EUR", (1000, None)), ("", "EUR", (None, None)),
    (None, "EUR", (None, None)), ("1500", "JPY", (1500, None)), ("1.005", "BHD", (1005, None)),
    ("29.999", "EUR", (None, "too_many_decimals")), ("0.5", "JPY", (None, "too_many_decimals")),
    ("ten", "EUR", (None, "not_a_number")), ("1" * 41, "EUR", (None, "not_a_number")),
    ("1e13", "EUR", (None, "value_is_out_of_range")), ("12.34", "???", (1234, None)),
])
def test_to_minor_exactly_never_rounds_what_a_person_typed(typed, currency, result):
    assert to_minor_exactly(typed, currency) == result


@pytest.mark.parametrize("locale", ["en_US", "fr_FR", "de_DE", "es_ES", "it_IT", "ja_JP"])
@pytest.mark.parametrize(("minor", "currency"), [
    (123456, "EUR"), (-5, "EUR"), (0, "USD"), (5, "JPY"), (-1234567, "JPY"), (1005, "BHD"), (99, "CHF"),
    (10**15 + 7, "GBP"),
])
def test_money_is_written_as_babels_format_currency_writes_it(minor, currency, locale):
    """format_money keeps the locale's pattern between calls: what it writes must not change for that."""
    from babel.numbers import format_currency

    from billing.money import format_money, to_major

    assert format_money(minor, currency, locale) == format_currency(to_major(minor, currency), currency, locale=locale)
