"""/invoices: create a one-off invoice, list (filter by customer and status), get, update (payment_status),
finalize, refresh, void, download."""

from __future__ import annotations

from flask import request

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args
from billing import serializers
from billing.invoicing import actions, documents, one_off, queries
from billing.payments import collection


def _serialize(invoice):
    return serializers.invoice(invoice, {s.id: s for s in queries.subscriptions_of(invoice)})


@bp.post("/invoices")
def create_one_off_invoice():
    invoice = one_off.create_one_off_invoice(organization_id=organization_id(), data=body("invoice"))
    return one("invoice", _serialize(invoice))


@bp.get("/invoices")
def list_invoices():
    page = queries.list_invoices(organization_id=organization_id(),
                                  external_customer_id=request.args.get("external_customer_id"),
                                  status=request.args.get("status"), **page_args())
    return many("invoices", page, _serialize)


@bp.get("/invoices/<invoice_id>")
def get_invoice(invoice_id: str):
    return one("invoice", _serialize(queries.get_invoice(organization_id=organization_id(), invoice_id=invoice_id)))


@bp.put("/invoices/<invoice_id>/finalize")
def finalize_invoice(invoice_id: str):
    return one("invoice", _serialize(actions.finalize_invoice(organization_id=organization_id(),
                                                               invoice_id=invoice_id)))


@bp.post("/invoices/<invoice_id>/download")
def download_invoice(invoice_id: str):
    invoice = documents.ensure_invoice_pdf(organization_id=organization_id(), invoice_id=invoice_id)
    return one("invoice", _serialize(invoice))


@bp.put("/invoices/<invoice_id>")
def update_invoice(invoice_id: str):
    data = body("invoice")
    invoice = collection.set_invoice_payment_status(organization_id=organization_id(), invoice_id=invoice_id,
                                                    payment_status=data.get("payment_status"))
    return one("invoice", _serialize(invoice))


@bp.put("/invoices/<invoice_id>/refresh")
def refresh_invoice(invoice_id: str):
    return one("invoice", _serialize(actions.refresh_invoice(organization_id=organization_id(),
                                                              invoice_id=invoice_id)))


@bp.post("/invoices/<invoice_id>/void")
def void_invoice(invoice_id: str):
    return one("invoice", _serialize(actions.void_invoice(organization_id=organization_id(), invoice_id=invoice_id)))
