"""Credit notes: give back part of a finalized invoice's fees, as a credit balance, a refund and/or
an offset of what the invoice still owes.

The amounts are pure computations (`billing.invoicing.totals.credit_note_amounts`); here the
request is checked against what each fee still has to credit and what the invoice was paid,
the note is numbered per invoice, stored, reported (`credit_note.created`) and rendered as a PDF.
Later invoices consume the credit balance after taxes (`services._apply_credit_notes`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from billing import i18n, serializers
from billing.audit.services import record
from billing.customers.models import Customer
from billing.db import read_only, unit_of_work
from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.invoicing import parties, totals
from billing.invoicing.audited import record_invoice
from billing.invoicing.events import RefundDue
from billing.invoicing.models import (
    CREDIT_NOTE_REASONS,
    REFUND_STATUSES,
    CreditNote,
    CreditNoteAppliedTax,
    CreditNoteItem,
    Fee,
    Invoice,
)
from billing.invoicing.pdf import render_credit_note
from billing.pagination import Page, paginate
from billing.ports import runtime
from billing.subscriptions.models import Subscription
from billing.validation import MAX_AMOUNT_CENTS, Checker
from billing.webhooks import services as webhooks

# NOTE: credit + refund + offset may differ from the note's total by one cent at most (docs/billing.md,
# Invoicing: "credit + refund + offset = items + taxes − coupon adjustment (±1 cent)").
TOLERANCE_CENTS = 1


@dataclass
class Draft:
    """A credit note's amounts before it is stored (also the answer of `estimate`)."""

    invoice: Invoice
    items: list[tuple[Fee, int]]
    amounts: totals.CreditNoteAmounts
    max_refundable_amount_cents: int
    max_offsettable_amount_cents: int
    fee_taxes: dict[str, object]  # tax code -> a FeeAppliedTax carrying its name, rate, description


def credited_cents(session: Session, fee_ids: list[str]) -> dict[str, int]:
    """What earlier credit notes (voided ones too: what they credited stays credited) took of each fee."""
    if not fee_ids:
        return {}
    rows = session.execute(select(CreditNoteItem.fee_id, func.sum(CreditNoteItem.amount_cents)).where(
        CreditNoteItem.fee_id.in_(fee_ids)).group_by(CreditNoteItem.fee_id))
    return {fee_id: int(total or 0) for fee_id, total in rows}


def creditable_cents(session: Session, invoice: Invoice) -> dict[str, int]:
    """Per fee of the invoice: what a new credit note may still credit on it."""
    taken = credited_cents(session, [f.id for f in invoice.fees])
    return {f.id: max(f.amount_cents - taken.get(f.id, 0), 0) for f in invoice.fees}


def creditable_amounts(*, organization_id: str, invoice_id: str) -> dict[str, int]:
    """Per fee of a finalized invoice: what a new credit note may still credit on it (for the screens)."""
    with read_only() as session:
        invoice = session.scalar(select(Invoice).where(Invoice.organization_id == organization_id,
                                                       Invoice.id == invoice_id))
        if invoice is None:
            raise NotFound("invoice")
        return creditable_cents(session, invoice)


def refunded_cents(session: Session, invoice_id: str) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(CreditNote.refund_amount_cents), 0)).where(
        CreditNote.invoice_id == invoice_id)) or 0)


def _credited_total_cents(session: Session, invoice_id: str) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(CreditNote.total_amount_cents), 0)).where(
        CreditNote.invoice_id == invoice_id)) or 0)


