"""One invoice: its fees and totals, its PDF, refresh and finalize (draft), void (finalized), its payments (record
one received by hand; charge the customer's provider again; the customer's payment link), marking a top-up paid,
credit notes per fee, their PDFs. Every action that moves money or cannot be undone asks first, naming the amount
(admin/confirmations.py)."""

from __future__ import annotations

from flask import abort, redirect, request, url_for
from flask.typing import ResponseReturnValue

from admin.audit_views import object_history
from admin.blueprint import admin_blueprint, organization_id, refusal_message
from admin.confirmations import ask, confirmed, typed
from admin.customer_views import render_customer
from admin.forms import RecordPaymentForm
from billing.errors import BillingError, NotAllowed, NotFound, ValidationFailed
from billing.invoicing import actions, credit_notes, queries
from billing.invoicing.models import CREDIT_NOTE_REASONS
from billing.money import format_money, to_major, to_minor_exactly
from billing.payments import checkout, collection
from billing.payments.interface import ProviderError
from billing.payments.secrets import SettingsUnreadable
from billing.ports import runtime
from billing.screens import payments as payment_screens
from billing.validation import parse_datetime
from web.htmx import is_htmx_request, render_page
from web.responses import pdf_file, refused_status
from wording import invoice_reason, notices
from wording import payments as payment_words

INVOICE_PAGE = "admin/invoice.html"


def _invoice(customer_id: str, invoice_id: str):
    invoice = queries.get_invoice(organization_id=organization_id(), invoice_id=invoice_id)
    if invoice.customer_id != customer_id:
        raise NotFound("invoice")
    return invoice


def _pay_link(invoice) -> str | None:
    """The page where the customer pays this invoice, when it can be paid there (a provider, something due)."""
    try:
        return checkout.invoice_payment_url(organization_id=organization_id(), invoice_id=invoice.id).url
    except BillingError:
        return None


def _ask(invoice, code: str, endpoint: str, *, amount_cents: int | None = None, danger: bool = False,
         fields: tuple[tuple[str, str], ...] = (), **values) -> ResponseReturnValue:
    """The invoice page asking before `endpoint` acts on it; `amount_cents` is the invoice's total unless given.

    Asked only while the action can be done: otherwise the service is called at once and says why not.
    """
    page = url_for("admin.invoice_page", customer_id=invoice.customer_id, invoice_id=invoice.id)
    amount = format_money(invoice.total_amount_cents if amount_cents is None else amount_cents, invoice.currency)
    question = ask(code, action_url=url_for(endpoint, customer_id=invoice.customer_id, invoice_id=invoice.id),
                   target="#invoice", cancel_url=page, cancel_fragment_url=page, fields=fields, danger=danger,
                   number=invoice.number, amount=amount, **values)
    return render_invoice(invoice.customer_id, invoice.id, confirm=question)


def render_invoice(customer_id: str, invoice_id: str, *, status: int = 200, **extra) -> ResponseReturnValue:
    invoice = _invoice(customer_id, invoice_id)
    scope = {"organization_id": organization_id(), "customer_id": customer_id}
    notes = credit_notes.list_credit_notes(**scope, invoice_id=invoice.id, per_page=100).items
    creditable = (credit_notes.creditable_amounts(organization_id=organization_id(), invoice_id=invoice.id)
                  if invoice.status == "finalized" else {})
    payments = payment_screens.invoice_payments(organization_id=organization_id(), invoice_id=invoice.id)
    context = {"invoice": invoice, "customer_id": customer_id, "credit_notes": notes, "creditable": creditable,
               "reasons": CREDIT_NOTE_REASONS, "errors": {}, "action_error": None, "values": {}, "notice": None,
               "payments": payments, "payment_words": payment_words, "record_errors": {}, "record_confirm": None,
               "confirm": None, "pay_link": _pay_link(invoice) if payments.customer_has_provider else None}
    context.update(extra)
    context["history"] = object_history(invoice.id) if not is_htmx_request() else []
    if "record_form" not in context:
        context["record_form"] = RecordPaymentForm(formdata=None, data={
            "amount": f"{to_major(payments.due_amount_cents, invoice.currency):f}",
            "paid_on": runtime.clock.now().date().isoformat()})
    return render_page(INVOICE_PAGE, "invoice", status=status, **context)


