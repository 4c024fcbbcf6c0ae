"""The languages of what a customer reads (portal, widgets, PDFs, emails): which one, and its words.

A customer's language is Lago's `billing_configuration.document_locale` when Tally ships it, else the
organization's `document_locale`, else English (`document_language`: the one place that decides). Sentences are
written in English and looked up in the gettext catalogs `wording/locales/<language>/LC_MESSAGES/tally.mo`
(compiled from the committed .po files by the install step); amounts and days are formatted by Babel for the
language, in the customer's currency. Billing owns this, as it owns money formatting (billing.money), because PDFs
and emails are rendered here, in jobs as well as in requests; `wording/` re-exports it for the screens.

The language of a render is a context variable (`using`), so that templates and `wording` functions need not pass
it along: a portal request sets it to its customer's, a PDF or an email sets it while it is rendered, and anything
else (the admin) reads English.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel.dates import format_date
from babel.numbers import format_decimal

from billing.money import decimal_str, format_money

ENGLISH = "en"
# NOTE: the languages Tally ships (issue 19); each but English has a catalog under wording/locales. The API accepts
# any ISO 639-1 code in document_locale, as Lago does; a code not listed here falls back (document_language).
LANGUAGES: dict[str, str] = {"en": "English", "fr": "Français", "de": "Deutsch", "es": "Español", "it": "Italiano"}
CATALOGS = Path(__file__).resolve().parents[1] / "wording" / "locales"
DOMAIN = "tally"

_current: ContextVar[str] = ContextVar("tally_language", default=ENGLISH)


def shipped(code: str | None) -> str | None:
    """`code` (any case, "fr" or "fr_FR") as a language Tally ships, or None."""
    language = (code or "").strip().replace("-", "_").split("_")[0].lower()
    return language if language in LANGUAGES else None


def document_language(customer_locale: str | None, organization_locale: str | None = None) -> str:
    """The language of a customer's portal, PDFs and emails: its own when shipped, else its organization's, else
    English."""
    return shipped(customer_locale) or shipped(organization_locale) or ENGLISH


def customer_language(customer) -> str:
    """`document_language` of a Customer row (its organization's default through the relationship)."""
    organization = customer.organization
    return document_language(customer.document_locale, organization.document_locale if organization else None)


def N_(text: str) -> str:
    """Mark `text` for translation where it is written (a table); it is translated where it is used."""
    return text


def NN_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a sentence's two forms for translation (`ngettext` picks one where it is used)."""
    return singular, plural


def current() -> str:
    """The language of the render under way (English outside any `using`)."""
    return _current.get()


@contextmanager
def using(language: str | None) -> Iterator[str]:
    """Render in `language` (a shipped one; anything else: English) until the block ends."""
    token = _current.set(shipped(language) or ENGLISH)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def set_language(language: str | None) -> None:
    """Make `language` the current one for the rest of this context (a web request: it starts each one anew)."""
    _current.set(shipped(language) or ENGLISH)


def babel_locale(locale: str | None = None) -> str:
    """The Babel locale for a language: English as Tally has always written it (en_US), others as they are."""
    locale = locale or current()
    return "en_US" if locale in (ENGLISH, "en_US") else locale


@lru_cache(maxsize=32)
def catalog(language: str) -> _gettext.NullTranslations:
    """The compiled catalog of `language` (English or a missing one: the English text itself)."""
    return _gettext.translation(DOMAIN, localedir=CATALOGS, languages=[language], fallback=True)


def translations(locale: str | None = None) -> _gettext.NullTranslations:
    """The catalog every lookup goes through (tests swap it for a strict one)."""
    return catalog((locale or current()).split("_")[0])


def gettext(text: str, locale: str | None = None) -> str:
    """`text` in the words of `locale` (default: the current language)."""
    return translations(locale).gettext(text)


def ngettext(singular: str, plural: str, n: Decimal | int, locale: str | None = None) -> str:
    """The form of a sentence for `n` (a decimal like 1.5 takes the plural, as CLDR's "other")."""
    count = int(n) if n == int(n) else 2  # NOTE: gettext's plural rules take whole numbers
    return translations(locale).ngettext(singular, plural, count)


def day_text(day: date | datetime, locale: str | None = None) -> str:
    """A day: "1 Dec 2026" in English (as Tally always wrote it), the language's medium date elsewhere."""
    language = (locale or current()).split("_")[0]
    if language == ENGLISH:
        return f"{day.day} {day:%b %Y}"
    return format_date(day, "medium", locale=language)


def short_day_text(day: date | datetime, locale: str | None = None) -> str:
    """A day within a chart's month: "1 Dec" in English, the language's own elsewhere ("1 déc.", "1. Dez.")."""
    language = (locale or current()).split("_")[0]
    if language == ENGLISH:
        return f"{day.day} {day:%b}"
    return format_date(day, "d MMM", locale=language)


def number_text(value: Decimal | int | None, locale: str | None = None) -> str:
    """A count of units: "2.5" in English (as the API writes it), "2,5" or "1 234,5" as other languages write them."""
    value = Decimal(value or 0)
    language = (locale or current()).split("_")[0]
    if language == ENGLISH:
        return decimal_str(value)
    return format_decimal(value, locale=language, decimal_quantization=False)


def money_text(minor: int, currency: str, locale: str | None = None) -> str:
    """An amount in minor units, in its own currency, written as the language writes amounts."""
    return format_money(int(minor or 0), currency or "USD", babel_locale(locale))


def compile_catalogs() -> list[str]:
    """Compile each committed .po whose .mo is missing or older (what `make catalogs` does); the languages compiled.

    For a plain `pytest` or a checkout run without `make install`: the .mo files are not committed."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    compiled = []
    for po_path in sorted(CATALOGS.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            messages = read_po(po_file)
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, messages)
        compiled.append(po_path.parts[-3])
    catalog.cache_clear()
    return compiled
