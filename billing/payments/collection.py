"""Collecting what invoices owe: charges through the customer's provider, payments recorded by hand, and the
one place an invoice's `payment_status` and `total_paid_amount_cents` move.

A charge is three steps, so that a worker killed at any line never charges twice (docs/payments.md):
  1. a transaction writes the `pending` payment row and commits (its id makes the idempotency key);
  2. the provider is called outside any transaction, with that key;
  3. a second transaction applies the answer, unless a webhook applied a later one first.
A rerun after a kill between 2 and 3 finds the pending row, calls again with the same key (the provider
answers what it answered the first time, without a second charge) and applies it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing import links, serializers
from billing.customers.models import Customer
from billing.db import UnitOfWork, read_only, unit_of_work
from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.invoicing import finalization
from billing.invoicing.audited import record_invoice
from billing.invoicing.models import Invoice
from billing.invoicing.queries import get_invoice_in
from billing.organizations.services import next_in_sequence
from billing.payments import customers as payment_customers
from billing.payments import providers
from billing.payments.events import PaymentFailed, PaymentRequiresAction, PaymentSucceeded
from billing.payments.handlers import ask_collection
from billing.payments.interface import ChargeRequest, ChargeResult, ProviderError
from billing.payments.models import (
    OPEN_PAYMENT_STATUSES,
    Payment,
    PaymentReceipt,
    PaymentRequest,
    PaymentRequestInvoice,
    SavedPaymentMethod,
)
from billing.ports import runtime
from billing.validation import Checker, parse_datetime
from billing.wallets import ledger as wallets
from billing.webhooks import services as webhooks

log = logging.getLogger(__name__)

INVOICE_PAYMENT_STATUS_UPDATED = "invoice.payment_status_updated"
INVOICE_PAYMENT_FAILURE = "invoice.payment_failure"
PAYMENT_REQUIRES_ACTION = "payment.requires_action"
PAYMENT_REQUEST_PAYMENT_STATUS_UPDATED = "payment_request.payment_status_updated"
PAYMENT_REQUEST_PAYMENT_FAILURE = "payment_request.payment_failure"

# NOTE: real Stripe declines an off-session charge that the card's bank wants authenticated with this code
# (the PaymentIntent goes back to `requires_payment_method`; Stripe docs, "Charge saved cards" and the
# test card 4000002760003184). Lago then asks the customer to act (`payment.requires_action`): Tally sends
# them to its own pay page, where they pay on-session and authenticate there.
AUTHENTICATION_REQUIRED = "authentication_required"

# A status only moves forward: a late `processing` never undoes a `succeeded` (webhooks arrive out of order).
_RANK = {"pending": 0, "processing": 1, "requires_action": 1, "succeeded": 2, "failed": 2}


@dataclass(frozen=True)
class Attempt:
    """What an attempt to collect came to, for the job, the pay page and the API."""

    payment_id: str | None
    status: str  # a payment status, or `skipped` (nothing to charge: see `reason`)
    reason: str | None = None
    error_message: str | None = None
    next_action_url: str | None = None


# -- Starting and finishing a charge ---------------------------------------------------------------------------


def _open_payment(session: Session, invoice_id: str | None = None, *,
                  request_id: str | None = None) -> Payment | None:
    column, value = (Payment.invoice_id, invoice_id) if request_id is None else (Payment.payment_request_id, request_id)
    return session.scalar(select(Payment).where(column == value, Payment.status.in_(OPEN_PAYMENT_STATUSES))
                          .with_for_update())


@dataclass
class _Payable:
    """What one payment pays, read and locked in step 1: an invoice, or a payment request's invoices."""

    customer: Customer
    amount_due: int
    currency: str
    invoice: Invoice | None = None
    request: PaymentRequest | None = None

    @property
    def payable(self) -> bool:
        if self.invoice is not None:
            return _payable(self.invoice)
        return self.request.payment_status != "succeeded" and self.amount_due > 0


def _target(session: Session, organization_id: str, *, invoice_id: str | None,
            request_id: str | None) -> _Payable:
    if request_id is None:
        invoice = get_invoice_in(session, organization_id, invoice_id, lock=True)
        return _Payable(invoice.customer, invoice.total_due_amount_cents, invoice.currency, invoice=invoice)
    request = locked_request(session, organization_id, request_id)
    invoices = _locked_invoices(session, organization_id, [i.id for i in request.invoices])
    return _Payable(request_customer(session, request), sum(_due_of(i) for i in invoices), request.currency,
                    request=request)


