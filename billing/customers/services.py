"""Customers of an organization: create-or-update by external_id, read, list, delete; the billing details a
customer corrects themselves (the portal)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing import serializers
from billing.audit.services import record
from billing.catalog.taxes import taxes_for_codes
from billing.customers import tax_ids
from billing.customers.events import CustomerDunningSettingsChanged, CustomerPaymentSettingsChanged
from billing.customers.models import Customer
from billing.db import read_only, unit_of_work, utcnow
from billing.errors import NotFound, ValidationFailed
from billing.events import publish
from billing.links import portal_url
from billing.organizations.services import next_in_sequence
from billing.pagination import Page, like_escaped, paginate
from billing.subscriptions.models import Subscription
from billing.validation import MAX_STRING, Checker
from billing.webhooks import services as webhooks

_TEXT_FIELDS = ("name", "firstname", "lastname", "email", "phone", "url", "address_line1", "address_line2", "city",
                "state", "zipcode", "legal_name", "legal_number", "tax_identification_number")
_NARROW_FIELDS = {"phone": 64, "zipcode": 64}  # their columns' width
_ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "state", "zipcode")


def find_customer(session: Session, organization_id: str, external_id: str) -> Customer | None:
    return session.scalar(select(Customer).where(
        Customer.organization_id == organization_id, Customer.external_id == external_id,
        Customer.deleted_at.is_(None)))


def customer_by_id(session: Session, organization_id: str, customer_id: str) -> Customer | None:
    """The organization's live customer by Tally id; None when deleted or another organization's.

    By primary key, so a session that read the customer already finds it in its identity map (a page's parts,
    billing.db.one_read).
    """
    customer = session.get(Customer, customer_id)
    if customer is None or customer.organization_id != organization_id or customer.deleted_at is not None:
        return None
    return customer


def get_customer_in(session: Session, organization_id: str, external_id: str) -> Customer:
    customer = find_customer(session, organization_id, external_id)
    if customer is None:
        raise NotFound("customer")
    return customer


def _apply_fields(session: Session, customer: Customer, data: Mapping[str, object]) -> None:
    check = Checker(data)
    values: dict[str, object] = {}
    for field in _TEXT_FIELDS:
        if field in data:
            values[field] = check.string(field, max_length=_NARROW_FIELDS.get(field, MAX_STRING))
    if "customer_type" in data:
        values["customer_type"] = check.choice("customer_type", ("company", "individual"))
    if "country" in data:
        values["country"] = check.country("country")
    if "currency" in data:
        currency = check.currency("currency")
        if currency and customer.currency and currency != customer.currency and _has_billing_history(session, customer):
            check.fail("currency", "currencies_does_not_match")
        values["currency"] = currency or customer.currency
    if "timezone" in data:
        values["timezone"] = check.timezone("timezone")
    if isinstance(data.get("shipping_address"), Mapping):
        values.update(_shipping_address(check, data["shipping_address"]))
    elif data.get("shipping_address") is not None:
        check.fail("shipping_address", "invalid_type")
    if "invoice_grace_period" in data:
        values["invoice_grace_period"] = check.days("invoice_grace_period")
    if "net_payment_term" in data:
        values["net_payment_term"] = check.days("net_payment_term")
    if "finalize_zero_amount_invoice" in data:
        values["finalize_zero_amount_invoice"] = check.choice(
            "finalize_zero_amount_invoice", ("inherit", "skip", "finalize")) or "inherit"
    if isinstance(data.get("billing_configuration"), Mapping):
        billing = data["billing_configuration"]
        nested = Checker(billing)
        grace = nested.days("invoice_grace_period")
        payment_settings = _payment_settings(nested, billing)
        if "document_locale" in billing:
            values["document_locale"] = nested.language("document_locale")
        _report_nested(check, "billing_configuration", nested)
        if grace is not None:
            values["invoice_grace_period"] = grace
        values.update(payment_settings)
    elif data.get("billing_configuration") is not None:
        check.fail("billing_configuration", "invalid_type")
    dunning = _dunning_settings(check, data)
    if "metadata" in data:
        metadata = check.metadata("metadata")
        if metadata is not None:
            values["metadata_"] = metadata
    check.done()
    if data.get("tax_codes") is not None:
        # NOTE: the customer's taxes replace the organization's defaults on its invoices (docs/billing.md).
        values["taxes"] = taxes_for_codes(session, customer.organization_id, data["tax_codes"])
    payment_fields = set(_PAYMENT_FIELDS) & set(values)
    for key, value in values.items():
        setattr(customer, key, value)
    if payment_fields:
        # The payment core checks the provider named and links the customer to it (billing.payments).
        session.flush()
        publish(session, CustomerPaymentSettingsChanged(customer))
    if dunning is not None:
        # Dunning knows the campaigns: it finds the one named, or refuses the code (billing.dunning.campaigns).
        session.flush()
        publish(session, CustomerDunningSettingsChanged(customer, **dunning))


def _report_nested(check: Checker, prefix: str, nested: Checker) -> None:
    """The reasons found inside an object, reported on `prefix.field` (never silently dropped)."""
    for field, reasons in nested.errors.items():
        for reason in reasons:
            check.fail(f"{prefix}.{field}", reason)


def _shipping_address(check: Checker, address: Mapping[str, object]) -> dict[str, object]:
    """Lago's shipping_address object as the customer's shipping_* columns (the fields present only)."""
    nested = Checker(address)
    values: dict[str, object] = {}
    for field in _ADDRESS_FIELDS:
        if field in address:
            values[f"shipping_{field}"] = nested.string(field, max_length=_NARROW_FIELDS.get(field, MAX_STRING))
    if "country" in address:
        values["shipping_country"] = nested.country("country")
    _report_nested(check, "shipping_address", nested)
    return values


def _dunning_settings(check: Checker, data: Mapping[str, object]) -> dict[str, object] | None:
    """Lago's applied_dunning_campaign_code (null: back to the organization's default) and
    exclude_from_dunning_campaign, as the fields of the event dunning applies (None: neither was sent)."""
    code_given = "applied_dunning_campaign_code" in data
    exclude_given = "exclude_from_dunning_campaign" in data
    if not (code_given or exclude_given):
        return None
    code = check.string("applied_dunning_campaign_code") if code_given else None
    exclude = check.boolean("exclude_from_dunning_campaign") if exclude_given else None
    return {"campaign_code": code, "campaign_code_given": code_given, "exclude": exclude}


# NOTE: Lago's billing_configuration (lago-openapi CustomerBillingConfiguration.yaml): the provider by kind and
# code, an existing provider customer to link (provider_customer_id) or one to create (sync_with_provider),
# and the method types offered. Stored here; the payment core checks and acts on them.
_PAYMENT_FIELDS = ("payment_provider", "payment_provider_code", "payment_provider_customer_id", "sync_with_provider",
                   "provider_payment_methods")
PROVIDER_KINDS = ("stripe", "adyen", "gocardless", "fake")  # fake: Tally's in-memory test provider
METHOD_TYPES = ("card", "sepa_debit", "us_bank_account", "bacs_debit", "link", "boleto", "crypto", "customer_balance")


def _payment_settings(check: Checker, billing: Mapping[str, object]) -> dict[str, object]:
    values: dict[str, object] = {}
    if "payment_provider" in billing:
        values["payment_provider"] = check.choice("payment_provider", PROVIDER_KINDS)
        if values["payment_provider"] is None:  # no provider: the rest of the link goes with it
            values.update(payment_provider_code=None, payment_provider_customer_id=None, sync_with_provider=False)
    if "payment_provider_code" in billing:
        values["payment_provider_code"] = check.string("payment_provider_code")
    if "provider_customer_id" in billing:
        values["payment_provider_customer_id"] = check.string("provider_customer_id")
    if "sync_with_provider" in billing:
        values["sync_with_provider"] = bool(check.boolean("sync_with_provider"))
    if "provider_payment_methods" in billing:
        methods = billing["provider_payment_methods"]
        if methods is None:
            values["provider_payment_methods"] = []
        elif not isinstance(methods, list) or any(m not in METHOD_TYPES for m in methods):
            check.fail("provider_payment_methods", "value_is_invalid")
        else:
            values["provider_payment_methods"] = list(dict.fromkeys(methods))
    return values


def _has_billing_history(session: Session, customer: Customer) -> bool:
    if customer.id is None:
        return False
    return bool(session.scalar(select(func.count()).select_from(Subscription).where(
        Subscription.customer_id == customer.id)))


def ensure_customer(session: Session, organization_id: str, external_id: str) -> Customer:
    """The live customer with this external_id, created (with no details) when unknown."""
    customer = find_customer(session, organization_id, external_id)
    if customer is None:
        customer = Customer(organization_id=organization_id, external_id=external_id,
                            sequential_id=next_in_sequence(session, f"customer:{organization_id}"))
        session.add(customer)
        session.flush()
        session.refresh(customer)  # loads its organization, so it stays readable after the session closes
    return customer


# What the audit trail compares before and after a change of a customer (billing.audit): its details, addresses,
# terms and payment settings.
_AUDITED = ("name", "firstname", "lastname", "email", "phone", "url", "legal_name", "legal_number",
            "tax_identification_number", "address_line1", "address_line2", "city", "state", "zipcode", "country",
            "shipping_address_line1", "shipping_address_line2", "shipping_city", "shipping_state", "shipping_zipcode",
            "shipping_country", "currency", "timezone", "document_locale", "invoice_grace_period", "net_payment_term",
            "finalize_zero_amount_invoice", "payment_provider", "payment_provider_code")


def _audited(customer: Customer) -> dict[str, object]:
    return {field: getattr(customer, field) for field in _AUDITED}


def _record_customer(session: Session, customer: Customer, action: str, before: dict | None) -> None:
    record(session, organization_id=customer.organization_id, action=action, object_type="customer",
           object_id=customer.id, object_label=customer.name or customer.external_id, before=before,
           after=_audited(customer))


def upsert_customer(*, organization_id: str, data: Mapping[str, object]) -> Customer:
    """Create the customer with `data["external_id"]`, or update the fields present in `data`."""
    check = Checker(data)
    external_id = check.string("external_id", required=True)
    check.done()
    with unit_of_work() as uow:
        customer = find_customer(uow.session, organization_id, external_id)
        created = customer is None
        if customer is None:
            customer = Customer(organization_id=organization_id, external_id=external_id,
                                sequential_id=next_in_sequence(uow.session, f"customer:{organization_id}"))
            uow.session.add(customer)
        before = None if created else _audited(customer)
        _apply_fields(uow.session, customer, data)
        customer.updated_at = utcnow()
        uow.session.flush()
        uow.session.refresh(customer)
        _record_customer(uow.session, customer, "customer.created" if created else "customer.updated", before)
        # NOTE: Lago sends customer.created and customer.updated from its create-or-update endpoint.
        webhooks.emit(uow.session, organization_id, webhooks.CUSTOMER_CREATED if created else webhooks.CUSTOMER_UPDATED,
                      "customer", lambda: serializers.customer(customer), object_id=customer.id)
        return customer


def customer_exists(*, organization_id: str, external_id: str) -> bool:
    """Whether a live customer has this external_id."""
    with read_only() as session:
        return find_customer(session, organization_id, external_id) is not None


def get_customer(*, organization_id: str, external_id: str) -> Customer:
    with read_only() as session:
        return get_customer_in(session, organization_id, external_id)


def list_customers(*, organization_id: str, page: int = 1, per_page: int = 20, search: str | None = None) -> Page:
    query = select(Customer).where(Customer.organization_id == organization_id, Customer.deleted_at.is_(None))
    if search:
        pattern = f"%{like_escaped(search.lower())}%"
        query = query.where(func.lower(Customer.external_id).like(pattern, escape="\\")
                            | func.lower(Customer.name).like(pattern, escape="\\")
                            | func.lower(Customer.email).like(pattern, escape="\\"))
    with read_only() as session:
        return paginate(session, query.order_by(Customer.created_at.desc(), Customer.id), page=page, per_page=per_page)


def require_currency(customer: Customer, currency: str) -> None:
    """Give the customer its first currency, or refuse a second one."""
    if customer.currency is None:
        customer.currency = currency
    elif customer.currency != currency:
        raise ValidationFailed({"currency": ["currencies_does_not_match"]})


def customer_portal_url(*, organization_id: str, external_id: str) -> str:
    """A signed link to the customer's self-service portal, valid for 12 hours."""
    customer = get_customer(organization_id=organization_id, external_id=external_id)
    return portal_url(customer_id=customer.id, organization_id=organization_id)


