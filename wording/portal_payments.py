"""What the portal's payment pages say that is built in Python: refusals of a card or a payment, notices."""

from __future__ import annotations

from wording.i18n import DEFAULT_LOCALE, gettext

# A set-up or a payment refused by Tally (not by the card issuer), by the core's reason code.
_REFUSALS = {
    "payment_provider_unavailable": "The payment service is not answering. Please try again in a few minutes.",
    "payment_provider_error": "The payment service refused the request. Please try again in a few minutes.",
    "payment_provider_customer_error": "Your account could not be set up with the payment service. "
                                       "Please contact us.",
    "no_payment_provider": "Card payments are not set up for your account. Please contact us.",
    "payment_method_not_found": "This card is no longer saved. Reload the page and choose another one.",
    "invalid_payment_method": "The card could not be read. Please enter it again.",
    "link_expired": "This link has expired. Ask us for a new one.",
}

_NOTICES = {
    "added": "Your card is saved.",
    "default": "Your default card is changed.",
    "removed": "The card is removed.",
}


def refusal(code: str, locale: str = DEFAULT_LOCALE) -> str:
    """Why Tally could not save a card or take a payment, for a reason code of the core."""
    return gettext(_REFUSALS.get(code, "Something went wrong. Please try again in a few minutes."), locale)


def declined(message: str | None, locale: str = DEFAULT_LOCALE) -> str:
    """A card refused by its issuer: the provider's own words when it gave some."""
    return message or gettext("The card was declined.", locale)


def payment_failed(message: str | None, locale: str = DEFAULT_LOCALE) -> str:
    """The last attempt to pay an invoice failed: why, in the provider's words."""
    if message:
        return gettext("The last payment did not go through: {reason}", locale).format(reason=message)
    return gettext("The last payment did not go through.", locale)


def notice(code: str | None, locale: str = DEFAULT_LOCALE) -> str | None:
    """The line shown after a change to the saved cards (`added`, `default`, `removed`)."""
    text = _NOTICES.get(code or "")
    return gettext(text, locale) if text else None
