"""Invoice files behind signed, expiring links (the `file_url` of the API, like Lago's presigned URLs)."""

from __future__ import annotations

from flask import Blueprint, Response, abort

from billing import links
from billing.errors import BillingError
from billing.invoicing.credit_notes import credit_note_pdf_bytes
from billing.invoicing.documents import invoice_pdf_bytes

blueprint = Blueprint("files", __name__)


@blueprint.get("/files/invoices/<token>.pdf")
def invoice_pdf(token: str):
    claim = links.verify(token, purpose="invoice_file")
    if claim is None:
        abort(404)
    try:
        data = invoice_pdf_bytes(organization_id=claim.organization_id, invoice_id=claim.subject)
    except BillingError:
        abort(404)
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="invoice-{claim.subject}.pdf"',
                             "Cache-Control": "private, max-age=3600"})


@blueprint.get("/files/credit_notes/<token>.pdf")
def credit_note_pdf(token: str):
    claim = links.verify(token, purpose="credit_note_file")
    if claim is None:
        abort(404)
    try:
        data = credit_note_pdf_bytes(organization_id=claim.organization_id, credit_note_id=claim.subject)
    except BillingError:
        abort(404)
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="credit-note-{claim.subject}.pdf"',
                             "Cache-Control": "private, max-age=3600"})