@admin_blueprint.get("/customers/<customer_id>/invoices/<invoice_id>")
def invoice_page(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    return render_invoice(customer_id, invoice_id)


@admin_blueprint.post("/customers/<customer_id>/invoices/<invoice_id>/paid")
def customer_invoice_paid(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    """Mark a finalized invoice paid (no payment provider connected); a top-up's credits settle. Asks first."""
    invoice = _invoice(customer_id, invoice_id)
    if not confirmed() and invoice.status == "finalized" and invoice.payment_status != "succeeded":
        page = url_for("admin.customer", customer_id=customer_id)
        action = url_for("admin.customer_invoice_paid", customer_id=customer_id, invoice_id=invoice_id)
        question = ask("mark_invoice_paid", target="#invoices", cancel_url=page, action_url=action,
                       cancel_fragment_url=url_for("admin.customer_invoices", customer_id=customer_id),
                       number=invoice.number, amount=format_money(invoice.total_due_amount_cents, invoice.currency))
        return render_customer(customer_id, "invoices", invoice_confirm=question)
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


def _typed_payment(form: RecordPaymentForm, currency: str) -> tuple[dict, dict[str, list[str]]]:
    """The record-a-payment form as record_manual_payment's data, or its reasons (field -> sentences)."""
    errors: dict[str, list[str]] = {}
    amount, problem = to_minor_exactly(form.amount.data, currency)
    if problem or amount is None:
        errors["amount"] = [payment_words.payment_reason("amount_cents", problem or "value_is_mandatory")]
    elif amount <= 0:
        errors["amount"] = [payment_words.payment_reason("amount_cents", "value_is_out_of_range")]
    reference = (form.reference.data or "").strip()
    if not reference:
        errors["reference"] = [payment_words.payment_reason("reference", "value_is_mandatory")]
    elif len(reference) > 40:  # NOTE: Lago's reference is at most 40 characters (lago-openapi PaymentCreateInput)
        errors["reference"] = [payment_words.payment_reason("reference", "value_is_too_long")]
    paid_on = (form.paid_on.data or "").strip()
    paid_at = parse_datetime(paid_on) if paid_on else runtime.clock.now()
    if paid_at is None or len(paid_on) > 10:
        errors["paid_on"] = [payment_words.payment_reason("paid_at", "invalid_date")]
    elif paid_at > runtime.clock.now():
        errors["paid_on"] = [payment_words.payment_reason("paid_at", "in_the_future")]
    data = {"amount_cents": amount, "reference": reference, "paid_at": paid_at.isoformat() if paid_at else None}
    return data, errors


@admin_blueprint.post("/customers/<customer_id>/invoices/<invoice_id>/payments")
def invoice_record_payment(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    """Record a payment received outside the provider: the form, then its confirmation, then the payment."""
    invoice = _invoice(customer_id, invoice_id)
    form = RecordPaymentForm()
    if request.form.get("confirmed") == "change":  # back from the confirmation to the form, as typed
        return render_invoice(customer_id, invoice_id, record_form=form)
    data, errors = _typed_payment(form, invoice.currency)
    if not errors and request.form.get("confirmed") == "1":
        try:
            payment = collection.record_manual_payment(organization_id=organization_id(),
                                                       data={"invoice_id": invoice.id, **data})
        except ValidationFailed as failed:
            names = {"amount_cents": "amount", "paid_at": "paid_on"}
            errors = {names.get(field, field): [payment_words.payment_reason(field, str(code)) for code in codes]
                      for field, codes in failed.details.items()}
        except NotAllowed as refused:
            return render_invoice(customer_id, invoice_id, status=refused_status(), record_form=form,
                                  action_error=payment_words.payment_refusal(refused.code))
        else:
            amount = format_money(payment.amount_cents, payment.currency)
            return render_invoice(customer_id, invoice_id,
                                  notice=payment_words.payment_notice("payment_recorded", amount=amount))
    if errors:
        return render_invoice(customer_id, invoice_id, status=refused_status(), record_form=form,
                              record_errors=errors)
    due_after = invoice.total_due_amount_cents - data["amount_cents"]
    return render_invoice(customer_id, invoice_id, record_form=form,
                          record_confirm={**data, "due_after_cents": max(due_after, 0)})


@admin_blueprint.post("/customers/<customer_id>/invoices/<invoice_id>/retry-payment")
def invoice_retry_payment(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    """Charge the invoice again through the customer's provider, with their default method. Asks first."""
    invoice = _invoice(customer_id, invoice_id)
    if not confirmed() and invoice.status == "finalized" and invoice.total_due_amount_cents > 0:
        return _ask(invoice, "retry_payment", "admin.invoice_retry_payment",
                    amount_cents=invoice.total_due_amount_cents)
    try:
        attempt = collection.retry_invoice_payment(organization_id=organization_id(), invoice_id=invoice_id)
    except NotAllowed as refused:
        return render_invoice(customer_id, invoice_id, status=refused_status(),
                              action_error=payment_words.payment_refusal(refused.code))
    except NotFound as missing:  # the customer's provider was disconnected meanwhile
        return render_invoice(customer_id, invoice_id, status=refused_status(),
                              action_error=payment_words.payment_refusal(missing.resource))
    except SettingsUnreadable:
        return render_invoice(customer_id, invoice_id, status=refused_status(),
                              action_error=payment_words.payment_refusal("settings_unreadable"))
    except ProviderError:  # the provider did not answer (a job would try again later): said, never a 500
        return render_invoice(customer_id, invoice_id, status=refused_status(),
                              action_error=payment_words.payment_refusal("payment_provider_unavailable"))
    if attempt.status == "skipped":
        return render_invoice(customer_id, invoice_id, status=refused_status(),
                              action_error=payment_words.payment_refusal(attempt.reason or "nothing_due"))
    if attempt.status == "failed":
        said = payment_words.payment_notice("charge_failed", reason=attempt.error_message or attempt.reason or "")
        return render_invoice(customer_id, invoice_id, action_error=said)
    done = {"succeeded": "charge_succeeded", "requires_action": "charge_requires_action"}.get(attempt.status,
                                                                                             "charge_processing")
    return render_invoice(customer_id, invoice_id, notice=payment_words.payment_notice(done))


@admin_blueprint.post("/customers/<customer_id>/invoices/<invoice_id>/refresh")
def invoice_refresh(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    invoice = _invoice(customer_id, invoice_id)
    if not confirmed() and invoice.status == "draft":
        return _ask(invoice, "refresh_invoice", "admin.invoice_refresh")
    try:
        actions.refresh_invoice(organization_id=organization_id(), invoice_id=invoice_id)
    except NotAllowed as error:
        return render_invoice(customer_id, invoice_id, status=refused_status(),
                              action_error=invoice_reason(error.code))
    return render_invoice(customer_id, invoice_id, notice=notices.notice("invoice_refreshed"))


@admin_blueprint.post("/customers/<customer_id>/invoices/<invoice_id>/finalize")
def invoice_finalize(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    """Issue a draft now, before its grace period ends. Asks first."""
    invoice = _invoice(customer_id, invoice_id)
    if not confirmed() and invoice.status == "draft":
        return _ask(invoice, "finalize_invoice", "admin.invoice_finalize")
    try:
        finalized = actions.finalize_invoice(organization_id=organization_id(), invoice_id=invoice_id)
    except ValidationFailed:  # finalized meanwhile (its grace period ended, or another manager)
        return render_invoice(customer_id, invoice_id, status=refused_status(),
                              action_error=invoice_reason("not_draft"))
    return render_invoice(customer_id, invoice_id, notice=notices.notice("invoice_finalized", number=finalized.number))


@admin_blueprint.post("/customers/<customer_id>/invoices/<invoice_id>/void")
def invoice_void(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    invoice = _invoice(customer_id, invoice_id)
    if not confirmed() and invoice.status == "finalized":
        return _ask(invoice, "void_invoice", "admin.invoice_void", danger=True)
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
            credit = max(draft.amounts.total_amount_cents - split["refund"] - split["offset"], 0)
            # Ask only about a note that can be issued: a refund or offset above what the invoice allows is said
            # by its field first (create_credit_note checks it again, under the invoice's lock).
            most = {"refund": draft.max_refundable_amount_cents, "offset": draft.max_offsettable_amount_cents}
            errors.update({field: [invoice_reason("higher_than_remaining_invoice_amount")]
                           for field in most if split[field] > most[field]})
            if not errors and not confirmed():
                fields = typed("reason", "description", "refund", "offset", *(f"fee_{fee.id}" for fee in invoice.fees))
                return _ask(invoice, "issue_credit_note", "admin.invoice_credit_note", fields=fields,
                            amount_cents=draft.amounts.total_amount_cents,
                            **{name: format_money(cents, invoice.currency) for name, cents in
                               (("refund", split["refund"]), ("offset", split["offset"]), ("credit", credit))})
            data.update(refund_amount_cents=split["refund"], offset_amount_cents=split["offset"],
                        credit_amount_cents=credit)
            note = None if errors else credit_notes.create_credit_note(organization_id=organization_id(), data=data)
        except ValidationFailed as failed:
            for field, codes in failed.details.items():
                target = {"amount_cents": "items", "refund_amount_cents": "refund",
                          "offset_amount_cents": "offset"}.get(field, field)
                errors.setdefault(target, []).extend(invoice_reason(code) for code in codes)
        except (NotAllowed, NotFound) as error:
            errors.setdefault("items", []).append(invoice_reason(error.code))
        else:
            if note is not None:
                return render_invoice(customer_id, invoice_id,
                                      notice=notices.notice("credit_note_issued", number=note.number))
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
