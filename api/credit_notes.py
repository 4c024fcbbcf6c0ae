"""/credit_notes: create, estimate, get, list, update (refund_status), void, download (file_url)."""

from __future__ import annotations

from flask import request

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args
from billing import serializers
from billing.invoicing import credit_notes as services


@bp.post("/credit_notes")
def create_credit_note():
    note = services.create_credit_note(organization_id=organization_id(), data=body("credit_note"))
    return one("credit_note", services.serialize(note))


@bp.post("/credit_notes/estimate")
def estimate_credit_note():
    draft = services.estimate_credit_note(organization_id=organization_id(), data=body("credit_note"))
    return one("estimated_credit_note", serializers.credit_note_estimate(draft))


@bp.get("/credit_notes")
def list_credit_notes():
    return credit_notes_of(request.args.get("external_customer_id"))


def credit_notes_of(external_customer_id: str | None):
    """The credit notes list with the query's filters (also /customers/{id}/credit_notes)."""
    page = services.list_credit_notes(organization_id=organization_id(), external_customer_id=external_customer_id,
                                      invoice_id=request.args.get("invoice_id"), **page_args())
    return many("credit_notes", page, services.serialize)


@bp.get("/credit_notes/<credit_note_id>")
def get_credit_note(credit_note_id: str):
    return one("credit_note", services.serialize(
        services.get_credit_note(organization_id=organization_id(), credit_note_id=credit_note_id)))


@bp.put("/credit_notes/<credit_note_id>")
def update_credit_note(credit_note_id: str):
    note = services.update_credit_note(organization_id=organization_id(), credit_note_id=credit_note_id,
                                       data=body("credit_note"))
    return one("credit_note", services.serialize(note))


@bp.put("/credit_notes/<credit_note_id>/void")
def void_credit_note(credit_note_id: str):
    note = services.void_credit_note(organization_id=organization_id(), credit_note_id=credit_note_id)
    return one("credit_note", services.serialize(note))


@bp.post("/credit_notes/<credit_note_id>/download")
def download_credit_note(credit_note_id: str):
    services.credit_note_pdf_bytes(organization_id=organization_id(), credit_note_id=credit_note_id)
    return one("credit_note", services.serialize(
        services.get_credit_note(organization_id=organization_id(), credit_note_id=credit_note_id)))
