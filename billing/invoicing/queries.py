"""Reading invoices and fees, as the API and the screens list them."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from billing import serializers
from billing.customers.models import Customer
from billing.db import read_only
from billing.errors import NotFound
from billing.invoicing.models import (
    Fee,
    Invoice,
)
from billing.pagination import Page, paginate
from billing.subscriptions.models import Subscription


def invoice_query():
    return select(Invoice).options(selectinload(Invoice.fees).selectinload(Fee.applied_taxes),
                                   selectinload(Invoice.invoice_subscriptions), selectinload(Invoice.applied_taxes),
                                   selectinload(Invoice.credits), selectinload(Invoice.applied_usage_thresholds))


def get_invoice_in(session: Session, organization_id: str, invoice_id: str, *, lock: bool = False) -> Invoice:
    query = invoice_query().where(Invoice.organization_id == organization_id, Invoice.id == str(invoice_id))
    invoice = session.scalar(query.with_for_update(of=Invoice) if lock else query)
    if invoice is None:
        raise NotFound("invoice")
    return invoice


def get_invoice(*, organization_id: str, invoice_id: str) -> Invoice:
    with read_only() as session:
        return get_invoice_in(session, organization_id, invoice_id)


def list_invoices(*, organization_id: str, external_customer_id: str | None = None, customer_id: str | None = None,
                  status: str | None = None, payment_overdue: bool | None = None, page: int = 1,
                  per_page: int = 20) -> Page:
    query = invoice_query().where(Invoice.organization_id == organization_id)
    if payment_overdue is not None:
        query = query.where(Invoice.payment_overdue.is_(payment_overdue))
    if external_customer_id:
        query = query.join(Customer, Invoice.customer_id == Customer.id).where(
            Customer.external_id == external_customer_id)
    if customer_id:
        query = query.where(Invoice.customer_id == customer_id)
    # An `open` credit purchase is not issued yet: listed once paid; a `closed` empty invoice never is
    # (Lago lists visible invoices only). Either is listed when asked for by its status.
    query = query.where(Invoice.status == status) if status else \
        query.where(Invoice.status.not_in(("open", "closed")))
    with read_only() as session:
        return paginate(session, query.order_by(Invoice.created_at.desc(), Invoice.id), page=page, per_page=per_page)


def subscriptions_of(invoice: Invoice) -> list[Subscription]:
    with read_only() as session:
        ids = invoice.subscription_ids
        return list(session.scalars(select(Subscription).where(Subscription.id.in_(ids)))) if ids else []


def fee_json(session: Session, fee: Fee) -> dict:
    subscription = session.get(Subscription, fee.subscription_id) if fee.subscription_id else None
    return serializers.fee(fee, fee.invoice, {subscription.id: subscription} if subscription else {})


def list_fees(*, organization_id: str, external_subscription_id: str | None = None,
              external_customer_id: str | None = None, pay_in_advance: bool | None = None,
              page: int = 1, per_page: int = 20) -> Page:
    """The organization's fees, latest first, as Lago's JSON (`/fees`: pay-in-advance fees without invoice too)."""
    query = select(Fee).where(Fee.organization_id == organization_id)
    if external_subscription_id:
        query = query.join(Subscription, Subscription.id == Fee.subscription_id).where(
            Subscription.external_id == external_subscription_id)
    if external_customer_id:
        # A customer's fees: of its subscriptions, or on its invoices (add-on fees have no subscription).
        customers = select(Customer.id).where(Customer.organization_id == organization_id,
                                              Customer.external_id == external_customer_id)
        query = query.where(or_(
            Fee.subscription_id.in_(select(Subscription.id).where(Subscription.customer_id.in_(customers))),
            Fee.invoice_id.in_(select(Invoice.id).where(Invoice.customer_id.in_(customers)))))
    if pay_in_advance is not None:
        query = query.where(Fee.pay_in_advance.is_(pay_in_advance))
    with read_only() as session:
        found = paginate(session, query.order_by(Fee.created_at.desc(), Fee.id), page=page, per_page=per_page)
        return Page(items=[fee_json(session, f) for f in found.items], current_page=found.current_page,
                    per_page=found.per_page, total_count=found.total_count)


def get_fee(*, organization_id: str, fee_id: str) -> dict:
    with read_only() as session:
        fee = session.scalar(select(Fee).where(Fee.organization_id == organization_id, Fee.id == str(fee_id)))
        if fee is None:
            raise NotFound("fee")
        return fee_json(session, fee)
