"""A customer's account as the screens show it (admin and portal): summary, subscriptions with their
usage so far (per charge filter and per day) and with their plans (overrides and pending downgrades
included), invoices and the latest events, read in one session each and returned as plain data.

Templates never touch ORM objects, so nothing lazy-loads after the session is gone. Every read is
scoped to one organization and one customer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.catalog.models import ChargeFilter
from billing.customers.models import Customer
from billing.customers.services import customer_by_id
from billing.db import read_only, read_snapshot
from billing.errors import NotFound
from billing.i18n import ENGLISH, document_language, short_day_text
from billing.i18n import customer_language as customer_language_of
from billing.invoicing.documents import invoice_pdf_bytes
from billing.invoicing.models import Invoice, InvoiceSubscription
from billing.metering.period_usage import USAGE_LOADING, ChargeUsage, usage_for_current_period
from billing.metering.store import event_store
from billing.money import decimal_str
from billing.pagination import Page, like_escaped, paginate
from billing.ports import runtime
from billing.screens.alerts import CrossedAlert, crossed_alerts
from billing.screens.catalog import PlanView, plan_view_of
from billing.subscriptions.models import LIVE_STATUSES, Subscription
from billing.subscriptions.periods import current_period, local_date, trial_end
from billing.subscriptions.services import customer_subscriptions, next_subscription
from billing.wallets.models import Wallet


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
    legal_number: str | None = None
    tax_identification_number: str | None = None
    shipping_address: str = ""
    shipping_country: str | None = None
    document_locale: str | None = None
    invoice_grace_period: int | None = None  # the customer's own; None: the organization's applies
    net_payment_term: int | None = None
    applicable_grace_period: int = 0
    applicable_net_payment_term: int = 0
    tax_codes: tuple[str, ...] = ()
    language: str = "en"  # of the customer's portal, PDFs and emails (billing.i18n.document_language)


@dataclass(frozen=True)
class FilterLine:
    """The part of a charge's usage priced by one charge filter, or by none (`is_other`)."""

    label: str
    values: tuple[tuple[str, tuple[str, ...]], ...]  # (property key, allowed values), empty for "other"
    units: Decimal
    events_count: int
    amount_cents: int
    is_other: bool

    @property
    def values_text(self) -> str:
        return " · ".join(f"{key}: {', '.join(values)}" for key, values in self.values)


# The daily chart's drawing height (viewBox units) from its top margin to its base line, and the least bar drawn for a
# day that has usage, so that a small day still shows.
CHART_BAR_SPAN = Decimal(48)
BAR_MIN_HEIGHT = Decimal("1.50")
# Each day's slot is CHART_SLOT units wide; bars stand on the base line at CHART_BASE, CHART_BAR_SPAN high at most,
# with a margin of 1.5 units on each side; today is marked by a strip under its bar.
CHART_SLOT = 10
CHART_BASE = Decimal(52)


@dataclass(frozen=True)
class DayUsage:
    """One local day of the current period, as a bar of the usage chart."""

    day: date
    units: Decimal
    share: Decimal  # of the period's busiest day, 0 to 1 (a negative day draws no bar)
    is_today: bool
    is_future: bool
    index: int = 0  # the day's place in the period: its slot in the chart

    # The chart's words and geometry are worked out once here: the widgets redraw every bar on each poll, and doing
    # it in the template cost several milliseconds per meter (docs/portal.md, Speed).
    @cached_property
    def label(self) -> str:
        """ "3 Dec", in the language of the render (billing.i18n)."""
        return short_day_text(self.day)

    @cached_property
    def units_text(self) -> str:
        return decimal_str(self.units)

    @cached_property
    def bar_height(self) -> Decimal:
        """In the chart's units: the share of the drawing height, at least 1.5 when the day has any usage."""
        height = self.share * CHART_BAR_SPAN
        return BAR_MIN_HEIGHT if self.units > 0 and height < BAR_MIN_HEIGHT else height.quantize(Decimal("0.01"))

    # The SVG attributes of the day's shapes, numbers only (nothing to escape): the template writes them as they are,
    # three strings per bar instead of a dozen computed values.
    @cached_property
    def slot_attributes(self) -> str:
        return f'x="{self.index * CHART_SLOT}" y="0" width="{CHART_SLOT}" height="60"'

    @cached_property
    def bar_attributes(self) -> str:
        height = self.bar_height
        return f'x="{self._bar_x}" y="{CHART_BASE - height}" width="{CHART_SLOT - 3}" height="{height}"'

    @cached_property
    def today_mark_attributes(self) -> str:
        return f'x="{self._bar_x}" y="{CHART_BASE + 3}" width="{CHART_SLOT - 3}" height="3"'

    @property
    def _bar_x(self) -> Decimal:
        return self.index * CHART_SLOT + Decimal("1.5")