def _draft(session: Session, organization_id: str, data: Mapping[str, object], *, lock: bool) -> Draft:
    invoice_id = data.get("invoice_id")
    query = select(Invoice).where(Invoice.organization_id == organization_id, Invoice.id == str(invoice_id or ""))
    invoice = session.scalar(query.with_for_update(of=Invoice) if lock else query)
    if invoice is None:
        raise NotFound("invoice")
    # NOTE: credit notes only on finalized invoices with an amount above zero (Lago docs "Credit
    # notes": https://getlago.com/docs/guide/invoicing/credit-notes/overview).
    if invoice.status != "finalized" or invoice.total_amount_cents <= 0:
        raise NotAllowed("invalid_type_or_status")
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise ValidationFailed({"items": ["value_is_mandatory"]})
    fees = {f.id: f for f in invoice.fees}
    creditable = creditable_cents(session, invoice)
    wanted: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    for raw in raw_items:
        fee_id = str(raw.get("fee_id")) if isinstance(raw, dict) else ""
        amount = raw.get("amount_cents") if isinstance(raw, dict) else None
        if fee_id not in fees:
            raise NotFound("fee")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            errors.setdefault("amount_cents", []).append("value_is_invalid")
            continue
        if amount > MAX_AMOUNT_CENTS:
            errors.setdefault("amount_cents", []).append("value_is_out_of_range")
            continue
        wanted[fee_id] = wanted.get(fee_id, 0) + amount
    for fee_id, amount in wanted.items():
        # NOTE: a fee cannot be credited beyond its amount less what earlier notes credited on it.
        if amount > creditable[fee_id]:
            errors.setdefault("amount_cents", []).append("higher_than_remaining_fee_amount")
    if errors:
        raise ValidationFailed(errors)
    items = [(fees[fee_id], amount) for fee_id, amount in wanted.items()]
    credited, fee_taxes = fee_tax_rates(items)
    amounts = totals.credit_note_amounts(credited)
    remaining = invoice.total_amount_cents + invoice.credit_notes_amount_cents - _credited_total_cents(
        session, invoice.id)
    if amounts.total_amount_cents > remaining + TOLERANCE_CENTS:
        raise ValidationFailed({"base": ["higher_than_remaining_invoice_amount"]})
    # NOTE: a refund gives back money received: only on a paid invoice, up to what it was paid
    # less earlier refunds (Lago docs "Credit notes": refunds when the payment status is succeeded).
    paid = invoice.total_paid_amount_cents if invoice.payment_status == "succeeded" else 0
    refundable = max(min(paid - refunded_cents(session, invoice.id), amounts.total_amount_cents), 0)
    # NOTE: an offset settles what the invoice still owes (Lago: "offset the remaining invoice amount
    # due"): up to its amount due, which payments and earlier offsets reduced.
    offsettable = max(min(invoice.total_due_amount_cents, amounts.total_amount_cents), 0)
    return Draft(invoice=invoice, items=items, amounts=amounts, max_refundable_amount_cents=refundable,
                 max_offsettable_amount_cents=offsettable, fee_taxes=fee_taxes)


def _amount(data: Mapping[str, object], name: str, errors: dict[str, list[str]]) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        errors.setdefault(name, []).append("value_is_invalid")
        return None
    if value > MAX_AMOUNT_CENTS:
        errors.setdefault(name, []).append("value_is_out_of_range")
        return None
    return value


def estimate_credit_note(*, organization_id: str, data: Mapping[str, object]) -> Draft:
    """The amounts a credit note with these items would have (nothing is stored)."""
    with read_only() as session:
        return _draft(session, organization_id, data, lock=False)