def _overlapping_payment(session: Session, target: _Payable) -> str | None:
    """An open payment that pays one of the target's invoices through another payable, if any."""
    invoice_ids = [target.invoice.id] if target.invoice is not None else [i.id for i in target.request.invoices]
    through_requests = select(Payment.id).join(
        PaymentRequestInvoice, PaymentRequestInvoice.payment_request_id == Payment.payment_request_id).where(
        PaymentRequestInvoice.invoice_id.in_(invoice_ids), Payment.status.in_(OPEN_PAYMENT_STATUSES))
    if target.request is not None:
        through_requests = through_requests.where(Payment.payment_request_id != target.request.id)
        alone = session.scalar(select(Payment.id).where(Payment.invoice_id.in_(invoice_ids),
                                                        Payment.status.in_(OPEN_PAYMENT_STATUSES)).limit(1))
        if alone is not None:
            return alone
    return session.scalar(through_requests.limit(1))


def _due_of(invoice: Invoice) -> int:
    return invoice.total_due_amount_cents if invoice.status == "finalized" and invoice.payment_status != "succeeded" \
        else 0


def _locked_invoices(session: Session, organization_id: str, invoice_ids: list[str]) -> list[Invoice]:
    """Lock a request's invoices in one order (their ids), so two payers never deadlock."""
    return [get_invoice_in(session, organization_id, invoice_id, lock=True) for invoice_id in sorted(invoice_ids)]


def locked_request(session: Session, organization_id: str, request_id: str) -> PaymentRequest:
    request = session.scalar(select(PaymentRequest).where(
        PaymentRequest.organization_id == organization_id, PaymentRequest.id == str(request_id)).with_for_update())
    if request is None:
        raise NotFound("payment_request")
    return request


def request_customer(session: Session, request: PaymentRequest) -> Customer:
    return session.get(Customer, request.customer_id)


def _default_method(session: Session, customer_id: str, code: str) -> SavedPaymentMethod | None:
    return session.scalar(select(SavedPaymentMethod).where(
        SavedPaymentMethod.customer_id == customer_id, SavedPaymentMethod.provider_code == code,
        SavedPaymentMethod.is_default.is_(True)))


def _payable(invoice: Invoice) -> bool:
    return invoice.status in ("finalized", "open") and invoice.payment_status != "succeeded" \
        and invoice.total_due_amount_cents > 0


def _begin(organization_id: str, invoice_id: str | None, *, method_id: str | None, customer_id: str | None,
           off_session: bool, request_id: str | None = None) -> tuple[Payment | None, Attempt | None]:
    """Step 1: the pending payment row, committed, or why there is nothing to charge."""
    with unit_of_work() as uow:
        session = uow.session
        target = _target(session, organization_id, invoice_id=invoice_id, request_id=request_id)
        invoice, customer = target.invoice, target.customer
        if customer_id is not None and customer.id != customer_id:
            raise NotFound("invoice" if request_id is None else "payment_request")
        open_payment = _open_payment(session, invoice_id, request_id=request_id)
        if open_payment is not None and not off_session and _waits_for_the_customer(open_payment):
            # The customer came to the pay page the declined off-session charge sent them to: that attempt
            # is over at the provider, and this on-session one replaces it.
            open_payment.status = "failed"
            session.flush()
            open_payment = None
        if open_payment is not None:
            # A pending row without the provider's id is an attempt killed before its answer was written:
            # retried with the same key. One the provider knows is waiting for its webhook.
            if open_payment.status == "pending" and open_payment.provider_payment_id is None \
                    and open_payment.payment_type == "provider":
                return open_payment, None
            return None, Attempt(open_payment.id, open_payment.status, reason="payment_in_progress",
                                 next_action_url=open_payment.next_action_url)
        if not target.payable:
            return None, Attempt(None, "skipped", reason="nothing_due")
        if _overlapping_payment(session, target) is not None:
            # The same invoice is being paid another way (on its own, or in another request): one at a time,
            # so that it is never paid twice. The invoices' row locks, taken above, order the two payers.
            return None, Attempt(None, "skipped", reason="payment_in_progress")
        code = customer.payment_provider_code
        if not code or not customer.payment_provider_customer_id:
            return None, Attempt(None, "skipped", reason="no_payment_provider")
        if method_id is None:
            method = _default_method(session, customer.id, code)
            if method is None:
                return None, Attempt(None, "skipped", reason="no_payment_method")
            method_id = method.provider_method_id
        kind, _ = providers.provider_settings(session, organization_id, code)
        payment = Payment(organization_id=organization_id, customer_id=customer.id, invoice_id=invoice_id,
                          payment_request_id=request_id,
                          payable_type="Invoice" if request_id is None else "PaymentRequest",
                          payment_type="provider", provider_kind=kind, provider_code=code,
                          provider_customer_id=customer.payment_provider_customer_id, provider_method_id=method_id,
                          amount_cents=target.amount_due, currency=target.currency, status="pending",
                          off_session=off_session)
        try:
            with session.begin_nested():
                session.add(payment)
                session.flush()
        except IntegrityError:  # another attempt started meanwhile (the one-open-payment index)
            return None, Attempt(None, "skipped", reason="payment_in_progress")
        if invoice is not None and invoice.payment_status != "pending":
            invoice.payment_status = "pending"
            _emit_invoice(session, invoice, INVOICE_PAYMENT_STATUS_UPDATED)
        return payment, None


