"""What the portal's payment pages say that is built in Python: refusals of a card or a payment, notices."""

from __future__ import annotations

from wording.i18n import DEFAULT_LOCALE, N_, gettext

# A set-up or a payment refused by Tally (not by the card issuer), by the core's reason code.
_REFUSALS = {
    "payment_provider_unavailable": N_("The payment service is not answering. Please try again in a few minutes."),
    "payment_provider_error": N_("The payment service refused the request. Please try again in a few minutes."),
    "payment_provider_customer_error": N_("Your account could not be set up with the payment service. "
                                       "Please contact us."),
    "no_payment_provider": N_("Card payments are not set up for your account. Please contact us."),
    "payment_method_not_found": N_("This card is no longer saved. Reload the page and choose another one."),
    "invalid_payment_method": N_("The card could not be read. Please enter it again."),
    "link_expired": N_("This link has expired. Ask us for a new one."),
    "payment_method_of_previous_provider": N_("This payment method was saved with a payment service we no longer use "
                                           "for your account: it cannot be the default."),
}

_NOTICES = {
    "added": N_("Your card is saved."),
    "default": N_("Your default payment method is changed."),
    "removed": N_("The payment method is removed."),
}


# The payment-methods page in the words of what the customer's provider sets up (portal.payments.method_type):
# a card (Stripe, Adyen), or a Direct Debit mandate (GoCardless, which takes no card: "card" never shows then).
_CARD_WORDS = {
    "saved_title": N_("Saved cards"),
    "add_title": N_("Add a card"),
    "save_button": N_("Save card"),
    "charged": N_("Invoices are charged to your default card when they are issued."),
    "empty": N_("No saved card yet. Without one, invoices are not charged automatically: you pay each one with its "
                "Pay button."),
    "remove_button": N_("Remove this card"),
    "default_one": N_("This is your default card: your most recently added other card becomes the default, and "
                      "future invoices are charged to it."),
    "other_one": N_("This card will no longer be available for payments."),
}
_DEBIT_WORDS = {
    "saved_title": N_("Your {scheme} mandates"),
    "add_title": N_("Set up a {scheme}"),
    "save_button": N_("Set up a {scheme}"),
    "charged": N_("Invoices are collected by {scheme} from your default mandate when they are issued."),
    "empty": N_("No {scheme} mandate yet. Without one, invoices are not collected automatically: you pay each one "
                "with its Pay button."),
    "remove_button": N_("Cancel this mandate"),
    "default_one": N_("This is your default mandate: your most recent other one becomes the default, and future "
                      "invoices are collected from it."),
    "other_one": N_("This mandate will no longer be used for payments."),
}
SCHEMES = {"sepa_debit": N_("SEPA Direct Debit"), "bacs_debit": N_("Bacs Direct Debit")}


def method_words(method_type: str, locale: str | None = DEFAULT_LOCALE) -> dict[str, str]:
    """The payment-methods page's headings, buttons and confirmations for what the provider sets up."""
    scheme = SCHEMES.get(method_type)
    if scheme is None:
        return {key: gettext(text, locale) for key, text in _CARD_WORDS.items()}
    name = gettext(scheme, locale)
    return {key: gettext(text, locale).format(scheme=name) for key, text in _DEBIT_WORDS.items()}


def previous_provider(provider: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """The heading of the methods kept from a provider the customer no longer pays through."""
    return gettext("Saved with {provider}, no longer used", locale).format(provider=provider)


def refusal(code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """Why Tally could not save a card or take a payment, for a reason code of the core."""
    return gettext(_REFUSALS.get(code, N_("Something went wrong. Please try again in a few minutes.")), locale)


def declined(message: str | None, locale: str | None = DEFAULT_LOCALE) -> str:
    """A card refused by its issuer: the provider's own words when it gave some."""
    return message or gettext("The card was declined.", locale)


def payment_failed(message: str | None, locale: str | None = DEFAULT_LOCALE) -> str:
    """The last attempt to pay an invoice failed: why, in the provider's words."""
    if message:
        return gettext("The last payment did not go through: {reason}", locale).format(reason=message)
    return gettext("The last payment did not go through.", locale)


def notice(code: str | None, locale: str | None = DEFAULT_LOCALE) -> str | None:
    """The line shown after a change to the saved cards (`added`, `default`, `removed`)."""
    text = _NOTICES.get(code or "")
    return gettext(text, locale) if text else None
