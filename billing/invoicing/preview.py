"""Lago's invoice preview: the invoice a customer would get, built by the invoicing code itself and never stored.

Either a new subscription (`plan_code`, for an existing customer or one described in the request): its first invoice
(the advance fee at its start, or its first period in arrears); or one existing subscription
(`subscriptions.external_ids`): its next invoice, with the usage so far. The customer's coupons apply, or the
`coupons` sent instead; taxes and credit-note balances apply as on a real invoice.

NOTE: nothing is written. The invoice, its fees and a described customer are built in a read-only session with
autoflush off and discarded when it closes (no flush, no commit); the coupons' counters it moves are the session's
copies only. Lago's own preview works the same way (lago-api Invoices::PreviewService, unsaved records).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import event, inspect, select

from billing import serializers
from billing.catalog.models import COUPON_FREQUENCIES, COUPON_TYPES, AppliedCoupon, Coupon
from billing.catalog.services import find_plan
from billing.customers.models import Customer
from billing.db import new_id, read_snapshot
from billing.errors import NotFound, ValidationFailed
from billing.invoicing.models import InvoiceSubscription
from billing.invoicing.runs import complete_invoice, new_invoice
from billing.organizations.models import Organization
from billing.ports import runtime
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import terms_of
from billing.subscriptions.schedule import billings
from billing.subscriptions.services import find_live_subscription
from billing.validation import Checker

# Lago's preview fields Tally does not act on: refused by name (docs/api.md).
_NOT_SUPPORTED = ("billing_entity_code",)
_CUSTOMER_FIELDS = ("name", "currency", "timezone", "address_line1", "address_line2", "city", "state", "zipcode",
                    "country", "tax_identification_number")
_SHIPPING_FIELDS = ("address_line1", "address_line2", "city", "state", "zipcode", "country")
# How far ahead the first (or next) billing of a period is looked for: a yearly period, a trial, and some.
_HORIZON = timedelta(days=800)


class _WouldWrite(Exception):
    """The invoicing code asked to write (a fee that lives outside the invoice): a preview cannot show that."""


def _refuse_writes(session, flush_context, instances) -> None:
    raise _WouldWrite


def preview_invoice(*, organization_id: str, data: Mapping[str, object]) -> dict:
    """The Lago JSON of the invoice `data` describes (`customer` and `plan_code` or `subscriptions`)."""
    check = Checker(data)
    for field in _NOT_SUPPORTED:
        if data.get(field) is not None:
            check.fail(field, "not_supported_yet")
    raw_customer = data.get("customer") if isinstance(data.get("customer"), Mapping) else {}
    if raw_customer.get("integration_customers"):
        check.fail("customer.integration_customers", "not_supported_yet")
    plan_code = check.string("plan_code")
    subscription_at = check.datetime("subscription_at")
    billing_time = check.choice("billing_time", ("calendar", "anniversary"))
    external_ids = _subscription_ids(check, data.get("subscriptions"))
    if plan_code is None and external_ids is None and not check.errors:
        check.fail("plan_code", "value_is_mandatory")  # one of them: a new subscription or existing ones
    elif plan_code is not None and external_ids is not None:
        check.fail("subscriptions", "value_is_invalid")
    coupon_codes = _coupon_codes(check, data.get("coupons"))
    customer_check = Checker(raw_customer)
    described = {field: customer_check.string(field) for field in _CUSTOMER_FIELDS
                 if field not in ("currency", "timezone")}
    described["currency"] = customer_check.currency("currency")
    described["timezone"] = customer_check.timezone("timezone")
    shipping = raw_customer.get("shipping_address") if isinstance(raw_customer.get("shipping_address"),
                                                                   Mapping) else {}
    shipping_check = Checker(shipping)
    described.update({f"shipping_{field}": shipping_check.string(field) for field in _SHIPPING_FIELDS})
    for name, reasons in (*customer_check.errors.items(), *shipping_check.errors.items()):
        for reason in reasons:
            check.fail(f"customer.{name}", reason)
    check.done()

    now = runtime.clock.now()
    with read_snapshot() as session, session.no_autoflush:
        event.listen(session, "before_flush", _refuse_writes)
        try:
            return _preview(session, organization_id, raw_customer.get("external_id"), described, plan_code,
                            subscription_at, billing_time, external_ids, coupon_codes, now)
        except _WouldWrite:
            # NOTE: a renewal that bills a recurring pay-in-advance charge outside the invoice (not invoiceable)
            # records that fee on its own; the preview refuses rather than write it.
            raise ValidationFailed({"subscriptions": ["not_supported_yet"]}) from None
        finally:
            session.expunge_all()  # nothing of it may reach the database, even by mistake


def _preview(session, organization_id: str, external_customer_id: object, described: dict, plan_code: str | None,
             subscription_at, billing_time: str | None, external_ids: list[str] | None,
             coupon_codes: list[dict] | None, now) -> dict:
    organization = session.get(Organization, organization_id)
    customer = _customer(session, organization, external_customer_id, described, now)
    if plan_code is not None:
        plan = find_plan(session, organization_id, plan_code)
        if plan is None:
            raise NotFound("plan")
        started = subscription_at or now
        subscription = Subscription(
            id=new_id(), organization_id=organization_id, customer=customer, customer_id=customer.id, plan=plan,
            plan_id=plan.id, external_id=new_id(), status="active", billing_time=billing_time or "calendar",
            subscription_at=started, started_at=started, on_termination_invoice="generate", created_at=now,
            updated_at=now)
        billed: set = set()
    else:
        [external_id] = external_ids
        subscription = find_live_subscription(session, organization_id, external_id)
        if subscription is None or subscription.customer_id != customer.id or subscription.status != "active":
            raise NotFound("subscription")
        billed = set(session.scalars(select(InvoiceSubscription.boundary).where(
            InvoiceSubscription.subscription_id == subscription.id)))
    if customer.currency and customer.currency != subscription.plan.amount_currency:
        raise ValidationFailed({"currency": ["currencies_does_not_match"]})
    start = max(billed, default=None)
    due = [b for b in billings(terms_of(subscription), max(now, subscription.started_at) + _HORIZON, after=start)
           if b.boundary not in billed]
    if not due:
        raise ValidationFailed({"subscriptions": ["nothing_to_bill"]})
    coupons = None if coupon_codes is None else _coupons(session, organization_id, customer, coupon_codes)
    invoice = new_invoice(session, subscription, due[0])
    complete_invoice(session, invoice, subscription, due[0], coupons=coupons)
    for row in (invoice, *invoice.fees, *invoice.credits, *invoice.applied_taxes,
                *(t for fee in invoice.fees for t in fee.applied_taxes)):
        _fill_defaults(row)
    return serializers.invoice(invoice, {subscription.id: subscription}, with_file_url=False)


def _fill_defaults(row) -> None:
    """The column defaults an insert would have given the row (it is never inserted)."""
    for attribute in inspect(row).mapper.column_attrs:
        column = attribute.columns[0]
        if getattr(row, attribute.key) is None and column.default is not None:
            default = column.default
            setattr(row, attribute.key, default.arg(None) if default.is_callable else default.arg)


def _subscription_ids(check: Checker, raw: object) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        check.fail("subscriptions", "invalid_type")
        return None
    for field in ("plan_code", "terminated_at"):  # Lago's upgrade and termination previews
        if raw.get(field) is not None:
            check.fail(f"subscriptions.{field}", "not_supported_yet")
    ids = raw.get("external_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        check.fail("subscriptions.external_ids", "value_is_mandatory")
        return None
    if len(ids) > 1:  # NOTE: a Tally invoice bills one subscription; Lago previews several on one invoice
        check.fail("subscriptions.external_ids", "not_supported_yet")
        return None
    return list(ids)


def _coupon_codes(check: Checker, raw: object) -> list[dict] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(c, Mapping) and isinstance(c.get("code"), str) for c in raw):
        check.fail("coupons", "invalid_type")
        return None
    return [dict(c) for c in raw]


def _customer(session, organization: Organization, external_id: object, described: dict, now) -> Customer:
    """The organization's customer of `external_id`, else one made of what was sent (never stored)."""
    if isinstance(external_id, str) and external_id:
        found = session.scalar(select(Customer).where(Customer.organization_id == organization.id,
                                                      Customer.external_id == external_id,
                                                      Customer.deleted_at.is_(None)))
        if found is not None:
            return found
    return Customer(id=new_id(), organization=organization, organization_id=organization.id,
                    external_id=external_id if isinstance(external_id, str) else None, sequential_id=0,
                    finalize_zero_amount_invoice="inherit", metadata_=[], created_at=now, updated_at=now,
                    **{k: v for k, v in described.items() if v is not None})


