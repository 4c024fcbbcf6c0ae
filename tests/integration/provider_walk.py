"""What the provider walks (Adyen, GoCardless) read and wait for: an invoice of the `setup` add-on, its row and
payments, how many times each provider event was applied, and a condition met within a delay."""

from __future__ import annotations

import time

from lago_python_client.models import OneOffInvoice
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from sqlalchemy import func, select

from billing.db import read_only
from billing.invoicing.models import Invoice
from billing.payments.models import AppliedProviderEvent, Payment


def one_off_invoice(lago, amount_cents: int = 12_000):
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=amount_cents)])
    return lago.invoices.create(OneOffInvoice(external_customer_id="acme", currency="EUR", fees=fees))


def invoice_row(invoice_id: str) -> Invoice:
    with read_only() as session:
        return session.get(Invoice, invoice_id)


def payments_of(invoice_id: str) -> list[Payment]:
    with read_only() as session:
        return list(session.scalars(select(Payment).where(Payment.invoice_id == invoice_id)
                                    .order_by(Payment.created_at)))


def applied_counts(event_ids) -> dict[str, int]:
    with read_only() as session:
        rows = session.execute(select(AppliedProviderEvent.event_id, func.count()).where(
            AppliedProviderEvent.event_id.in_(list(event_ids))).group_by(AppliedProviderEvent.event_id)).all()
    return dict(rows)


def wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