@dataclass(frozen=True)
class MeterLine:
    metric_name: str
    metric_code: str
    units: Decimal
    events_count: int
    amount_cents: int
    charge_id: str = ""
    aggregation_type: str = "count_agg"
    filters: tuple[FilterLine, ...] = ()  # empty when the charge has no filters
    daily: tuple[DayUsage, ...] = ()  # empty when a daily chart would mean nothing (unique counts)

    @property
    def daily_peak(self) -> Decimal:
        return max((d.units for d in self.daily), default=Decimal(0))

    @property
    def today(self) -> DayUsage | None:
        return next((d for d in self.daily if d.is_today), None)


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
    replaces: str | None = None  # a pending downgrade: the external id of the subscription it replaces
    crossed: tuple[CrossedAlert, ...] = ()  # the alerts' thresholds crossed this period

    @property
    def usage_amount_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)


@dataclass(frozen=True)
class InvoiceLine:
    """One fee of an invoice as a line: its name, the text under it, units and amount."""

    name: str
    details: str | None
    units: Decimal
    amount_cents: int


@dataclass(frozen=True)
class InvoiceAdjustment:
    """What changed an invoice's total after its fees: a coupon, a credit note, prepaid credits or a tax."""

    kind: str  # "coupon", "credit note", "already billed", "prepaid credits" (deducted) or "tax" (added)
    label: str  # the coupon's or tax's name
    amount_cents: int
    rate: Decimal | None = None  # a tax's, in percent


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
    invoice_type: str = "subscription"
    lines: tuple[InvoiceLine, ...] = ()
    payment_overdue: bool = False
    adjustments: tuple[InvoiceAdjustment, ...] = ()
    payment_overdue: bool = False

    @property
    def has_pdf(self) -> bool:
        return self.status != "draft"


def _find_customer(session: Session, organization_id: str, customer_id: str) -> Customer:
    customer = customer_by_id(session, organization_id, customer_id)
    if customer is None:
        raise NotFound("customer")
    return customer


def customer_summary(*, organization_id: str, customer_id: str) -> CustomerSummary:
    with read_only() as session:
        c = _find_customer(session, organization_id, customer_id)
        address = ", ".join(part for part in (c.address_line1, c.address_line2, c.zipcode, c.city, c.state) if part)
        shipping = ", ".join(part for part in (c.shipping_address_line1, c.shipping_address_line2, c.shipping_zipcode,
                                               c.shipping_city, c.shipping_state) if part)
        return CustomerSummary(id=c.id, external_id=c.external_id, name=c.display_name, legal_name=c.legal_name,
                               email=c.email, phone=c.phone, address=address, country=c.country, currency=c.currency,
                               timezone=c.applicable_timezone, created_at=c.created_at,
                               organization_name=c.organization.name, legal_number=c.legal_number,
                               tax_identification_number=c.tax_identification_number, shipping_address=shipping,
                               shipping_country=c.shipping_country, document_locale=c.document_locale,
                               invoice_grace_period=c.invoice_grace_period, net_payment_term=c.net_payment_term,
                               applicable_grace_period=c.applicable_grace_period,
                               applicable_net_payment_term=c.applicable_net_payment_term,
                               tax_codes=tuple(t.code for t in c.taxes),
                               language=document_language(c.document_locale, c.organization.document_locale))


