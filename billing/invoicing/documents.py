"""The invoice's PDF: rendered once, stored, served."""

from __future__ import annotations

from sqlalchemy import select

from billing.db import read_only, unit_of_work
from billing.errors import NotFound, ValidationFailed
from billing.invoicing.models import (
    Invoice,
)
from billing.invoicing.pdf import render_invoice
from billing.invoicing.queries import get_invoice, invoice_query
from billing.ports import runtime
from billing.subscriptions.models import Subscription


def pdf_key(invoice: Invoice) -> str:
    return f"invoices/{invoice.organization_id}/{invoice.id}.pdf"


def render_invoice_pdf(*, invoice_id: str) -> str | None:
    """Render and store the PDF of a finalized invoice (idempotent: the file is replaced atomically)."""
    with read_only() as session:
        invoice = session.scalar(invoice_query().where(Invoice.id == invoice_id))
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
