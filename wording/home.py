"""What the admin's home says in Python: a figure against last month's, and the months of a chart."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_percent

from wording.i18n import DEFAULT_LOCALE, N_, babel_locale, gettext

AGAINST_LAST = N_("{change} on last month")
NOTHING_LAST_MONTH = N_("nothing last month")
SAME_AS_LAST = N_("same as last month")


def change_text(change: Decimal | None, locale: str | None = DEFAULT_LOCALE) -> str:
    """A month's figure against the month before (`change` a fraction: 0.125 is "+12.5% on last month")."""
    if change is None:
        return gettext(NOTHING_LAST_MONTH, locale)
    if not change:
        return gettext(SAME_AS_LAST, locale)
    percent = format_percent(change, "+#,##0.#%;-#,##0.#%", locale=babel_locale(locale))
    return gettext(AGAINST_LAST, locale).format(change=percent)


def month_name(month: date, locale: str | None = DEFAULT_LOCALE, *, width: str = "MMM") -> str:
    """A chart's month: "Nov" (axis), or with width "MMMM y" "November 2026" (figures and descriptions)."""
    return format_date(month, width, locale=babel_locale(locale))
