"""Payment requests: one request, and one payment, for several overdue invoices of one currency.

Made by hand (Lago's `POST /payment_requests`, the admin's "Request payment now"), by the customer (the
portal's "Pay all") or by a dunning attempt (billing.dunning). A request is charged to the customer's
default method after commit when there is one; when there is none, or the charge fails, the customer is
emailed one link that pays them all (billing.emails follows `PaymentRequested` and `PaymentFailed`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import serializers
from billing.customers.models import Customer
from billing.customers.services import get_customer_in
from billing.db import UnitOfWork, after_commit, read_only, unit_of_work
from billing.errors import NotFound, ValidationFailed
from billing.invoicing.models import Invoice
from billing.invoicing.queries import get_invoice_in
from billing.payments import collection
from billing.payments.events import PaymentRequested
from billing.payments.models import PaymentRequest, SavedPaymentMethod
from billing.ports import runtime
from billing.validation import Checker
from billing.webhooks import services as webhooks

PAYMENT_REQUEST_CREATED = "payment_request.created"
COLLECT_TASK = "collect_payment_request"
MAX_INVOICES = 100  # per request: a request is one email and one charge, not a statement of account


def overdue_invoices(session: Session, customer: Customer, currency: str | None = None) -> list[Invoice]:
    """The customer's overdue invoices with something due (of one currency when given), oldest first."""
    query = select(Invoice).where(
        Invoice.organization_id == customer.organization_id, Invoice.customer_id == customer.id,
        Invoice.status == "finalized", Invoice.payment_overdue.is_(True), Invoice.payment_status != "succeeded")
    if currency is not None:
        query = query.where(Invoice.currency == currency)
    invoices = session.scalars(query.order_by(Invoice.payment_due_date, Invoice.id)).unique().all()
    return [i for i in invoices if i.total_due_amount_cents > 0]


def chargeable(session: Session, customer: Customer) -> bool:
    """Whether a charge can be tried: a provider customer and a default saved method."""
    if not customer.payment_provider_code or not customer.payment_provider_customer_id:
        return False
    return session.scalar(select(SavedPaymentMethod.id).where(
        SavedPaymentMethod.customer_id == customer.id,
        SavedPaymentMethod.provider_code == customer.payment_provider_code,
        SavedPaymentMethod.is_default.is_(True))) is not None


def make_request(uow: UnitOfWork, customer: Customer, invoices: Sequence[Invoice], *, email: str | None = None,
                 dunning_attempt_id: str | None = None, reminder: tuple[str, str] | None = None,
                 bcc: Sequence[str] = ()) -> PaymentRequest:
    """Record a request for `invoices` (overdue, one currency, locked by the caller) in the caller's transaction;
    its charge (or its email) follows after commit. `reminder`: the email's (subject, message) when a dunning
    campaign wrote them, `bcc`: who gets a blind copy of its reminders (the campaign's bcc_emails)."""
    session = uow.session
    request = PaymentRequest(organization_id=customer.organization_id, customer_id=customer.id,
                             email=email or _first_email(customer), currency=invoices[0].currency,
                             amount_cents=sum(i.total_due_amount_cents for i in invoices), payment_status="pending",
                             dunning_attempt_id=dunning_attempt_id)
    request.invoices = list(invoices)
    session.add(request)
    session.flush()
    webhooks.emit(session, customer.organization_id, PAYMENT_REQUEST_CREATED, "payment_request",
                  lambda: serializers.payment_request(request, customer), object_id=request.id)
    can_charge = chargeable(session, customer)
    uow.publish(PaymentRequested(request, chargeable=can_charge, reminder=reminder, bcc=tuple(bcc)))
    if can_charge:
        request_id, organization_id = request.id, customer.organization_id
        after_commit(session, lambda: ask_request_collection(organization_id, request_id))
    return request


def ask_request_collection(organization_id: str, request_id: str) -> None:
    runtime.dispatcher.enqueue(COLLECT_TASK, job_id=f"collect-request-{request_id}", organization_id=organization_id,
                               payment_request_id=request_id)


def _first_email(customer: Customer) -> str | None:
    return (customer.email or "").split(",")[0].strip() or None


