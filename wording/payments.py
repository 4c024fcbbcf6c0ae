"""What the admin says about payments: connected providers, a customer's provider link, an invoice's payments
(manual ones and charges through the provider), and why an action was refused."""

from __future__ import annotations

from collections.abc import Mapping

from wording.i18n import DEFAULT_LOCALE, N_, gettext
from wording.reasons import reason

# Reasons of the provider form, the customer's link form and the record-a-payment form, per field where the
# field makes them clearer (billing.payments.providers, billing.customers.services, billing.payments.collection).
FIELD_REASONS = {
    ("code", "value_is_invalid"): N_("Letters, digits, dots, dashes and underscores only"),
    ("code", "value_already_exist"): N_("Another provider of this organization already has this code"),
    ("code", "value_is_mandatory"): N_("Required: the code customers are linked with (e.g. stripe_eu)"),
    ("secret_key", "value_is_mandatory"): N_("Required: the secret API key from Stripe's dashboard (sk_…)"),
    ("api_base", "value_is_invalid_url"): N_("An address such as http://127.0.0.1:8420, with no path"),
    ("api_key", "value_is_mandatory"): N_("Required: the API key of Adyen's web service user (AQE…)"),
    ("merchant_account", "value_is_mandatory"): N_("Required: the merchant account payments go to"),
    ("hmac_key", "value_is_mandatory"): N_("Required: the HMAC key of the Standard webhook at Adyen"),
    ("hmac_key", "value_is_invalid"): N_("Hexadecimal, as Adyen shows it (0-9, A-F)"),
    ("live_prefix", "value_is_invalid"): N_("Only the prefix of the live URLs: letters, digits and dashes"),
    ("access_token", "value_is_mandatory"): N_("Required: a read-write access token from GoCardless"),
    ("webhook_secret", "value_is_mandatory"): N_("Required: the secret of the webhook endpoint at GoCardless"),
    ("environment", "value_is_invalid"): N_("Sandbox or live"),
    ("name", "value_is_invalid"): N_("At most 255 characters"),
    ("payment_provider_code", "payment_provider_not_found"): N_("Not one of the connected providers"),
    ("provider_customer_id", "value_is_mandatory"): N_(
        "Type the provider's customer id (cus_…), or choose to create one"),
    ("amount_cents", "greater_than_invoice_due_amount"): N_("More than what the invoice still owes"),
    ("amount_cents", "value_is_out_of_range"): N_("An amount above 0"),
    ("amount_cents", "value_is_mandatory"): N_("Required"),
    ("amount_cents", "not_a_number"): N_("Not an amount"),
    ("amount_cents", "too_many_decimals"): N_("More decimals than the currency has"),
    ("reference", "value_is_mandatory"): N_("Required: the transfer's or cheque's reference"),
    ("reference", "value_is_too_long"): N_("At most 40 characters"),
    ("paid_at", "invalid_date"): N_("A date, e.g. 2026-11-10"),
    ("paid_at", "in_the_future"): N_("Not a day to come: the day the money arrived"),
}

# Refusals of a whole action.
REFUSALS = {
    "payments_in_flight": N_("A payment through this provider is still in flight: wait until it succeeds or fails, "
                             "then disconnect it."),
    "invoice_not_payable": N_("Only a finalized invoice that is not fully paid can be paid."),
    "payment_in_progress": N_("A charge through the payment provider is in flight for this invoice: wait for its "
                              "answer first."),
    "no_payment_provider": N_("This customer has no payment provider, or is not linked to a customer there yet."),
    "payment_provider_customer_error": N_("The customer could not be created at the provider: see the error above."),
    "payment_provider_error": N_("The provider refused: check its settings on the Payment providers page."),
    "payment_provider_unavailable": N_("The provider did not answer: try again in a moment."),
    "nothing_due": N_("Nothing is due on this invoice."),
    "no_payment_method": N_("The customer has no default payment method: send them the pay link instead."),
    "payment_provider_not_found": N_("Choose one of the connected providers."),
    "payment_provider": N_("This provider is no longer connected."),
    "settings_unreadable": N_("This provider's settings cannot be read (SECRET_KEY changed): connect it again."),
}

NOTICES = {
    "provider_connected": N_("{name} connected. Register its webhook URL at the provider (shown below)."),
    "provider_saved": N_("{name} saved."),
    "provider_disconnected": N_("{name} disconnected."),
    "customer_link_saved": N_("Payment provider saved: Tally links the customer at the provider in the background."),
    "customer_link_removed": N_("Payment provider removed: this customer's invoices are no longer collected."),
    "payment_recorded": N_("Payment of {amount} recorded."),
    # A charge started by "Retry payment", by what it came to.
    "charge_succeeded": N_("Charged: the payment succeeded."),
    "charge_failed": N_("The charge failed: {reason}"),
    "charge_requires_action": N_("The bank asks the customer to confirm the payment: they are sent a link."),
    "charge_processing": N_("Charge sent: the provider's answer will update the invoice."),
}

PAYMENT_STATUSES = {
    "pending": N_("pending"),
    "processing": N_("processing"),
    "requires_action": N_("awaiting the customer"),
    "succeeded": N_("succeeded"),
    "failed": N_("failed"),
}
PAYMENT_TYPES = {"manual": N_("manual"), "provider": N_("provider")}
# The setting names of a connected provider (billing.payments.providers), as the list shows them.
SETTING_LABELS = {
    "secret_key": N_("Secret key"),
    "webhook_secret": N_("Webhook signing secret"),
    "publishable_key": N_("Publishable key"),
    "api_base": N_("API base"),
    "api_key": N_("API key"),
    "hmac_key": N_("HMAC key"),
    "merchant_account": N_("Merchant account"),
    "live_prefix": N_("Live prefix"),
    "client_key": N_("Client key"),
    "access_token": N_("Access token"),
}