def create_credit_note(*, organization_id: str, data: Mapping[str, object]) -> CreditNote:
    """Issue a credit note on a finalized invoice: its items, taxes, credit and refund, its number and PDF."""
    reason = data.get("reason")
    errors: dict[str, list[str]] = {}
    if reason not in CREDIT_NOTE_REASONS:
        errors["reason"] = ["value_is_invalid"]
    credit = _amount(data, "credit_amount_cents", errors)
    refund = _amount(data, "refund_amount_cents", errors)
    offset = _amount(data, "offset_amount_cents", errors)
    check = Checker(data)
    metadata = check.item_metadata("metadata")
    errors.update(check.errors)
    if errors:
        raise ValidationFailed(errors)
    with unit_of_work() as uow:
        session = uow.session
        draft = _draft(session, organization_id, data, lock=True)
        invoice, amounts = draft.invoice, draft.amounts
        if credit is None and refund is None and offset is None:
            credit = amounts.total_amount_cents
        credit, refund, offset = credit or 0, refund or 0, offset or 0
        if refund > draft.max_refundable_amount_cents:
            errors["refund_amount_cents"] = ["higher_than_remaining_invoice_amount"]
        if offset > draft.max_offsettable_amount_cents:
            errors["offset_amount_cents"] = ["higher_than_remaining_invoice_amount"]
        # NOTE: what is credited, refunded and offset together is the note's total (Lago validates
        # them against the items' amounts; docs/billing.md allows ±1 cent).
        if abs(credit + refund + offset - amounts.total_amount_cents) > TOLERANCE_CENTS:
            errors.setdefault("base", []).append("does_not_match_item_amounts")
        if errors:
            raise ValidationFailed(errors)
        note = issue(uow, invoice=invoice, items=draft.items, amounts=amounts, fee_taxes=draft.fee_taxes,
                     credit=credit, refund=refund, offset=offset, reason=str(reason),
                     description=str(data["description"])[:1024] if data.get("description") else None)
        note.metadata_ = metadata
        note_id = note.id
        record_invoice(session, invoice, "invoice.credit_note_issued", None, {
            "credit_note": note.number, "reason": str(reason), "total_amount_cents": note.total_amount_cents,
            "credit_amount_cents": credit, "refund_amount_cents": refund, "offset_amount_cents": offset})
    # Read back whole (its items' fees, its invoice): the caller serializes it outside the transaction.
    return get_credit_note(organization_id=organization_id, credit_note_id=note_id)


def fee_tax_rates(items: list[tuple[Fee, int]]) -> tuple[list[totals.CreditedItem], dict[str, object]]:
    """The credited items with their fees' coupons and tax rates, and the fees' taxes by code."""
    fee_taxes: dict[str, object] = {}
    credited = []
    for fee, amount in items:
        rates = {}
        for tax in fee.applied_taxes:
            rates[tax.tax_code] = tax.tax_rate
            fee_taxes.setdefault(tax.tax_code, tax)
        credited.append(totals.CreditedItem(amount_cents=amount, fee_amount_cents=fee.amount_cents,
                                            fee_coupons_precise_cents=fee.precise_coupons_amount_cents,
                                            tax_rates=rates))
    return credited, fee_taxes


def issue(uow, *, invoice: Invoice, items: list[tuple[Fee, int]], amounts: totals.CreditNoteAmounts,
          fee_taxes: dict[str, object], credit: int, refund: int, reason: str, description: str | None,
          terminated_subscription_id: str | None = None, offset: int = 0) -> CreditNote:
    """Store a checked credit note on `invoice` (its row locked by the caller): number, items, taxes; report it.

    Its offset settles that much of what the invoice owes; an invoice it leaves owing nothing is
    settled (`payment_status` succeeded, though nothing more was paid).

    NOTE: numbered `<invoice number>-CN<n>` under the invoice's row lock; `credit_note.created` is sent
    and the PDF rendered after commit (docs/billing.md, Credit notes).
    """
    session = uow.session
    sequence = int(session.scalar(select(func.count()).select_from(CreditNote).where(
        CreditNote.invoice_id == invoice.id)) or 0) + 1
    note = CreditNote(
        organization_id=invoice.organization_id, customer_id=invoice.customer_id, invoice_id=invoice.id,
        sequential_id=sequence, number=f"{invoice.number}-CN{sequence}",
        issuing_date=runtime.clock.now().date(), reason=reason, description=description,
        currency=invoice.currency,
        sub_total_excluding_taxes_amount_cents=amounts.sub_total_excluding_taxes_amount_cents,
        coupons_adjustment_amount_cents=amounts.coupons_adjustment_amount_cents,
        taxes_amount_cents=amounts.taxes_amount_cents,
        taxes_rate=sum((fee_taxes[code].tax_rate for code in amounts.taxes), Decimal(0)),
        total_amount_cents=amounts.total_amount_cents, credit_amount_cents=credit, balance_amount_cents=credit,
        refund_amount_cents=refund, offset_amount_cents=offset, credit_status="available" if credit else None,
        refund_status="pending" if refund else None, terminated_subscription_id=terminated_subscription_id,
        parties=parties.snapshot(invoice.customer.organization, invoice.customer))
    for position, (fee, amount) in enumerate(items):
        note.items.append(CreditNoteItem(fee_id=fee.id, position=position, amount_cents=amount,
                                         precise_amount_cents=Decimal(amount), amount_currency=invoice.currency))
    for code, (base, amount) in amounts.taxes.items():
        tax = fee_taxes[code]
        note.applied_taxes.append(CreditNoteAppliedTax(
            tax_id=tax.tax_id, tax_code=tax.tax_code, tax_name=tax.tax_name, tax_rate=tax.tax_rate,
            tax_description=tax.tax_description, amount_cents=amount, base_amount_cents=base,
            amount_currency=invoice.currency))
    session.add(note)
    if offset:
        invoice.offset_amount_cents += offset
        if invoice.total_due_amount_cents == 0:
            invoice.payment_status = "succeeded"
            invoice.payment_overdue = False
    session.flush()
    _emit(session, note)
    if refund:
        uow.publish(RefundDue(note))
    note_id = note.id
    uow.after_commit(lambda: runtime.dispatcher.enqueue("render_credit_note_pdf", job_id=f"cn-pdf-{note_id}",
                                                        credit_note_id=note_id))
    return note