def create_payment_request(*, organization_id: str, data: Mapping[str, object]) -> PaymentRequest:
    """Lago's `POST /payment_requests`: external_customer_id, email, lago_invoice_ids.

    NOTE: as lago-api PaymentRequests::CreateService: every invoice must be the customer's, finalized,
    overdue and unpaid, all in one currency (422 `invoices_not_overdue`, `invoices_have_different_currencies`);
    the email defaults to the customer's.
    """
    check = Checker(data)
    external_customer_id = check.string("external_customer_id", required=True)
    email = check.string("email")
    if email is not None and "@" not in email:
        check.fail("email", "invalid_format")
    invoice_ids = data.get("lago_invoice_ids")
    if not isinstance(invoice_ids, list) or not invoice_ids:
        check.fail("lago_invoice_ids", "value_is_mandatory" if not invoice_ids else "invalid_type")
    elif len(invoice_ids) > MAX_INVOICES or not all(isinstance(i, str) and 0 < len(i) <= 36 for i in invoice_ids):
        check.fail("lago_invoice_ids", "value_is_invalid")
    check.done()
    with unit_of_work() as uow:
        session = uow.session
        customer = get_customer_in(session, organization_id, external_customer_id)
        invoices = []
        for invoice_id in sorted(set(invoice_ids)):
            try:
                invoice = get_invoice_in(session, organization_id, invoice_id, lock=True)
            except NotFound:
                raise NotFound("invoice") from None
            if invoice.customer_id != customer.id:
                raise NotFound("invoice")
            invoices.append(invoice)
        if any(not i.payment_overdue or i.status != "finalized" or i.payment_status == "succeeded"
               or i.total_due_amount_cents <= 0 for i in invoices):
            raise ValidationFailed({"invoices": ["invoices_not_overdue"]})
        if len({i.currency for i in invoices}) > 1:
            raise ValidationFailed({"invoices": ["invoices_have_different_currencies"]})
        return make_request(uow, customer, invoices, email=email)


def request_overdue_payment(*, organization_id: str, customer_id: str,
                            currency: str | None = None) -> list[PaymentRequest]:
    """One request per currency for everything the customer has overdue (the admin's "Request payment now", the
    portal's "Pay all"); an empty list when nothing is overdue."""
    with unit_of_work() as uow:
        session = uow.session
        customer = session.scalar(select(Customer).where(
            Customer.organization_id == organization_id, Customer.id == customer_id, Customer.deleted_at.is_(None))
            .with_for_update(of=Customer))
        if customer is None:
            raise NotFound("customer")
        overdue = overdue_invoices(session, customer, currency)
        by_currency: dict[str, list[Invoice]] = {}
        for invoice in overdue:
            by_currency.setdefault(invoice.currency, []).append(invoice)
        made = []
        for invoices in by_currency.values():
            locked = [get_invoice_in(session, organization_id, i.id, lock=True)
                      for i in sorted(invoices, key=lambda invoice: invoice.id)]
            made.append(make_request(uow, customer, locked))
        return made


def collect_payment_request(*, organization_id: str, payment_request_id: str) -> collection.Attempt:
    """Charge a request's total to the customer's default method, off-session (the job)."""
    return collection.collect(organization_id, request_id=payment_request_id)


def pay_payment_request(*, organization_id: str, payment_request_id: str, customer_id: str, method_id: str | None,
                        return_url: str | None = None) -> collection.Attempt:
    """The customer pays a request on its pay page, with a saved method (Tally's id) or the default, on-session."""
    return collection.pay(organization_id, customer_id=customer_id, method_id=method_id, return_url=return_url,
                          request_id=payment_request_id)


def get_payment_request(*, organization_id: str, payment_request_id: str) -> PaymentRequest:
    with read_only() as session:
        request = session.scalar(select(PaymentRequest).where(PaymentRequest.organization_id == organization_id,
                                                              PaymentRequest.id == str(payment_request_id)))
        if request is None:
            raise NotFound("payment_request")
        return request


def customer_of(request: PaymentRequest) -> Customer:
    with read_only() as session:
        return session.get(Customer, request.customer_id)