# What to type in each setting of a provider's form, by kind (the admin's connect and edit screens).
SETTING_HINTS = {
    ("stripe", "secret_key"): N_("From Stripe's dashboard, Developers › API keys (sk_live_… or sk_test_…). "
                                 "Stored encrypted, never shown again."),
    ("stripe", "webhook_secret"): N_("whsec_…: the signing secret of the webhook endpoint you register at Stripe "
                                     "(its URL is shown once connected)."),
    ("stripe", "publishable_key"): N_("pk_…: lets customers type their card into Stripe's own field in the portal."),
    ("stripe", "api_base"): N_("Only to talk to a local test server instead of Stripe (e.g. localstripe). "
                               "Leave blank for Stripe."),
    ("adyen", "api_key"): N_("Customer Area › Developers › API credentials: the web service user's API key. "
                             "Stored encrypted, never shown again."),
    ("adyen", "merchant_account"): N_("The merchant account cards are charged through, as the Customer Area "
                                      "names it."),
    ("adyen", "hmac_key"): N_("The HMAC key (hexadecimal) you generate on the Standard webhook at Adyen "
                              "(its URL is shown once connected)."),
    ("adyen", "live_prefix"): N_("Live accounts only: the prefix of your live API URLs (Customer Area › "
                                 "Developers › API URLs). Leave blank for Adyen's test environment."),
    ("adyen", "api_base"): N_("Only to talk to a local test server instead of Adyen. Leave blank for Adyen."),
    ("gocardless", "access_token"): N_("GoCardless dashboard › Developers › Create › Access token, read-write. "
                                       "Stored encrypted, never shown again."),
    ("gocardless", "webhook_secret"): N_("The secret of the webhook endpoint you create at GoCardless "
                                         "(its URL is shown once connected)."),
    ("gocardless", "environment"): N_("Where the access token comes from: the sandbox, or your live account."),
    ("gocardless", "api_base"): N_("Only to talk to a local test server instead of GoCardless. "
                                   "Leave blank for GoCardless."),
}
SETTING_PLACEHOLDERS = {"publishable_key": "pk_test_…", "api_base": "http://127.0.0.1:8420",
                        "merchant_account": "AcmeCloudECOM", "live_prefix": "1797a841fbb37ca7-AdyenDemo"}


def setting_hint(kind: str, name: str, stored: str | None = None, retype: bool = False,
                 locale: str | None = DEFAULT_LOCALE) -> str:
    """What to type in a provider's setting; for a secret already stored, that a blank keeps it; for a secret typed
    in a form that was refused, that it must be typed again (a secret is never sent back to the browser)."""
    if retype:
        return gettext("Type it again: a secret is never sent back to the browser, and nothing was saved.", locale)
    if stored:
        return gettext("Stored: {stored}. Leave blank to keep the stored one.", locale).format(stored=stored)
    text = SETTING_HINTS.get((kind, name))
    return gettext(text, locale) if text else ""


def setting_placeholder(name: str) -> str | None:
    return SETTING_PLACEHOLDERS.get(name)


# A saved method's kind where it has no brand (a direct debit's brand is its bank).
METHOD_TYPES = {"card": N_("Card"), "sepa_debit": N_("SEPA Direct Debit"), "bacs_debit": N_("Bacs Direct Debit")}


def method_label(method_type: str, brand: str | None, locale: str | None = DEFAULT_LOCALE) -> str:
    """A saved method in words: a card's brand, or a direct debit's scheme and bank."""
    scheme = METHOD_TYPES.get(method_type)
    if method_type == "card":
        return (brand or gettext(scheme, locale)).capitalize()
    name = gettext(scheme, locale) if scheme else method_type.replace("_", " ").capitalize()
    return f"{name} · {brand}" if brand else name


def payment_reason(field: str, code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """One reason code of a payments form's field, in words."""
    text = FIELD_REASONS.get((field, code))
    return gettext(text, locale) if text else reason(field, code, locale)


def payment_errors(details: Mapping[str, object], locale: str | None = DEFAULT_LOCALE) -> dict[str, list[str]]:
    """ValidationFailed details as field -> sentences; `billing_configuration.x` is reported on field `x`."""
    errors: dict[str, list[str]] = {}
    for field, codes in details.items():
        codes = codes if isinstance(codes, list | tuple) else [codes]
        name = field.removeprefix("billing_configuration.")
        name = "provider_customer_id" if name == "payment_provider_customer_id" else name
        errors.setdefault(name, []).extend(payment_reason(name, str(code), locale) for code in codes)
    return errors


def payment_refusal(code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """Why a payments action was refused as a whole, in words (an unknown code stays readable)."""
    text = REFUSALS.get(code)
    return gettext(text, locale) if text else code.replace("_", " ").capitalize()


def payment_notice(code: str, locale: str | None = DEFAULT_LOCALE, **values: object) -> str:
    text = gettext(NOTICES[code], locale)
    return text.format(**values) if values else text


def payment_status(status: str, locale: str | None = DEFAULT_LOCALE) -> str:
    text = PAYMENT_STATUSES.get(status)
    return gettext(text, locale) if text else status


def payment_type(kind: str, locale: str | None = DEFAULT_LOCALE) -> str:
    text = PAYMENT_TYPES.get(kind)
    return gettext(text, locale) if text else kind


def setting_label(name: str, locale: str | None = DEFAULT_LOCALE) -> str:
    text = SETTING_LABELS.get(name)
    return gettext(text, locale) if text else name.replace("_", " ").capitalize()
