"""A customer's documents (the portal's Documents page): finalized invoices and credit notes in one list, newest
first, filterable by the year they were issued, page by page, as plain data. Scoped to one organization and one
customer; drafts and the invoices the customer never receives (open credit purchases, closed empty invoices) are
left out as on the portal's invoice list (`overview._invoices_of`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import extract, func, literal, select, union_all
from sqlalchemy.orm import joinedload, lazyload

from billing import links
from billing.db import read_only
from billing.invoicing.models import CreditNote, Invoice
from billing.pagination import Page
from billing.screens.overview import InvoiceRow, _find_customer, _invoices_of, invoice_row

INVOICE, CREDIT_NOTE = "invoice", "credit_note"


@dataclass(frozen=True)
class CreditNoteRow:
    id: str
    number: str
    issuing_date: date
    invoice_number: str
    reason: str
    description: str | None
    total_amount_cents: int
    balance_amount_cents: int
    refund_amount_cents: int
    offset_amount_cents: int
    currency: str
    file_url: str  # signed and expiring, as the credit notes' files are everywhere


@dataclass(frozen=True)
class Document:
    kind: str  # INVOICE or CREDIT_NOTE
    invoice: InvoiceRow | None = None
    credit_note: CreditNoteRow | None = None

    @property
    def issuing_date(self) -> date:
        return self.invoice.issuing_date if self.invoice else self.credit_note.issuing_date  # type: ignore[union-attr]


@dataclass(frozen=True)
class Documents:
    page: Page  # of Document
    years: tuple[int, ...]  # newest first: the years the customer has a document of
    year: int | None  # the filter applied (None: every year)


def customer_documents(*, organization_id: str, customer_id: str, year: int | None = None, page: int = 1,
                       per_page: int = 20) -> Documents:
    """One page of the customer's invoices and credit notes together, newest first (of `year` only, if given)."""
    invoices = _invoices_of(organization_id, customer_id, include_drafts=False).with_only_columns(
        literal(INVOICE).label("kind"), Invoice.id.label("id"), Invoice.issuing_date.label("day"),
        Invoice.created_at.label("created_at"))
    notes = select(literal(CREDIT_NOTE).label("kind"), CreditNote.id.label("id"),
                   CreditNote.issuing_date.label("day"), CreditNote.created_at.label("created_at")).where(
        CreditNote.organization_id == organization_id, CreditNote.customer_id == customer_id,
        CreditNote.status != "draft")
    both = union_all(invoices, notes).subquery()
    with read_only() as session:
        _find_customer(session, organization_id, customer_id)
        years = tuple(sorted({int(y) for y in session.scalars(select(extract("year", both.c.day)).distinct())},
                             reverse=True))
        listed = select(both.c.kind, both.c.id)
        if year is not None:
            listed = listed.where(extract("year", both.c.day) == year)
        total = session.scalar(select(func.count()).select_from(listed.subquery())) or 0
        page = max(page, 1)
        rows = session.execute(listed.order_by(both.c.day.desc(), both.c.created_at.desc(), both.c.id)
                               .limit(per_page).offset((page - 1) * per_page)).all()
        invoice_ids = [row.id for row in rows if row.kind == INVOICE]
        note_ids = [row.id for row in rows if row.kind == CREDIT_NOTE]
        found_invoices = {i.id: invoice_row(i) for i in session.scalars(
            select(Invoice).where(Invoice.id.in_(invoice_ids))).unique()} if invoice_ids else {}
        found_notes = {n.id: _credit_note_row(n) for n in session.scalars(
            select(CreditNote).where(CreditNote.id.in_(note_ids))).unique()} if note_ids else {}
        items = [Document(INVOICE, invoice=found_invoices[row.id]) if row.kind == INVOICE
                 else Document(CREDIT_NOTE, credit_note=found_notes[row.id]) for row in rows]
    return Documents(page=Page(items=items, current_page=page, per_page=per_page, total_count=total), years=years,
                     year=year)


def customer_credit_notes(*, organization_id: str, customer_id: str, limit: int = 50) -> list[CreditNoteRow]:
    """The customer's latest credit notes, newest first (the portal's overview lists them below the invoices)."""
    with read_only() as session:
        _find_customer(session, organization_id, customer_id)
        # The note and its invoice's number: none of their other relationships (items, taxes, the invoice's customer
        # and fees) are shown.
        notes = session.scalars(select(CreditNote).where(
            CreditNote.organization_id == organization_id, CreditNote.customer_id == customer_id,
            CreditNote.status != "draft").order_by(CreditNote.created_at.desc(), CreditNote.id).limit(limit)
            .options(lazyload("*"), joinedload(CreditNote.invoice).lazyload("*")))
        return [_credit_note_row(note) for note in notes]


def _credit_note_row(note: CreditNote) -> CreditNoteRow:
    return CreditNoteRow(id=note.id, number=note.number, issuing_date=note.issuing_date,
                         invoice_number=note.invoice.number, reason=note.reason, description=note.description,
                         total_amount_cents=note.total_amount_cents, balance_amount_cents=note.balance_amount_cents,
                         refund_amount_cents=note.refund_amount_cents, offset_amount_cents=note.offset_amount_cents,
                         currency=note.currency,
                         file_url=links.credit_note_file_url(credit_note_id=note.id,
                                                             organization_id=note.organization_id))
