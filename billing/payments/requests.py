"""Payment requests: one request, and one payment, for several overdue invoices of one currency.

Made by hand (Lago's `POST /payment_requests`, the admin's "Request payment now"), by the customer (the
portal's "Pay all") or by a dunning attempt (billing.dunning). A request is charged to the customer's
default method after commit when there is one; when there is none, or the charge fails, the customer is
emailed one link that pays them all (billing.emails follows `PaymentRequested` and `PaymentFailed`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from billing import links, serializers
from billing.customers.models import Customer
from billing.customers.services import customer_by_id, get_customer_in
from billing.db import UnitOfWork, after_commit, read_only, unit_of_work
from billing.errors import NotAllowed, NotFound
from billing.invoicing.models import Invoice
from billing.invoicing.queries import get_invoice_in
from billing.payments import collection
from billing.payments.events import PaymentRequested
from billing.payments.models import Payment, PaymentRequest, SavedPaymentMethod
from billing.ports import runtime
from billing.validation import Checker
from billing.webhooks import services as webhooks

PAYMENT_REQUEST_CREATED = "payment_request.created"
COLLECT_TASK = "collect_payment_request"
MAX_INVOICES = 100  # per request: a request is one email and one charge, not a statement of account
# An unpaid request the customer comes back to within a link's life is reused rather than made again.
REUSE_WITHIN = links.PAY_TTL


# A request reads an invoice's amounts and dates, never its lines: these stay unloaded (a dunning run reads
# thousands of invoices; loading their fees, taxes and credits was most of its time).
_AMOUNTS_ONLY = (lazyload(Invoice.fees), lazyload(Invoice.invoice_subscriptions), lazyload(Invoice.applied_taxes),
                 lazyload(Invoice.credits))


def lock_invoices(session: Session, organization_id: str, invoice_ids: Sequence[str]) -> list[Invoice]:
    """The organization's invoices with these ids, locked in one statement, in id order (two payers never
    deadlock), read again from the database (what was read before the lock may have changed)."""
    return list(session.scalars(select(Invoice).where(
        Invoice.organization_id == organization_id, Invoice.id.in_([str(i) for i in invoice_ids]))
        .order_by(Invoice.id).options(*_AMOUNTS_ONLY).with_for_update(of=Invoice)
        .execution_options(populate_existing=True)).unique())


def still_overdue(invoices: Sequence[Invoice]) -> list[Invoice]:
    """Those of `invoices` (just locked) still overdue with something due: paid meanwhile, they drop out."""
    return [i for i in invoices if i.status == "finalized" and i.payment_overdue
            and i.payment_status != "succeeded" and i.total_due_amount_cents > 0]


def overdue_invoices(session: Session, customer: Customer, currency: str | None = None) -> list[Invoice]:
    """The customer's overdue invoices with something due (of one currency when given), oldest first."""
    query = select(Invoice).options(*_AMOUNTS_ONLY).where(
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
                 dunning_attempt_id: str | None = None,
                 reminder: Callable[[PaymentRequest], tuple[str, str]] | None = None,
                 bcc: Sequence[str] = (), customer_present: bool = False) -> PaymentRequest:
    """Record a request for `invoices` (overdue, one currency, locked by the caller) in the caller's transaction;
    its charge (or its email) follows after commit, unless the customer made it to pay on its page now.
    `reminder` writes the email's subject and message for the request (a dunning campaign's words); `bcc`:
    who else receives it (the campaign's bcc_emails)."""
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
    uow.publish(PaymentRequested(request, chargeable=can_charge, reminder=reminder(request) if reminder else None,
                                 bcc=tuple(bcc), customer_present=customer_present))
    # NOTE: a customer paying on the page chooses the card there (on-session): an off-session charge of the
    # default card first would often repeat the decline that made the invoices overdue, and email about it.
    if can_charge and not customer_present:
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

    NOTE: as lago-api PaymentRequests::CreateService: an unknown customer is 404 `customer_not_found`; every
    invoice must be the customer's (404 `invoice_not_found`: Lago drops the others silently, Tally names them),
    finalized, overdue and unpaid, all in one currency (Lago's 405 `invoices_not_overdue`,
    `invoices_have_different_currencies`); the email defaults to the customer's.
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
            raise NotAllowed("invoices_not_overdue")
        if len({i.currency for i in invoices}) > 1:
            raise NotAllowed("invoices_have_different_currencies")
        return make_request(uow, customer, invoices, email=email)


def request_overdue_payment(*, organization_id: str, customer_id: str, currency: str | None = None,
                            customer_present: bool = False) -> list[PaymentRequest]:
    """One request per currency for everything the customer has overdue (the admin's "Request payment now", the
    portal's "Pay all"); an empty list when nothing is overdue.

    `customer_present` (the portal): the customer pays on the request's page now, so nothing is charged or
    emailed, and an unpaid request for exactly the same invoices is reused (a second click, a reload, the link
    of a reminder): one request, one page, one payment for the same invoices.
    """
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
            locked = still_overdue(lock_invoices(session, organization_id, [i.id for i in invoices]))
            if not locked:
                continue
            existing = _unpaid_request_for(session, customer, locked) if customer_present else None
            made.append(existing or make_request(uow, customer, locked, customer_present=customer_present))
        return made


def _unpaid_request_for(session: Session, customer: Customer, invoices: Sequence[Invoice]) -> PaymentRequest | None:
    """The newest unpaid request of the customer grouping exactly these invoices, if any (the customer row is
    locked by the caller: two clicks at once find the same one)."""
    wanted = {i.id for i in invoices}
    candidates = session.scalars(select(PaymentRequest).where(
        PaymentRequest.organization_id == customer.organization_id, PaymentRequest.customer_id == customer.id,
        PaymentRequest.currency == invoices[0].currency, PaymentRequest.payment_status != "succeeded",
        PaymentRequest.created_at >= runtime.clock.now() - REUSE_WITHIN)
        .order_by(PaymentRequest.created_at.desc()).limit(20))
    return next((r for r in candidates if {i.id for i in r.invoices} == wanted), None)


@dataclass(frozen=True)
class OverdueBalance:
    """What a customer owes past its due dates in one currency."""

    currency: str
    amount_cents: int
    invoices_count: int


def overdue_balances(*, organization_id: str, customer_id: str) -> list[OverdueBalance]:
    """The customer's overdue amount per currency (what is still due on its overdue invoices), by currency."""
    with read_only() as session:
        customer = customer_by_id(session, organization_id, customer_id)
        if customer is None:
            raise NotFound("customer")
        totals: dict[str, list[int]] = {}
        for invoice in overdue_invoices(session, customer):
            total = totals.setdefault(invoice.currency, [0, 0])
            total[0] += invoice.total_due_amount_cents
            total[1] += 1
    return [OverdueBalance(currency, amount, count) for currency, (amount, count) in sorted(totals.items())]


def payments_of_request(session: Session, payment_request_id: str) -> list[Payment]:
    """A request's payments, oldest first."""
    return list(session.scalars(select(Payment).where(Payment.payment_request_id == payment_request_id)
                                .order_by(Payment.created_at)))


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
