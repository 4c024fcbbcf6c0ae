"""/invoices: create a one-off invoice, list (filter by customer, status and payment_overdue), get, update
(payment_status, metadata), finalize, refresh, void, download; a link to pay one (payment_url) and a new charge
(retry_payment); a preview of an invoice, never stored."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import BadRequest

from api.blueprint import api_blueprint as bp
from api.common import body, flag_arg, json_body, many, one, organization_id, page_args, read_json
from billing import serializers
from billing.errors import NotAllowed, ValidationFailed
from billing.invoicing import actions, documents, invoice_metadata, one_off, preview, queries
from billing.payments import checkout, collection
from billing.payments.handlers import ask_collection
from billing.payments.interface import ProviderError

# NOTE: Lago's codes for a retry refused (lago-api Invoices::Payments::RetryService): 405 `invalid_status`
# for a draft, voided or paid invoice, 405 `payment_processor_is_currently_handling_payment` while an
# attempt is in flight.
_RETRY_REFUSALS = {"invoice_not_payable": "invalid_status", "nothing_due": "invalid_status",
                   "payment_in_progress": "payment_processor_is_currently_handling_payment"}


def _serialize(invoice):
    return serializers.invoice(invoice, {s.id: s for s in queries.subscriptions_of(invoice)})


@bp.post("/invoices")
def create_one_off_invoice():
    invoice = one_off.create_one_off_invoice(organization_id=organization_id(), data=body("invoice"))
    return one("invoice", _serialize(invoice))


@bp.post("/invoices/preview")
def preview_invoice():
    """The invoice a new subscription's start or an existing subscription's next billing would issue; nothing stored."""
    data = json_body()
    if not isinstance(data.get("customer"), dict):
        raise BadRequest("param is missing or the value is empty: customer")
    return one("invoice", preview.preview_invoice(organization_id=organization_id(), data=data))


@bp.get("/invoices")
def list_invoices():
    return invoices_of(request.args.get("external_customer_id"))


def invoices_of(external_customer_id: str | None):
    """The invoices list with the query's filters, of one customer when named (also /customers/{id}/invoices)."""
    page = queries.list_invoices(organization_id=organization_id(), external_customer_id=external_customer_id,
                                  status=request.args.get("status"),
                                  payment_overdue=flag_arg("payment_overdue"), **page_args())
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
    """Lago's invoice update: `payment_status` and/or `metadata` (the whole list of pairs), each checked first."""
    data = body("invoice")
    pairs = None if data.get("metadata") is None else invoice_metadata.check_invoice_metadata(data["metadata"])
    if data.get("payment_status") is not None or pairs is None:
        collection.set_invoice_payment_status(organization_id=organization_id(), invoice_id=invoice_id,
                                              payment_status=data.get("payment_status"))
    if pairs is not None:
        invoice_metadata.set_invoice_metadata(organization_id=organization_id(), invoice_id=invoice_id, pairs=pairs)
    return one("invoice", _serialize(queries.get_invoice(organization_id=organization_id(), invoice_id=invoice_id)))


@bp.put("/invoices/<invoice_id>/refresh")
def refresh_invoice(invoice_id: str):
    return one("invoice", _serialize(actions.refresh_invoice(organization_id=organization_id(),
                                                              invoice_id=invoice_id)))


@bp.post("/invoices/<invoice_id>/void")
def void_invoice(invoice_id: str):
    return one("invoice", _serialize(actions.void_invoice(organization_id=organization_id(), invoice_id=invoice_id)))


@bp.post("/invoices/<invoice_id>/payment_url")
def invoice_payment_url(invoice_id: str):
    link = checkout.invoice_payment_url(organization_id=organization_id(), invoice_id=invoice_id)
    return one("invoice_payment_details", serializers.invoice_payment_details(link.invoice, link.customer, link.url))


def _retry_method() -> str | None:
    """Tally's id of the saved method Lago's optional `{"payment_method": {...}}` names, None for the default."""
    data = read_json()
    if data is None:
        return None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    chosen = data.get("payment_method")
    if chosen is None:
        return None
    if not isinstance(chosen, dict):
        raise ValidationFailed({"payment_method": ["value_is_invalid"]})
    kind, method_id = chosen.get("payment_method_type"), chosen.get("payment_method_id")
    # NOTE: a retry charges through the provider: Lago's `manual` type (collect nothing) is refused here.
    if kind not in (None, "provider"):
        raise ValidationFailed({"payment_method.payment_method_type": ["value_is_invalid"]})
    if method_id is not None and (not isinstance(method_id, str) or not method_id.strip()):
        raise ValidationFailed({"payment_method.payment_method_id": ["value_is_invalid"]})
    return method_id


@bp.post("/invoices/<invoice_id>/retry_payment")
def retry_invoice_payment(invoice_id: str):
    """Charge again now (Lago answers 200 and charges later): the answer is the invoice as the charge left it."""
    method_id = _retry_method()
    try:
        attempt = collection.retry_invoice_payment(organization_id=organization_id(), invoice_id=invoice_id,
                                                   method_id=method_id)
    except NotAllowed as refused:
        raise NotAllowed(_RETRY_REFUSALS.get(refused.code, refused.code)) from None
    except ProviderError:
        # The provider did not answer (a permanent refusal fails the payment instead): the pending attempt
        # is left to the collection job, which calls again with the same key, as Lago retries later.
        ask_collection(organization_id(), invoice_id)
        return one("invoice", _serialize(queries.get_invoice(organization_id=organization_id(),
                                                             invoice_id=invoice_id)))
    if attempt.status == "skipped" or attempt.reason == "payment_in_progress":
        raise NotAllowed(_RETRY_REFUSALS.get(attempt.reason or "", attempt.reason or "nothing_to_charge"))
    return one("invoice", _serialize(queries.get_invoice(organization_id=organization_id(), invoice_id=invoice_id)))
