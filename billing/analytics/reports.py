"""Lago's five analytics reports, each computed by aggregate queries over invoices and fees.

Every query is scoped to the organization and groups in SQL; Python only merges the few aggregate
rows (months × currencies) and spreads a quarter's or a year's subscription fee over its months.
The rules and their Lago sources are in docs/billing.md ("Analytics").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, ColumnElement, Select, cast, func, select
from sqlalchemy.orm import Session

from billing.analytics.months import Filters, Months, month_after, report_months
from billing.catalog.models import Plan
from billing.customers.models import Customer
from billing.db import read_only
from billing.invoicing.models import CreditNote, Fee, Invoice
from billing.money import round_minor
from billing.subscriptions.models import Subscription

# NOTE: Lago's MRR spreads a subscription fee over the months its interval lasts (Analytics::Mrr: quarterly and
# yearly over their months, monthly in its own month, weekly as the average weekly fee × 4.33).
MONTHS_PER_INTERVAL = {"monthly": 1, "quarterly": 3, "semiannual": 6, "yearly": 12}
WEEKS_PER_MONTH = Decimal(52) / Decimal(12)
LONGEST_SPREAD = max(MONTHS_PER_INTERVAL.values())


@dataclass(frozen=True)
class MrrMonth:
    month: date
    currency: str | None  # None: a month without any subscription fee (Lago lists it)
    amount_cents: int | None


@dataclass(frozen=True)
class GrossRevenueMonth:
    month: date
    currency: str
    amount_cents: int
    invoices_count: int


@dataclass(frozen=True)
class InvoicedUsageMonth:
    month: date
    code: str  # the billable metric's code
    currency: str
    amount_cents: int


@dataclass(frozen=True)
class OverdueBalanceMonth:
    month: date  # of the invoices' payment due date
    currency: str
    amount_cents: int
    invoice_ids: tuple[str, ...]


@dataclass(frozen=True)
class InvoiceCollectionMonth:
    month: date
    currency: str | None  # None with payment_status None: a month without finalized invoices (Lago lists it)
    payment_status: str | None
    invoices_count: int
    amount_cents: int


def _coupons_cents() -> ColumnElement:
    """A fee's coupon share in whole minor units (rounded half up on both databases)."""
    return cast(func.round(Fee.precise_coupons_amount_cents), BigInteger)


def _for_customer(query: Select, customer_id_column: ColumnElement, filters: Filters) -> Select:
    if filters.external_customer_id is None:
        return query
    return query.join(Customer, Customer.id == customer_id_column).where(
        Customer.external_id == filters.external_customer_id, Customer.deleted_at.is_(None))


def _finalized_invoices(query: Select, organization_id: str, filters: Filters) -> Select:
    query = query.where(Invoice.organization_id == organization_id, Invoice.status == "finalized")
    if filters.currency:
        query = query.where(Invoice.currency == filters.currency)
    return _for_customer(query, Invoice.customer_id, filters)


def _months(session: Session, organization_id: str, filters: Filters) -> Months:
    return report_months(session, organization_id, filters.months)


def mrr(*, organization_id: str, filters: Filters = Filters()) -> list[MrrMonth]:
    """Monthly recurring revenue per month and currency: subscription fees of finalized invoices, taxes included,
    coupons off, spread over the months their plan's interval lasts."""
    with read_only() as session:
        months = _months(session, organization_id, filters)
        spread_over = months.widened(LONGEST_SPREAD - 1)  # a yearly advance fee of 11 months ago still counts
        bucket, in_months = spread_over.of_date(Invoice.issuing_date)
        net = Fee.amount_cents - _coupons_cents() + Fee.taxes_amount_cents
        fees = (select(bucket.label("bucket"), Plan.interval, Plan.pay_in_advance, Fee.amount_currency,
                       func.sum(net))
                .select_from(Fee).join(Invoice, Invoice.id == Fee.invoice_id)
                .join(Subscription, Subscription.id == Fee.subscription_id).join(Plan, Plan.id == Subscription.plan_id)
                .where(Fee.fee_type == "subscription", in_months))
        fees = _finalized_invoices(fees, organization_id, filters)
        if filters.currency:
            fees = fees.where(Fee.amount_currency == filters.currency)
        spread = (fees.where(Plan.interval != "weekly")
                  .group_by(bucket, Plan.interval, Plan.pay_in_advance, Fee.amount_currency))
        weekly = (fees.with_only_columns(bucket.label("bucket"), Fee.amount_currency, Fee.subscription_id,
                                         func.sum(net), func.count())
                  .where(Plan.interval == "weekly").group_by(bucket, Fee.amount_currency, Fee.subscription_id))
        totals: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
        for index, interval, in_advance, currency, amount in session.execute(spread):
            span = MONTHS_PER_INTERVAL[interval]
            issued = spread_over.firsts[index]
            for step in range(span):
                month = month_after(issued, step if in_advance else -step)
                totals[month, currency] += Decimal(amount) / span
        for index, currency, _subscription, amount, count in session.execute(weekly):
            totals[spread_over.firsts[index], currency] += Decimal(amount) / count * WEEKS_PER_MONTH
    rows: list[MrrMonth] = []
    for month in months.firsts:
        currencies = sorted(currency for (at, currency) in totals if at == month)
        rows.extend(MrrMonth(month, currency, round_minor(totals[month, currency])) for currency in currencies)
        if not currencies and not filters.currency:
            rows.append(MrrMonth(month, None, None))
    return rows


