"""The account manager's home: what needs attention, then how the business is doing.

"Needs attention" counts in SQL and lists the few most urgent of each kind; "how the business is doing" reads the
same `billing.analytics` reports as Lago's analytics API, for one currency over the last few months, and adds each
bar's share of the chart's largest so the template only draws.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select

from billing.analytics import reports
from billing.analytics.months import Filters, report_months
from billing.catalog.models import BillableMetric
from billing.customers.models import Customer
from billing.db import read_only
from billing.invoicing import failures
from billing.invoicing.models import Invoice
from billing.organizations.models import Organization
from billing.wallets.models import Wallet

MOST_URGENT = 5  # items listed under each count
PERIODS = (3, 6, 12)  # the months a chart may show
DEFAULT_PERIOD = 6
# NOTE: Tally's rule for "running low": an active wallet whose ongoing balance ran out (wallet.depleted_ongoing_balance
# was sent), or whose settled balance is under 1,000 minor units (€10.00, $10.00, ¥1,000).
LOW_WALLET_MINOR_UNITS = 1_000


@dataclass(frozen=True)
class DraftWaiting:
    invoice_id: str
    customer_id: str
    customer_name: str
    currency: str
    total_amount_cents: int
    finalizes_at: datetime  # when its grace period ends


@dataclass(frozen=True)
class UnpaidInvoice:
    invoice_id: str
    customer_id: str
    customer_name: str
    number: str
    currency: str
    due_amount_cents: int
    payment_due_date: date


@dataclass(frozen=True)
class LowWallet:
    wallet_id: str
    customer_id: str
    customer_name: str
    wallet_name: str | None
    currency: str
    balance_cents: int
    depleted: bool


@dataclass(frozen=True)
class Attention:
    drafts_count: int
    drafts: list[DraftWaiting]
    failed_count: int
    failed: list[UnpaidInvoice]
    overdue_count: int
    overdue_by_currency: dict[str, int]
    overdue: list[UnpaidInvoice]
    unbilled_count: int
    unbilled: list[failures.CouldNotBill]
    low_wallets_count: int
    low_wallets: list[LowWallet]

    @property
    def nothing(self) -> bool:
        return not (self.drafts_count or self.failed_count or self.overdue_count or self.unbilled_count
                    or self.low_wallets_count)


def _customer_name(customer: Customer) -> str:
    return customer.name or customer.external_id


def needs_attention(*, organization_id: str) -> Attention:
    """Drafts in their grace period, failed payments, overdue invoices, subscriptions not billed, low wallets."""
    due = Invoice.total_amount_cents - Invoice.total_paid_amount_cents - Invoice.offset_amount_cents
    unbilled_count = failures.count_open_failures(organization_id=organization_id)
    unbilled = failures.open_failures(organization_id=organization_id)[:MOST_URGENT]
    with read_only() as session:
        def count(query) -> int:
            return session.scalar(select(func.count()).select_from(query.subquery()))

        drafts = select(Invoice, Customer).join(Customer, Customer.id == Invoice.customer_id).where(
            Invoice.organization_id == organization_id, Invoice.status == "draft")
        failed = select(Invoice, Customer).join(Customer, Customer.id == Invoice.customer_id).where(
            Invoice.organization_id == organization_id, Invoice.status == "finalized",
            Invoice.payment_status == "failed")
        overdue = select(Invoice, Customer).join(Customer, Customer.id == Invoice.customer_id).where(
            Invoice.organization_id == organization_id, Invoice.status == "finalized",
            Invoice.payment_overdue.is_(True))
        low = select(Wallet, Customer).join(Customer, Customer.id == Wallet.customer_id).where(
            Wallet.organization_id == organization_id, Wallet.status == "active",
            or_(Wallet.depleted_notified.is_(True), Wallet.balance_cents < LOW_WALLET_MINOR_UNITS))
        draft_rows = session.execute(drafts.order_by(Invoice.created_at).limit(MOST_URGENT)).all()
        attention = Attention(
            drafts_count=count(drafts),
            # NOTE: a draft is finalized when its grace period is over (billing.invoicing.actions: created_at + days).
            drafts=sorted((DraftWaiting(invoice.id, customer.id, _customer_name(customer), invoice.currency,
                                        invoice.total_amount_cents,
                                        invoice.created_at + timedelta(days=customer.applicable_grace_period))
                           for invoice, customer in draft_rows), key=lambda draft: draft.finalizes_at),
            failed_count=count(failed),
            failed=[_unpaid(invoice, customer) for invoice, customer in session.execute(
                failed.order_by(Invoice.issuing_date.desc(), Invoice.number).limit(MOST_URGENT))],
            overdue_count=count(overdue),
            overdue_by_currency=dict(session.execute(
                select(Invoice.currency, func.sum(due)).where(Invoice.organization_id == organization_id,
                                                              Invoice.status == "finalized",
                                                              Invoice.payment_overdue.is_(True))
                .group_by(Invoice.currency).order_by(Invoice.currency)).all()),
            overdue=[_unpaid(invoice, customer) for invoice, customer in session.execute(
                overdue.order_by(Invoice.payment_due_date, Invoice.number).limit(MOST_URGENT))],
            unbilled_count=unbilled_count,
            unbilled=unbilled,
            low_wallets_count=count(low),
            low_wallets=[LowWallet(wallet.id, customer.id, _customer_name(customer), wallet.name, wallet.currency,
                                   wallet.balance_cents, wallet.depleted_notified)
                         for wallet, customer in session.execute(
                             low.order_by(Wallet.balance_cents, Wallet.created_at).limit(MOST_URGENT))],
        )
    return attention


def _unpaid(invoice: Invoice, customer: Customer) -> UnpaidInvoice:
    return UnpaidInvoice(invoice.id, customer.id, _customer_name(customer), invoice.number, invoice.currency,
                         invoice.total_due_amount_cents, invoice.payment_due_date)


# ---------------------------------------------------------------- how the business is doing


@dataclass(frozen=True)
class Bar:
    label: str  # a month (date) or a metric or customer, as the chart names it
    amount_cents: int
    share: Decimal  # of the chart's largest bar, 0 to 1
    month: date | None = None
    second_amount_cents: int = 0  # a paired bar (revenue collected next to invoiced)
    second_share: Decimal = Decimal(0)
    link_customer_id: str | None = None


@dataclass(frozen=True)
class Chart:
    currency: str
    months: int
    bars: list[Bar]

    @property
    def empty(self) -> bool:
        return not any(bar.amount_cents or bar.second_amount_cents for bar in self.bars)

    @property
    def this_against_last(self) -> MonthAgainstLast:
        """A month chart's last bar against the one before."""
        amounts = [bar.amount_cents for bar in self.bars[-2:]]
        return MonthAgainstLast(amounts[-1], amounts[0] if len(amounts) == 2 else 0)


