"""The payment core's handlers of other packages' domain events (billing.events), subscribed at configuration."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billing import events
from billing.customers.events import CustomerPaymentSettingsChanged
from billing.db import after_commit
from billing.invoicing.events import InvoiceFinalized, PaymentDue, RefundDue
from billing.payments import customers, refunds
from billing.ports import runtime

COLLECT_TASK = "collect_invoice_payment"


def subscribe_to_events() -> None:
    events.subscribe(InvoiceFinalized, _collect)
    events.subscribe(PaymentDue, _collect)
    events.subscribe(CustomerPaymentSettingsChanged, customers.on_payment_settings_changed)
    events.subscribe(RefundDue, refunds.on_refund_due)


def _collect(session: Session, event: InvoiceFinalized | PaymentDue) -> None:
    """Ask for the charge of an invoice with something due, after commit, when its customer has a provider."""
    invoice = event.invoice
    if not invoice.customer.payment_provider_code or invoice.total_due_amount_cents <= 0:
        return
    invoice_id, organization_id = invoice.id, invoice.organization_id
    after_commit(session, lambda: ask_collection(organization_id, invoice_id))


def ask_collection(organization_id: str, invoice_id: str) -> None:
    runtime.dispatcher.enqueue(COLLECT_TASK, job_id=f"collect-{invoice_id}", organization_id=organization_id,
                               invoice_id=invoice_id)
