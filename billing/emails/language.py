"""The language of a customer's emails (billing.i18n.customer_language) and how they write amounts and days.

English mails write amounts as the customer's country does (as they always have) and days as ISO dates; a mail in
another language writes both as that language does, the customer's currency kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from billing import i18n
from billing.money import format_money, locale_for_country


@dataclass(frozen=True)
class MailLanguage:
    language: str  # "en", "fr", ...
    money_locale: str  # the Babel locale amounts are written in

    def money(self, minor: int, currency: str) -> str:
        return format_money(int(minor), currency, self.money_locale)

    def day(self, iso_day: str | None) -> str:
        """A day kept as an ISO date with the mail's details: as it is in English, the language's day elsewhere."""
        if not iso_day or self.language == i18n.ENGLISH:
            return iso_day or ""
        return i18n.day_text(date.fromisoformat(iso_day[:10]), self.language)


def mail_language(customer) -> MailLanguage:
    """The language of `customer`'s emails and the locale of their amounts."""
    language = i18n.customer_language(customer)
    country_locale = locale_for_country(customer.country or customer.organization.country)
    if language == i18n.ENGLISH:
        return MailLanguage(language, country_locale)
    # The country's way within the language (fr_BE, de_CH) when they agree; the language's own otherwise.
    return MailLanguage(language, country_locale if country_locale.split("_")[0] == language else language)
