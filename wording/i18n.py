"""Translation hooks of the screens: sentences are written in English and looked up in the gettext catalogs
(`wording/locales/<language>/LC_MESSAGES/tally.mo`) through billing.i18n, which PDFs and emails use too.

`locale` arguments default to None: the language of the render under way (billing.i18n.using; a portal request
sets its customer's, the admin stays English). `N_` marks a sentence written in a table, translated where shown.
"""

from __future__ import annotations

from billing.i18n import babel_locale, current, gettext, ngettext, translations

DEFAULT_LOCALE = None  # the current render's language (English outside the portal, PDFs and emails)

__all__ = ["DEFAULT_LOCALE", "N_", "babel_locale", "current", "gettext", "ngettext", "translations"]


def N_(text: str) -> str:
    """Mark `text` for translation where it is written (a table); it is translated where it is shown."""
    return text