@dataclass(frozen=True)
class MonthAgainstLast:
    this_month: int
    last_month: int

    @property
    def change(self) -> Decimal | None:
        """This month against last, as a fraction (None when last month was nothing)."""
        if not self.last_month:
            return None
        return (Decimal(self.this_month) - self.last_month) / abs(self.last_month)


def _share(amount: int, largest: int) -> Decimal:
    return (Decimal(max(amount, 0)) / largest).quantize(Decimal("0.0001")) if largest > 0 else Decimal(0)


def _month_firsts(organization_id: str, months: int) -> list[date]:
    """The last `months` months of the organization's calendar, as the reports count them."""
    with read_only() as session:
        return list(report_months(session, organization_id, months).firsts)


def currencies(*, organization_id: str) -> list[str]:
    """The currencies the organization invoices in, its default first (the dashboard's currency choice)."""
    with read_only() as session:
        default = session.scalar(select(Organization.default_currency).where(Organization.id == organization_id))
        used = session.scalars(select(Invoice.currency).where(Invoice.organization_id == organization_id)
                               .group_by(Invoice.currency).order_by(func.count().desc(), Invoice.currency)).all()
    ordered = [*used] if used else [default or "EUR"]
    if default in ordered:
        ordered.remove(default)
        ordered.insert(0, default)
    return ordered


def _by_month(rows, month_firsts: list[date]) -> dict[date, int]:
    totals: dict[date, int] = defaultdict(int)
    for row in rows:
        totals[row.month] += row.amount_cents or 0
    return {month: totals.get(month, 0) for month in month_firsts}


def mrr_chart(*, organization_id: str, currency: str, months: int) -> Chart:
    rows = reports.mrr(organization_id=organization_id, filters=Filters(currency=currency, months=months))
    totals = _by_month(rows, _month_firsts(organization_id, months))
    largest = max(totals.values(), default=0)
    return Chart(currency, months, [Bar(month.isoformat(), amount, _share(amount, largest), month)
                                    for month, amount in totals.items()])


@dataclass(frozen=True)
class RevenueChart(Chart):
    invoiced: MonthAgainstLast
    collected: MonthAgainstLast


def revenue_chart(*, organization_id: str, currency: str, months: int) -> RevenueChart:
    """Invoiced (gross revenue) and collected (finalized invoices paid, by month of issue) per month."""
    filters = Filters(currency=currency, months=max(months, 2))  # this month against last, whatever is drawn
    firsts = _month_firsts(organization_id, max(months, 2))
    invoiced = _by_month(reports.gross_revenue(organization_id=organization_id, filters=filters), firsts)
    collected = _by_month([row for row in reports.invoice_collection(organization_id=organization_id, filters=filters)
                           if row.payment_status == "succeeded"], firsts)
    drawn = firsts[-months:]
    largest = max([*(invoiced[m] for m in drawn), *(collected[m] for m in drawn)], default=0)
    bars = [Bar(month.isoformat(), invoiced[month], _share(invoiced[month], largest), month, collected[month],
                _share(collected[month], largest)) for month in drawn]
    last, this = firsts[-2:]
    return RevenueChart(currency, months, bars, MonthAgainstLast(invoiced[this], invoiced[last]),
                        MonthAgainstLast(collected[this], collected[last]))


def usage_chart(*, organization_id: str, currency: str, months: int) -> Chart:
    """Usage invoiced per metric over the months, largest first, named by the metric's name."""
    rows = reports.invoiced_usage(organization_id=organization_id, filters=Filters(currency=currency, months=months))
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[row.code] += row.amount_cents
    with read_only() as session:
        names = dict(session.execute(select(BillableMetric.code, BillableMetric.name).where(
            BillableMetric.organization_id == organization_id, BillableMetric.code.in_(list(totals)))).all())
    ordered = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    largest = ordered[0][1] if ordered else 0
    return Chart(currency, months, [Bar(names.get(code) or code, amount, _share(amount, largest))
                                    for code, amount in ordered])


def top_customers_chart(*, organization_id: str, currency: str, months: int) -> Chart:
    rows = reports.top_customers(organization_id=organization_id, filters=Filters(currency=currency, months=months))
    largest = rows[0].amount_cents if rows else 0
    return Chart(currency, months, [Bar(row.name or row.external_customer_id, row.amount_cents,
                                        _share(row.amount_cents, largest), link_customer_id=row.customer_id)
                                    for row in rows])
