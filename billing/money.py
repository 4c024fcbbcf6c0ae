"""Money: minor units per currency, the ONE rounding rule, and display formatting.

Settled amounts are integers in the currency's minor unit (cents for EUR/USD, yen for JPY).
Prices and usage-derived amounts stay `Decimal` in major units until a fee is settled, and
`to_minor` is the only place where a Decimal becomes an integer amount.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import NumberPattern, format_currency, get_currency_precision, list_currencies, parse_pattern

# NOTE: ROUND_HALF_UP at the ISO 4217 exponent, once per fee: the rule Lago applies
# (docs/billing.md, Money and rounding: "each rounded once per fee to the currency's minor unit").
ROUNDING = ROUND_HALF_UP
# Arithmetic that must not round: sums and products of stored amounts (40 digits each) stay far below 1,000
# digits, where Python's default context (28 digits) would round a 30-digit value on its own.
EXACT = Context(prec=1000)

# NOTE: ISO 4217's X codes are not money (XXX "no currency", XTS testing, XAU gold, XDR drawing rights...)
# except the CFA and CFP francs and the East Caribbean currencies, which Lago lists too.
_MONEY_X_CODES = frozenset({"XAF", "XCD", "XCG", "XOF", "XPF"})
_KNOWN_CURRENCIES = frozenset(code for code in list_currencies()
                              if not code.startswith("X") or code in _MONEY_X_CODES)


def is_currency(code: object) -> bool:
    return isinstance(code, str) and len(code) == 3 and code.upper() == code and code in _KNOWN_CURRENCIES


def exponent(currency: str) -> int:
    """Digits after the decimal point of the currency's minor unit (EUR 2, JPY 0, BHD 3)."""
    return get_currency_precision(currency)


def round_minor(precise_minor_amount: Decimal) -> int:
    """The one rounding rule: an exact amount of minor units to an integer, half up."""
    # Wide enough for any product of two in-range decimals (the default 28 digits would raise on 10**30).
    return int(precise_minor_amount.quantize(Decimal(1), rounding=ROUNDING, context=EXACT))


CREDIT_PLACES = Decimal("0.00001")


def round_credits(credits: Decimal) -> Decimal:
    """Wallet credits keep 5 decimals (docs/billing.md, Wallets and prepaid credits), rounded half up like money."""
    return credits.quantize(CREDIT_PLACES, rounding=ROUNDING)


def to_minor(amount: Decimal, currency: str) -> int:
    """A major-unit amount as an integer of minor units, rounded by `round_minor`."""
    return round_minor(amount.scaleb(exponent(currency)))


def to_major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def to_major_precise(precise_minor_amount: Decimal, currency: str) -> Decimal:
    return precise_minor_amount.scaleb(-exponent(currency))


def precise_minor(amount: Decimal, currency: str) -> Decimal:
    """The unrounded amount in minor units (Lago's `precise_amount_cents`)."""
    return amount.scaleb(exponent(currency))


def parse_decimal(value: object) -> Decimal | None:
    """A Decimal from an int, a Decimal or a decimal string; None for anything else (never floats' noise)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # Floats arrive from JSON; repr gives the shortest string that round-trips.
        return Decimal(repr(value)) if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            return None
        return parsed if parsed.is_finite() else None
    return None


# What a person may type as an amount: longer is a typing mistake, and more minor units than this would
# overflow a BIGINT column once multiplied.
MAX_TYPED_LENGTH = 40
MAX_TYPED_MINOR = 10**15


def to_minor_exactly(text: str | None, currency: str) -> tuple[int | None, str | None]:
    """A typed amount in major units as minor units, exactly: (cents, None), (None, reason) or (None, None) if empty.

    Never through a float, and never rounded: €29.999 is refused (`too_many_decimals`), not billed as €30.00.
    An unknown currency is the caller's service to report; the amount is still read with 2 decimals.
    """
    text = (text or "").strip()
    if not text:
        return None, None
    amount = parse_decimal(text) if len(text) <= MAX_TYPED_LENGTH else None
    if amount is None:
        return None, "not_a_number"
    minor = amount.scaleb(exponent(currency) if is_currency(currency) else 2)
    if minor != minor.to_integral_value():
        return None, "too_many_decimals"
    if abs(minor) >= MAX_TYPED_MINOR:
        return None, "value_is_out_of_range"
    return int(minor), None


def format_money(minor: int, currency: str, locale: str = "en_US") -> str:
    """The amount as babel's `format_currency` writes it (e.g. "€1,234.56"), with the locale's pattern read once."""
    # NOTE: format_currency parses the locale and its pattern on every call; a live page formats dozens of amounts
    # per poll, so both are kept (the same defaults: standard pattern, the currency's digits, quantized).
    parsed, pattern = _currency_pattern(locale)
    return pattern.apply(to_major(minor, currency), parsed, currency=currency, currency_digits=True,
                         decimal_quantization=True, group_separator=True)


@lru_cache(maxsize=64)
def _currency_pattern(locale: str) -> tuple[Locale, NumberPattern]:
    parsed = Locale.parse(locale)
    return parsed, parse_pattern(parsed.currency_formats["standard"])


def format_price(amount: Decimal, currency: str, locale: str = "en_US") -> str:
    """A price as configured: at least the currency's digits, and every sub-cent digit it has (never rounded)."""
    # A wide context: babel quantizes in the current one, whose 28 digits a 25-digit price with decimals exceeds.
    with localcontext(EXACT):
        return format_currency(amount, currency, locale=locale, currency_digits=True, decimal_quantization=False)


# NOTE: a fee's unit price is often a quotient (a prorated subscription fee, a graduated charge's amount ÷ units)
# with up to 28 digits, which no column holds. Documents print 6 significant digits below 1 and 6 decimals from 1
# up, rounded half up, trailing zeros dropped, never fewer digits than the currency's: Lago's invoice PDF
# (docs/billing.md, Money and rounding: "Unit prices on documents"). Display only: no amount is computed from it.
UNIT_PRICE_DIGITS = 6


def displayed_unit_price(amount: Decimal) -> Decimal:
    """A fee's unit price as documents show it: 0.0002 and 49 as they are, 8.709677419… as 8.709677."""
    lowest_digit = amount.adjusted() - UNIT_PRICE_DIGITS + 1 if abs(amount) < 1 else -UNIT_PRICE_DIGITS
    rounded = amount.quantize(Decimal(1).scaleb(lowest_digit), rounding=ROUNDING, context=EXACT)
    if rounded == rounded.to_integral_value():
        return rounded.quantize(Decimal(1), context=EXACT)
    return rounded.normalize(EXACT)


def format_unit_price(amount: Decimal, currency: str, locale: str = "en_US") -> str:
    """A fee's unit price on an invoice or a screen: `displayed_unit_price`, written as `format_price` writes it."""
    return format_price(displayed_unit_price(amount), currency, locale)


def decimal_str(value: Decimal) -> str:
    """A Decimal as the plain string the API returns ("12.5", "3", "0.0125")."""
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def locale_for_country(country: str | None, default: str = "en_US") -> str:
    """The most likely locale of a country (ISO 3166 alpha-2), e.g. FR -> fr_FR, for formatting amounts."""
    if not country:
        return default
    try:
        return str(Locale.parse(f"und_{country.upper()}"))
    except (ValueError, UnknownLocaleError):
        return default
