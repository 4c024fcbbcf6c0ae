"""Finalization: number an invoice, let wallets pay it, announce it (webhook, InvoiceFinalized)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import serializers
from billing.db import UnitOfWork, utcnow
from billing.invoicing import parties
from billing.invoicing.discounts import compute_totals
from billing.invoicing.events import InvoiceFinalized
from billing.invoicing.lookups import BatchLookups
from billing.invoicing.models import (
    Invoice,
)
from billing.invoicing.termination import credit_after_finalization
from billing.organizations.services import next_in_sequence
from billing.ports import runtime
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import local_date
from billing.wallets import ledger as wallets
from billing.webhooks import services as webhooks


def emit_invoice(session: Session, invoice: Invoice, webhook_type: str, known: BatchLookups | None = None) -> None:
    """Report the invoice as the API shows it, in the transaction that changed it."""

    def payload():
        session.flush()
        ids = invoice.subscription_ids
        if known and all(i in known.subscriptions for i in ids):
            subscriptions = {i: known.subscriptions[i] for i in ids}
        else:
            subscriptions = {s.id: s for s in session.scalars(select(Subscription).where(Subscription.id.in_(ids)))}
        return serializers.invoice(invoice, subscriptions)

    webhooks.emit(session, invoice.organization_id, webhook_type, "invoice", payload, object_id=invoice.id,
                  endpoints=known.endpoints.get(invoice.organization_id) if known else None)


def numbering_scope(invoice: Invoice) -> str:
    """The gap-free counter an invoice's number comes from: its organization's or its customer's."""
    customer = invoice.customer
    if customer.organization.document_numbering == "per_organization":
        return f"invoice:{customer.organization_id}"
    return f"invoice:{customer.id}"


def finalize(uow: UnitOfWork, invoice: Invoice, known: BatchLookups | None = None, *, announce: bool = True,
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
    scope = numbering_scope(invoice)
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
    invoice.parties = parties.snapshot(org, customer)  # what its PDF prints of both, whenever it is rendered
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
        emit_invoice(session, invoice, webhooks.INVOICE_ONE_OFF_CREATED if invoice.invoice_type == "one_off"
                      else webhooks.INVOICE_CREATED, known)
    # Told to its subscribers in this transaction: the customer's email (with the PDF) is queued by
    # billing.emails and sent by a job after commit.
    if announce and not paid:
        uow.publish(InvoiceFinalized(invoice))
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