def gross_revenue(*, organization_id: str, filters: Filters = Filters()) -> list[GrossRevenueMonth]:
    """Revenue invoiced per month and currency: finalized invoices' totals less what their credit notes refunded,
    plus the pay-in-advance fees billed without an invoice."""
    with read_only() as session:
        months = _months(session, organization_id, filters)
        refunds = (select(CreditNote.invoice_id, func.sum(CreditNote.refund_amount_cents).label("refunded"))
                   .where(CreditNote.organization_id == organization_id, CreditNote.status != "draft")
                   .group_by(CreditNote.invoice_id).subquery())
        bucket, in_months = months.of_date(Invoice.issuing_date)
        invoices = (select(bucket, Invoice.currency,
                           func.sum(Invoice.total_amount_cents - func.coalesce(refunds.c.refunded, 0)), func.count())
                    .select_from(Invoice).outerjoin(refunds, refunds.c.invoice_id == Invoice.id).where(in_months))
        invoices = _finalized_invoices(invoices, organization_id, filters).group_by(bucket, Invoice.currency)
        totals: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
        for index, currency, amount, count in session.execute(invoices):
            totals[index, currency] = [int(amount), count]
        for index, currency, amount in session.execute(_invoiceless_fees(months, organization_id, filters, "charge",
                                                                         group_by_code=False)):
            totals[index, currency][0] += int(amount)
    return [GrossRevenueMonth(months.firsts[index], currency, amount, count)
            for (index, currency), (amount, count) in sorted(totals.items())]


def _invoiceless_fees(months: Months, organization_id: str, filters: Filters, fee_type: str, *,
                      group_by_code: bool) -> Select:
    """Pay-in-advance fees billed without an invoice, per month of their creation (and metric code)."""
    bucket, in_months = months.of_instant(Fee.created_at)
    code = (Fee.item_code,) if group_by_code else ()
    query = (select(bucket, *code, Fee.amount_currency, func.sum(Fee.amount_cents - _coupons_cents()))
             .select_from(Fee).join(Subscription, Subscription.id == Fee.subscription_id)
             .where(Fee.organization_id == organization_id, Fee.invoice_id.is_(None), Fee.pay_in_advance.is_(True),
                    Fee.fee_type == fee_type, in_months))
    if filters.currency:
        query = query.where(Fee.amount_currency == filters.currency)
    return _for_customer(query, Subscription.customer_id, filters).group_by(bucket, *code, Fee.amount_currency)


def invoiced_usage(*, organization_id: str, filters: Filters = Filters()) -> list[InvoicedUsageMonth]:
    """Usage billed per month, metric and currency: charge fees less their coupons, taxes excluded."""
    with read_only() as session:
        months = _months(session, organization_id, filters)
        bucket, in_months = months.of_date(Invoice.issuing_date)
        invoiced = (select(bucket, Fee.item_code, Fee.amount_currency, func.sum(Fee.amount_cents - _coupons_cents()))
                    .select_from(Fee).join(Invoice, Invoice.id == Fee.invoice_id)
                    .where(Fee.fee_type == "charge", in_months))
        invoiced = _finalized_invoices(invoiced, organization_id, filters)
        invoiced = invoiced.group_by(bucket, Fee.item_code, Fee.amount_currency)
        totals: dict[tuple[int, str, str], int] = defaultdict(int)
        for query in (invoiced, _invoiceless_fees(months, organization_id, filters, "charge", group_by_code=True)):
            for index, code, currency, amount in session.execute(query):
                totals[index, code, currency] += int(amount)
    rows = [InvoicedUsageMonth(months.firsts[index], code, currency, amount)
            for (index, code, currency), amount in totals.items()]
    # NOTE: Lago orders this report by month, latest first, then by amount, largest first.
    return sorted(rows, key=lambda row: (-row.month.toordinal(), -row.amount_cents, row.code, row.currency))


