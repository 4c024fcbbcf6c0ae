"""/payment_requests: ask a customer to pay overdue invoices of one currency at once (create), list (by customer,
payment status, currency), get; and a customer's own list, /customers/:external_id/payment_requests."""

from __future__ import annotations

from flask import request

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args
from billing import serializers
from billing.payments import queries, requests


def _payment_request(view: queries.RequestView):
    return serializers.payment_request(view.request, view.customer)


def _filters() -> dict[str, str | None]:
    return {"payment_status": request.args.get("payment_status") or None,
            "currency": request.args.get("currency") or None}


@bp.post("/payment_requests")
def create_payment_request():
    made = requests.create_payment_request(organization_id=organization_id(), data=body("payment_request"))
    return one("payment_request", _payment_request(queries.get_payment_request(
        organization_id=organization_id(), payment_request_id=made.id)))


@bp.get("/payment_requests")
def list_payment_requests():
    page = queries.list_payment_requests(organization_id=organization_id(),
                                         external_customer_id=request.args.get("external_customer_id") or None,
                                         **_filters(), **page_args())
    return many("payment_requests", page, _payment_request)


@bp.get("/payment_requests/<payment_request_id>")
def get_payment_request(payment_request_id: str):
    return one("payment_request", _payment_request(queries.get_payment_request(
        organization_id=organization_id(), payment_request_id=payment_request_id)))


@bp.get("/customers/<external_id>/payment_requests")
def list_customer_payment_requests(external_id: str):
    queries.customer_id_of(organization_id=organization_id(), external_customer_id=external_id)  # 404 if unknown
    page = queries.list_payment_requests(organization_id=organization_id(), external_customer_id=external_id,
                                         **_filters(), **page_args())
    return many("payment_requests", page, _payment_request)
