"""Refunds of credit notes, through the provider that took the invoice's payment.

Like a charge, a refund is written `pending` first (its id makes the idempotency key), asked of the
provider outside any transaction, then applied: a rerun never refunds twice. An invoice paid by hand
(a manual payment) has nothing to refund through: its credit note's refund stays `pending` until
someone records it (`PUT /credit_notes/:id`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.db import UnitOfWork, after_commit, read_only, unit_of_work
from billing.invoicing.events import RefundDue
from billing.invoicing.models import CreditNote
from billing.payments import providers
from billing.payments.interface import ProviderError, RefundRequest, RefundResult, RefundStatus, WebhookEvent
from billing.payments.models import Payment, Refund
from billing.ports import runtime
from billing.webhooks import services as webhooks

CREDIT_NOTE_PROVIDER_REFUND_FAILURE = "credit_note.provider_refund_failure"
REFUND_TASK = "refund_credit_note"


def on_refund_due(session: Session, event: RefundDue) -> None:
    """Ask for the refund job once the credit note is committed."""
    note_id, organization_id = event.credit_note.id, event.credit_note.organization_id
    after_commit(session, lambda: runtime.dispatcher.enqueue(
        REFUND_TASK, job_id=f"refund-{note_id}", organization_id=organization_id, credit_note_id=note_id))


def _provider_payment(session: Session, invoice_id: str, amount_cents: int) -> Payment | None:
    """The invoice's latest succeeded provider payment that covers the amount."""
    return session.scalar(select(Payment).where(
        Payment.invoice_id == invoice_id, Payment.payment_type == "provider", Payment.status == "succeeded",
        Payment.amount_cents >= amount_cents).order_by(Payment.created_at.desc()).limit(1))


def refund_credit_note(*, organization_id: str, credit_note_id: str) -> str | None:
    """Refund a credit note's `refund_amount_cents` through the provider (the job); returns the refund status."""
    with unit_of_work() as uow:
        session = uow.session
        note = session.scalar(select(CreditNote).where(CreditNote.organization_id == organization_id,
                                                       CreditNote.id == credit_note_id).with_for_update(of=CreditNote))
        if note is None or not note.refund_amount_cents or note.refund_status != "pending":
            return note.refund_status if note else None
        refund = session.scalar(select(Refund).where(Refund.credit_note_id == note.id))
        if refund is None:
            payment = _provider_payment(session, note.invoice_id, note.refund_amount_cents)
            if payment is None:
                return "pending"  # paid by hand: refunded by hand
            refund = Refund(organization_id=organization_id, credit_note_id=note.id, payment_id=payment.id,
                            provider_code=payment.provider_code, amount_cents=note.refund_amount_cents,
                            currency=note.currency, status="pending")
            try:
                with session.begin_nested():
                    session.add(refund)
                    session.flush()
            except IntegrityError:
                return "pending"  # another run made it
        elif refund.status != "pending" or refund.provider_refund_id:
            return refund.status
        payment = session.get(Payment, refund.payment_id)
        request = RefundRequest(payment_id=payment.provider_payment_id, amount_cents=refund.amount_cents,
                                currency=refund.currency, idempotency_key=refund.idempotency_key,
                                metadata={"tally_credit_note_id": note.id, "tally_refund_id": refund.id})
        refund_id, code = refund.id, refund.provider_code
    with read_only() as session:
        adapter = providers.adapter_for(session, organization_id, code)
    try:
        result = adapter.refund(request)
    except ProviderError as error:
        if error.retryable:
            raise
        result = RefundResult(refund_id="", payment_id=request.payment_id, status=RefundStatus.FAILED,
                              amount_cents=request.amount_cents, currency=request.currency, error_code=error.code,
                              error_message=str(error))
    with unit_of_work() as uow:
        refund = uow.session.scalar(select(Refund).where(Refund.id == refund_id).with_for_update())
        _settle(uow, refund, result.status.value, provider_refund_id=result.refund_id or None,
                error_code=result.error_code, error_message=result.error_message)
        return refund.status


def apply_refund_event(uow: UnitOfWork, organization_id: str, code: str, event: WebhookEvent) -> bool:
    refund = uow.session.scalar(select(Refund).where(
        Refund.organization_id == organization_id, Refund.provider_code == code,
        Refund.provider_refund_id == event.refund_id).with_for_update())
    if refund is None:
        # The provider's notification can overtake the job's write of its answer (Adyen posts it as it answers;
        # Stripe's refund.updated can come before a pending refund's answer is written): the refund Tally asked
        # for is found by the reference it sent, and takes the provider's id here.
        refund_id = Refund.id_in_reference(event.refund_reference)
        refund = refund_id and uow.session.scalar(select(Refund).where(
            Refund.organization_id == organization_id, Refund.provider_code == code, Refund.id == refund_id,
            Refund.provider_refund_id.is_(None)).with_for_update())
    if not refund:
        return False
    status = "succeeded" if event.kind.value == "refund.succeeded" else "failed"
    return _settle(uow, refund, status, provider_refund_id=event.refund_id, error_code=event.error_code,
                   error_message=event.error_message)


def _settle(uow: UnitOfWork, refund: Refund, status: str, *, provider_refund_id: str | None = None,
            error_code: str | None = None, error_message: str | None = None) -> bool:
    if provider_refund_id and not refund.provider_refund_id:
        refund.provider_refund_id = provider_refund_id
    if refund.status != "pending" or status == "pending":
        return False
    refund.status = status
    refund.error_code, refund.error_message = error_code, (error_message or "")[:1000] or None
    note = uow.session.scalar(select(CreditNote).where(CreditNote.id == refund.credit_note_id)
                             .with_for_update(of=CreditNote))
    note.refund_status = status
    if status == "failed":
        payment = uow.session.get(Payment, refund.payment_id)
        webhooks.emit(uow.session, refund.organization_id, CREDIT_NOTE_PROVIDER_REFUND_FAILURE,
                      "credit_note_payment_provider_refund_error",
                      {"lago_credit_note_id": note.id, "lago_customer_id": note.customer_id,
                       "external_customer_id": note.customer.external_id,
                       "provider_customer_id": payment.provider_customer_id,
                       "payment_provider": payment.provider_kind, "payment_provider_code": payment.provider_code,
                       "provider_error": {"message": error_message, "error_code": error_code}},
                      object_id=note.id)
    return True
