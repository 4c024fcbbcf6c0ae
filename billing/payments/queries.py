"""Reading payments, payment receipts, payment requests and a customer's saved methods as the API lists them: one
organization's rows only, page by page, newest first.

Each row comes back with what its Lago shape names besides itself (the customer, the invoice numbers, the
provider's name), read in the same session, so that a page costs a fixed number of queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from billing.customers.models import Customer
from billing.customers.services import get_customer_in
from billing.db import read_only
from billing.errors import NotFound
from billing.invoicing.models import Invoice
from billing.pagination import Page, paginate
from billing.payments.models import (
    Payment,
    PaymentProviderAccount,
    PaymentReceipt,
    PaymentRequest,
    PaymentRequestInvoice,
    SavedPaymentMethod,
)


@dataclass(frozen=True)
class PaymentView:
    payment: Payment
    customer: Customer
    invoice_numbers: dict[str, str]


@dataclass(frozen=True)
class ReceiptView:
    receipt: PaymentReceipt
    payment: PaymentView


@dataclass(frozen=True)
class RequestView:
    request: PaymentRequest  # its invoices loaded with it
    customer: Customer


@dataclass(frozen=True)
class MethodView:
    method: SavedPaymentMethod
    provider_name: str | None


# -- Payments ----------------------------------------------------------------------------------------------------


def _payment_views(session: Session, payments: Iterable[Payment]) -> list[PaymentView]:
    payments = list(payments)
    customer_ids = {p.customer_id for p in payments}
    customers = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))} \
        if customer_ids else {}
    # A payment request's payment names every invoice the request groups (Lago's payable's invoice_ids).
    request_ids = {p.payment_request_id for p in payments if p.payment_request_id}
    grouped: dict[str, list[str]] = {}
    if request_ids:
        for request_id, invoice_id in session.execute(
                select(PaymentRequestInvoice.payment_request_id, PaymentRequestInvoice.invoice_id)
                .where(PaymentRequestInvoice.payment_request_id.in_(request_ids))
                .order_by(PaymentRequestInvoice.invoice_id)):
            grouped.setdefault(request_id, []).append(invoice_id)
    invoices = {p.id: (grouped.get(p.payment_request_id, []) if p.payment_request_id
                       else [p.invoice_id] if p.invoice_id else []) for p in payments}
    invoice_ids = {i for ids in invoices.values() for i in ids}
    numbers = dict(session.execute(select(Invoice.id, Invoice.number).where(Invoice.id.in_(invoice_ids))).all()) \
        if invoice_ids else {}
    return [PaymentView(payment=p, customer=customers[p.customer_id],
                        invoice_numbers={i: numbers.get(i, "") for i in invoices[p.id]})
            for p in payments]


def list_payments(*, organization_id: str, external_customer_id: str | None = None, invoice_id: str | None = None,
                  page: int = 1, per_page: int = 20) -> Page:
    """The organization's payments (attempts through a provider and payments recorded by hand), newest first."""
    query = select(Payment).where(Payment.organization_id == organization_id)
    if external_customer_id:
        query = query.join(Customer, Payment.customer_id == Customer.id).where(
            Customer.organization_id == organization_id, Customer.external_id == external_customer_id,
            Customer.deleted_at.is_(None))
    if invoice_id:
        query = query.where(_paying(invoice_id))
    with read_only() as session:
        return _page(session, query.order_by(Payment.created_at.desc(), Payment.id.desc()),
                     _payment_views, page=page, per_page=per_page)


def _paying(invoice_id: str):
    """Payments that pay the invoice: NOTE: as Lago's PaymentsQuery, its own and those of the requests grouping it."""
    return or_(Payment.invoice_id == invoice_id, Payment.payment_request_id.in_(
        select(PaymentRequestInvoice.payment_request_id).where(PaymentRequestInvoice.invoice_id == invoice_id)))


def _page(session: Session, query, views, *, page: int, per_page: int) -> Page:
    """One page of `query`, its rows turned into views in one go (a fixed number of queries per page)."""
    found = paginate(session, query, page=page, per_page=per_page)
    return Page(items=views(session, found.items), current_page=found.current_page, per_page=found.per_page,
                total_count=found.total_count)


def get_payment(*, organization_id: str, payment_id: str) -> PaymentView:
    with read_only() as session:
        payment = session.scalar(select(Payment).where(Payment.organization_id == organization_id,
                                                       Payment.id == payment_id))
        if payment is None:
            raise NotFound("payment")
        return _payment_views(session, [payment])[0]


# -- Receipts ----------------------------------------------------------------------------------------------------


