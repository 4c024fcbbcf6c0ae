"""What the embeddable widgets say in their own words (a top-up's outcome, the bill's caveats, a refused link)."""

from __future__ import annotations

from wording.i18n import DEFAULT_LOCALE, gettext


def fee_timing(*, in_advance: bool, locale: str | None = DEFAULT_LOCALE) -> str:
    if in_advance:
        return gettext("billed in advance", locale)
    return gettext("billed at period end", locale)


def bill_estimate(locale: str | None = DEFAULT_LOCALE) -> str:
    """The bill widget's caveat: what the invoice may still take off."""
    return gettext("An estimate so far, before coupons and prepaid credits.", locale)


def link_expired(locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext("This view has expired. Reload the page to see it again.", locale)


def not_available(locale: str | None = DEFAULT_LOCALE) -> str:
    """A widget the link does not grant, or a customer who no longer exists."""
    return gettext("This view is not available.", locale)


def form_refused(locale: str | None = DEFAULT_LOCALE) -> str:
    """A form sent without its token, or from another site."""
    return gettext("This form does not belong to this view. Reload the page and try again.", locale)
