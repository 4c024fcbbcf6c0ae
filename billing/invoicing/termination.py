"""The credit note for the unused days of an advance subscription fee, when a subscription ends early.

A pay-in-advance plan bills its period's fee when the period starts; terminated (or upgraded) before
the period ends, the days after the termination were paid for and not used. They are credited back
with an automatic credit note on the fee's invoice, as Lago does (docs/billing.md, "Termination credit
notes"). The choice is the subscription's `on_termination_credit_note`: `credit` (the default: a
credit balance the customer's next invoices use), `refund` (what was paid for the unused days is
refunded, the rest credited), `offset` (what the invoice still owes is settled by it, the rest
credited) or `skip` (no credit note). An upgrade credits (never refunds) unless
`skip` was stored beforehand (`PUT /subscriptions/:id`).

Exactly once: a credit note carries the subscription it credits (`terminated_subscription_id`, unique).
The amounts are computed from the fee as it was billed, so rerunning computes the same note, and the
unique constraint keeps a second one out. When the fee's invoice is still a draft (grace period), the
credit note waits for that invoice's finalization (`credit_after_finalization`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from billing.db import UnitOfWork, read_only
from billing.invoicing import totals
from billing.invoicing.credit_notes import credited_cents, fee_tax_rates, issue, refunded_cents
from billing.invoicing.models import CreditNote, Fee, Invoice
from billing.money import round_minor
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import local_date

CREDIT, REFUND, OFFSET, SKIP = "credit", "refund", "offset", "skip"
CREDIT_NOTE_CHOICES = (CREDIT, REFUND, OFFSET, SKIP)


@dataclass(frozen=True)
class UnusedDays:
    """What part of an advance fee a termination left unused: pure day arithmetic."""

    unused_days: int  # local days of the fee after the termination (the termination day too on an upgrade)
    used_days: int  # local days of the fee up to the termination
    days_in_period: int  # the full period's days: the daily price is the plan amount / these


def unused_days(*, fee_start: datetime, fee_end: datetime, days_in_period: int, terminated_at: datetime,
                timezone: str, upgrade: bool) -> UnusedDays:
    """Days of the fee's part [fee_start, fee_end) after a termination at `terminated_at`, local days.

    NOTE: the termination day is used (billed) by the terminated subscription, except on an upgrade,
    where the new plan bills it: Lago's `CreditNotes::CreateFromTermination` (remaining days from the
    day after the termination, from the termination day itself on an upgrade; a trial's days were
    never billed, so the fee's part starts after them).
    """
    first = local_date(fee_start, timezone)
    last = local_date(fee_end - timedelta(microseconds=1), timezone)
    billed = max((last - first).days + 1, 0)
    end_day: date = local_date(terminated_at, timezone)
    first_unused = max(end_day if upgrade else end_day + timedelta(days=1), first)
    unused = max((last - first_unused).days + 1, 0)
    return UnusedDays(unused_days=min(unused, billed), used_days=billed - min(unused, billed),
                      days_in_period=days_in_period)


def last_advance_fee(session, subscription: Subscription) -> Fee | None:
    """The subscription's latest billed subscription fee (the one that paid for the period it ended in)."""
    return session.scalar(select(Fee).where(
        Fee.subscription_id == subscription.id, Fee.fee_type == "subscription", Fee.invoice_id.is_not(None))
        .order_by(Fee.to_datetime.desc(), Fee.created_at.desc()).limit(1))


def choice_of(subscription: Subscription) -> str:
    return subscription.on_termination_credit_note or CREDIT


def was_upgraded(session, subscription: Subscription) -> bool:
    """Ended by an upgrade: the subscription that replaced it started the moment it ended."""
    return bool(subscription.terminated_at and session.scalar(select(Subscription.id).where(
        Subscription.previous_subscription_id == subscription.id,
        Subscription.started_at == subscription.terminated_at).limit(1)))