def _waits_for_the_customer(payment: Payment) -> bool:
    """An off-session charge declined for authentication: its only way on is a new attempt on the pay page."""
    return payment.status == "requires_action" and payment.off_session \
        and payment.error_code == AUTHENTICATION_REQUIRED


def _charge(organization_id: str, payment: Payment, *, return_url: str | None) -> ChargeResult:
    """Step 2: the provider's answer, outside any transaction (a retryable failure is raised to the job)."""
    with read_only() as session:
        adapter = providers.adapter_for(session, organization_id, payment.provider_code)
    request = ChargeRequest(amount_cents=payment.amount_cents, currency=payment.currency,
                            customer_id=payment.provider_customer_id, method_id=payment.provider_method_id,
                            idempotency_key=payment.idempotency_key, off_session=payment.off_session,
                            return_url=return_url,
                            metadata={"tally_payment_id": payment.id, "tally_invoice_id": payment.invoice_id or "",
                                      "tally_payment_request_id": payment.payment_request_id or "",
                                      "tally_organization_id": organization_id})
    return adapter.charge(request)


def _finish(organization_id: str, payment_id: str, result: ChargeResult) -> Attempt:
    """Step 3: apply the provider's answer to the payment and its invoice."""
    with unit_of_work() as uow:
        payment = _locked_payment(uow.session, organization_id, payment_id)
        apply_status(uow, payment, result.status.value, provider_payment_id=result.payment_id,
                     provider_status=result.provider_status, error_code=result.error_code,
                     error_message=result.error_message, next_action_url=result.next_action_url)
        return Attempt(payment.id, payment.status, error_message=payment.error_message,
                       next_action_url=payment.next_action_url)


def _fail_permanently(organization_id: str, payment_id: str, error: ProviderError) -> Attempt:
    with unit_of_work() as uow:
        payment = _locked_payment(uow.session, organization_id, payment_id)
        apply_status(uow, payment, "failed", error_code=error.code, error_message=str(error)[:1000])
        return Attempt(payment.id, payment.status, error_message=payment.error_message)


def _locked_payment(session: Session, organization_id: str, payment_id: str) -> Payment:
    payment = session.scalar(select(Payment).where(Payment.organization_id == organization_id,
                                                   Payment.id == payment_id).with_for_update())
    if payment is None:
        raise NotFound("payment")
    return payment


def _attempt(organization_id: str, invoice_id: str | None, *, method_id: str | None = None,
             customer_id: str | None = None, off_session: bool = True, return_url: str | None = None,
             request_id: str | None = None) -> Attempt:
    payment, answer = _begin(organization_id, invoice_id, method_id=method_id, customer_id=customer_id,
                             off_session=off_session, request_id=request_id)
    if payment is None:
        return answer
    try:
        result = _charge(organization_id, payment, return_url=return_url)
    except ProviderError as error:
        if error.retryable:
            raise  # the job retries with the same key; the pending row waits for it (or the recovery sweep)
        return _fail_permanently(organization_id, payment.id, error)
    return _finish(organization_id, payment.id, result)