def customer_language(*, organization_id: str, customer_id: str) -> str:
    """The language a customer reads its pages in (English for a customer not found: a page refusing a link)."""
    with read_only() as session:
        customer = customer_by_id(session, organization_id, customer_id)
        return customer_language_of(customer) if customer is not None else ENGLISH


def subscriptions_with_usage(*, organization_id: str, customer_id: str, live_only: bool) -> list[SubscriptionUsage]:
    """The customer's subscriptions, newest first; live ones with their current period and usage so far."""
    # One snapshot: the meters, their filter lines and their daily bars add up to the same events.
    with read_snapshot() as session:
        _find_customer(session, organization_id, customer_id)
        return [_subscription_usage(session, s) for s in customer_subscriptions(session, customer_id, USAGE_LOADING)
                if not live_only or s.status in LIVE_STATUSES]


def subscriptions_and_plans(*, organization_id: str, customer_id: str,
                            live_only: bool) -> tuple[list[SubscriptionUsage], list[SubscriptionPlan]]:
    """subscriptions_with_usage and subscription_plans of the same subscriptions, read once (the portal's page)."""
    with read_snapshot() as session:
        _find_customer(session, organization_id, customer_id)
        every = customer_subscriptions(session, customer_id, USAGE_LOADING)
        successors = _successors(every)
        shown = [s for s in every if not live_only or s.status in LIVE_STATUSES]
        return ([_subscription_usage(session, s) for s in shown],
                [_subscription_plan(session, s, successors) for s in shown])


def _subscription_usage(session: Session, subscription: Subscription) -> SubscriptionUsage:
    live = subscription.status in LIVE_STATUSES
    period = current_period(subscription) if live else None
    # NOTE: a pending subscription has a first period but no usage yet.
    lines = _meter_lines(session, subscription) if subscription.status == "active" else ()
    plan = subscription.plan
    return SubscriptionUsage(
        id=subscription.id, external_id=subscription.external_id, name=subscription.name,
        plan_name=plan.name, plan_display_name=plan.invoice_display_name or plan.name, plan_code=plan.code,
        plan_interval=plan.interval, plan_amount_cents=plan.amount_cents, currency=plan.amount_currency,
        status=subscription.status, started_at=subscription.started_at,
        ended_at=subscription.terminated_at or subscription.canceled_at,
        first_day=period.first_day if period else None, last_day=period.last_day if period else None,
        lines=lines, replaces=_replaces(session, subscription), crossed=crossed_alerts(session, subscription))


def _replaces(session: Session, subscription: Subscription) -> str | None:
    """For a pending downgrade, the external id of the active subscription it replaces at its period end."""
    if subscription.status != "pending" or not subscription.previous_subscription_id:
        return None
    previous = session.get(Subscription, subscription.previous_subscription_id)
    return previous.external_id if previous is not None and previous.status == "active" else None


def _meter_lines(session: Session, subscription: Subscription) -> tuple[MeterLine, ...]:
    usage = usage_for_current_period(session, subscription, charts=True)  # the bars from the same read
    today = local_date(runtime.clock.now(), subscription.customer.applicable_timezone)
    return tuple(
        MeterLine(metric_name=charge.charge.billable_metric.name, metric_code=charge.charge.billable_metric.code,
                  units=charge.units, events_count=charge.events_count, amount_cents=charge.amount_cents,
                  charge_id=charge.charge.id, aggregation_type=charge.charge.billable_metric.aggregation_type,
                  filters=_filter_lines(charge), daily=_bars(usage.charts.get(charge.charge.id, ()), today))
        for charge in usage.charges)


def _filter_lines(charge: ChargeUsage) -> tuple[FilterLine, ...]:
    if not charge.charge.filters:
        return ()
    lines = [line for line in charge.lines if line.charge_filter is not None]
    lines += [line for line in charge.lines if line.charge_filter is None]  # "other" last
    return tuple(
        FilterLine(label=_filter_label(line.charge_filter), values=_filter_values(line.charge_filter),
                   units=line.units, events_count=line.events_count, amount_cents=line.amount_cents,
                   is_other=line.charge_filter is None)
        for line in lines)


