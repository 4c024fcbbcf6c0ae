"""Overdue invoices: finalized, unpaid, past their payment due date.

NOTE: as lago-api Invoices::Payments::MarkOverdueService, run hourly: an invoice is marked once
(`payment_overdue: true`, webhook `invoice.payment_overdue`) the day after its `payment_due_date` (its issuing
date plus the customer's net payment term, else the organization's), while it is finalized, not paid
(`payment_status` pending or failed) and something is still due. Paying it (billing.payments) or voiding it
clears the flag. Lago also skips invoices whose dispute was lost; Tally has no disputes yet.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from billing.db import unit_of_work
from billing.invoicing.finalization import emit_invoice
from billing.invoicing.models import Invoice
from billing.ports import runtime

INVOICE_PAYMENT_OVERDUE = "invoice.payment_overdue"
BATCH = 500


def mark_overdue_invoices(*, at: datetime | None = None) -> int:
    """Mark every invoice that became overdue by `at` (a UTC day after its due date); how many were marked.

    Batches of 500 rows, each locked and re-checked in its own transaction (`skip_locked`: a row being paid
    right now waits for the next run), so two runs never both mark (or both announce) one invoice.
    """
    today = (at or runtime.clock.now()).date()
    marked = 0
    while True:
        with unit_of_work() as uow:
            session = uow.session
            invoices = session.scalars(select(Invoice).where(
                Invoice.status == "finalized", Invoice.payment_status != "succeeded",
                Invoice.payment_overdue.is_(False), Invoice.payment_due_date < today)
                .order_by(Invoice.payment_due_date, Invoice.id).limit(BATCH)
                .with_for_update(of=Invoice, skip_locked=True)).unique().all()
            if not invoices:
                return marked
            for invoice in invoices:
                if invoice.total_due_amount_cents > 0:
                    invoice.payment_overdue = True
                    emit_invoice(session, invoice, INVOICE_PAYMENT_OVERDUE)
                    marked += 1
                else:  # paid in full by hand or by offsets, without the status saying so: it is settled
                    invoice.payment_status = "succeeded"
            if len(invoices) < BATCH:
                return marked
