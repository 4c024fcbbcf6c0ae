"""The invoice's PDF: rendered, stored and served per edition (what it prints: where the invoice stands, the
bank details, the customer's language), so a download never shows "due" for a paid invoice, nor French to a customer
who has since chosen German."""

from __future__ import annotations

import zlib
from dataclasses import astuple

from sqlalchemy import select

from billing import i18n
from billing.db import read_only, unit_of_work
from billing.errors import NotFound, ValidationFailed
from billing.invoicing.models import (
    Invoice,
)
from billing.invoicing.pdf import render_invoice
from billing.invoicing.queries import get_invoice, invoice_query
from billing.invoicing.standing import Standing, invoice_standing
from billing.organizations.bank_details import bank_details_of
from billing.ports import runtime
from billing.subscriptions.models import Subscription


def pdf_key(invoice: Invoice, edition: str) -> str:
    """One file per edition: the PDF prints where the invoice stands (paid, due, overdue), which changes."""
    return f"invoices/{invoice.organization_id}/{invoice.id}/{edition}.pdf"


def _edition(invoice: Invoice, standing: Standing) -> str:
    """What the stored PDF depends on beyond the invoice: the language it is written in (the customer's now, as
    the portal and the emails linking to it: not the one of whenever it was first downloaded), its standing and,
    while something is due, the bank details it prints (changed in Settings, they reach the unpaid invoices' PDFs at
    their next download)."""
    edition = f"{i18n.customer_language(invoice.customer)}-{standing.edition}"
    if not standing.due_cents:
        return edition
    bank = bank_details_of(invoice.customer.organization)
    return f"{edition}-b{zlib.crc32(repr(astuple(bank)).encode()):08x}"


def render_invoice_pdf(*, invoice_id: str) -> str | None:
    """Render and store the PDF of a finalized invoice (idempotent: the file is replaced atomically)."""
    with read_only() as session:
        invoice = session.scalar(invoice_query().where(Invoice.id == invoice_id))
        if invoice is None or invoice.status == "draft":
            return None
        subscriptions = {s.id: s for s in session.scalars(select(Subscription).where(
            Subscription.id.in_(invoice.subscription_ids)))}
        standing = invoice_standing(invoice)
        data = render_invoice(invoice, invoice.customer, invoice.customer.organization, subscriptions, standing)
        key = pdf_key(invoice, _edition(invoice, standing))
    runtime.files.save(key, data)
    with unit_of_work() as uow:
        stored = uow.session.get(Invoice, invoice_id)
        if stored.file_key != key:
            stored.file_key = key
    return key


def ensure_invoice_pdf(*, organization_id: str, invoice_id: str) -> Invoice:
    """The invoice with its PDF rendered (now, if the background job has not done it yet, or if the stored one
    says something no longer true: unpaid since paid, due since overdue)."""
    invoice = get_invoice(organization_id=organization_id, invoice_id=invoice_id)
    if invoice.status == "draft":
        raise ValidationFailed({"invoice": ["is_draft"]})
    current = pdf_key(invoice, _edition(invoice, invoice_standing(invoice)))
    if invoice.file_key != current or not runtime.files.exists(invoice.file_key):
        render_invoice_pdf(invoice_id=invoice.id)
        invoice = get_invoice(organization_id=organization_id, invoice_id=invoice_id)
    return invoice


def invoice_pdf_bytes(*, organization_id: str, invoice_id: str) -> bytes:
    invoice = ensure_invoice_pdf(organization_id=organization_id, invoice_id=invoice_id)
    data = runtime.files.load(invoice.file_key)
    if data is None:
        raise NotFound("invoice_file")
    return data
