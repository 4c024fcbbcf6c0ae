"""What the customer portal says in its own words (its prices and reasons come from the other modules)."""

from __future__ import annotations

from decimal import Decimal

from billing.money import decimal_str, format_money
from wording.i18n import DEFAULT_LOCALE, gettext


def top_up_recorded(*, awaits_payment: bool, locale: str = DEFAULT_LOCALE) -> str:
    """A paid top-up was asked for: its invoice is issued, and the credits come once it is paid."""
    if awaits_payment:
        return gettext("Your top-up is recorded: its invoice is issued and the credits added once it is paid.", locale)
    return gettext("Your top-up invoice is issued: the credits are added once it is paid.", locale)


def top_up_limit(*, smallest: bool, amount_cents: int, currency: str, credits: Decimal,
                 locale: str = DEFAULT_LOCALE) -> str:
    """The wallet's smallest or largest paid top-up, in money and in credits."""
    text = "The smallest top-up is {amount} ({credits} credits)." if smallest else (
        "The largest top-up is {amount} ({credits} credits).")
    return gettext(text, locale).format(amount=format_money(amount_cents, currency, locale),
                                        credits=decimal_str(credits))


def top_up_refused(locale: str = DEFAULT_LOCALE) -> str:
    return gettext("Enter a positive number of credits.", locale)


def top_up_too_large(locale: str = DEFAULT_LOCALE) -> str:
    """An amount too large to compute with (1e400): refused before anything is written."""
    return gettext("Enter a smaller number of credits.", locale)


def form_expired(locale: str = DEFAULT_LOCALE) -> str:
    """A form sent without the token of the link it was opened by (forged, or from an older page)."""
    return gettext("This form does not belong to your current link. Reload the page and try again.", locale)
