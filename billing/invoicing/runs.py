"""Billing runs: bill a subscription period exactly once, in batches, and what a termination still owes."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defaultload

from billing.catalog.models import AppliedCoupon, Plan
from billing.customers.models import Customer
from billing.db import UnitOfWork, new_id, read_only, unit_of_work
from billing.invoicing import failures
from billing.invoicing.advance import regroup_paid_fees
from billing.invoicing.amounts import check_amounts
from billing.invoicing.discounts import apply_coupons_and_taxes, apply_credit_notes, compute_totals
from billing.invoicing.events import InvoiceFinalized
from billing.invoicing.fees import build_fees
from billing.invoicing.finalization import (
    close_empty_invoice,
    emit_invoice,
    finalize,
    numbering_scope,
    skips_finalization,
)
from billing.invoicing.lookups import BatchLookups, read_batch_lookups
from billing.invoicing.models import (
    Invoice,
    InvoiceSubscription,
)
from billing.invoicing.progressive import period_progressive_credit
from billing.metering.period_usage import charges_usages
from billing.organizations.services import reserve_in_sequences
from billing.ports import runtime
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import local_date, terms_of
from billing.subscriptions.schedule import REASON_TRIAL_ENDED, Billing, billings
from billing.wallets import ledger as wallets
from billing.webhooks import services as webhooks

log = logging.getLogger(__name__)


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


def new_invoice(session: Session, subscription: Subscription, billing: Billing) -> Invoice:
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


def complete_invoice(session: Session, invoice: Invoice, subscription: Subscription, billing: Billing,
                     usage: Mapping[str, dict] | None = None, known: BatchLookups | None = None, *,
                     coupons: Sequence[AppliedCoupon] | None = None) -> None:
    """Fees, coupons, taxes, credit notes and totals of a new invoice (`usage`: its charges' usage, read already;
    `coupons`: the coupons to take off instead of the customer's, for a preview)."""
    build_fees(session, invoice, subscription, billing, usage)
    check_amounts(invoice.fees, subscription.id)
    apply_coupons_and_taxes(session, invoice, subscription, known,
                            period_progressive_credit(session, invoice, subscription), applied=coupons)
    apply_credit_notes(session, invoice, known)
    compute_totals(invoice)
    check_amounts([invoice], subscription.id)


def _bill(uow: UnitOfWork, subscription: Subscription, billing: Billing) -> Invoice:
    """Issue one billing inside the caller's transaction (termination, plan changes); AlreadyBilled if it is."""
    session = uow.session
    try:
        with session.begin_nested():
            invoice = new_invoice(session, subscription, billing)
            session.flush()
    except IntegrityError:
        raise AlreadyBilled(subscription.id) from None
    usage = _read_usage(session, [(subscription, billing)]).get((subscription.id, billing.boundary), {})
    complete_invoice(session, invoice, subscription, billing, usage)
    session.flush()
    if subscription.customer.applicable_grace_period == 0:
        finalize(uow, invoice)
    else:
        emit_invoice(session, invoice, webhooks.INVOICE_DRAFTED)
        wallets.draft_changed(session, invoice)  # drafts count in the wallets' ongoing balance
    return invoice


def _billed_boundaries(session: Session, subscription_id: str) -> set[datetime]:
    return set(session.scalars(select(InvoiceSubscription.boundary).where(
        InvoiceSubscription.subscription_id == subscription_id)))


def bill_termination(uow: UnitOfWork, subscription: Subscription) -> Invoice | None:
    """Issue what a just-terminated subscription still owes, its final (partial) period included.

    Billings the clock had not reached yet (it had not run) are issued too, not lost.
    """
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
    known = read_batch_lookups(session, [s for s, _ in todo])
    known.subscriptions = {s.id: s for s, _ in todo}
    usage = _read_usage(session, todo)
    invoices = []
    for subscription, billing in todo:
        if billing.reason == REASON_TRIAL_ENDED and subscription.trial_ended_at is None:
            subscription.trial_ended_at = billing.boundary
        invoice = new_invoice(session, subscription, billing)
        complete_invoice(session, invoice, subscription, billing, usage.get((subscription.id, billing.boundary), {}),
                         known)
        invoices.append(invoice)
    # Numbers last, all at once: the numbering rows stay locked only from here to the commit.
    finalizing = {i.id for i in invoices if i.customer.applicable_grace_period == 0}
    closing = {i.id for i in invoices if i.id in finalizing and skips_finalization(i)}  # take no number
    finalizing -= closing
    scopes = Counter(numbering_scope(invoice) for invoice in invoices if invoice.id in finalizing)
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
            emit_invoice(session, invoice, webhooks.INVOICE_CREATED, known)
            uow.publish(InvoiceFinalized(invoice, new_invoice=True))
        elif invoice.id in closing:
            continue  # not an invoice to announce
        else:
            emit_invoice(session, invoice, webhooks.INVOICE_DRAFTED, known)
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
               defaultload(Subscription.plan).lazyload(Plan.taxes),
               defaultload(Subscription.plan).lazyload(Plan.usage_thresholds))


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