def collect_invoice(*, organization_id: str, invoice_id: str) -> Attempt:
    """Charge an invoice's amount due to the customer's default payment method, off-session (the job)."""
    return _attempt(organization_id, invoice_id)


def retry_invoice_payment(*, organization_id: str, invoice_id: str, method_id: str | None = None) -> Attempt:
    """Charge a finalized, unpaid invoice again with the default method, or with the customer's saved method
    `method_id` (Tally's id) when given (Lago's `retry_payment` and its `payment_method`)."""
    provider_method_id = None
    with read_only() as session:
        invoice = get_invoice_in(session, organization_id, invoice_id)
        if invoice.status != "finalized" or invoice.payment_status == "succeeded":
            raise NotAllowed("invoice_not_payable")
        customer = invoice.customer
        if not customer.payment_provider_code or not customer.payment_provider_customer_id:
            raise NotAllowed("no_payment_provider")
        if method_id is not None:
            method = session.scalar(select(SavedPaymentMethod).where(
                SavedPaymentMethod.organization_id == organization_id, SavedPaymentMethod.customer_id == customer.id,
                SavedPaymentMethod.provider_code == customer.payment_provider_code,
                SavedPaymentMethod.id == method_id))
            if method is None:
                raise NotFound("payment_method")
            provider_method_id = method.provider_method_id
    return _attempt(organization_id, invoice_id, method_id=provider_method_id)


def pay_invoice(*, organization_id: str, invoice_id: str, customer_id: str, method_id: str | None,
                return_url: str | None = None) -> Attempt:
    """The customer pays on the pay page, with a saved method (Tally's id) or the default one, on-session."""
    return pay(organization_id, customer_id=customer_id, method_id=method_id, return_url=return_url,
               invoice_id=invoice_id)


def pay(organization_id: str, *, customer_id: str, method_id: str | None, return_url: str | None = None,
        invoice_id: str | None = None, request_id: str | None = None) -> Attempt:
    """An on-session payment of an invoice or a payment request, by the customer on a pay page."""
    provider_method_id = None
    if method_id is not None:
        with read_only() as session:
            # Only a method of the customer's current provider: one kept from a provider it left is never charged.
            method = session.scalar(select(SavedPaymentMethod).join(
                Customer, Customer.id == SavedPaymentMethod.customer_id).where(
                SavedPaymentMethod.organization_id == organization_id, SavedPaymentMethod.customer_id == customer_id,
                SavedPaymentMethod.provider_code == Customer.payment_provider_code,
                SavedPaymentMethod.id == method_id))
            if method is None:
                raise NotFound("payment_method")
            provider_method_id = method.provider_method_id
    return _attempt(organization_id, invoice_id, method_id=provider_method_id, customer_id=customer_id,
                    off_session=False, return_url=return_url, request_id=request_id)


def collect(organization_id: str, *, invoice_id: str | None = None, request_id: str | None = None) -> Attempt:
    """An off-session charge of an invoice or a payment request to the customer's default method (the jobs)."""
    return _attempt(organization_id, invoice_id, request_id=request_id)


def pay_with_new_method(organization_id: str, *, customer_id: str, provider_method_id: str,
                        return_url: str | None = None, invoice_id: str | None = None,
                        request_id: str | None = None) -> Attempt:
    """The customer pays an invoice or a payment request with a method just entered on a pay page: kept first
    (a decline there is the answer, as ValidationFailed), then charged on-session."""
    method = payment_customers.save_new_method(organization_id=organization_id, customer_id=customer_id,
                                               provider_method_id=provider_method_id)
    return pay(organization_id, customer_id=customer_id, method_id=method.id, return_url=return_url,
               invoice_id=invoice_id, request_id=request_id)


# -- Moving a payment, and its invoice ------------------------------------------------------------------------


