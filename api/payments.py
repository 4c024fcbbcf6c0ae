"""/payments (list with filters, get, record a manual payment) and /payment_receipts (list, get)."""

from __future__ import annotations

from flask import request

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args
from billing import serializers
from billing.payments import collection, queries


def _payment(view: queries.PaymentView):
    return serializers.payment(view.payment, view.customer, view.invoice_numbers)


def _receipt(view: queries.ReceiptView):
    return serializers.payment_receipt(view.receipt, _payment(view.payment))


@bp.get("/payments")
def list_payments():
    return payments_of(request.args.get("external_customer_id") or None)


def payments_of(external_customer_id: str | None):
    """The payments list with the query's filters (also /customers/{id}/payments)."""
    page = queries.list_payments(organization_id=organization_id(), external_customer_id=external_customer_id,
                                 invoice_id=request.args.get("invoice_id") or None, **page_args())
    return many("payments", page, _payment)


@bp.get("/payments/<payment_id>")
def get_payment(payment_id: str):
    return one("payment", _payment(queries.get_payment(organization_id=organization_id(), payment_id=payment_id)))


@bp.post("/payments")
def create_payment():
    payment = collection.record_manual_payment(organization_id=organization_id(), data=body("payment"))
    return one("payment", _payment(queries.get_payment(organization_id=organization_id(), payment_id=payment.id)))


@bp.get("/payment_receipts")
def list_payment_receipts():
    page = queries.list_receipts(organization_id=organization_id(), invoice_id=request.args.get("invoice_id") or None,
                                 **page_args())
    return many("payment_receipts", page, _receipt)


@bp.get("/payment_receipts/<receipt_id>")
def get_payment_receipt(receipt_id: str):
    return one("payment_receipt", _receipt(queries.get_receipt(organization_id=organization_id(),
                                                                receipt_id=receipt_id)))
