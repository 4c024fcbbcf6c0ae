"""A customer's account as the screens show it (admin and portal): summary, subscriptions with their
usage so far, and invoices, read in one session each and returned as plain data.

Templates never touch ORM objects, so nothing lazy-loads after the session is gone. Every read is
scoped to one organization and one customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.customers.models import Customer
from billing.db import read_only
from billing.errors import NotFound
from billing.invoicing.models import Invoice
from billing.invoicing.services import invoice_pdf_bytes
from billing.metering.services import usage_for_current_period
from billing.pagination import Page, paginate
from billing.subscriptions.models import LIVE_STATUSES
from billing.subscriptions.services import current_period, customer_subscriptions


@dataclass(frozen=True)
class CustomerSummary:
    id: str
    external_id: str
    name: str
    legal_name: str | None
    email: str | None
    phone: str | None
    address: str
    country: str | None
    currency: str | None
    timezone: str
    created_at: datetime
    organization_name: str


@dataclass(frozen=True)
class MeterLine:
    metric_name: str
    metric_code: str
    units: Decimal
    events_count: int
    amount_cents: int


@dataclass(frozen=True)
class SubscriptionUsage:
    id: str
    external_id: str
    name: str | None
    plan_name: str
    plan_display_name: str
    plan_code: str
    plan_interval: str
    plan_amount_cents: int
    currency: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    first_day: date | None  # of the current period, for live subscriptions only
    last_day: date | None
    lines: tuple[MeterLine, ...]

    @property
    def usage_amount_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)


@dataclass(frozen=True)
class InvoiceRow:
    id: str
    number: str
    issuing_date: date
    payment_due_date: date
    status: str
    payment_status: str
    total_amount_cents: int
    currency: str

    @property
    def has_pdf(self) -> bool:
        return self.status != "draft"


def _find_customer(session: Session, organization_id: str, customer_id: str) -> Customer:
    customer = session.scalar(select(Customer).where(
        Customer.organization_id == organization_id, Customer.id == customer_id, Customer.deleted_at.is_(None)))
    if customer is None:
        raise NotFound("customer")
    return customer


def customer_summary(*, organization_id: str, customer_id: str) -> CustomerSummary:
    with read_only() as session:
        c = _find_customer(session, organization_id, customer_id)
        address = ", ".join(part for part in (c.address_line1, c.address_line2, c.zipcode, c.city, c.state) if part)
        return CustomerSummary(id=c.id, external_id=c.external_id, name=c.display_name, legal_name=c.legal_name,
                               email=c.email, phone=c.phone, address=address, country=c.country, currency=c.currency,
                               timezone=c.applicable_timezone, created_at=c.created_at,
                               organization_name=c.organization.name)


def subscriptions_with_usage(*, organization_id: str, customer_id: str, live_only: bool) -> list[SubscriptionUsage]:
    """The customer's subscriptions, newest first; live ones with their current period and usage so far."""
    rows = []
    with read_only() as session:
        _find_customer(session, organization_id, customer_id)
        for subscription in customer_subscriptions(session, customer_id):
            live = subscription.status in LIVE_STATUSES
            if live_only and not live:
                continue
            period = current_period(subscription) if live else None
            # NOTE: a pending subscription has a first period but no usage yet.
            lines = tuple(
                MeterLine(metric_name=usage.charge.billable_metric.name, metric_code=usage.charge.billable_metric.code,
                          units=usage.units, events_count=usage.events_count, amount_cents=usage.amount_cents)
                for usage in usage_for_current_period(session, subscription).charges
            ) if subscription.status == "active" else ()
            plan = subscription.plan
            rows.append(SubscriptionUsage(
                id=subscription.id, external_id=subscription.external_id, name=subscription.name,
                plan_name=plan.name, plan_display_name=plan.invoice_display_name or plan.name, plan_code=plan.code,
                plan_interval=plan.interval, plan_amount_cents=plan.amount_cents, currency=plan.amount_currency,
                status=subscription.status, started_at=subscription.started_at,
                ended_at=subscription.terminated_at or subscription.canceled_at,
                first_day=period.first_day if period else None, last_day=period.last_day if period else None,
                lines=lines))
    return rows


def _invoices_of(organization_id: str, customer_id: str, include_drafts: bool):
    query = select(Invoice).where(Invoice.organization_id == organization_id, Invoice.customer_id == customer_id)
    # NOTE: drafts stay private to the account manager until finalized: their amounts may still
    # change during the grace period (BILLING.md, Invoicing).
    return query if include_drafts else query.where(Invoice.status != "draft")


def customer_invoices(*, organization_id: str, customer_id: str, include_drafts: bool, page: int = 1,
                      per_page: int = 20) -> Page:
    """The customer's invoices, newest first, as `InvoiceRow`s."""
    with read_only() as session:
        query = _invoices_of(organization_id, customer_id, include_drafts).order_by(
            Invoice.issuing_date.desc(), Invoice.created_at.desc(), Invoice.id)
        found = paginate(session, query, page=page, per_page=per_page)
        rows = [InvoiceRow(id=i.id, number=i.number, issuing_date=i.issuing_date, payment_due_date=i.payment_due_date,
                           status=i.status, payment_status=i.payment_status, total_amount_cents=i.total_amount_cents,
                           currency=i.currency) for i in found.items]
    return Page(items=rows, current_page=found.current_page, per_page=found.per_page, total_count=found.total_count)


def customer_invoice_pdf(*, organization_id: str, customer_id: str, invoice_id: str,
                         include_drafts: bool) -> tuple[str, bytes]:
    """The number and PDF of one invoice of this customer in this organization; NotFound for any other."""
    with read_only() as session:
        number = session.scalar(_invoices_of(organization_id, customer_id, include_drafts)
                                .where(Invoice.id == invoice_id).with_only_columns(Invoice.number))
    if number is None:
        raise NotFound("invoice")
    return number, invoice_pdf_bytes(organization_id=organization_id, invoice_id=invoice_id)
