"""Invoices: bill a subscription period exactly once, finalize and number, render and serve the PDF."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import groupby

from sqlalchemy import func, literal, or_, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defaultload, selectinload

from billing import serializers
from billing.catalog.models import AppliedCoupon, Charge, Plan
from billing.catalog.taxes import organization_taxes
from billing.customers.models import Customer
from billing.db import UnitOfWork, new_id, read_only, unit_of_work, utcnow
from billing.emails.services import queue_invoice_email
from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.invoicing import failures, totals
from billing.invoicing.models import (
    PAYMENT_STATUSES,
    Credit,
    Fee,
    Invoice,
    InvoiceSubscription,
)
from billing.invoicing.taxing import record_taxes
from billing.invoicing.termination import credit_after_finalization
from billing.metering.services import charge_usage, charges_usages
from billing.money import precise_minor, round_minor, to_major_precise
from billing.organizations.services import next_in_sequence, reserve_in_sequences
from billing.pagination import Page, paginate
from billing.ports import runtime
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import local_date
from billing.subscriptions.schedule import (
    REASON_TRIAL_ENDED,
    Billing,
    FeePart,
    Terms,
    billings,
    charges_billed_monthly,
    fee_days,
    trial_end,
)
from billing.subscriptions.services import billing_anchor, period_at
from billing.validation import MAX_AMOUNT_CENTS
from billing.wallets import ledger as wallets
from billing.webhooks import services as webhooks

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- fees


def subscription_fee_cents(subscription: Subscription, part: FeePart) -> tuple[int, Decimal, int]:
    """The subscription fee for a part of a period: (cents, precise cents, days billed).

    NOTE: prorated by days, the first and the last day both counted: daily price = fee / days
    of the full period (BILLING.md, Subscriptions: Proration; Lago's "prorated by day").
    """
    plan = subscription.plan
    days = fee_days(part, subscription.customer.applicable_timezone)
    if days >= part.period.days:
        return plan.amount_cents, Decimal(plan.amount_cents), part.period.days
    precise = Decimal(plan.amount_cents) * days / part.period.days
    return round_minor(precise), precise, days


def _build_fees(session: Session, invoice: Invoice, subscription: Subscription, billing: Billing,
                usage_read: Mapping[str, dict] | None = None) -> None:
    """The invoice's fees (`usage_read`: each charge's usage per filter group, by charge id, when read already)."""
    plan = subscription.plan
    currency = plan.amount_currency
    position = 0
    if billing.fee is not None:
        cents, precise, days = subscription_fee_cents(subscription, billing.fee)
        invoice.fees.append(Fee(
            id=new_id(), applied_taxes=[],
            organization_id=invoice.organization_id, subscription_id=subscription.id, fee_type="subscription",
            position=position, item_code=plan.code, description=plan.invoice_display_name or plan.name,
            amount_cents=cents, precise_amount_cents=precise, amount_currency=currency, units=Decimal(1),
            total_aggregated_units=Decimal(1), events_count=0, precise_unit_amount=to_major_precise(precise, currency),
            pay_in_advance=plan.pay_in_advance, from_datetime=billing.fee.start, to_datetime=billing.fee.end,
            amount_details={"days_billed": days, "days_in_period": billing.fee.period.days,
                            "plan_amount_cents": plan.amount_cents}))
    if billing.charges is None:
        return
    start, end = billing.charges
    for charge in plan.charges:
        # NOTE: a pay-in-advance charge billed each event as it came (billing.invoicing.advance):
        # its usage is not billed again at the period's end (Lago docs "Arrears vs Advance",
        # https://getlago.com/docs/guide/plans/charges/arrears-vs-advance).
        if not charge.invoiceable or charge.pay_in_advance:
            continue
        usage = charge_usage(session, subscription, charge, start, end,
                             None if usage_read is None else usage_read.get(charge.id, {}))
        metric = charge.billable_metric
        # One fee per charge filter, and one for the events that match none (Lago's fees per filter).
        for line in usage.lines:
            if charge.filters and line.events_count == 0 and line.amount_cents == 0:
                continue  # an unused filter of a filtered charge is no line on the invoice
            position += 1
            name = charge.invoice_display_name or metric.name
            if line.charge_filter is not None:
                name = line.charge_filter.invoice_display_name or _filter_label(name, line.charge_filter.values)
            invoice.fees.append(Fee(
                id=new_id(), applied_taxes=[],
                organization_id=invoice.organization_id, subscription_id=subscription.id, charge_id=charge.id,
                charge_filter_id=line.charge_filter.id if line.charge_filter else None, fee_type="charge",
                position=position, item_code=metric.code, description=name, amount_cents=line.amount_cents,
                precise_amount_cents=precise_minor(line.amount, currency), amount_currency=currency,
                # NOTE: a prorated charge's fee counts its prorated units; its full units are the
                # total aggregated (Lago's fee: units = the prorated aggregation, docs/billing.md).
                units=line.units if line.prorated_units is None else line.prorated_units,
                total_aggregated_units=line.units, events_count=line.events_count, pay_in_advance=False,
                precise_unit_amount=line.unit_amount, from_datetime=start, to_datetime=end,
                amount_details={"filters": line.charge_filter.values} if line.charge_filter else {}))
        if charge.min_amount_cents:
            # NOTE: a charge's minimum, prorated like the fee for a partial period, is met by a
            # "true-up" fee for what its usage fell short of (BILLING.md, Pricing: min_amount_cents).
            minimum = _prorated(charge.min_amount_cents, subscription, start, end)
            if usage.amount_cents < minimum:
                position += 1
                invoice.fees.append(Fee(
                    id=new_id(), applied_taxes=[],
                    organization_id=invoice.organization_id, subscription_id=subscription.id, charge_id=charge.id,
                    fee_type="charge", position=position, item_code=metric.code,
                    description=f"{charge.invoice_display_name or metric.name} – minimum",
                    amount_cents=minimum - usage.amount_cents,
                    precise_amount_cents=Decimal(minimum - usage.amount_cents), amount_currency=currency,
                    from_datetime=start, to_datetime=end,
                    amount_details={"true_up": True, "min_amount_cents": minimum}))
    if plan.minimum_commitment_cents:
        position += 1
        _add_commitment_true_up(session, invoice, subscription, start, end, position)
    from billing.invoicing.advance import renew_advance_charges  # it imports this module

    # After the true-up: the renewal is the next period's (recurring pay-in-advance charges, in full).
    renew_advance_charges(session, invoice, subscription, billing.boundary, position)


def _prorated(amount_cents: int, subscription: Subscription, start: datetime, end: datetime) -> int:
    """`amount_cents` for the days of [start, end) of its full period (both ends counted), rounded once."""
    part = FeePart(period_at(subscription, start), start, end)
    days = fee_days(part, subscription.customer.applicable_timezone)
    if days >= part.period.days:
        return amount_cents
    return round_minor(Decimal(amount_cents) * days / part.period.days)


def _add_commitment_true_up(session: Session, invoice: Invoice, subscription: Subscription, start: datetime,
                            end: datetime, position: int) -> None:
    """The plan's minimum commitment for the period, less what the period was billed (BILLING.md).

    NOTE: true-up = max(0, prorated commitment − the period's subscription, charge and true-up
    fees); an advance fee billed on an earlier invoice counts for the period it paid for.
    """
    plan = subscription.plan
    commitment = _prorated(plan.minimum_commitment_cents, subscription, start, end)
    period = period_at(subscription, start)
    billed_here = sum(f.amount_cents for f in invoice.fees
                      if f.fee_type == "charge" or (f.fee_type == "subscription" and f.from_datetime < end
                                                    and f.to_datetime > start))
    billed_before = session.scalar(select(func.coalesce(func.sum(Fee.amount_cents), 0)).where(
        Fee.subscription_id == subscription.id, Fee.fee_type == "subscription",
        Fee.from_datetime >= period.start, Fee.to_datetime <= period.end, Fee.invoice_id != invoice.id)) or 0
    # The period's pay-in-advance fees count too (invoiced or not): BILLING.md, Subscriptions.
    billed_before += session.scalar(select(func.coalesce(func.sum(Fee.amount_cents), 0)).where(
        Fee.subscription_id == subscription.id, Fee.pay_in_advance.is_(True), Fee.fee_type == "charge",
        Fee.from_datetime >= start, Fee.to_datetime <= end)) or 0
    shortfall = commitment - billed_here - billed_before
    if shortfall > 0:
        invoice.fees.append(Fee(
            id=new_id(), applied_taxes=[],
            organization_id=invoice.organization_id, subscription_id=subscription.id, fee_type="commitment",
            position=position, item_code=plan.code, description=f"{plan.invoice_display_name or plan.name} – "
            "minimum commitment", amount_cents=shortfall, precise_amount_cents=Decimal(shortfall),
            amount_currency=plan.amount_currency, from_datetime=start, to_datetime=end,
            amount_details={"minimum_commitment_cents": commitment}))


def _filter_label(name: str, values: dict[str, list[str]]) -> str:
    return f"{name} · " + ", ".join(f"{key}: {'/'.join(allowed)}" for key, allowed in sorted(values.items()))


def apply_coupons_and_taxes(session: Session, invoice: Invoice, subscription: Subscription,
                            known: Known | None = None) -> None:
    """Take the customer's coupons off the fees, then tax each fee on what is left (docs/billing.md).

    The computations are pure (`billing.invoicing.totals`); here the inputs are gathered and the
    results stored: coupon credits, each fee's share and taxes, the invoice's applied taxes, and
    what the applied coupons have left (their rows are locked first). `known`: what a batch read
    already (the organization's taxes; the customer has no coupon: none is looked for).
    """
    plan = subscription.plan
    customer = invoice.customer
    charges = {c.id: c for c in plan.charges}
    customer_taxes = list(customer.taxes)
    org_taxes = known.taxes[invoice.organization_id] if known else organization_taxes(session, invoice.organization_id)
    taxes = {t.code: t for t in [*plan.taxes, *customer_taxes, *org_taxes]}
    lines = []
    for fee in invoice.fees:
        charge = charges.get(fee.charge_id) if fee.charge_id else None
        if charge is None and fee.charge_id:
            charge = session.get(Charge, fee.charge_id)
        charge_taxes = list(charge.taxes) if charge is not None else []
        taxes.update((t.code, t) for t in charge_taxes)
        codes = totals.taxes_of([[t.code for t in charge_taxes], [t.code for t in plan.taxes],
                                 [t.code for t in customer_taxes], [t.code for t in org_taxes]])
        lines.append(totals.FeeLine(amount_cents=fee.amount_cents, plan_code=plan.code,
                                    metric_code=fee.item_code if fee.fee_type == "charge" else None,
                                    tax_codes=codes))
    applied = [] if known and customer.id not in known.coupons else [a for a in session.scalars(select(
        AppliedCoupon).where(AppliedCoupon.customer_id == customer.id, AppliedCoupon.status == "active")
        .with_for_update(of=AppliedCoupon)).unique()
        # NOTE: a fixed amount is in one currency: it only reduces invoices in that currency.
        if a.coupon.coupon_type == "percentage" or a.amount_currency == invoice.currency]
    applied.sort(key=lambda a: totals.coupon_order_key(
        limited_billable_metrics=a.coupon.limited_billable_metrics, limited_plans=a.coupon.limited_plans,
        applied_at=a.created_at, applied_id=a.id))
    terms = [totals.CouponTerms(
        coupon_type=a.coupon.coupon_type, percentage_rate=a.percentage_rate,
        amount_cents=a.amount_cents_remaining if a.frequency == "once" else a.amount_cents,
        plan_codes=frozenset(p.code for p in a.coupon.plans) if a.coupon.limited_plans else None,
        metric_codes=(frozenset(m.code for m in a.coupon.billable_metrics)
                      if a.coupon.limited_billable_metrics else None)) for a in applied]
    coupons = totals.apply_coupons(lines, terms)
    for position, (coupon, amount) in enumerate(zip(applied, coupons.amounts, strict=True)):
        if amount == 0:
            continue  # nothing to take off: the coupon is not used (and not counted down)
        ended = _consume(coupon, amount)
        invoice.credits.append(Credit(applied_coupon_id=coupon.id, position=position, coupon_code=coupon.coupon.code,
                                      coupon_name=coupon.coupon.name, amount_cents=amount,
                                      amount_currency=invoice.currency, before_taxes=True, ended_coupon=ended))
    record_taxes(invoice, lines, coupons.fee_discounts, taxes)


def _consume(applied: AppliedCoupon, amount: int) -> bool:
    """What is left of an applied coupon once it took `amount` off an invoice; True if that ended it.

    NOTE: a fixed `once` coupon keeps its remainder for later invoices until it is used up; a
    percentage `once` coupon is used by one invoice; `recurring` counts down its periods;
    `forever` never ends (BILLING.md, Invoicing 2; Lago's applied coupon object).
    """
    now = utcnow()
    if applied.frequency == "once":
        if applied.coupon.coupon_type == "fixed_amount":
            applied.amount_cents_remaining = max((applied.amount_cents_remaining or 0) - amount, 0)
            if applied.amount_cents_remaining == 0:
                applied.status, applied.terminated_at = "terminated", now
                return True
        else:
            applied.status, applied.terminated_at = "terminated", now
            return True
    elif applied.frequency == "recurring":
        applied.frequency_duration_remaining = max((applied.frequency_duration_remaining or 0) - 1, 0)
        if applied.frequency_duration_remaining == 0:
            applied.status, applied.terminated_at = "terminated", now
            return True
    return False


def _unconsume(applied: AppliedCoupon, credit: Credit) -> None:
    """Give an applied coupon back exactly what `credit` took of it (the inverse of `_consume`).

    NOTE: used when a draft is refreshed (its coupons are applied again) or an invoice is voided
    (BILLING.md, Invoicing: "Voiding re-credits coupons"); a coupon ended by that use is active
    again, one ended otherwise (deleted) stays ended.
    """
    if applied.frequency == "once" and applied.coupon.coupon_type == "fixed_amount":
        applied.amount_cents_remaining = (applied.amount_cents_remaining or 0) + credit.amount_cents
    elif applied.frequency == "recurring":
        applied.frequency_duration_remaining = (applied.frequency_duration_remaining or 0) + 1
    if credit.ended_coupon and applied.status == "terminated":
        applied.status, applied.terminated_at = "active", None


def _apply_credit_notes(session: Session, invoice: Invoice, known: Known | None = None) -> None:
    """Take the customer's available credit-note balances off what the invoice owes after taxes."""
    from billing.invoicing.models import CreditNote

    if known and invoice.customer_id not in known.credit_notes:
        return
    coupons = sum(c.amount_cents for c in invoice.credits if not c.is_credit_note)
    due = (sum(f.amount_cents for f in invoice.fees) - coupons + sum(t.amount_cents for t in invoice.applied_taxes))
    if due <= 0:
        return
    notes = list(session.scalars(select(CreditNote).where(
        CreditNote.customer_id == invoice.customer_id, CreditNote.credit_status == "available",
        CreditNote.currency == invoice.currency, CreditNote.balance_amount_cents > 0).order_by(
        CreditNote.created_at, CreditNote.id).with_for_update(of=CreditNote)).unique())
    taken = totals.consume_credit_balances([n.balance_amount_cents for n in notes], due)
    position = len(invoice.credits)
    for note, amount in zip(notes, taken, strict=True):
        if amount == 0:
            continue
        position += 1
        note.balance_amount_cents -= amount
        if note.balance_amount_cents == 0:
            note.credit_status = "consumed"
        invoice.credits.append(Credit(credit_note_id=note.id, position=position, coupon_code=note.number,
                                      coupon_name=note.number, amount_cents=amount, amount_currency=invoice.currency,
                                      before_taxes=False))


def _undo_credits(session: Session, invoice: Invoice) -> None:
    """Give back to coupons and credit notes what this invoice took of them (refresh, void)."""
    from billing.invoicing.models import CreditNote

    for credit in invoice.credits:
        if credit.credit_note_id:
            note = session.scalar(select(CreditNote).where(CreditNote.id == credit.credit_note_id)
                                  .with_for_update(of=CreditNote))
            note.balance_amount_cents += credit.amount_cents
            if note.credit_status == "consumed":
                note.credit_status = "available"
        elif credit.applied_coupon_id:
            applied = session.scalar(select(AppliedCoupon).where(AppliedCoupon.id == credit.applied_coupon_id)
                                     .with_for_update(of=AppliedCoupon))
            if applied is not None:
                _unconsume(applied, credit)


def compute_totals(invoice: Invoice) -> None:
    """Totals in BILLING.md's order: coupons before taxes, credit notes after (prepaid credits: at finalization)."""
    result = totals.invoice_totals(
        fees_amount_cents=sum(f.amount_cents for f in invoice.fees),
        coupons_amount_cents=sum(c.amount_cents for c in invoice.credits if not c.is_credit_note),
        taxes_amount_cents=sum(t.amount_cents for t in invoice.applied_taxes),
        credit_notes_amount_cents=sum(c.amount_cents for c in invoice.credits if c.is_credit_note),
        prepaid_credit_amount_cents=invoice.prepaid_credit_amount_cents or 0)
    for name, value in vars(result).items():
        setattr(invoice, name, value)


# ---------------------------------------------------------------- billing a period


class AmountOutOfRange(ValidationFailed):
    """A fee or invoice total beyond MAX_AMOUNT_CENTS: that subscription's billing fails with this reason (nothing
    of it is written; the API answers 422, the clock names the subscription and goes on with the others)."""

    def __init__(self, subscription_id: str):
        super().__init__({"base": ["amount_out_of_range"]})
        self.subscription_id = subscription_id

    def __str__(self) -> str:
        return f"subscription {self.subscription_id}: an amount passes {MAX_AMOUNT_CENTS} minor units"


_CHECKED_AMOUNTS = ("amount_cents", "precise_amount_cents", "fees_amount_cents", "taxes_amount_cents",
                    "sub_total_excluding_taxes_amount_cents", "sub_total_including_taxes_amount_cents",
                    "total_amount_cents")


def check_amounts(items: Sequence[object], subscription_id: str) -> None:
    """Raise AmountOutOfRange when an amount of `items` (fees, invoices) passes MAX_AMOUNT_CENTS."""
    for item in items:
        for name in _CHECKED_AMOUNTS:
            value = getattr(item, name, None)
            if value is not None and abs(value) > MAX_AMOUNT_CENTS:
                raise AmountOutOfRange(subscription_id)


class AlreadyBilled(Exception):
    """That billing already has its invoice (the unique constraint said so)."""


class BillingFailed(Exception):
    """Some subscriptions of a batch could not be billed (the others were); rerunning bills what is left.

    `errors`: each failed subscription's exception (recorded in `billing_failures`); `reasons`: as text.
    """

    def __init__(self, subscription_ids: list[str], created: list[str],
                 errors: Mapping[str, BaseException] | None = None):
        self.errors = dict(errors or {})
        self.reasons = {i: failures.reason_of(e) for i, e in self.errors.items()}
        super().__init__(f"billing failed for {len(subscription_ids)} subscription(s): "
                         + ", ".join(f"{i} ({self.reasons[i]})" if i in self.reasons else i for i in subscription_ids))
        self.subscription_ids = subscription_ids
        self.created = created

    @property
    def transient(self) -> bool:
        """Whether any of it may succeed if tried again soon (a database or network failure)."""
        return any(failures.is_transient(error) for error in self.errors.values())


def terms_of(subscription: Subscription) -> Terms:
    plan = subscription.plan
    trial_ends_at = trial_end(subscription.started_at, plan.trial_period)
    return Terms(interval=plan.interval, billing_time=subscription.billing_time,
                 anchor=billing_anchor(subscription), timezone=subscription.customer.applicable_timezone,
                 started_at=subscription.started_at, terminated_at=subscription.terminated_at,
                 trial_ends_at=trial_ends_at, pay_in_advance=plan.pay_in_advance,
                 charges_monthly=charges_billed_monthly(plan), created_at=subscription.created_at)


@dataclass
class Known:
    """What billing a batch reads once for all its invoices, so that each invoice skips the queries that
    would find nothing: customers with no coupon, no credit-note balance or no wallet (most of them),
    the organizations' default taxes and webhook endpoints, and the invoice numbers taken in one go.
    """

    coupons: set[str] = field(default_factory=set)  # customers with an active applied coupon
    credit_notes: set[str] = field(default_factory=set)  # customers with a credit-note balance available
    wallets: set[str] = field(default_factory=set)  # customers with an active wallet
    taxes: dict[str, list] = field(default_factory=dict)  # organization id → its default taxes
    endpoints: dict[str, list] = field(default_factory=dict)  # organization id → its webhook endpoints
    numbers: dict[str, int] = field(default_factory=dict)  # numbering scope → its next number taken for the batch
    subscriptions: dict[str, Subscription] = field(default_factory=dict)  # the batch's, by id (webhook payloads)

    def next_number(self, scope: str) -> int | None:
        number = self.numbers.get(scope)
        if number is not None:
            self.numbers[scope] = number + 1
        return number


def _known(session: Session, subscriptions: Sequence[Subscription]) -> Known:
    from billing.invoicing.models import CreditNote
    from billing.wallets.models import Wallet

    customers = sorted({s.customer_id for s in subscriptions})
    known = Known()
    found = {"coupon": known.coupons, "credit_note": known.credit_notes, "wallet": known.wallets}
    for kind, customer_id in session.execute(union_all(
            select(literal("coupon"), AppliedCoupon.customer_id).where(
                AppliedCoupon.customer_id.in_(customers), AppliedCoupon.status == "active"),
            select(literal("credit_note"), CreditNote.customer_id).where(
                CreditNote.customer_id.in_(customers), CreditNote.credit_status == "available",
                CreditNote.balance_amount_cents > 0),
            select(literal("wallet"), Wallet.customer_id).where(
                Wallet.customer_id.in_(customers), Wallet.status == "active"))):
        found[kind].add(customer_id)
    for organization_id in sorted({s.organization_id for s in subscriptions}):
        known.taxes[organization_id] = organization_taxes(session, organization_id)
        known.endpoints[organization_id] = webhooks.organization_endpoints(session, organization_id)
    return known


def _new_invoice(session: Session, subscription: Subscription, billing: Billing) -> Invoice:
    """The draft invoice of one billing, linked to the subscription period it bills (not flushed yet).

    Its collections start empty (a new invoice has nothing to load) and its ids are set now (its own,
    its customer's), so nothing has to be written or read back before the invoice is built.
    """
    customer = subscription.customer
    covered = billing.charges or (billing.fee.start, billing.fee.end)
    invoice = Invoice(
        id=new_id(), organization_id=subscription.organization_id, customer=customer, customer_id=customer.id,
        invoice_type="subscription", status="draft", payment_status="pending",
        currency=subscription.plan.amount_currency, number=f"{customer.organization.document_number_prefix}-DRAFT",
        issuing_date=local_date(max(runtime.clock.now(), billing.boundary), customer.applicable_timezone),
        net_payment_term=customer.applicable_net_payment_term, fees=[], credits=[], applied_taxes=[])
    invoice.payment_due_date = invoice.issuing_date + timedelta(days=invoice.net_payment_term)
    invoice.invoice_subscriptions = [InvoiceSubscription(
        id=new_id(), subscription_id=subscription.id, invoicing_reason=billing.reason, boundary=billing.boundary,
        from_datetime=billing.fee.start if billing.fee else covered[0],
        to_datetime=billing.fee.end if billing.fee else covered[1],
        charges_from_datetime=billing.charges[0] if billing.charges else None,
        charges_to_datetime=billing.charges[1] if billing.charges else None)]
    session.add(invoice)
    return invoice


def _complete(session: Session, invoice: Invoice, subscription: Subscription, billing: Billing,
              usage: Mapping[str, dict] | None = None, known: Known | None = None) -> None:
    """Fees, coupons, taxes, credit notes and totals of a new invoice (`usage`: its charges' usage, read already)."""
    _build_fees(session, invoice, subscription, billing, usage)
    check_amounts(invoice.fees, subscription.id)
    apply_coupons_and_taxes(session, invoice, subscription, known)
    _apply_credit_notes(session, invoice, known)
    compute_totals(invoice)
    check_amounts([invoice], subscription.id)


def _bill(uow: UnitOfWork, subscription: Subscription, billing: Billing) -> Invoice:
    """Issue one billing inside the caller's transaction (termination, plan changes); AlreadyBilled if it is."""
    session = uow.session
    try:
        with session.begin_nested():
            invoice = _new_invoice(session, subscription, billing)
            session.flush()
    except IntegrityError:
        raise AlreadyBilled(subscription.id) from None
    usage = _read_usage(session, [(subscription, billing)]).get((subscription.id, billing.boundary), {})
    _complete(session, invoice, subscription, billing, usage)
    session.flush()
    if subscription.customer.applicable_grace_period == 0:
        finalize(uow, invoice)
    else:
        _emit_invoice(session, invoice, webhooks.INVOICE_DRAFTED)
        wallets.draft_changed(session, invoice)  # drafts count in the wallets' ongoing balance
    return invoice


def _emit_invoice(session: Session, invoice: Invoice, webhook_type: str, known: Known | None = None) -> None:
    """Report the invoice as the API shows it, in the transaction that changed it."""

    def payload():
        session.flush()
        ids = [link.subscription_id for link in invoice.invoice_subscriptions]
        if known and all(i in known.subscriptions for i in ids):
            subscriptions = {i: known.subscriptions[i] for i in ids}
        else:
            subscriptions = {s.id: s for s in session.scalars(select(Subscription).where(Subscription.id.in_(ids)))}
        return serializers.invoice(invoice, subscriptions)

    webhooks.emit(session, invoice.organization_id, webhook_type, "invoice", payload, object_id=invoice.id,
                  endpoints=known.endpoints.get(invoice.organization_id) if known else None)


def _billed_boundaries(session: Session, subscription_id: str) -> set[datetime]:
    return set(session.scalars(select(InvoiceSubscription.boundary).where(
        InvoiceSubscription.subscription_id == subscription_id)))


def bill_termination(uow: UnitOfWork, subscription: Subscription) -> Invoice | None:
    """Issue what a just-terminated subscription still owes, its final (partial) period included.

    Billings the clock had not reached yet (it had not run) are issued too, not lost.
    """
    from billing.invoicing.advance import regroup_paid_fees  # it imports this module

    # Paid pay-in-advance fees are regrouped at termination whatever the final invoice (Lago).
    regroup_paid_fees(uow, subscription, at=subscription.terminated_at, ending=True)
    if subscription.on_termination_invoice == "skip":
        return None
    billed = _billed_boundaries(uow.session, subscription.id)
    last = None
    for billing in billings(terms_of(subscription), subscription.terminated_at, after=max(billed, default=None)):
        if billing.boundary in billed:
            continue
        try:
            last = _bill(uow, subscription, billing)
        except AlreadyBilled:
            continue
    return last


BATCH_SIZE = 100  # subscriptions billed by one job, in one transaction


def bill_subscription(*, subscription_id: str, at: datetime) -> list[str]:
    """Issue each billing of one subscription due by `at` and not issued yet (in one transaction).

    Safe to run twice or concurrently: the subscription is locked, and a billing already issued is skipped.
    """
    with unit_of_work() as uow:
        created = _bill_batch(uow, [subscription_id], at)
        failures.resolve_failures(uow.session, [subscription_id], step=failures.BILLING)
        return created


def bill_subscriptions(*, subscription_ids: Sequence[str], at: datetime) -> list[str]:
    """Issue every billing due by `at` and not issued yet of a batch of subscriptions; the new invoices' ids.

    The batch is billed in ONE transaction: its subscriptions locked together (in id order), their plans,
    usage and what their customers have (coupons, credit notes, wallets) read once for all, the invoices
    written together and numbered in one go. Should any of it fail, nothing of the batch is kept and
    each subscription is billed again on its own, in its own transaction: one that fails then does not
    stop the others. Subscriptions that failed last time and are not resolved are billed on their own
    from the start (one bad subscription does not make its batch fail every run). Each failure is
    recorded (`failures.record_failures`, in a transaction of its own) and BillingFailed names them all,
    with their reasons, once the others are billed, a batch of one included. Safe to run twice or
    concurrently, like `bill_subscription`.
    """
    subscription_ids = list(dict.fromkeys(subscription_ids))
    suspect = failures.failing_subscriptions(subscription_ids)
    together = [i for i in subscription_ids if i not in suspect]
    alone = [i for i in subscription_ids if i in suspect]
    created: list[str] = []
    errors: dict[str, BaseException] = {}
    if together:
        try:
            with unit_of_work() as uow:
                created = _bill_batch(uow, together, at)
                failures.resolve_failures(uow.session, together, step=failures.BILLING)
        except Exception as error:
            if len(together) == 1:
                errors[together[0]] = error
            else:
                log.warning("billing a batch of %d subscriptions failed; billing them one by one", len(together),
                            exc_info=True)
                alone = together + alone
    for subscription_id in alone:
        try:
            created.extend(bill_subscription(subscription_id=subscription_id, at=at))
        except Exception as error:
            log.exception("billing subscription %s failed", subscription_id)
            errors[subscription_id] = error
    if errors:
        failures.record_failures(errors, step=failures.BILLING, at=at)
        failed = [i for i in subscription_ids if i in errors]
        raise BillingFailed(failed, created, errors)
    return created


def _bill_batch(uow: UnitOfWork, subscription_ids: Sequence[str], at: datetime) -> list[str]:
    from billing.invoicing.advance import regroup_paid_fees  # it imports this module

    session = uow.session
    subscriptions = list(session.scalars(select(Subscription).where(Subscription.id.in_(subscription_ids))
                                         .order_by(Subscription.id).with_for_update(of=Subscription)).unique())
    live = [s for s in subscriptions if s.status == "active" and s.started_at is not None]
    if not live:
        return []
    billed: dict[str, set[datetime]] = {}
    for subscription_id, boundary in session.execute(select(
            InvoiceSubscription.subscription_id, InvoiceSubscription.boundary).where(
            InvoiceSubscription.subscription_id.in_([s.id for s in live]))):
        billed.setdefault(subscription_id, set()).add(boundary)
    order = {subscription_id: index for index, subscription_id in enumerate(subscription_ids)}
    todo = [(s, b) for s in sorted(live, key=lambda s: order[s.id])
            for b in billings(terms_of(s), at, after=max(billed.get(s.id, ()), default=None))
            if b.boundary not in billed.get(s.id, ())]
    if not todo:
        return []
    known = _known(session, [s for s, _ in todo])
    known.subscriptions = {s.id: s for s, _ in todo}
    usage = _read_usage(session, todo)
    invoices = []
    for subscription, billing in todo:
        if billing.reason == REASON_TRIAL_ENDED and subscription.trial_ended_at is None:
            subscription.trial_ended_at = billing.boundary
        invoice = _new_invoice(session, subscription, billing)
        _complete(session, invoice, subscription, billing, usage.get((subscription.id, billing.boundary), {}), known)
        invoices.append(invoice)
    # Numbers last, all at once: the numbering rows stay locked only from here to the commit.
    finalizing = {i.id for i in invoices if i.customer.applicable_grace_period == 0}
    closing = {i.id for i in invoices if i.id in finalizing and skips_finalization(i)}  # take no number
    finalizing -= closing
    scopes = Counter(_numbering_scope(invoice) for invoice in invoices if invoice.id in finalizing)
    with session.no_autoflush:  # each invoice is written once, finalized
        known.numbers = reserve_in_sequences(session, scopes)
    for invoice in invoices:
        if invoice.id in finalizing:
            finalize(uow, invoice, known, announce=False)
        elif invoice.id in closing:
            close_empty_invoice(invoice)
    session.flush()  # every invoice written once, as it is now; then what refers to them
    for invoice in invoices:
        if invoice.id in finalizing:
            _emit_invoice(session, invoice, webhooks.INVOICE_CREATED, known)
            queue_invoice_email(session, invoice, new_invoice=True)
        elif invoice.id in closing:
            continue  # not an invoice to announce
        else:
            _emit_invoice(session, invoice, webhooks.INVOICE_DRAFTED, known)
            if invoice.customer_id in known.wallets:
                wallets.draft_changed(session, invoice)  # drafts count in the wallets' ongoing balance
    created = [invoice.id for invoice in invoices]
    # Paid pay-in-advance fees whose period a billing closed go on their own paid invoice (Lago's
    # advance_charges invoice; nothing is queried for plans without such charges).
    for subscription, billing in todo:
        grouped = regroup_paid_fees(uow, subscription, at=billing.boundary)
        if grouped is not None:
            created.append(grouped.id)
    return created


def _read_usage(session: Session, todo: Sequence[tuple[Subscription, Billing]]) -> dict[tuple, dict[str, dict]]:
    """The usage of every charge billed in arrears by these billings, read together; by (subscription, boundary)."""
    reads, keys = [], []
    for subscription, billing in todo:
        if billing.charges is None:
            continue
        start, end = billing.charges
        for charge in subscription.plan.charges:
            if charge.invoiceable and not charge.pay_in_advance:
                reads.append((subscription, charge, start, end))
                keys.append((subscription.id, billing.boundary, charge.id))
    usage: dict[tuple, dict[str, dict]] = {}
    for (subscription_id, boundary, charge_id), groups in zip(keys, charges_usages(session, reads), strict=True):
        usage.setdefault((subscription_id, boundary), {})[charge_id] = groups
    return usage


@dataclass(frozen=True)
class DueBatch:
    """Subscriptions of one organization with billings due, to bill together (`bill_subscriptions`)."""

    organization_id: str
    key: str  # the first subscription of its slice: with the clock's time, the job's id
    subscription_ids: list[str]


def due_batches(*, at: datetime, size: int = BATCH_SIZE) -> list[DueBatch]:
    """The active subscriptions with a billing due by `at` and not issued yet, in batches.

    A batch holds at most `size` subscriptions of one organization, a customer's subscriptions
    together (one slow customer holds up one batch only). The slices are cut over all active
    subscriptions (by organization, customer, id), not only the due ones, so that a second clock run
    while some of them are billed already cuts the same slices: the same job ids, nothing twice.
    """
    batches: list[DueBatch] = []
    with read_only() as session:
        billed: dict[str, set[datetime]] = {}
        for subscription_id, boundary in session.execute(select(
                InvoiceSubscription.subscription_id, InvoiceSubscription.boundary).join(
                Subscription, Subscription.id == InvoiceSubscription.subscription_id).where(
                Subscription.status == "active")):
            billed.setdefault(subscription_id, set()).add(boundary)
        active = session.scalars(select(Subscription).options(*_TERMS_ONLY).where(
            Subscription.status == "active").order_by(
            Subscription.organization_id, Subscription.customer_id, Subscription.id)).all()
        for organization_id, of_organization in groupby(active, key=lambda s: s.organization_id):
            for piece in _slices([list(of_customer) for _, of_customer in groupby(
                    of_organization, key=lambda s: s.customer_id)], size):
                due = [s.id for s in piece if s.started_at is not None and _is_due(s, at, billed.get(s.id, set()))]
                if due:
                    batches.append(DueBatch(organization_id=organization_id, key=piece[0].id, subscription_ids=due))
    return batches


def _is_due(subscription: Subscription, at: datetime, billed: set[datetime]) -> bool:
    try:
        # NOTE: a subscription's billings are issued oldest first, so every one up to the latest
        # billed boundary is billed: only later ones can be due.
        return bool({b.boundary for b in billings(terms_of(subscription), at, after=max(billed, default=None))}
                    - billed)
    except Exception:
        # Its terms cannot be worked out (bad data): said due, its batch fails on it alone and names it,
        # while the clock goes on with every other subscription.
        log.exception("what subscription %s owes could not be worked out", subscription.id)
        return True


# What is due needs each subscription's terms only: not its customer's taxes, nor its plan's charges or taxes.
_TERMS_ONLY = (defaultload(Subscription.customer).lazyload(Customer.taxes),
               defaultload(Subscription.plan).lazyload(Plan.charges),
               defaultload(Subscription.plan).lazyload(Plan.taxes))


def _slices(customers: list[list[Subscription]], size: int) -> list[list[Subscription]]:
    """Whole customers' subscriptions in slices of at most `size` (a customer with more has slices of its own)."""
    slices: list[list[Subscription]] = []
    current: list[Subscription] = []
    for subscriptions in customers:
        if len(current) + len(subscriptions) > size and current:
            slices.append(current)
            current = []
        while len(subscriptions) > size:
            slices.append(subscriptions[:size])
            subscriptions = subscriptions[size:]
        current.extend(subscriptions)
    if current:
        slices.append(current)
    return slices


# ---------------------------------------------------------------- finalization


def _numbering_scope(invoice: Invoice) -> str:
    """The gap-free counter an invoice's number comes from: its organization's or its customer's."""
    customer = invoice.customer
    if customer.organization.document_numbering == "per_organization":
        return f"invoice:{customer.organization_id}"
    return f"invoice:{customer.id}"


def finalize(uow: UnitOfWork, invoice: Invoice, known: Known | None = None, *, announce: bool = True,
             paid: bool = False) -> None:
    """Number the invoice (gap-free, under a lock) and freeze it; its PDF and email follow after commit.

    A draft, or an `open` credit purchase whose payment just succeeded (issued today then).
    `known`: what a batch of new invoices read already (the customer has no wallet; the numbers it
    took in one go); `announce=False`: the caller sends `invoice.created` and queues the email itself
    (`_bill_batch`, once every invoice of the batch is written).
    `paid`: an invoice of fees paid already (regrouped pay-in-advance fees): no wallet pays it, it is
    `succeeded` at once and not emailed (Lago's advance_charges invoice).
    """
    if invoice.status not in ("draft", "open"):
        return
    if invoice.status == "draft" and skips_finalization(invoice):
        close_empty_invoice(invoice)
        return
    if invoice.status == "open":
        invoice.issuing_date = local_date(runtime.clock.now(), invoice.customer.applicable_timezone)
        invoice.payment_due_date = invoice.issuing_date + timedelta(days=invoice.net_payment_term)
    session = uow.session
    customer = invoice.customer
    org = customer.organization
    # NOTE: the customer's wallets pay the total after taxes and coupons when the invoice is
    # finalized (a draft can still change); their rows are locked first (docs/billing.md, Wallets).
    paid_by_wallets = not paid and (known is None or customer.id in known.wallets)
    invoice.prepaid_credit_amount_cents = wallets.apply_prepaid_credits(session, invoice) if paid_by_wallets else 0
    compute_totals(invoice)
    scope = _numbering_scope(invoice)
    sequence = known.next_number(scope) if known else None
    if sequence is None:
        sequence = next_in_sequence(session, scope)
    if org.document_numbering == "per_organization":
        invoice.number = f"{org.document_number_prefix}-{invoice.issuing_date:%Y%m}-{sequence:03d}"
    else:
        invoice.number = f"{org.document_number_prefix}-{customer.sequential_id:03d}-{sequence:03d}"
    invoice.sequential_id = sequence
    invoice.status = "finalized"
    invoice.finalized_at = utcnow()
    if invoice.total_amount_cents == 0 or paid:
        invoice.payment_status = "succeeded"
    if paid:
        invoice.total_paid_amount_cents = invoice.total_amount_cents
    # An advance fee of a subscription terminated while this invoice was a draft: its credit note now.
    credit_after_finalization(uow, invoice)
    # NOTE: Lago sends `invoice.created` when an invoice is finalized (at once without a grace
    # period, else when the draft is finalized) and `invoice.drafted` for a new draft; a one-off
    # invoice is reported by `invoice.one_off_created` instead (docs/billing.md, one-off invoices).
    if announce:
        _emit_invoice(session, invoice, webhooks.INVOICE_ONE_OFF_CREATED if invoice.invoice_type == "one_off"
                      else webhooks.INVOICE_CREATED, known)
    # The customer's email (with the PDF), queued in this transaction and sent by a job after commit.
    if announce and not paid:
        queue_invoice_email(session, invoice)
    invoice_id = invoice.id
    if runtime.invoice_pdfs:
        uow.after_commit(lambda: runtime.dispatcher.enqueue("render_invoice_pdf", job_id=f"pdf-{invoice_id}",
                                                            invoice_id=invoice_id))


def skips_finalization(invoice: Invoice) -> bool:
    """Whether the invoice is empty (no fee worth anything, before coupons) and its customer's
    `finalize_zero_amount_invoice` says to skip such invoices (`inherit`: the organization's).

    NOTE: Lago's rule (docs "Empty invoice generation"): an invoice whose line items are worth
    nothing before coupons is not finalized when the setting says skip; one brought to zero by a
    coupon still is. https://getlago.com/docs/guide/invoicing/invoicing-settings/empty-invoices
    """
    if invoice.invoice_type != "subscription" or \
            sum(f.amount_cents for f in invoice.fees) != 0:
        return False
    setting = invoice.customer.finalize_zero_amount_invoice
    if setting == "inherit":
        return not invoice.customer.organization.finalize_zero_amount_invoice
    return setting == "skip"


def close_empty_invoice(invoice: Invoice) -> None:
    """An empty invoice that is not finalized: `closed`, unnumbered, never sent, paid nor emailed.

    It keeps its subscription periods, so that the clock never bills them again.
    """
    compute_totals(invoice)
    invoice.status = "closed"
    invoice.payment_status = "succeeded"  # nothing is owed


def finalize_expired_drafts(*, at: datetime) -> list[str]:
    """Finalize every draft whose grace period is over (created_at + grace days ≤ at); returns their ids.

    Each in its own transaction: one that fails is logged with its id and the others are finalized.
    """
    finalized: list[str] = []
    with read_only() as session:
        drafts = list(session.scalars(select(Invoice).where(Invoice.status == "draft")))
    for draft in drafts:
        if draft.created_at + timedelta(days=draft.customer.applicable_grace_period) > at:
            continue
        try:
            with unit_of_work() as uow:
                invoice = uow.session.scalar(select(Invoice).where(Invoice.id == draft.id, Invoice.status == "draft")
                                             .with_for_update(of=Invoice))
                if invoice is not None:
                    finalize(uow, invoice)
            if invoice is not None:
                finalized.append(invoice.id)
        except Exception:
            # One draft that cannot be finalized stays a draft (tried again next run); the others go on.
            log.exception("finalizing draft invoice %s failed", draft.id)
    return finalized


def finalize_invoice(*, organization_id: str, invoice_id: str) -> Invoice:
    with unit_of_work() as uow:
        invoice = _get_invoice_in(uow.session, organization_id, invoice_id, lock=True)
        if invoice.status != "draft":
            raise ValidationFailed({"invoice": ["not_draft"]})
        finalize(uow, invoice)
        return invoice


def refresh_invoice(*, organization_id: str, invoice_id: str) -> Invoice:
    """Recompute a draft from the usage as it is now (late events): fees, coupons, taxes, credits, totals.

    NOTE: only a draft (grace period) changes; what its coupons and credit notes gave is given
    back first and taken again, so a refresh never uses them twice (Lago docs "Draft invoices":
    events sent during the grace period are added to the draft;
    https://getlago.com/docs/guide/invoicing/draft-invoices).
    """
    with unit_of_work() as uow:
        session = uow.session
        invoice = _get_invoice_in(session, organization_id, invoice_id, lock=True)
        if invoice.status != "draft":
            raise NotAllowed("is_finalized" if invoice.status == "finalized" else f"is_{invoice.status}")
        link = invoice.invoice_subscriptions[0]
        subscription = session.scalar(select(Subscription).where(Subscription.id == link.subscription_id)
                                      .with_for_update(of=Subscription))
        billing = next((b for b in billings(terms_of(subscription), link.boundary) if b.boundary == link.boundary),
                       None)
        if billing is None:  # the subscription's terms changed since: bill what the invoice covered
            fee = next((f for f in invoice.fees if f.fee_type == "subscription"), None)
            billing = Billing(boundary=link.boundary, reason=link.invoicing_reason,
                              fee=FeePart(period_at(subscription, fee.from_datetime), fee.from_datetime,
                                          fee.to_datetime) if fee else None,
                              charges=(link.charges_from_datetime, link.charges_to_datetime)
                              if link.charges_from_datetime else None)
        _undo_credits(session, invoice)
        invoice.credits.clear()
        invoice.fees.clear()
        invoice.applied_taxes.clear()
        session.flush()
        _build_fees(session, invoice, subscription, billing)
        apply_coupons_and_taxes(session, invoice, subscription)
        _apply_credit_notes(session, invoice)
        compute_totals(invoice)
        session.flush()
        wallets.draft_changed(session, invoice)
        return invoice


def void_invoice(*, organization_id: str, invoice_id: str) -> Invoice:
    """Void a finalized invoice that is not paid: it keeps its number and owes nothing.

    NOTE: Lago voids only finalized invoices whose payment status is not `succeeded`
    (https://getlago.com/docs/api-reference/invoices/void); voiding is final, the number stays
    (gap-free numbering is untouched), and what its coupons and credit notes gave is given back
    (BILLING.md, Invoicing; https://docs.getlago.com/guide/invoicing/void).
    """
    with unit_of_work() as uow:
        session = uow.session
        invoice = _get_invoice_in(session, organization_id, invoice_id, lock=True)
        if invoice.status != "finalized" or invoice.payment_status == "succeeded":
            raise NotAllowed("not_voidable")
        _undo_credits(session, invoice)
        invoice.status = "voided"
        invoice.voided_at = utcnow()
        _emit_invoice(session, invoice, webhooks.INVOICE_VOIDED)
        return invoice


def update_invoice(*, organization_id: str, invoice_id: str, data: dict | None = None,
                   payment_status: str | None = None, customer_id: str | None = None) -> Invoice:
    """Set a finalized invoice's `payment_status` by hand (no payment provider connected).

    NOTE: as Lago's `PUT /invoices/:id` (`payment_status`: pending, succeeded, failed). Marked paid by
    hand, the whole total is paid (total_due becomes 0); a paid credit purchase settles its wallet
    credits, a failed one fails them (docs/billing.md, Wallets).
    """
    status = payment_status if payment_status is not None else (data or {}).get("payment_status")
    if status not in PAYMENT_STATUSES:
        raise ValidationFailed({"payment_status": ["value_is_invalid"]})
    with unit_of_work() as uow:
        invoice = _get_invoice_in(uow.session, organization_id, invoice_id, lock=True)
        if customer_id is not None and invoice.customer_id != customer_id:
            raise NotFound("invoice")
        if invoice.status == "open" and status == "succeeded":
            finalize(uow, invoice)  # NOTE: an `open` credit purchase is issued once paid (docs/billing.md, Wallets)
        if invoice.status not in ("finalized", "open") or (invoice.status == "open" and status == "pending"):
            raise NotAllowed("invoice_not_finalized")
        if invoice.payment_status != status:
            invoice.payment_status = status
            # What offsets settled was not paid (and so is never refundable).
            invoice.total_paid_amount_cents = (invoice.total_amount_cents - invoice.offset_amount_cents
                                               if status == "succeeded" else 0)
            if status != "pending":
                wallets.settle_invoice_transactions(uow.session, invoice, succeeded=status == "succeeded")
        return invoice


# ---------------------------------------------------------------- reading


def _invoice_query():
    return select(Invoice).options(selectinload(Invoice.fees).selectinload(Fee.applied_taxes),
                                   selectinload(Invoice.invoice_subscriptions), selectinload(Invoice.applied_taxes),
                                   selectinload(Invoice.credits))


def _get_invoice_in(session: Session, organization_id: str, invoice_id: str, *, lock: bool = False) -> Invoice:
    query = _invoice_query().where(Invoice.organization_id == organization_id, Invoice.id == str(invoice_id))
    invoice = session.scalar(query.with_for_update(of=Invoice) if lock else query)
    if invoice is None:
        raise NotFound("invoice")
    return invoice


def get_invoice(*, organization_id: str, invoice_id: str) -> Invoice:
    with read_only() as session:
        return _get_invoice_in(session, organization_id, invoice_id)


def list_invoices(*, organization_id: str, external_customer_id: str | None = None, customer_id: str | None = None,
                  status: str | None = None, page: int = 1, per_page: int = 20) -> Page:
    query = _invoice_query().where(Invoice.organization_id == organization_id)
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
        ids = [link.subscription_id for link in invoice.invoice_subscriptions]
        return list(session.scalars(select(Subscription).where(Subscription.id.in_(ids)))) if ids else []


# ---------------------------------------------------------------- PDF


def pdf_key(invoice: Invoice) -> str:
    return f"invoices/{invoice.organization_id}/{invoice.id}.pdf"


def render_invoice_pdf(*, invoice_id: str) -> str | None:
    """Render and store the PDF of a finalized invoice (idempotent: the file is replaced atomically)."""
    from billing.invoicing.pdf import render_invoice

    with read_only() as session:
        invoice = session.scalar(_invoice_query().where(Invoice.id == invoice_id))
        if invoice is None or invoice.status == "draft":
            return None
        subscriptions = {s.id: s for s in session.scalars(select(Subscription).where(
            Subscription.id.in_([link.subscription_id for link in invoice.invoice_subscriptions])))}
        data = render_invoice(invoice, invoice.customer, invoice.customer.organization, subscriptions)
    key = pdf_key(invoice)
    runtime.files.save(key, data)
    with unit_of_work() as uow:
        stored = uow.session.get(Invoice, invoice_id)
        if stored.file_key != key:
            stored.file_key = key
    return key


def ensure_invoice_pdf(*, organization_id: str, invoice_id: str) -> Invoice:
    """The invoice with its PDF rendered (now, if the background job has not done it yet)."""
    invoice = get_invoice(organization_id=organization_id, invoice_id=invoice_id)
    if invoice.status == "draft":
        raise ValidationFailed({"invoice": ["is_draft"]})
    if not invoice.file_key or not runtime.files.exists(invoice.file_key):
        render_invoice_pdf(invoice_id=invoice.id)
        invoice = get_invoice(organization_id=organization_id, invoice_id=invoice_id)
    return invoice


def invoice_pdf_bytes(*, organization_id: str, invoice_id: str) -> bytes:
    invoice = ensure_invoice_pdf(organization_id=organization_id, invoice_id=invoice_id)
    data = runtime.files.load(invoice.file_key)
    if data is None:
        raise NotFound("invoice_file")
    return data


# ---------------------------------------------------------------- fees


def _fee_json(session: Session, fee: Fee) -> dict:
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
        return Page(items=[_fee_json(session, f) for f in found.items], current_page=found.current_page,
                    per_page=found.per_page, total_count=found.total_count)


def get_fee(*, organization_id: str, fee_id: str) -> dict:
    with read_only() as session:
        fee = session.scalar(select(Fee).where(Fee.organization_id == organization_id, Fee.id == str(fee_id)))
        if fee is None:
            raise NotFound("fee")
        return _fee_json(session, fee)