def _emit(session: Session, note: CreditNote) -> None:
    def payload():
        session.flush()
        return serializers.credit_note(note, subscriptions_of(session, note))

    webhooks.emit(session, note.organization_id, webhooks.CREDIT_NOTE_CREATED, "credit_note", payload,
                  object_id=note.id)


def subscriptions_of(session: Session, note: CreditNote) -> dict[str, Subscription]:
    ids = {item.fee.subscription_id for item in note.items if item.fee.subscription_id}
    return {s.id: s for s in session.scalars(select(Subscription).where(Subscription.id.in_(ids)))} if ids else {}


def _query():
    return select(CreditNote).options(selectinload(CreditNote.items), selectinload(CreditNote.applied_taxes))


def _get_in(session: Session, organization_id: str, credit_note_id: str, *, lock: bool = False) -> CreditNote:
    query = _query().where(CreditNote.organization_id == organization_id, CreditNote.id == str(credit_note_id))
    note = session.scalar(query.with_for_update(of=CreditNote) if lock else query)
    if note is None:
        raise NotFound("credit_note")
    return note


def get_credit_note(*, organization_id: str, credit_note_id: str) -> CreditNote:
    with read_only() as session:
        return _get_in(session, organization_id, credit_note_id)


def serialize(note: CreditNote) -> dict:
    ids = {item.fee.subscription_id for item in note.items if item.fee.subscription_id}
    with read_only() as session:
        subscriptions = {s.id: s for s in session.scalars(select(Subscription).where(Subscription.id.in_(ids)))}
    return serializers.credit_note(note, subscriptions)


def list_credit_notes(*, organization_id: str, external_customer_id: str | None = None,
                      customer_id: str | None = None, invoice_id: str | None = None, page: int = 1,
                      per_page: int = 20) -> Page:
    query = _query().where(CreditNote.organization_id == organization_id)
    if external_customer_id:
        query = query.join(Customer, CreditNote.customer_id == Customer.id).where(
            Customer.external_id == external_customer_id)
    if customer_id:
        query = query.where(CreditNote.customer_id == customer_id)
    if invoice_id:
        query = query.where(CreditNote.invoice_id == invoice_id)
    with read_only() as session:
        return paginate(session, query.order_by(CreditNote.created_at.desc(), CreditNote.id), page=page,
                        per_page=per_page)


