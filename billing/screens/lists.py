"""The admin's lists across customers (invoices, customers, subscriptions, credit notes, payments): each one's
rows as one statement scoped to the organization (columns, not entities: no relationship is loaded per row), its
filters, sort keys and CSV columns, read by the machinery of `screens/listing.py`.

Customers, plans and invoices are outer-joined although every row has one: PostgreSQL then leaves the join out of a
page's count when no filter reads the joined table (join removal), and counts from an index alone.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Select, and_, func, literal_column, select
from sqlalchemy.sql import ColumnElement

from billing.catalog.models import Plan
from billing.customers.models import Customer
from billing.invoicing.models import CREDIT_NOTE_REASONS, INVOICE_STATUSES, PAYMENT_STATUSES, CreditNote, Invoice
from billing.payments.models import PAYMENT_STATUSES as PAYMENT_ATTEMPT_STATUSES
from billing.payments.models import Payment
from billing.ports import runtime
from billing.screens.listing import (
    CHOICE,
    CURRENCY,
    DAY,
    FLAG,
    Column,
    Filter,
    ListQuery,
    ListSpec,
    before_end_of,
    contains,
    on_or_after,
    where_all,
)
from billing.subscriptions.models import LIVE_STATUSES, STATUSES, Subscription

ENDING_SOON_DAYS = 30
CREDIT_STATUSES = ("available", "consumed", "voided")
REFUND_STATUSES = ("pending", "succeeded", "failed")
MANUAL = "manual"  # the payments list's provider filter: payments recorded by hand


def customer_name() -> ColumnElement:
    """`Customer.display_name` in SQL: the name, else first and last names, else the external id."""
    full = func.trim(func.coalesce(Customer.firstname, "") + " " + func.coalesce(Customer.lastname, ""))
    return func.coalesce(func.nullif(Customer.name, ""), func.nullif(full, ""), Customer.external_id)


def _customer_matches(organization_id: str, query: ListQuery) -> ColumnElement | None:
    """The `customer` filter: the row's customer's name, external id or email holds the text. The customer's
    organization is said although the row's implies it: the search's indexes are per organization."""
    text = query.get("customer")
    if text is None:
        return None
    return and_(Customer.organization_id == organization_id,
                contains(text, Customer.name, Customer.external_id, Customer.email))


def _customer_columns() -> tuple[ColumnElement, ...]:
    return (Customer.external_id.label("customer_external_id"), customer_name().label("customer_name"))


# Invoices ---------------------------------------------------------------------------------------------------------

def invoice_rows(organization_id: str, query: ListQuery) -> Select:
    statement = (
        select(Invoice.id, Invoice.customer_id, Invoice.number, Invoice.issuing_date, Invoice.payment_due_date,
               Invoice.status, Invoice.payment_status, Invoice.payment_overdue, Invoice.currency,
               Invoice.total_amount_cents, Invoice.total_paid_amount_cents, *_customer_columns())
        .outerjoin(Customer, Customer.id == Invoice.customer_id)
        .where(Invoice.organization_id == organization_id))
    number = query.get("number")
    return where_all(
        statement,
        None if query.get("status") is None else Invoice.status == query.get("status"),
        None if query.get("payment_status") is None else Invoice.payment_status == query.get("payment_status"),
        Invoice.payment_overdue if query.get("overdue") else None,
        _customer_matches(organization_id, query),
        None if number is None else contains(number, Invoice.number),
        None if query.get("issued_from") is None else Invoice.issuing_date >= query.get("issued_from"),
        None if query.get("issued_to") is None else Invoice.issuing_date <= query.get("issued_to"))


INVOICES = ListSpec(
    rows=invoice_rows,
    filters=(Filter("number"), Filter("customer"), Filter("status", CHOICE, INVOICE_STATUSES),
             Filter("payment_status", CHOICE, PAYMENT_STATUSES), Filter("overdue", FLAG),
             Filter("issued_from", DAY), Filter("issued_to", DAY)),
    ranges=(("issued_from", "issued_to"),),
    sorts={"issuing_date": Invoice.issuing_date, "number": Invoice.number, "amount": Invoice.total_amount_cents,
           "customer": func.lower(customer_name())},
    default_sort="-issuing_date",
    tie_breakers=(Invoice.created_at, Invoice.id),
    columns=(Column("number", "number"), Column("customer_external_id", "customer_external_id"),
             Column("customer_name", "customer_name"), Column("issuing_date", "issuing_date"),
             Column("payment_due_date", "payment_due_date"), Column("status", "status"),
             Column("payment_status", "payment_status"), Column("payment_overdue", "payment_overdue"),
             Column("currency", "currency"), Column("total_amount", "total_amount_cents", money=True),
             Column("total_paid_amount", "total_paid_amount_cents", money=True)),
)


# Customers --------------------------------------------------------------------------------------------------------

def _overdue_invoices_count(organization_id: str) -> ColumnElement:
    return (select(func.count()).where(Invoice.organization_id == organization_id, Invoice.customer_id == Customer.id,
                                       Invoice.payment_overdue)
            .correlate(Customer).scalar_subquery())


def customer_rows(organization_id: str, query: ListQuery) -> Select:
    overdue = _overdue_invoices_count(organization_id)
    statement = (
        select(Customer.id, Customer.external_id, customer_name().label("name"), Customer.email, Customer.currency,
               Customer.created_at, overdue.label("overdue_invoices"))
        .where(Customer.organization_id == organization_id, Customer.deleted_at.is_(None)))
    search = query.get("search")
    return where_all(
        statement,
        None if search is None else contains(search, Customer.name, Customer.external_id, Customer.email),
        None if query.get("currency") is None else Customer.currency == query.get("currency"),
        overdue > 0 if query.get("with_overdue") else None)


CUSTOMERS = ListSpec(
    rows=customer_rows,
    filters=(Filter("search"), Filter("currency", CURRENCY), Filter("with_overdue", FLAG)),
    sorts={"created_at": Customer.created_at, "name": func.lower(customer_name()),
           "external_id": Customer.external_id, "overdue": literal_column("overdue_invoices")},
    default_sort="-created_at",
    tie_breakers=(Customer.id,),
    columns=(Column("external_id", "external_id"), Column("name", "name"), Column("email", "email"),
             Column("currency", "currency"), Column("created_at", "created_at"),
             Column("overdue_invoices", "overdue_invoices")),
)


# Subscriptions ----------------------------------------------------------------------------------------------------

def subscription_rows(organization_id: str, query: ListQuery) -> Select:
    statement = (
        select(Subscription.id, Subscription.customer_id, Subscription.external_id, Subscription.name,
               Subscription.status, func.coalesce(Subscription.started_at, Subscription.subscription_at).label(
                   "started_at"), Subscription.ending_at, Subscription.terminated_at,
               Plan.code.label("plan_code"), Plan.name.label("plan_name"), *_customer_columns())
        .outerjoin(Customer, Customer.id == Subscription.customer_id)
        .outerjoin(Plan, Plan.id == Subscription.plan_id)
        .where(Subscription.organization_id == organization_id))
    ending_soon = None
    if query.get("ending_soon"):
        now = runtime.clock.now()
        ending_soon = and_(Subscription.status.in_(LIVE_STATUSES), Subscription.ending_at >= now,
                           Subscription.ending_at < now + timedelta(days=ENDING_SOON_DAYS))
    return where_all(
        statement,
        None if query.get("plan") is None else Plan.code == query.get("plan"),  # an override's plan shares its code
        None if query.get("status") is None else Subscription.status == query.get("status"),
        ending_soon,
        _customer_matches(organization_id, query))


SUBSCRIPTIONS = ListSpec(
    rows=subscription_rows,
    filters=(Filter("customer"), Filter("plan", CHOICE), Filter("status", CHOICE, STATUSES),
             Filter("ending_soon", FLAG)),
    sorts={"started_at": func.coalesce(Subscription.started_at, Subscription.subscription_at),
           "ending_at": Subscription.ending_at, "customer": func.lower(customer_name()), "plan": Plan.code},
    default_sort="-started_at",
    tie_breakers=(Subscription.id,),
    columns=(Column("external_id", "external_id"), Column("name", "name"),
             Column("customer_external_id", "customer_external_id"), Column("customer_name", "customer_name"),
             Column("plan_code", "plan_code"), Column("status", "status"), Column("started_at", "started_at"),
             Column("ending_at", "ending_at"), Column("terminated_at", "terminated_at")),
)


# Credit notes -----------------------------------------------------------------------------------------------------

def credit_note_rows(organization_id: str, query: ListQuery) -> Select:
    statement = (
        select(CreditNote.id, CreditNote.customer_id, CreditNote.invoice_id, CreditNote.number,
               CreditNote.issuing_date, CreditNote.status, CreditNote.credit_status, CreditNote.refund_status,
               CreditNote.reason, CreditNote.currency, CreditNote.total_amount_cents, CreditNote.credit_amount_cents,
               CreditNote.refund_amount_cents, Invoice.number.label("invoice_number"), *_customer_columns())
        .outerjoin(Customer, Customer.id == CreditNote.customer_id)
        .outerjoin(Invoice, Invoice.id == CreditNote.invoice_id)
        .where(CreditNote.organization_id == organization_id))
    return where_all(
        statement,
        None if query.get("credit_status") is None else CreditNote.credit_status == query.get("credit_status"),
        None if query.get("refund_status") is None else CreditNote.refund_status == query.get("refund_status"),
        None if query.get("reason") is None else CreditNote.reason == query.get("reason"),
        _customer_matches(organization_id, query),
        None if query.get("issued_from") is None else CreditNote.issuing_date >= query.get("issued_from"),
        None if query.get("issued_to") is None else CreditNote.issuing_date <= query.get("issued_to"))


CREDIT_NOTES = ListSpec(
    rows=credit_note_rows,
    filters=(Filter("customer"), Filter("credit_status", CHOICE, CREDIT_STATUSES),
             Filter("refund_status", CHOICE, REFUND_STATUSES), Filter("reason", CHOICE, CREDIT_NOTE_REASONS),
             Filter("issued_from", DAY), Filter("issued_to", DAY)),
    ranges=(("issued_from", "issued_to"),),
    sorts={"issuing_date": CreditNote.issuing_date, "number": CreditNote.number,
           "amount": CreditNote.total_amount_cents, "customer": func.lower(customer_name())},
    default_sort="-issuing_date",
    tie_breakers=(CreditNote.created_at, CreditNote.id),
    columns=(Column("number", "number"), Column("invoice_number", "invoice_number"),
             Column("customer_external_id", "customer_external_id"), Column("customer_name", "customer_name"),
             Column("issuing_date", "issuing_date"), Column("reason", "reason"),
             Column("credit_status", "credit_status"), Column("refund_status", "refund_status"),
             Column("currency", "currency"), Column("total_amount", "total_amount_cents", money=True),
             Column("credit_amount", "credit_amount_cents", money=True),
             Column("refund_amount", "refund_amount_cents", money=True)),
)


# Payments ---------------------------------------------------------------------------------------------------------

def payment_rows(organization_id: str, query: ListQuery) -> Select:
    statement = (
        select(Payment.id, Payment.customer_id, Payment.invoice_id, Payment.created_at, Payment.paid_at,
               Payment.status, Payment.payment_type, Payment.provider_code, Payment.provider_payment_id,
               Payment.reference, Payment.currency, Payment.amount_cents, Invoice.number.label("invoice_number"),
               *_customer_columns())
        .outerjoin(Customer, Customer.id == Payment.customer_id)
        .outerjoin(Invoice, Invoice.id == Payment.invoice_id)  # a payment request's payment has no one invoice
        .where(Payment.organization_id == organization_id))
    provider = query.get("provider")
    by_provider = None
    if provider is not None:
        by_provider = Payment.payment_type == MANUAL if provider == MANUAL else Payment.provider_code == provider
    return where_all(
        statement,
        None if query.get("status") is None else Payment.status == query.get("status"),
        by_provider,
        _customer_matches(organization_id, query),
        on_or_after(Payment.created_at, query.get("created_from")),
        before_end_of(Payment.created_at, query.get("created_to")))


PAYMENTS = ListSpec(
    rows=payment_rows,
    filters=(Filter("customer"), Filter("status", CHOICE, PAYMENT_ATTEMPT_STATUSES), Filter("provider", CHOICE),
             Filter("created_from", DAY), Filter("created_to", DAY)),
    ranges=(("created_from", "created_to"),),
    sorts={"created_at": Payment.created_at, "amount": Payment.amount_cents,
           "customer": func.lower(customer_name()), "status": Payment.status},
    default_sort="-created_at",
    tie_breakers=(Payment.id,),  # ix_payments_org_created
    columns=(Column("created_at", "created_at"), Column("paid_at", "paid_at"),
             Column("customer_external_id", "customer_external_id"), Column("customer_name", "customer_name"),
             Column("invoice_number", "invoice_number"), Column("status", "status"),
             Column("payment_type", "payment_type"), Column("provider_code", "provider_code"),
             Column("provider_payment_id", "provider_payment_id"), Column("reference", "reference"),
             Column("currency", "currency"), Column("amount", "amount_cents", money=True)),
)
