"""Actions on one invoice: finalize a draft (or every expired one), refresh, void, mark paid."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from billing.db import read_only, unit_of_work, utcnow
from billing.errors import NotAllowed, ValidationFailed
from billing.invoicing.audited import invoice_terms, record_invoice
from billing.invoicing.discounts import apply_coupons_and_taxes, apply_credit_notes, compute_totals, undo_credits
from billing.invoicing.fees import build_fees
from billing.invoicing.finalization import emit_invoice, finalize
from billing.invoicing.models import (
    Invoice,
)
from billing.invoicing.progressive import period_progressive_credit
from billing.invoicing.queries import get_invoice_in
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import period_at, terms_of
from billing.subscriptions.schedule import Billing, FeePart, billings
from billing.wallets import ledger as wallets
from billing.webhooks import services as webhooks

log = logging.getLogger(__name__)


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
        invoice = get_invoice_in(uow.session, organization_id, invoice_id, lock=True)
        if invoice.status != "draft":
            raise ValidationFailed({"invoice": ["not_draft"]})
        before = invoice_terms(invoice)
        finalize(uow, invoice)
        # NOTE: by hand only; the drafts finalized when their grace period ends are the billing run's.
        record_invoice(uow.session, invoice, "invoice.finalized", before, invoice_terms(invoice))
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
        invoice = get_invoice_in(session, organization_id, invoice_id, lock=True)
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
        before = invoice_terms(invoice)
        undo_credits(session, invoice)
        invoice.credits.clear()
        invoice.fees.clear()
        invoice.applied_taxes.clear()
        session.flush()
        build_fees(session, invoice, subscription, billing)
        apply_coupons_and_taxes(session, invoice, subscription,
                                progressive=period_progressive_credit(session, invoice, subscription))
        apply_credit_notes(session, invoice)
        compute_totals(invoice)
        session.flush()
        wallets.draft_changed(session, invoice)
        record_invoice(session, invoice, "invoice.refreshed", before, invoice_terms(invoice))
        return invoice


def void_invoice(*, organization_id: str, invoice_id: str) -> Invoice:
    """Void a finalized invoice that is not paid: it keeps its number and owes nothing.

    NOTE: Lago voids only finalized invoices whose payment status is not `succeeded`
    (https://getlago.com/docs/api-reference/invoices/void); voiding is final, the number stays
    (gap-free numbering is untouched), and what its coupons and credit notes gave is given back
    (docs/billing.md, Invoices; https://docs.getlago.com/guide/invoicing/void).
    """
    with unit_of_work() as uow:
        session = uow.session
        invoice = get_invoice_in(session, organization_id, invoice_id, lock=True)
        if invoice.status != "finalized" or invoice.payment_status == "succeeded":
            raise NotAllowed("not_voidable")
        before = invoice_terms(invoice)
        undo_credits(session, invoice)
        invoice.status = "voided"
        invoice.payment_overdue = False  # nothing is owed any more
        invoice.voided_at = utcnow()
        record_invoice(session, invoice, "invoice.voided", before, invoice_terms(invoice))
        emit_invoice(session, invoice, webhooks.INVOICE_VOIDED)
        return invoice