def _receipt_views(session: Session, receipts: Iterable[PaymentReceipt]) -> list[ReceiptView]:
    receipts = list(receipts)
    payment_ids = {r.payment_id for r in receipts}
    payments = session.scalars(select(Payment).where(Payment.id.in_(payment_ids))) if payment_ids else []
    views = {v.payment.id: v for v in _payment_views(session, payments)}
    return [ReceiptView(receipt=r, payment=views[r.payment_id]) for r in receipts]


def list_receipts(*, organization_id: str, invoice_id: str | None = None, page: int = 1,
                  per_page: int = 20) -> Page:
    """The organization's payment receipts (one per succeeded payment), newest first."""
    query = select(PaymentReceipt).where(PaymentReceipt.organization_id == organization_id)
    if invoice_id:
        query = query.join(Payment, PaymentReceipt.payment_id == Payment.id).where(
            Payment.organization_id == organization_id, _paying(invoice_id))
    with read_only() as session:
        return _page(session, query.order_by(PaymentReceipt.created_at.desc(), PaymentReceipt.id.desc()),
                     _receipt_views, page=page, per_page=per_page)


def get_receipt(*, organization_id: str, receipt_id: str) -> ReceiptView:
    with read_only() as session:
        receipt = session.scalar(select(PaymentReceipt).where(PaymentReceipt.organization_id == organization_id,
                                                              PaymentReceipt.id == receipt_id))
        if receipt is None:
            raise NotFound("payment_receipt")
        return _receipt_views(session, [receipt])[0]


# -- Payment requests ----------------------------------------------------------------------------------------------


def _request_views(session: Session, requests: Iterable[PaymentRequest]) -> list[RequestView]:
    requests = list(requests)
    customer_ids = {r.customer_id for r in requests}
    customers = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))} \
        if customer_ids else {}
    return [RequestView(request=r, customer=customers[r.customer_id]) for r in requests]


def list_payment_requests(*, organization_id: str, external_customer_id: str | None = None,
                          payment_status: str | None = None, currency: str | None = None, page: int = 1,
                          per_page: int = 20) -> Page:
    """The organization's payment requests, newest first, each with its customer and its invoices (Lago's
    filters: the customer's external id, the payment status, the currency)."""
    query = select(PaymentRequest).where(PaymentRequest.organization_id == organization_id)
    if external_customer_id:
        query = query.join(Customer, PaymentRequest.customer_id == Customer.id).where(
            Customer.organization_id == organization_id, Customer.external_id == external_customer_id,
            Customer.deleted_at.is_(None))
    if payment_status:
        query = query.where(PaymentRequest.payment_status == payment_status)
    if currency:
        query = query.where(PaymentRequest.currency == currency.upper())
    with read_only() as session:
        return _page(session, query.order_by(PaymentRequest.created_at.desc(), PaymentRequest.id.desc()),
                     _request_views, page=page, per_page=per_page)


def get_payment_request(*, organization_id: str, payment_request_id: str) -> RequestView:
    with read_only() as session:
        request = session.scalar(select(PaymentRequest).where(PaymentRequest.organization_id == organization_id,
                                                              PaymentRequest.id == payment_request_id))
        if request is None:
            raise NotFound("payment_request")
        return _request_views(session, [request])[0]


# -- A customer's saved methods ------------------------------------------------------------------------------------


def _provider_names(session: Session, organization_id: str) -> dict[str, str]:
    return dict(session.execute(select(PaymentProviderAccount.code, PaymentProviderAccount.name).where(
        PaymentProviderAccount.organization_id == organization_id)).all())


def customer_id_of(*, organization_id: str, external_customer_id: str) -> str:
    """Tally's id of the organization's customer with this external id (NotFound otherwise)."""
    with read_only() as session:
        return get_customer_in(session, organization_id, external_customer_id).id


def list_customer_methods(*, organization_id: str, external_customer_id: str, page: int = 1,
                          per_page: int = 20) -> Page:
    """A customer's saved payment methods, newest first, with their provider's name."""
    with read_only() as session:
        customer = get_customer_in(session, organization_id, external_customer_id)
        query = select(SavedPaymentMethod).where(SavedPaymentMethod.organization_id == organization_id,
                                                 SavedPaymentMethod.customer_id == customer.id)
        found = paginate(session, query.order_by(SavedPaymentMethod.created_at.desc(), SavedPaymentMethod.id.desc()),
                         page=page, per_page=per_page)
        names = _provider_names(session, organization_id)
        return Page(items=[MethodView(m, names.get(m.provider_code)) for m in found.items],
                    current_page=found.current_page, per_page=found.per_page, total_count=found.total_count)


def method_view(*, organization_id: str, method: SavedPaymentMethod) -> MethodView:
    with read_only() as session:
        return MethodView(method, _provider_names(session, organization_id).get(method.provider_code))
