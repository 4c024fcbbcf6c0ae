"""What the admin's webhook-endpoint form says: the reasons of billing.webhooks.services by field, in words."""

from __future__ import annotations

from collections.abc import Mapping

from wording.i18n import DEFAULT_LOCALE, N_, gettext
from wording.reasons import reason

FIELD_REASONS = {
    ("webhook_url", "value_is_mandatory"): N_("Required: the address Tally POSTs the webhooks to"),
    ("webhook_url", "url_is_invalid"): N_("An http:// or https:// address, e.g. https://example.com/hooks/tally"),
    ("webhook_url", "address_not_allowed"): N_(
        "This address is on a private or local network, which webhooks may not reach on this server"),
    ("webhook_url", "value_already_exist"): N_("Another endpoint already has this address"),
    ("signature_algo", "value_is_invalid"): N_("HMAC or JWT"),
    ("event_types", "invalid_value"): N_("One webhook type per line, written object.event, e.g. invoice.created"),
}


def webhook_reason(field: str, code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """One reason code of the endpoint form's field, in words."""
    text = FIELD_REASONS.get((field, code))
    return gettext(text, locale) if text else reason(field, code, locale)


def webhook_errors(details: Mapping[str, object], locale: str | None = DEFAULT_LOCALE) -> dict[str, list[str]]:
    """ValidationFailed details (field -> reason codes) as field -> sentences."""
    return {field: [webhook_reason(field, str(code), locale)
                    for code in (codes if isinstance(codes, list | tuple) else [codes])]
            for field, codes in details.items()}
