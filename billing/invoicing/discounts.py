"""What reduces an invoice: coupons, taxes, credit notes; and its totals from its fees."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.catalog.models import AppliedCoupon, Charge
from billing.catalog.taxes import organization_taxes
from billing.db import utcnow
from billing.invoicing import totals
from billing.invoicing.lookups import BatchLookups
from billing.invoicing.models import (
    Credit,
    CreditNote,
    Invoice,
)
from billing.invoicing.taxing import record_taxes
from billing.subscriptions.models import Subscription


@dataclass(frozen=True)
class ProgressiveCredit:
    """What earlier progressive billing invoices of the period billed (net), to take off this invoice's charges."""

    amount_cents: int
    invoice_id: str  # the latest of them (Lago's credit `progressive_billing_invoice`)
    invoice_number: str


def apply_coupons_and_taxes(session: Session, invoice: Invoice, subscription: Subscription,
                            known: BatchLookups | None = None, progressive: ProgressiveCredit | None = None,
                            *, applied: Sequence[AppliedCoupon] | None = None) -> None:
    """Take the customer's coupons off the fees, then tax each fee on what is left (docs/billing.md).

    The computations are pure (`billing.invoicing.totals`); here the inputs are gathered and the
    results stored: coupon credits, each fee's share and taxes, the invoice's applied taxes, and
    what the applied coupons have left (their rows are locked first). `known`: what a batch read
    already (the organization's taxes; the customer has no coupon: none is looked for). `applied`: the
    coupons to use instead of the customer's (an invoice preview's, never stored).
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
    if applied is not None:
        applied = [a for a in applied if a.coupon.coupon_type == "percentage" or a.amount_currency == invoice.currency]
    elif known and customer.id not in known.coupons:
        applied = []
    else:
        applied = [a for a in session.scalars(select(
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
    if progressive is not None and progressive.amount_cents > 0:
        # NOTE: first, before coupons, off the charge fees only (Lago's Credits::ProgressiveBillingService runs
        # before Credits::AppliedCouponsService): it takes at most what the charges owe.
        charge_codes = frozenset(line.metric_code for line in lines if line.metric_code is not None)
        terms.insert(0, totals.CouponTerms(coupon_type="fixed_amount", amount_cents=progressive.amount_cents,
                                           metric_codes=charge_codes))
    coupons = totals.apply_coupons(lines, terms)
    amounts = list(coupons.amounts)
    if progressive is not None and progressive.amount_cents > 0:
        taken = amounts.pop(0)
        if taken:
            invoice.credits.append(Credit(
                progressive_billing_invoice_id=progressive.invoice_id, position=-1,
                coupon_code=progressive.invoice_number, coupon_name=progressive.invoice_number, amount_cents=taken,
                amount_currency=invoice.currency, before_taxes=True))
    for position, (coupon, amount) in enumerate(zip(applied, amounts, strict=True)):
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
    `forever` never ends (docs/billing.md, Coupons; Lago's applied coupon object).
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
    (docs/billing.md, Invoices: "Voiding re-credits coupons"); a coupon ended by that use is active
    again, one ended otherwise (deleted) stays ended.
    """
    if applied.frequency == "once" and applied.coupon.coupon_type == "fixed_amount":
        applied.amount_cents_remaining = (applied.amount_cents_remaining or 0) + credit.amount_cents
    elif applied.frequency == "recurring":
        applied.frequency_duration_remaining = (applied.frequency_duration_remaining or 0) + 1
    if credit.ended_coupon and applied.status == "terminated":
        applied.status, applied.terminated_at = "active", None


def apply_credit_notes(session: Session, invoice: Invoice, known: BatchLookups | None = None) -> None:
    """Take the customer's available credit-note balances off what the invoice owes after taxes."""
    if known and invoice.customer_id not in known.credit_notes:
        return
    coupons = sum(c.amount_cents for c in invoice.credits if not c.is_credit_note)  # progressive credits too
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


def undo_credits(session: Session, invoice: Invoice) -> None:
    """Give back to coupons and credit notes what this invoice took of them (refresh, void)."""
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
    """Totals in docs/billing.md's order: coupons before taxes, credit notes after (prepaid credits: when finalized)."""
    result = totals.invoice_totals(
        fees_amount_cents=sum(f.amount_cents for f in invoice.fees),
        coupons_amount_cents=sum(c.amount_cents for c in invoice.credits
                                 if not c.is_credit_note and not c.is_progressive_billing),
        progressive_billing_credit_amount_cents=sum(c.amount_cents for c in invoice.credits
                                                    if c.is_progressive_billing),
        taxes_amount_cents=sum(t.amount_cents for t in invoice.applied_taxes),
        credit_notes_amount_cents=sum(c.amount_cents for c in invoice.credits if c.is_credit_note),
        prepaid_credit_amount_cents=invoice.prepaid_credit_amount_cents or 0)
    for name, value in vars(result).items():
        setattr(invoice, name, value)
