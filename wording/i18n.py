"""Translation hooks: sentences are written in English and looked up here, so that gettext catalogs
(`wording/locales/<locale>/LC_MESSAGES/tally.mo`) can be added without touching the callers.

Until a catalog exists every lookup answers the English text (gettext's fallback), and plural forms
follow English (`ngettext` picks the singular for exactly 1).
"""

from __future__ import annotations

import gettext as _gettext
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

DEFAULT_LOCALE = "en_US"
LOCALES = Path(__file__).resolve().parent / "locales"


def N_(text: str) -> str:
    """Mark `text` for translation where it is written (a table); it is translated where it is shown."""
    return text


@lru_cache(maxsize=32)
def translations(locale: str = DEFAULT_LOCALE) -> _gettext.NullTranslations:
    return _gettext.translation("tally", localedir=LOCALES, languages=[locale], fallback=True)


def gettext(text: str, locale: str = DEFAULT_LOCALE) -> str:
    """`text` in `locale`'s words."""
    return translations(locale).gettext(text)


def ngettext(singular: str, plural: str, n: Decimal | int, locale: str = DEFAULT_LOCALE) -> str:
    """The form of a sentence for `n` (English: the singular for exactly 1, a decimal like 1.5 is plural)."""
    count = int(n) if n == int(n) else 2  # NOTE: gettext's plural rules take whole numbers; CLDR's "other"
    return translations(locale).ngettext(singular, plural, count)
