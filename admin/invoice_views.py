"""One invoice: its fees and totals, refresh (draft) and void (finalized), marking it paid, credit notes per fee,
their PDFs."""

from __future__ import annotations

from flask import abort, redirect, request, url_for
from flask.typing import ResponseReturnValue

from admin.blueprint import admin_blueprint, organization_id, refusal_message
from admin.customer_views import render_customer
from billing.errors import BillingError, NotAllowed, NotFound, ValidationFailed
from billing.invoicing import actions, credit_notes, queries
from billing.invoicing.models import CREDIT_NOTE_REASONS
from billing.money import to_minor_exactly
from billing.payments import collection
from web.htmx import is_htmx_request, render_page
from web.responses import pdf_file, refused_status
from wording import invoice_reason, notices

INVOICE_PAGE = "admin/invoice.html"


def _invoice(customer_id: str, invoice_id: str):
    invoice = queries.get_invoice(organization_id=organization_id(), invoice_id=invoice_id)
    if invoice.customer_id != customer_id:
        raise NotFound("invoice")
    return invoice


def render_invoice(customer_id: str, invoice_id: str, *, status: int = 200, **extra) -> ResponseReturnValue:
    invoice = _invoice(customer_id, invoice_id)
    scope = {"organization_id": organization_id(), "customer_id": customer_id}
    notes = credit_notes.list_credit_notes(**scope, invoice_id=invoice.id, per_page=100).items
    creditable = (credit_notes.creditable_amounts(organization_id=organization_id(), invoice_id=invoice.id)
                  if invoice.status == "finalized" else {})
    context = {"invoice": invoice, "customer_id": customer_id, "credit_notes": notes, "creditable": creditable,
               "reasons": CREDIT_NOTE_REASONS, "errors": {}, "action_error": None, "values": {}, "notice": None}
    context.update(extra)
    return render_page(INVOICE_PAGE, "invoice", status=status, **context)


@admin_blueprint.get("/customers/<customer_id>/invoices/<invoice_id>")
def invoice_page(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    return render_invoice(customer_id, invoice_id)


@admin_blueprint.post("/customers/<customer_id>/invoices/<invoice_id>/paid")
def customer_invoice_paid(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    """Mark a finalized invoice paid (no payment provider connected); a top-up's credits settle."""
    try:
        collection.set_invoice_payment_status(organization_id=organization_id(), invoice_id=invoice_id,
                                              customer_id=customer_id, payment_status="succeeded")
    except BillingError as failed:
        return render_customer(customer_id, "invoices", status=422, invoice_error=refusal_message(failed))
    if not is_htmx_request():
        return redirect(url_for("admin.customer", customer_id=customer_id), code=303)
    response = render_customer(customer_id, "invoices")
    response.headers["HX-Trigger"] = "wallets-changed"
    return response


@admin_blueprint.post("/customers/<customer_id>/invoices/<invoice_id>/refresh")
def invoice_refresh(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    _invoice(customer_id, invoice_id)
    try:
        actions.refresh_invoice(organization_id=organization_id(), invoice_id=invoice_id)
    except NotAllowed as error:
        return render_invoice(customer_id, invoice_id, status=refused_status(),
                              action_error=invoice_reason(error.code))
    return render_invoice(customer_id, invoice_id, notice=notices.notice("invoice_refreshed"))


@admin_blueprint.post("/customers/<customer_id>/invoices/<invoice_id>/void")
def invoice_void(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    _invoice(customer_id, invoice_id)
    try:
        actions.void_invoice(organization_id=organization_id(), invoice_id=invoice_id)
    except NotAllowed as error:
        return render_invoice(customer_id, invoice_id, status=refused_status(),
                              action_error=invoice_reason(error.code))
    return render_invoice(customer_id, invoice_id, notice=notices.notice("invoice_voided"))


@admin_blueprint.post("/customers/<customer_id>/invoices/<invoice_id>/credit_notes")
def invoice_credit_note(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    invoice = _invoice(customer_id, invoice_id)
    form = request.form
    errors: dict[str, list[str]] = {}

    def cents(field: str) -> int | None:
        # The plan editor's rule (money.to_minor_exactly): exact, never rounded (€1.005 is refused).
        amount, problem = to_minor_exactly(form.get(field, ""), invoice.currency)
        if problem is not None or (amount is not None and amount < 0):
            errors[field] = [invoice_reason(problem or "", otherwise="value_is_invalid")]
            return None
        return amount

    items = []
    for fee in invoice.fees:
        amount = cents(f"fee_{fee.id}")
        if amount == 0:
            errors[f"fee_{fee.id}"] = [invoice_reason("value_is_invalid")]
        elif amount is not None:
            items.append({"fee_id": fee.id, "amount_cents": amount})
    split = {field: cents(field) or 0 for field in ("refund", "offset")}
    if not items and not errors:
        errors["items"] = [invoice_reason("value_is_mandatory")]
    data = {"invoice_id": invoice.id, "reason": form.get("reason"), "description": form.get("description") or None,
            "items": items}
    if not errors:
        try:
            # NOTE: the account manager says what to refund and what to take off what the invoice
            # still owes; the rest of the note's total is credited.
            draft = credit_notes.estimate_credit_note(organization_id=organization_id(), data=data)
            data.update(refund_amount_cents=split["refund"], offset_amount_cents=split["offset"],
                        credit_amount_cents=max(draft.amounts.total_amount_cents - split["refund"] - split["offset"],
                                                0))
            note = credit_notes.create_credit_note(organization_id=organization_id(), data=data)
        except ValidationFailed as failed:
            for field, codes in failed.details.items():
                target = {"amount_cents": "items", "refund_amount_cents": "refund",
                          "offset_amount_cents": "offset"}.get(field, field)
                errors.setdefault(target, []).extend(invoice_reason(code) for code in codes)
        except (NotAllowed, NotFound) as error:
            errors.setdefault("items", []).append(invoice_reason(error.code))
        else:
            issued = notices.notice("credit_note_issued", number=note.number)
            return render_invoice(customer_id, invoice_id, notice=issued)
    return render_invoice(customer_id, invoice_id, status=refused_status(), errors=errors, values=dict(form))


@admin_blueprint.get("/customers/<customer_id>/credit_notes/<credit_note_id>.pdf")
def credit_note_pdf(customer_id: str, credit_note_id: str) -> ResponseReturnValue:
    try:
        note = credit_notes.get_credit_note(organization_id=organization_id(), credit_note_id=credit_note_id)
        if note.customer_id != customer_id:
            abort(404)
        data = credit_notes.credit_note_pdf_bytes(organization_id=organization_id(), credit_note_id=credit_note_id)
    except BillingError:
        abort(404)
    return pdf_file(data, note.number, default="credit-note", cache_control="private, no-store")
