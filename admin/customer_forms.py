"""The customer form as upsert_customer's Lago-shaped data (the API's body), and a customer as the form's data."""

from __future__ import annotations

from admin.customer_payments import billing_configuration
from admin.forms import CustomerForm
from billing.customers.models import Customer
from billing.payments.providers import ConnectedProvider
from billing.screens.payments import CustomerPayments

# Sent as they are typed (blank clears the field), under the API's own names.
TEXT_FIELDS = ("name", "legal_name", "legal_number", "tax_identification_number", "email", "phone", "timezone",
               "address_line1", "address_line2", "zipcode", "city", "state", "country")
SHIPPING_FIELDS = ("address_line1", "address_line2", "zipcode", "city", "state", "country")
DAYS_FIELDS = ("invoice_grace_period", "net_payment_term")
NO_PROVIDER = CustomerPayments(external_id="", provider_kind=None, provider_code=None, provider_customer_id=None,
                               sync_with_provider=False, error=None, methods=[])


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def initial_data(customer: Customer, link: CustomerPayments) -> dict[str, object]:
    """What the edit form shows for `customer` (with its payment provider link)."""
    data: dict[str, object] = {field: getattr(customer, field) or "" for field in TEXT_FIELDS}
    data.update({f"shipping_{field}": getattr(customer, f"shipping_{field}") or "" for field in SHIPPING_FIELDS})
    data.update({field: "" if getattr(customer, field) is None else str(getattr(customer, field))
                 for field in DAYS_FIELDS})
    data.update(external_id=customer.external_id, currency=customer.currency or "",
                document_locale=customer.document_locale or "", tax_codes=[t.code for t in customer.taxes],
                provider_code=link.provider_code or "", link="existing" if link.provider_customer_id else "create",
                provider_customer_id=link.provider_customer_id or "")
    return data


def _payment_changed(form: CustomerForm, current: CustomerPayments) -> bool:
    """Whether the provider part differs from the customer's link (saving a name must not re-link it)."""
    code = (form.provider_code.data or "").strip()
    if code != (current.provider_code or ""):
        return True
    linked = (form.provider_customer_id.data or "").strip()
    return bool(code) and form.link.data == "existing" and linked != (current.provider_customer_id or "")


def service_data(form: CustomerForm, *, external_id: str, current: CustomerPayments | None,
                 connected: list[ConnectedProvider]) -> tuple[dict[str, object], dict[str, list[str]]]:
    """The form as upsert_customer's data (every field, so that emptying one clears it), and the reasons, in
    words, that the provider part cannot be sent (`current` None: a new customer)."""
    data: dict[str, object] = {field: _text(getattr(form, field).data) for field in TEXT_FIELDS}
    data["external_id"] = external_id
    data["currency"] = _text(form.currency.data.upper() if form.currency.data else None)
    data.update({field: _text(getattr(form, field).data) for field in DAYS_FIELDS})  # the service reads the numbers
    data["shipping_address"] = {field: _text(getattr(form, f"shipping_{field}").data) for field in SHIPPING_FIELDS}
    data["tax_codes"] = [code for code in form.tax_codes.data or [] if code]
    billing: dict[str, object] = {"document_locale": _text(form.document_locale.data)}
    errors: dict[str, list[str]] = {}
    if _payment_changed(form, current or NO_PROVIDER):
        configuration, errors = billing_configuration(form, current=current or NO_PROVIDER, connected=connected)
        billing.update(configuration)
    data["billing_configuration"] = billing
    return data, errors
