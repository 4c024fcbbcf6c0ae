"""What the audit trail says of an invoice (its state and amounts) and the one way an entry is recorded on it."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from billing.audit.services import record
from billing.invoicing.models import Invoice


def invoice_terms(invoice: Invoice) -> dict[str, object]:
    """An invoice's number, statuses and amounts, as finalizing, refreshing or voiding it moves them."""
    return {
        "status": invoice.status, "payment_status": invoice.payment_status, "number": invoice.number,
        "payment_overdue": invoice.payment_overdue, "fees_amount_cents": invoice.fees_amount_cents,
        "coupons_amount_cents": invoice.coupons_amount_cents, "taxes_amount_cents": invoice.taxes_amount_cents,
        "credit_notes_amount_cents": invoice.credit_notes_amount_cents,
        "prepaid_credit_amount_cents": invoice.prepaid_credit_amount_cents,
        "total_amount_cents": invoice.total_amount_cents, "total_due_amount_cents": invoice.total_due_amount_cents,
    }


def record_invoice(session: Session, invoice: Invoice, action: str, before: Mapping[str, object] | None,
                   after: Mapping[str, object] | None) -> None:
    """Append an entry about the invoice (its amounts in its currency) in the caller's transaction."""
    record(session, organization_id=invoice.organization_id, action=action, object_type="invoice",
           object_id=invoice.id, object_label=invoice.number or invoice.id, before=before, after=after,
           currency=invoice.currency)
