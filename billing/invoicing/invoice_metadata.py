"""Lago's invoice metadata: up to 5 key-value pairs on a finalized invoice, set by `PUT /invoices/{id}`.

NOTE: lago-api `Invoices::Metadata::UpdateService` and `Metadata::InvoiceMetadata`: the list sent is the whole
list: an item with the `id` of a pair updates it, one without adds a pair, the pairs not sent are removed. Keys are
1 to 20 characters, unique on the invoice; values 1 to 140; at most 5 pairs (`invalid_count`); a draft takes none
(405 `metadata_on_draft_invoice`).
"""

from __future__ import annotations

from collections.abc import Mapping

from billing.db import new_id, unit_of_work, utcnow
from billing.errors import NotAllowed, ValidationFailed
from billing.invoicing.audited import record_invoice
from billing.invoicing.models import Invoice
from billing.invoicing.queries import get_invoice_in

MAX_PAIRS = 5
MAX_KEY = 20
MAX_VALUE = 140


def check_invoice_metadata(raw: object) -> list[dict]:
    """The pairs sent, checked (`{"id"?, "key", "value"}`); ValidationFailed on `metadata` otherwise."""
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        raise ValidationFailed({"metadata": ["invalid_type"]})
    if len(raw) > MAX_PAIRS:
        raise ValidationFailed({"metadata": ["invalid_count"]})
    pairs = []
    for item in raw:
        key, value, pair_id = item.get("key"), item.get("value"), item.get("id")
        text = str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else ""
        if not isinstance(key, str) or not key.strip() or not text or not isinstance(pair_id, str | None):
            raise ValidationFailed({"metadata": ["invalid_key_value_pair"]})
        if len(key) > MAX_KEY or len(text) > MAX_VALUE:
            raise ValidationFailed({"metadata": ["value_is_too_long"]})
        pairs.append({"id": pair_id, "key": key, "value": text})
    if len({p["key"] for p in pairs}) != len(pairs):
        raise ValidationFailed({"metadata": ["value_already_exist"]})
    return pairs


def set_invoice_metadata(*, organization_id: str, invoice_id: str, pairs: list[dict]) -> Invoice:
    """Make the invoice's metadata the checked `pairs` (ids kept for the pairs named, new ones for the others)."""
    with unit_of_work() as uow:
        invoice = get_invoice_in(uow.session, organization_id, invoice_id, lock=True)
        if invoice.status == "draft":
            raise NotAllowed("metadata_on_draft_invoice")
        now = utcnow().isoformat()
        current = {pair["id"]: pair for pair in invoice.metadata_ or []}
        kept = []
        for pair in pairs:
            known = current.get(pair["id"])
            if known is not None:
                kept.append({**known, "key": pair["key"], "value": pair["value"]})
            else:
                kept.append({"id": new_id(), "key": pair["key"], "value": pair["value"], "created_at": now})
        before = {p["key"]: p["value"] for p in invoice.metadata_ or []}
        invoice.metadata_ = kept
        after = {p["key"]: p["value"] for p in kept}
        if before != after:
            record_invoice(uow.session, invoice, "invoice.metadata_changed", {"metadata": before}, {"metadata": after})
        return invoice