def get_customer_by_id(*, organization_id: str, customer_id: str) -> Customer:
    with read_only() as session:
        customer = customer_by_id(session, organization_id, customer_id)
        if customer is None:
            raise NotFound("customer")
        return customer


# What a customer may correct about themselves in the portal: what Lago's customer portal lets them edit.
BILLING_DETAILS_FIELDS = ("name", "legal_name", "tax_identification_number", "email", "address_line1",
                          "address_line2", "city", "state", "zipcode", "country", "shipping_address")
# One address, or Lago's comma-separated list of them: something@domain.tld each, nothing else.
_EMAIL = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\".]+(\.[^@\s,;<>\".]+)+")


def update_billing_details(*, organization_id: str, customer_id: str, data: Mapping[str, object]) -> Customer:
    """Save the billing details a customer corrected (the portal), through the API's own checks, and send
    `customer.updated`.

    Besides the API's checks: a name and a billing email are required (the portal's way back in mails that
    address), each email must look like one, and the tax identification number must have the shape of the
    billing country's (or of the country its prefix names; billing.customers.tax_ids). A refused change writes
    nothing. Fields other than BILLING_DETAILS_FIELDS are ignored.
    """
    fields = {key: data[key] for key in BILLING_DETAILS_FIELDS if key in data}
    own = Checker(fields)
    own.string("name", required=True)
    emails = own.string("email", required=True)
    if emails is not None and not all(_EMAIL.fullmatch(e.strip()) for e in emails.split(",")):
        own.fail("email", "invalid_email_format")
    tax_id = own.string("tax_identification_number")
    if tax_id is not None:
        country = fields.get("country") if isinstance(fields.get("country"), str) else None
        if not tax_ids.is_valid(tax_id, (country or "").strip().upper() or None):
            own.fail("tax_identification_number", "tax_identification_number_invalid")
        else:
            fields["tax_identification_number"] = tax_ids.normalized(tax_id)
    with unit_of_work() as uow:
        customer = uow.session.scalar(select(Customer).where(
            Customer.organization_id == organization_id, Customer.id == customer_id,
            Customer.deleted_at.is_(None)).with_for_update(of=Customer))
        if customer is None:
            raise NotFound("customer")
        before = _audited(customer)
        try:
            _apply_fields(uow.session, customer, fields)
        except ValidationFailed as refused:
            for field, reasons in refused.details.items():
                for reason in reasons if isinstance(reasons, list) else [reasons]:
                    own.fail(field, str(reason))
        own.done()
        customer.updated_at = utcnow()
        uow.session.flush()
        uow.session.refresh(customer)
        _record_customer(uow.session, customer, "customer.billing_details_updated", before)
        webhooks.emit(uow.session, organization_id, webhooks.CUSTOMER_UPDATED, "customer",
                      lambda: serializers.customer(customer), object_id=customer.id)
        return customer
