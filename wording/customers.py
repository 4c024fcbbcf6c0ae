"""What the admin's customer form says: Lago's reasons by field (billing.customers.services, billing.validation)
in words, and where each reason of the service's nested objects shows on the form."""

from __future__ import annotations

from collections.abc import Mapping

from wording.i18n import DEFAULT_LOCALE, N_, gettext
from wording.payments import payment_reason
from wording.reasons import reason

# Reasons whose words depend on the field they are about.
FIELD_REASONS = {
    ("external_id", "value_is_mandatory"): N_("Required: your system's id for this customer"),
    ("external_id", "value_already_exist"): N_("Another customer already has this external id"),
    ("currency", "value_is_invalid"): N_("Not a currency code: three letters, e.g. EUR"),
    ("currency", "currencies_does_not_match"): N_(
        "Cannot change: the customer is already billed in its currency (subscriptions, invoices)"),
    ("timezone", "invalid_timezone"): N_("Not a time zone name, e.g. Europe/Paris"),
    ("document_locale", "value_is_invalid"): N_("Not a language code: two letters, e.g. fr"),
    ("invoice_grace_period", "value_is_out_of_range"): N_("Between 0 and 3650 days"),
    ("invoice_grace_period", "invalid_type"): N_("A whole number of days, e.g. 3"),
    ("net_payment_term", "value_is_out_of_range"): N_("Between 0 and 3650 days"),
    ("net_payment_term", "invalid_type"): N_("A whole number of days, e.g. 30"),
    ("tax_codes", "tax_not_found"): N_("One of these taxes no longer exists: reload the page"),
}
COUNTRY_REASON = N_("Not a country code: two letters, e.g. FR")
PAYMENT_FIELDS = ("provider_code", "link", "provider_customer_id")

# Where a reason of the service shows on the form: its nested objects flattened to the form's fields.
FORM_FIELD = {
    "billing_configuration.document_locale": "document_locale",
    "billing_configuration.invoice_grace_period": "invoice_grace_period",
    "billing_configuration.payment_provider": "provider_code",
    "billing_configuration.payment_provider_code": "provider_code",
    "payment_provider_code": "provider_code",
    "billing_configuration.provider_customer_id": "provider_customer_id",
    "payment_provider_customer_id": "provider_customer_id",
}


def form_field(field: str) -> str:
    """The form's field a reason of the service's `field` (`shipping_address.country`) is shown by."""
    if field.startswith("shipping_address."):
        return "shipping_" + field.removeprefix("shipping_address.")
    return FORM_FIELD.get(field, field)


def customer_reason(field: str, code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """One reason code of a customer form's field, in words."""
    if field in PAYMENT_FIELDS:
        return payment_reason("payment_provider_code" if field == "provider_code" else field, code, locale)
    if code == "country_code_invalid":
        return gettext(COUNTRY_REASON, locale)
    text = FIELD_REASONS.get((field, code))
    return gettext(text, locale) if text else reason(field, code, locale)


def customer_errors(details: Mapping[str, object], locale: str | None = DEFAULT_LOCALE) -> dict[str, list[str]]:
    """ValidationFailed details (the service's field -> reason codes) as the form's field -> sentences."""
    errors: dict[str, list[str]] = {}
    for field, codes in details.items():
        name = form_field(field)
        codes = codes if isinstance(codes, list | tuple) else [codes]
        errors.setdefault(name, []).extend(customer_reason(name, str(code), locale) for code in codes)
    return errors