def apply_status(uow: UnitOfWork, payment: Payment, status: str, *, provider_payment_id: str | None = None,
                 provider_status: str | None = None, error_code: str | None = None, error_message: str | None = None,
                 next_action_url: str | None = None) -> bool:
    """Move a payment to `status` (never backwards) and its invoice with it; False when nothing moved."""
    if status == "failed" and error_code == AUTHENTICATION_REQUIRED and payment.off_session:
        status = "requires_action"  # the answer of the charge and of its webhook alike (NOTE at the top)
        next_action_url = (links.pay_url(invoice_id=payment.invoice_id, organization_id=payment.organization_id)
                           if payment.invoice_id else
                           links.payment_request_url(payment_request_id=payment.payment_request_id,
                                                     organization_id=payment.organization_id))
    if provider_payment_id and not payment.provider_payment_id:
        payment.provider_payment_id = provider_payment_id
    if _RANK[status] <= _RANK[payment.status] and not (status == "requires_action" and payment.status == "processing"):
        return False
    payment.status = status
    payment.provider_status = provider_status or payment.provider_status
    if status == "failed":
        payment.error_code, payment.error_message = error_code, error_message
    if status == "requires_action":
        payment.next_action_url = next_action_url
        payment.error_code, payment.error_message = error_code, error_message
    session = uow.session
    if payment.payment_request_id is not None:
        _apply_to_request(uow, payment, status)
        return True
    invoice = (get_invoice_in(session, payment.organization_id, payment.invoice_id, lock=True)
               if payment.invoice_id else None)
    if invoice is None:
        return True
    if status == "succeeded":
        payment.paid_at = runtime.clock.now()
        _record_paid(uow, invoice, payment)
    elif status == "failed":
        if invoice.payment_status != "failed" and invoice.payment_status != "succeeded":
            invoice.payment_status = "failed"
            _emit_invoice(session, invoice, INVOICE_PAYMENT_STATUS_UPDATED)
        webhooks.emit(session, invoice.organization_id, INVOICE_PAYMENT_FAILURE,
                      "payment_provider_invoice_payment_error", lambda: _payment_error(invoice, payment),
                      object_id=invoice.id)
        uow.publish(PaymentFailed(payment, invoice))
    elif status == "requires_action":
        webhooks.emit(session, invoice.organization_id, PAYMENT_REQUIRES_ACTION, "payment",
                      lambda: serializers.payment_requiring_action(payment, invoice.customer), object_id=payment.id)
        uow.publish(PaymentRequiresAction(payment, invoice))
    return True


def _record_paid(uow: UnitOfWork, invoice: Invoice, payment: Payment) -> None:
    """A succeeded payment: added to what the invoice was paid, the invoice settled when nothing is due."""
    session = uow.session
    if invoice.status == "open":
        finalization.finalize(uow, invoice)  # NOTE: a credit purchase is issued once paid (docs/billing.md, Wallets)
    invoice.total_paid_amount_cents = min(invoice.total_paid_amount_cents + payment.amount_cents,
                                          invoice.total_amount_cents)
    _settle_if_paid(session, invoice)
    _receipt(session, payment, invoice)
    uow.publish(PaymentSucceeded(payment, invoice))


def _settle_if_paid(session: Session, invoice: Invoice) -> None:
    """An invoice with nothing left to pay: `succeeded`, no longer overdue, its top-up credits settled."""
    if invoice.total_due_amount_cents == 0 and invoice.payment_status != "succeeded":
        invoice.payment_status = "succeeded"
        invoice.payment_overdue = False
        wallets.settle_invoice_transactions(session, invoice, succeeded=True)
        _emit_invoice(session, invoice, INVOICE_PAYMENT_STATUS_UPDATED)


def _receipt(session: Session, payment: Payment, invoice: Invoice) -> None:
    session.add(PaymentReceipt(organization_id=payment.organization_id, payment_id=payment.id,
                               number=_receipt_number(session, invoice)))
    session.flush()