def update_credit_note(*, organization_id: str, credit_note_id: str, data: Mapping[str, object]) -> CreditNote:
    """Record the outcome of a credit note's refund (Lago's `refund_status`: pending, succeeded, failed) and
    replace its metadata (`metadata`, as Lago's update does)."""
    check = Checker(data)
    metadata = check.item_metadata("metadata")
    check.done()
    with unit_of_work() as uow:
        note = _get_in(uow.session, organization_id, credit_note_id, lock=True)
        before = _note_terms(note)
        if "metadata" in data:
            note.metadata_ = metadata
        if "refund_status" in data:
            if data["refund_status"] not in REFUND_STATUSES:
                raise ValidationFailed({"refund_status": ["value_is_invalid"]})
            if not note.refund_amount_cents:
                raise ValidationFailed({"refund_status": ["no_refund"]})
            note.refund_status = str(data["refund_status"])
        if _note_terms(note) != before:
            record_invoice(uow.session, note.invoice, "invoice.credit_note_changed", before, _note_terms(note))
        return note


def _note_terms(note: CreditNote) -> dict[str, object]:
    """A credit note's moving parts, under its number (the entry is the invoice's: it names which note)."""
    return {note.number: {"credit_status": note.credit_status, "balance_amount_cents": note.balance_amount_cents,
                          "refund_status": note.refund_status, "metadata": dict(note.metadata_ or {})}}


def change_credit_note_metadata(*, organization_id: str, credit_note_id: str,
                                change: Callable[[dict | None], dict | None]) -> CreditNote:
    """Replace, merge or remove the credit note's metadata (`billing.validation.item_metadata_change` and its kin)."""
    with unit_of_work() as uow:
        note = _get_in(uow.session, organization_id, credit_note_id, lock=True)
        before = note.metadata_
        note.metadata_ = change(before)
        if note.metadata_ != before:
            record(uow.session, organization_id=organization_id, action="invoice.credit_note_changed",
                   object_type="invoice", object_id=note.invoice_id, object_label=note.number,
                   before={"metadata": before}, after={"metadata": note.metadata_}, currency=note.currency)
        return note


def void_credit_note(*, organization_id: str, credit_note_id: str) -> CreditNote:
    """Void what is left of a credit note's credit balance; what later invoices consumed stays consumed.

    NOTE: Lago voids a credit note only while it has a credit balance left (credit_status
    `available`); its status becomes `voided` and its balance 0
    (https://getlago.com/docs/api-reference/credit-notes/void).
    """
    with unit_of_work() as uow:
        note = _get_in(uow.session, organization_id, credit_note_id, lock=True)
        if note.credit_status != "available" or note.balance_amount_cents <= 0:
            raise NotAllowed("no_voidable_amount")
        before = _note_terms(note)
        note.credit_status = "voided"
        note.balance_amount_cents = 0
        note.voided_at = runtime.clock.now()
        record_invoice(uow.session, note.invoice, "invoice.credit_note_voided", before, _note_terms(note))
        return note


# ---------------------------------------------------------------- PDF


def pdf_key(note: CreditNote) -> str:
    """One file per language: the PDF speaks its customer's language of now (an invoice's PDF does the same)."""
    return f"credit_notes/{note.organization_id}/{note.id}/{i18n.customer_language(note.customer)}.pdf"


def render_credit_note_pdf(*, credit_note_id: str) -> str | None:
    """Render and store a credit note's PDF (idempotent: the file is replaced)."""
    with read_only() as session:
        note = session.scalar(_query().where(CreditNote.id == credit_note_id))
        if note is None:
            return None
        data = render_credit_note(note, note.customer, note.customer.organization)
    key = pdf_key(note)
    runtime.files.save(key, data)
    with unit_of_work() as uow:
        stored = uow.session.get(CreditNote, credit_note_id)
        if stored.file_key != key:
            stored.file_key = key
    return key


def credit_note_pdf_bytes(*, organization_id: str, credit_note_id: str) -> bytes:
    note = get_credit_note(organization_id=organization_id, credit_note_id=credit_note_id)
    if note.file_key != pdf_key(note) or not runtime.files.exists(note.file_key):
        render_credit_note_pdf(credit_note_id=note.id)
        note = get_credit_note(organization_id=organization_id, credit_note_id=credit_note_id)
    data = runtime.files.load(note.file_key)
    if data is None:
        raise NotFound("credit_note_file")
    return data