def credit_unused_advance_fee(uow: UnitOfWork, subscription: Subscription, *, upgrade: bool = False
                              ) -> CreditNote | None:
    """Issue the credit note for the unused days of a just-terminated subscription's advance fee, if due.

    Returns the note (also when it was issued before), or None when nothing is credited: an arrears
    plan, `skip`, no fee or a zero one, a voided invoice, no unused day, everything already credited, or
    a draft invoice (then at its finalization).
    """
    session = uow.session
    if not subscription.plan.pay_in_advance or subscription.terminated_at is None:
        return None
    existing = session.scalar(select(CreditNote).where(CreditNote.terminated_subscription_id == subscription.id))
    if existing is not None:
        return existing
    choice = choice_of(subscription)
    if choice == SKIP:
        return None
    if upgrade and choice == REFUND:
        choice = CREDIT  # NOTE: Lago: "Upgrade and refund are not supported together"
    fee = last_advance_fee(session, subscription)
    # NOTE: nothing to give back for a fee of 0 (a trial, a 100 % override) or a voided invoice (Lago's
    # CreateFromTermination returns early on both).
    if fee is None or fee.amount_cents <= 0:
        return None
    invoice = session.scalar(select(Invoice).where(Invoice.id == fee.invoice_id).with_for_update(of=Invoice))
    if invoice.status != "finalized":
        return None  # voided: nothing was owed; draft: credited when it is finalized
    details = fee.amount_details or {}
    days = unused_days(fee_start=fee.from_datetime, fee_end=fee.to_datetime,
                       days_in_period=int(details.get("days_in_period") or 0) or 1,
                       terminated_at=subscription.terminated_at,
                       timezone=subscription.customer.applicable_timezone, upgrade=upgrade)
    if days.unused_days == 0:
        return None
    plan_amount = Decimal(int(details.get("plan_amount_cents", fee.amount_cents)))
    # NOTE: daily price = plan amount / days of the full period (the fee's own proration), capped at the
    # fee, less what earlier credit notes credited on it (Lago: "if credit notes were already issued
    # on the fee, we have to deduct them"); rounded once, half up.
    unused = min(plan_amount * days.unused_days / days.days_in_period, Decimal(fee.amount_cents))
    item = round_minor(unused) - credited_cents(session, [fee.id]).get(fee.id, 0)
    if item <= 0:
        return None
    credited, fee_taxes = fee_tax_rates([(fee, item)])
    amounts = totals.credit_note_amounts(credited)
    if amounts.total_amount_cents <= 0:
        return None
    refund = offset = 0
    if choice == REFUND:
        refund = _refund(session, invoice, fee, plan_amount * days.used_days / days.days_in_period,
                         amounts.total_amount_cents)
    elif choice == OFFSET:
        # NOTE: Tally's reading of Lago's `offset`: the note settles what the invoice still owes, up
        # to its total; what is left (a paid invoice: all of it) is credited.
        offset = min(invoice.total_due_amount_cents, amounts.total_amount_cents)
    try:
        with session.begin_nested():
            return issue(uow, invoice=invoice, items=[(fee, item)], amounts=amounts, fee_taxes=fee_taxes,
                         credit=amounts.total_amount_cents - refund - offset, refund=refund, offset=offset,
                         reason="order_change" if upgrade else "order_cancellation",
                         description=_description(subscription, days, upgrade),
                         terminated_subscription_id=subscription.id)
    except IntegrityError:  # issued by a concurrent run
        return session.scalar(select(CreditNote).where(CreditNote.terminated_subscription_id == subscription.id))


def _refund(session, invoice: Invoice, fee: Fee, used_precise: Decimal, total: int) -> int:
    """What a `refund` termination gives back in money: the fee's paid share beyond the days used.

    NOTE: Lago's rule (CreateFromTermination#calculate_refund): the invoice's paid amount times the
    fee's share of the invoice (fee after coupons with its taxes / invoice total with taxes), less the
    used days' amount with their taxes; never below 0 nor above the note's total; the rest is credited.
    Tally also keeps it within what the invoice was paid less earlier refunds.
    """
    if invoice.payment_status != "succeeded" or invoice.sub_total_including_taxes_amount_cents <= 0:
        return 0
    fee_total = Decimal(fee.amount_cents) - fee.precise_coupons_amount_cents + fee.taxes_precise_amount_cents
    paid_share = fee_total / invoice.sub_total_including_taxes_amount_cents * invoice.total_paid_amount_cents
    used = round_minor(min(used_precise, Decimal(fee.amount_cents)))
    used_total = totals.credit_note_amounts(fee_tax_rates([(fee, used)])[0]).total_amount_cents if used else 0
    refundable = invoice.total_paid_amount_cents - refunded_cents(session, invoice.id)
    return max(min(round_minor(paid_share - used_total), total, refundable), 0)


def _description(subscription: Subscription, days: UnusedDays, upgrade: bool) -> str:
    plan = subscription.plan.invoice_display_name or subscription.plan.name
    why = "upgraded" if upgrade else "terminated"
    return (f"{plan}: {days.unused_days} unused day{'s' if days.unused_days != 1 else ''} of "
            f"{days.days_in_period}, subscription {subscription.external_id} {why}")


def credit_after_finalization(uow: UnitOfWork, invoice: Invoice) -> None:
    """A draft's advance fee of a subscription terminated meanwhile: its credit note, now the invoice is final."""
    session = uow.session
    ids = {f.subscription_id for f in invoice.fees if f.fee_type == "subscription" and f.pay_in_advance
           and f.subscription_id}
    for subscription in session.scalars(select(Subscription).where(
            Subscription.id.in_(ids), Subscription.status == "terminated")) if ids else ():
        if last_advance_fee(session, subscription).invoice_id == invoice.id:
            credit_unused_advance_fee(uow, subscription, upgrade=was_upgraded(session, subscription))


def termination_credit_note(*, organization_id: str, subscription_id: str) -> CreditNote | None:
    """The credit note a terminated subscription's unused days were credited by, if any (for the screens)."""
    with read_only() as session:
        return session.scalar(select(CreditNote).where(CreditNote.organization_id == organization_id,
                                                       CreditNote.terminated_subscription_id == subscription_id))