def _apply_to_request(uow: UnitOfWork, payment: Payment, status: str) -> None:
    """A payment request's payment moved: when it succeeded, every invoice it groups is paid what it owed."""
    session = uow.session
    request = locked_request(session, payment.organization_id, payment.payment_request_id)
    invoices = _locked_invoices(session, payment.organization_id, [i.id for i in request.invoices])
    if status == "succeeded":
        payment.paid_at = runtime.clock.now()
        for invoice in invoices:
            due = _due_of(invoice)
            if due:
                invoice.total_paid_amount_cents += due
                _settle_if_paid(session, invoice)
        _request_status(session, request, "succeeded")
        if invoices:
            _receipt(session, payment, invoices[0])
        uow.publish(PaymentSucceeded(payment, None, request))
    elif status == "failed":
        _request_status(session, request, "failed")
        webhooks.emit(session, request.organization_id, PAYMENT_REQUEST_PAYMENT_FAILURE,
                      "payment_provider_payment_request_payment_error",
                      lambda: serializers.payment_request_payment_error(request, request_customer(session, request),
                                                                        payment),
                      object_id=request.id)
        uow.publish(PaymentFailed(payment, None, request))
    elif status == "requires_action":
        customer = request_customer(session, request)
        webhooks.emit(session, request.organization_id, PAYMENT_REQUIRES_ACTION, "payment",
                      lambda: serializers.payment_requiring_action(payment, customer), object_id=payment.id)
        uow.publish(PaymentRequiresAction(payment, None, request))


def _request_status(session: Session, request: PaymentRequest, status: str) -> None:
    if request.payment_status == status:
        return
    request.payment_status = status
    webhooks.emit(session, request.organization_id, PAYMENT_REQUEST_PAYMENT_STATUS_UPDATED, "payment_request",
                  lambda: serializers.payment_request(request, request_customer(session, request)),
                  object_id=request.id)


def _receipt_number(session: Session, invoice: Invoice) -> str:
    org = invoice.customer.organization
    sequence = next_in_sequence(session, f"payment_receipt:{org.id}")
    return f"{org.document_number_prefix}-RCPT-{sequence:06d}"


def _emit_invoice(session: Session, invoice: Invoice, webhook_type: str) -> None:
    finalization.emit_invoice(session, invoice, webhook_type)


def _payment_error(invoice: Invoice, payment: Payment) -> dict:
    customer = invoice.customer
    return {"lago_invoice_id": invoice.id, "lago_customer_id": customer.id,
            "external_customer_id": customer.external_id, "provider_customer_id": payment.provider_customer_id,
            "payment_provider": payment.provider_kind, "payment_provider_code": payment.provider_code,
            "provider_error": {"message": payment.error_message, "error_code": payment.error_code}}


# -- Payments recorded by hand --------------------------------------------------------------------------------


def record_manual_payment(*, organization_id: str, data: dict) -> Payment:
    """A payment received outside any provider (a transfer, a cheque): Lago's `POST /payments`.

    NOTE: Lago's manual payment (lago-openapi PaymentCreateInput: invoice_id, amount_cents, reference,
    paid_at): it may be partial (what is due goes down, the invoice stays `pending`), never more than is
    due, and the invoice is `succeeded` once nothing is due (docs/payments.md, Manual payments).
    """
    check = Checker(data)
    invoice_id = check.string("invoice_id", required=True)
    amount = check.amount_cents("amount_cents", required=True, minimum=1)
    reference = check.string("reference", required=True, max_length=40)
    paid_at: datetime | None = None
    if data.get("paid_at") not in (None, ""):
        paid_at = parse_datetime(data.get("paid_at"))
        if paid_at is None:
            check.fail("paid_at", "invalid_date")
        elif paid_at > runtime.clock.now():
            check.fail("paid_at", "value_is_in_the_future")  # money not received yet is not a payment
    check.done()
    with unit_of_work() as uow:
        session = uow.session
        invoice = get_invoice_in(session, organization_id, invoice_id, lock=True)
        if invoice.status != "finalized" or invoice.payment_status == "succeeded":
            raise NotAllowed("invoice_not_payable")
        if _open_payment(session, invoice.id) is not None:
            raise NotAllowed("payment_in_progress")
        if amount > invoice.total_due_amount_cents:
            raise ValidationFailed({"amount_cents": ["greater_than_invoice_due_amount"]})
        payment = Payment(organization_id=organization_id, customer_id=invoice.customer_id, invoice_id=invoice.id,
                          payment_type="manual", amount_cents=amount, currency=invoice.currency,
                          status="pending", reference=reference, off_session=False)
        session.add(payment)
        session.flush()
        apply_status(uow, payment, "succeeded", provider_status="succeeded")
        if paid_at is not None:
            payment.paid_at = paid_at
        _record_manual_payment(session, invoice, payment)
        return payment