def _coupons(session, organization_id: str, customer: Customer, sent: list[dict]) -> list[AppliedCoupon] | None:
    """The coupons of the preview: the customer's active ones (None: read as on any invoice) if it has any, else
    those sent, each an existing coupon of that code (with its own terms) or one made of what was sent.

    NOTE: lago-api Invoices::PreviewContextService#find_or_build_applied_coupons.
    """
    if session.scalar(select(AppliedCoupon.id).where(AppliedCoupon.customer_id == customer.id,
                                                     AppliedCoupon.status == "active").limit(1)) is not None:
        return None
    applied = []
    for index, raw in enumerate(sent):
        coupon = session.scalar(select(Coupon).where(Coupon.organization_id == organization_id,
                                                     Coupon.code == raw["code"], Coupon.deleted_at.is_(None)))
        if coupon is None:
            coupon = _described_coupon(organization_id, raw, index)
        # Applied in the order sent (an invoice deducts the coupon applied first first; one clock reading would
        # leave the order to the random ids).
        now = runtime.clock.now() + timedelta(microseconds=index)
        applied.append(AppliedCoupon(
            id=new_id(), organization_id=organization_id, coupon=coupon, coupon_id=coupon.id, customer_id=customer.id,
            status="active", amount_cents=coupon.amount_cents, amount_cents_remaining=coupon.amount_cents,
            amount_currency=coupon.amount_currency, percentage_rate=coupon.percentage_rate,
            frequency=coupon.frequency, frequency_duration=coupon.frequency_duration,
            frequency_duration_remaining=coupon.frequency_duration, created_at=now, updated_at=now))
    return applied


def _described_coupon(organization_id: str, raw: dict, index: int) -> Coupon:
    """A coupon made of what was sent (never stored): a type, and its amount or rate."""
    check = Checker(raw)
    coupon_type = check.choice("coupon_type", COUPON_TYPES, required=True)
    amount = check.amount_cents("amount_cents", required=coupon_type == "fixed_amount")
    currency = check.currency("amount_currency", required=coupon_type == "fixed_amount")
    rate = check.decimal("percentage_rate", required=coupon_type == "percentage")
    frequency = check.choice("frequency", COUPON_FREQUENCIES) or "once"
    duration = check.integer("frequency_duration", minimum=1)
    name = check.string("name")
    if check.errors:
        raise ValidationFailed({f"coupons.{index}.{field}": reasons for field, reasons in check.errors.items()})
    return Coupon(id=new_id(), organization_id=organization_id, name=name or raw["code"], code=raw["code"],
                  coupon_type=coupon_type, amount_cents=amount, amount_currency=currency, percentage_rate=rate,
                  frequency=frequency, frequency_duration=duration, limited_plans=False,
                  limited_billable_metrics=False, plans=[], billable_metrics=[])