def _filter_values(charge_filter: ChargeFilter | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if charge_filter is None:
        return ()
    return tuple((key, tuple(str(v) for v in values)) for key, values in sorted(charge_filter.values.items()))


def _filter_label(charge_filter: ChargeFilter | None) -> str:
    if charge_filter is None:
        return "Other"
    return charge_filter.invoice_display_name or " · ".join(
        f"{key}: {', '.join(values)}" for key, values in _filter_values(charge_filter))


def _bars(days: Sequence[tuple[date, Decimal]], today: date) -> tuple[DayUsage, ...]:
    peak = max((units for _day, units in days), default=Decimal(0))
    return tuple(
        DayUsage(day=day, units=units, share=(max(units, Decimal(0)) / peak) if peak > 0 else Decimal(0),
                 is_today=day == today, is_future=day > today, index=index)
        for index, (day, units) in enumerate(days))


def _invoices_of(organization_id: str, customer_id: str, include_drafts: bool):
    # An `open` credit purchase is not issued until paid: the wallet panel shows it (docs/billing.md, Wallets).
    query = select(Invoice).where(Invoice.organization_id == organization_id, Invoice.customer_id == customer_id,
                                  Invoice.status != "open")
    # NOTE: drafts stay private to the account manager until finalized: their amounts may still
    # change during the grace period (docs/billing.md, Invoices); an empty invoice closed instead of
    # finalized is no document for the customer either.
    return query if include_drafts else query.where(Invoice.status.not_in(("draft", "closed")))


def customer_invoices(*, organization_id: str, customer_id: str, include_drafts: bool, page: int = 1,
                      per_page: int = 20, overdue_only: bool = False) -> Page:
    """The customer's invoices, newest first, as `InvoiceRow`s; `overdue_only`: those marked overdue."""
    with read_only() as session:
        query = _invoices_of(organization_id, customer_id, include_drafts)
        if overdue_only:
            query = query.where(Invoice.payment_overdue.is_(True))
        query = query.order_by(Invoice.issuing_date.desc(), Invoice.created_at.desc(), Invoice.id)
        found = paginate(session, query, page=page, per_page=per_page)
        rows = [invoice_row(i) for i in found.items]
    return Page(items=rows, current_page=found.current_page, per_page=found.per_page, total_count=found.total_count)


def invoice_row(i: Invoice) -> InvoiceRow:
    """An invoice as the lists show it (inside the session that read it: its fees and credits load)."""
    return InvoiceRow(id=i.id, number=i.number, issuing_date=i.issuing_date, payment_due_date=i.payment_due_date,
                      status=i.status, payment_status=i.payment_status, total_amount_cents=i.total_amount_cents,
                      currency=i.currency, invoice_type=i.invoice_type,
                      payment_overdue=i.payment_overdue and i.status == "finalized",
                      lines=tuple(InvoiceLine(name=f.description, details=f.line_description, units=f.units,
                                              amount_cents=f.amount_cents) for f in i.fees),
                      adjustments=_adjustments(i))


def _credit_kind(credit) -> str:
    if credit.is_progressive_billing:
        return "already billed"  # by the period's progressive billing invoice named in the label
    return "credit note" if credit.is_credit_note else "coupon"


def _adjustments(invoice: Invoice) -> tuple[InvoiceAdjustment, ...]:
    """The invoice's coupons and credit notes, taxes and prepaid credits, in the order they apply."""
    adjustments = [InvoiceAdjustment(_credit_kind(credit), credit.coupon_name, credit.amount_cents)
                   for credit in invoice.credits if credit.before_taxes]
    adjustments += [InvoiceAdjustment("tax", tax.tax_name, tax.amount_cents, rate=tax.tax_rate)
                    for tax in invoice.applied_taxes]
    adjustments += [InvoiceAdjustment("credit note" if credit.is_credit_note else "coupon", credit.coupon_name,
                                      credit.amount_cents) for credit in invoice.credits if not credit.before_taxes]
    if invoice.prepaid_credit_amount_cents:
        adjustments.append(InvoiceAdjustment("prepaid credits", "", invoice.prepaid_credit_amount_cents))
    return tuple(adjustments)


def customer_invoice_pdf(*, organization_id: str, customer_id: str, invoice_id: str,
                         include_drafts: bool) -> tuple[str, bytes]:
    """The number and PDF of one invoice of this customer in this organization; NotFound for any other."""
    with read_only() as session:
        number = session.scalar(_invoices_of(organization_id, customer_id, include_drafts)
                                .where(Invoice.id == invoice_id).with_only_columns(Invoice.number))
    if number is None:
        raise NotFound("invoice")
    return number, invoice_pdf_bytes(organization_id=organization_id, invoice_id=invoice_id)


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class EventRow:
    id: int
    transaction_id: str
    external_subscription_id: str
    code: str
    timestamp: datetime
    properties_json: str  # compact, as sent
    value: str | None  # what the metric made of it: a number, or the value a unique count counts
    error: str | None  # why it may not be billed (Event.error), e.g. metric_not_found
    matched_subscription: bool  # False: no subscription was live at its timestamp

    @property
    def has_problem(self) -> bool:
        return bool(self.error) or not self.matched_subscription


def customer_events(*, organization_id: str, customer_id: str, transaction_id: str | None = None,
                    code: str | None = None, page: int = 1, per_page: int = 20) -> Page:
    """The latest events sent for the customer's subscriptions (by their external ids), as `EventRow`s."""
    with read_only() as session:
        _find_customer(session, organization_id, customer_id)
        external_ids = list(session.scalars(select(Subscription.external_id).where(
            Subscription.organization_id == organization_id, Subscription.customer_id == customer_id)))
    found = event_store().list_events(organization_id=organization_id, external_subscription_ids=external_ids,
                                      transaction_id=transaction_id, code=code, page=page, per_page=per_page)
    rows = [EventRow(id=e["id"], transaction_id=e["transaction_id"],
                     external_subscription_id=e["external_subscription_id"], code=e["code"],
                     timestamp=e["timestamp"], properties_json=_compact_json(e["properties"]),
                     value=decimal_str(e["value"]) if e["value"] is not None else e["unique_value"],
                     error=e["error"], matched_subscription=e["subscription_id"] is not None)
            for e in found.items]
    return Page(items=rows, current_page=found.current_page, per_page=found.per_page, total_count=found.total_count)


def _compact_json(properties: object) -> str:
    return json.dumps(properties or {}, separators=(",", ":"), ensure_ascii=False, default=str)


# ---------------------------------------------------------------- subscriptions and their plans


@dataclass(frozen=True)
class SubscriptionPlan:
    """A subscription with the plan it is billed by (its overridden copy, if any) and the catalog plan."""

    id: str
    external_id: str
    name: str | None
    status: str
    billing_time: str
    subscription_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    plan: PlanView  # what it is billed by
    base_plan: PlanView  # the catalog plan (the same as `plan` without overrides)
    trial_ends_at: datetime | None
    next_plan_code: str | None  # a downgrade waiting for the end of the period
    next_plan_name: str | None
    downgrade_date: date | None
    replaces: str | None  # for a pending downgrade: the external id of the subscription it replaces

    @property
    def overridden(self) -> bool:
        return self.plan.parent_id is not None

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES

    def trial_days_left(self, now: datetime) -> int:
        """Whole days of trial left (a started day counts), 0 when there is no trial or it is over."""
        if self.trial_ends_at is None or now >= self.trial_ends_at:
            return 0
        left = self.trial_ends_at - now
        return left.days + (1 if left.seconds or left.microseconds else 0)


def _successors(subscriptions: Sequence[Subscription]) -> dict[str, Subscription]:
    """The pending subscriptions among a customer's, by the id of the one each replaces at its period end (a
    downgrade is the same customer's: billing.subscriptions.services.next_subscription without a query)."""
    return {s.previous_subscription_id: s for s in subscriptions
            if s.status == "pending" and s.previous_subscription_id}


def _subscription_plan(session: Session, subscription: Subscription,
                       successors: dict[str, Subscription] | None = None) -> SubscriptionPlan:
    plan = subscription.plan
    base = plan.parent if plan.parent_id else plan
    # The trial ends when billing says it does (one rule: billing.subscriptions.periods.trial_end).
    trial_ends_at = trial_end(subscription.started_at or subscription.subscription_at, plan.trial_period)
    successor = None
    if subscription.status == "active":
        successor = (successors.get(subscription.id) if successors is not None
                     else next_subscription(session, subscription))
    timezone = subscription.customer.applicable_timezone
    return SubscriptionPlan(
        id=subscription.id, external_id=subscription.external_id, name=subscription.name,
        status=subscription.status, billing_time=subscription.billing_time,
        subscription_at=subscription.subscription_at, started_at=subscription.started_at,
        ended_at=subscription.terminated_at or subscription.canceled_at, plan=plan_view_of(plan),
        base_plan=plan_view_of(base), trial_ends_at=trial_ends_at,
        next_plan_code=successor.plan.code if successor else None,
        next_plan_name=(successor.plan.invoice_display_name or successor.plan.name) if successor else None,
        downgrade_date=local_date(successor.subscription_at, timezone) if successor else None,
        replaces=_replaces(session, subscription))


def subscription_plans(*, organization_id: str, customer_id: str, live_only: bool) -> list[SubscriptionPlan]:
    """The customer's subscriptions (newest first) with their plans, charges and pending changes."""
    with read_only() as session:
        _find_customer(session, organization_id, customer_id)
        every = customer_subscriptions(session, customer_id, USAGE_LOADING)
        successors = _successors(every)
        return [_subscription_plan(session, s, successors) for s in every
                if not live_only or s.status in LIVE_STATUSES]


def customer_subscription(*, organization_id: str, customer_id: str, subscription_id: str) -> SubscriptionPlan:
    """One subscription of this customer in this organization; NotFound for any other."""
    with read_only() as session:
        _find_customer(session, organization_id, customer_id)
        subscription = session.scalar(select(Subscription).where(
            Subscription.id == subscription_id, Subscription.organization_id == organization_id,
            Subscription.customer_id == customer_id))
        if subscription is None:
            raise NotFound("subscription")
        return _subscription_plan(session, subscription)


def latest_subscription_invoice(*, organization_id: str, customer_id: str,
                                subscription_id: str) -> InvoiceRow | None:
    """The newest invoice billing this subscription (e.g. its final one, after a termination)."""
    with read_only() as session:
        invoice = session.scalar(
            _invoices_of(organization_id, customer_id, include_drafts=True)
            .join(InvoiceSubscription, InvoiceSubscription.invoice_id == Invoice.id)
            .where(InvoiceSubscription.subscription_id == subscription_id)
            .order_by(Invoice.created_at.desc(), Invoice.id.desc()).limit(1))
        if invoice is None:
            return None
        return InvoiceRow(id=invoice.id, number=invoice.number, issuing_date=invoice.issuing_date,
                          payment_due_date=invoice.payment_due_date, status=invoice.status,
                          payment_status=invoice.payment_status, total_amount_cents=invoice.total_amount_cents,
                          currency=invoice.currency)


def suggested_subscription_id(*, organization_id: str, customer_id: str) -> str:
    """An external id no subscription of the organization has: the customer's own, else it with -2, -3..."""
    with read_only() as session:
        customer = _find_customer(session, organization_id, customer_id)
        taken = set(session.scalars(select(Subscription.external_id).where(
            Subscription.organization_id == organization_id,
            Subscription.external_id.like(f"{like_escaped(customer.external_id)}%", escape="\\"))))
    candidate, number = customer.external_id, 1
    while candidate in taken:
        number += 1
        candidate = f"{customer.external_id}-{number}"
    return candidate


def customer_part_ids(*, organization_id: str, customer_id: str) -> list[str]:
    """The ids of the customer and of its subscriptions and wallets: what its page's "History" block is about."""
    with read_only() as session:
        subscriptions = select(Subscription.id).where(Subscription.organization_id == organization_id,
                                                      Subscription.customer_id == customer_id)
        wallets = select(Wallet.id).where(Wallet.organization_id == organization_id, Wallet.customer_id == customer_id)
        return [customer_id, *session.scalars(subscriptions.union_all(wallets))]
