"""What the customer portal says in its own words (its prices and reasons come from the other modules)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from babel import Locale

from billing.money import decimal_str, format_money
from wording.i18n import DEFAULT_LOCALE, N_, babel_locale, gettext


def top_up_recorded(*, awaits_payment: bool, locale: str | None = DEFAULT_LOCALE) -> str:
    """A paid top-up was asked for: its invoice is issued, and the credits come once it is paid."""
    if awaits_payment:
        return gettext("Your top-up is recorded: its invoice is issued and the credits added once it is paid.", locale)
    return gettext("Your top-up invoice is issued: the credits are added once it is paid.", locale)


def top_up_limit(*, smallest: bool, amount_cents: int, currency: str, credits: Decimal,
                 locale: str | None = DEFAULT_LOCALE) -> str:
    """The wallet's smallest or largest paid top-up, in money and in credits."""
    text = N_("The smallest top-up is {amount} ({credits} credits).") if smallest else (
        N_("The largest top-up is {amount} ({credits} credits)."))
    return gettext(text, locale).format(amount=format_money(amount_cents, currency, babel_locale(locale)),
                                        credits=decimal_str(credits))


def top_up_refused(locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext("Enter a positive number of credits.", locale)


def top_up_too_large(locale: str | None = DEFAULT_LOCALE) -> str:
    """An amount too large to compute with (1e400): refused before anything is written."""
    return gettext("Enter a smaller number of credits.", locale)


def form_expired(locale: str | None = DEFAULT_LOCALE) -> str:
    """A form sent without the token of the link it was opened by (forged, or from an older page)."""
    return gettext("This form does not belong to your current link. Reload the page and try again.", locale)


def details_saved(locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext("Your billing details are saved. Your next invoices will carry them.", locale)


# Why a field of the billing details form was refused (billing.customers.services.update_billing_details).
_DETAILS_REASONS = {
    "value_is_mandatory": N_("Required"),
    "value_is_too_long": N_("Too long"),
    "invalid_type": N_("Not the right kind of value"),
    "invalid_email_format": N_("Enter an email address like name@example.com (several: separate them with commas)"),
    "country_code_invalid": N_("Choose a country from the list"),
    "tax_identification_number_invalid": N_("Not the shape of a tax number of this country: check it, with its "
                                          "country prefix (e.g. FR40303265045)"),
}


def details_reason(code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext(_DETAILS_REASONS.get(code, N_("Not accepted")), locale)


def country_choices(locale: str | None = DEFAULT_LOCALE) -> tuple[tuple[str, str], ...]:
    """(ISO 3166 code, name) of every country, by name in `locale` (CLDR, through babel)."""
    return _country_choices(babel_locale(locale))


@lru_cache(maxsize=8)
def _country_choices(locale: str) -> tuple[tuple[str, str], ...]:
    names = Locale.parse(locale).territories
    codes = (code for code in names if len(code) == 2 and code.isalpha()
             and code not in {"ZZ", "QO", "EU", "EZ", "UN", "XA", "XB"})
    return tuple(sorted(((code, names[code]) for code in codes), key=lambda item: item[1]))


def link_email_missing(locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext("Enter the email address your invoices are sent to.", locale)


def link_requests_throttled(*, minutes: int, locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext("Too many requests for a new link. Try again in {minutes} min.", locale).format(minutes=minutes)


def top_up_charging(locale: str | None = DEFAULT_LOCALE) -> str:
    """A top-up of a customer with a default card: the payment core charges it without them."""
    return gettext("Your top-up invoice is issued and we are charging your card: the credits are added once it is "
                   "paid.", locale)


def top_up_to_pay(locale: str | None = DEFAULT_LOCALE) -> str:
    """A top-up of a customer who can pay by card but has no saved card: they pay it on its page."""
    return gettext("Your top-up invoice is issued: pay it to receive the credits.", locale)