def overdue_balance(*, organization_id: str, filters: Filters = Filters()) -> list[OverdueBalanceMonth]:
    """What overdue invoices still owe, per month of their due date and currency, with the invoices' ids."""
    with read_only() as session:
        months = _months(session, organization_id, filters)
        bucket, in_months = months.of_date(Invoice.payment_due_date)
        owed = Invoice.total_amount_cents - Invoice.total_paid_amount_cents - Invoice.offset_amount_cents
        query = (select(bucket, Invoice.currency, func.sum(owed), func.aggregate_strings(Invoice.id, ","))
                 .where(Invoice.payment_overdue.is_(True), in_months))
        query = _finalized_invoices(query, organization_id, filters).group_by(bucket, Invoice.currency)
        rows = [OverdueBalanceMonth(months.firsts[index], currency, int(amount), tuple(sorted(ids.split(","))))
                for index, currency, amount, ids in session.execute(query)]
    return sorted(rows, key=lambda row: (row.month, row.currency))


def invoice_collection(*, organization_id: str, filters: Filters = Filters()) -> list[InvoiceCollectionMonth]:
    """Finalized invoices per month of issue, currency and payment status: how many, and their total."""
    with read_only() as session:
        months = _months(session, organization_id, filters)
        bucket, in_months = months.of_date(Invoice.issuing_date)
        query = (select(bucket, Invoice.currency, Invoice.payment_status, func.count(),
                        func.sum(Invoice.total_amount_cents)).where(in_months))
        query = _finalized_invoices(query, organization_id, filters).group_by(bucket, Invoice.currency,
                                                                            Invoice.payment_status)
        found = {(index, currency, status): (count, int(amount))
                 for index, currency, status, count, amount in session.execute(query)}
    rows: list[InvoiceCollectionMonth] = []
    for index, month in enumerate(months.firsts):
        keys = sorted((status, currency) for (at, currency, status) in found if at == index)
        rows.extend(InvoiceCollectionMonth(month, currency, status, *found[index, currency, status])
                    for status, currency in keys)
        if not keys and not filters.currency:
            rows.append(InvoiceCollectionMonth(month, None, None, 0, 0))
    return rows


def totals_by_currency(rows: Iterable[GrossRevenueMonth | MrrMonth], month: date) -> dict[str, int]:
    """A report's amount per currency in one month (the dashboard's this-month-against-last figures)."""
    return {row.currency: row.amount_cents or 0 for row in rows if row.month == month and row.currency}



@dataclass(frozen=True)
class CustomerRevenue:
    customer_id: str
    external_customer_id: str
    name: str | None
    currency: str
    amount_cents: int
    invoices_count: int


def top_customers(*, organization_id: str, filters: Filters = Filters(), limit: int = 5) -> list[CustomerRevenue]:
    """The customers invoiced the most in the report's months (gross revenue's invoices, per customer)."""
    with read_only() as session:
        months = _months(session, organization_id, filters)
        _bucket, in_months = months.of_date(Invoice.issuing_date)
        amount = func.sum(Invoice.total_amount_cents)
        query = (select(Customer.id, Customer.external_id, Customer.name, Invoice.currency, amount, func.count())
                 .join(Customer, Customer.id == Invoice.customer_id).where(in_months))
        query = _finalized_invoices(query, organization_id, Filters(currency=filters.currency))
        if filters.external_customer_id is not None:
            query = query.where(Customer.external_id == filters.external_customer_id)
        query = (query.group_by(Customer.id, Customer.external_id, Customer.name, Invoice.currency)
                 .order_by(amount.desc(), Customer.external_id).limit(limit))
        return [CustomerRevenue(*row[:4], int(row[4]), row[5]) for row in session.execute(query)]