def _record_manual_payment(session: Session, invoice: Invoice, payment: Payment) -> None:
    record_invoice(session, invoice, "invoice.payment_recorded", None, {
        "amount_cents": payment.amount_cents, "reference": payment.reference, "paid_at": payment.paid_at,
        "payment_status": invoice.payment_status})


def set_invoice_payment_status(*, organization_id: str, invoice_id: str, payment_status: object,
                               customer_id: str | None = None) -> Invoice:
    """Set an invoice's `payment_status` by hand (Lago's `PUT /invoices/:id`).

    `succeeded` records a manual payment of what is still due (the invoice's payments always add up to
    what it shows as paid); `failed` and `pending` move the status alone. A credit purchase left `open`
    is issued when marked paid, and its credits fail with it when marked failed (docs/billing.md, Wallets).
    """
    if payment_status not in ("pending", "succeeded", "failed"):
        raise ValidationFailed({"payment_status": ["value_is_invalid"]})
    with unit_of_work() as uow:
        session = uow.session
        invoice = get_invoice_in(session, organization_id, invoice_id, lock=True)
        if customer_id is not None and invoice.customer_id != customer_id:
            raise NotFound("invoice")
        if invoice.status not in ("finalized", "open") or (invoice.status == "open" and payment_status == "pending"):
            raise NotAllowed("invoice_not_finalized")
        if invoice.payment_status == payment_status:
            return invoice
        before = {"status": invoice.status, "payment_status": invoice.payment_status}
        if payment_status == "succeeded":
            due = invoice.total_due_amount_cents if invoice.status == "finalized" else invoice.total_amount_cents
            if due > 0:
                payment = Payment(organization_id=organization_id, customer_id=invoice.customer_id,
                                  invoice_id=invoice.id, payment_type="manual", amount_cents=due,
                                  currency=invoice.currency, status="pending", reference="Marked as paid",
                                  off_session=False)
                open_payment = _open_payment(session, invoice.id)
                if open_payment is not None:  # the manual payment settles it: the attempt in flight is dropped
                    open_payment.status, open_payment.error_code = "failed", "superseded_by_manual_payment"
                session.add(payment)
                session.flush()
                apply_status(uow, payment, "succeeded", provider_status="succeeded")
                _record_manual_payment(session, invoice, payment)
                return invoice
            if invoice.status == "open":
                finalization.finalize(uow, invoice)
            invoice.payment_status = "succeeded"
            wallets.settle_invoice_transactions(session, invoice, succeeded=True)
        else:
            invoice.payment_status = payment_status
            if payment_status == "failed":
                wallets.settle_invoice_transactions(session, invoice, succeeded=False)
        # Set by hand with nothing to record as paid (a payment recorded is its own entry, above).
        record_invoice(session, invoice, "invoice.payment_status_changed", before,
                       {"status": invoice.status, "payment_status": invoice.payment_status})
        _emit_invoice(session, invoice, INVOICE_PAYMENT_STATUS_UPDATED)
        return invoice


# -- Reading ---------------------------------------------------------------------------------------------------


def payments_of_invoice(session: Session, invoice_id: str) -> list[Payment]:
    return list(session.scalars(select(Payment).where(Payment.invoice_id == invoice_id)
                                .order_by(Payment.created_at)))


STALLED_AFTER = timedelta(minutes=10)


def ask_stalled_collections() -> int:
    """Ask again for every attempt left `pending` without the provider's answer for 10 minutes (a worker
    killed between the charge and its write): the rerun charges with the same key, so at most once."""
    with read_only() as session:
        rows = session.execute(select(Payment.organization_id, Payment.invoice_id, Payment.payment_request_id).where(
            Payment.status == "pending", Payment.payment_type == "provider", Payment.provider_payment_id.is_(None),
            Payment.created_at < runtime.clock.now() - STALLED_AFTER).limit(1000)).all()
    for organization_id, invoice_id, request_id in rows:
        if invoice_id is not None:
            ask_collection(organization_id, invoice_id)
        elif request_id is not None:
            runtime.dispatcher.enqueue("collect_payment_request", job_id=f"collect-request-{request_id}",
                                       organization_id=organization_id, payment_request_id=request_id)
    return len(rows)
