"""Lago's item metadata on plans, wallets and credit notes: replace (POST), merge (PATCH), remove all (DELETE),
remove one key (DELETE .../metadata/{key}); each answers `{"metadata": {...}}` (null when none)."""

from __future__ import annotations

from collections.abc import Callable

from flask import jsonify
from werkzeug.exceptions import BadRequest

from api.blueprint import api_blueprint as bp
from api.common import organization_id, read_json
from billing.catalog import services as catalog
from billing.invoicing import credit_notes
from billing.validation import item_metadata_change, item_metadata_key_removal
from billing.wallets import services as wallets

Change = Callable[[dict | None], dict | None]


def _sent(*, partial: bool) -> Change:
    """The change the body asks for: `{"metadata": {...}}` replaced or merged (`null` replaces with none).

    NOTE: Lago reads a body without `metadata` as null (a replace then removes everything); Tally asks for the
    key, as Lago's OpenAPI document does, so that a malformed request removes nothing.
    """
    data = read_json()
    if not isinstance(data, dict) or "metadata" not in data:
        raise BadRequest("param is missing or the value is empty: metadata")
    return item_metadata_change(data, partial=partial)


def _removal() -> Change:
    return item_metadata_change({"metadata": None}, partial=False)


def _answer(item) -> object:
    return jsonify({"metadata": item.metadata_})


# -- credit notes -----------------------------------------------------------------------------------------------------

def _credit_note(credit_note_id: str, change: Change):
    return _answer(credit_notes.change_credit_note_metadata(organization_id=organization_id(),
                                                            credit_note_id=credit_note_id, change=change))


@bp.post("/credit_notes/<credit_note_id>/metadata")
def replace_credit_note_metadata(credit_note_id: str):
    return _credit_note(credit_note_id, _sent(partial=False))


@bp.patch("/credit_notes/<credit_note_id>/metadata")
def merge_credit_note_metadata(credit_note_id: str):
    return _credit_note(credit_note_id, _sent(partial=True))


@bp.delete("/credit_notes/<credit_note_id>/metadata")
def delete_credit_note_metadata(credit_note_id: str):
    return _credit_note(credit_note_id, _removal())


@bp.delete("/credit_notes/<credit_note_id>/metadata/<path:key>")
def delete_credit_note_metadata_key(credit_note_id: str, key: str):
    return _credit_note(credit_note_id, item_metadata_key_removal(key))


# -- plans ------------------------------------------------------------------------------------------------------------

def _plan(code: str, change: Change):
    return _answer(catalog.change_plan_metadata(organization_id=organization_id(), code=code, change=change))


@bp.post("/plans/<code>/metadata")
def replace_plan_metadata(code: str):
    return _plan(code, _sent(partial=False))


@bp.patch("/plans/<code>/metadata")
def merge_plan_metadata(code: str):
    return _plan(code, _sent(partial=True))


@bp.delete("/plans/<code>/metadata")
def delete_plan_metadata(code: str):
    return _plan(code, _removal())


@bp.delete("/plans/<code>/metadata/<path:key>")
def delete_plan_metadata_key(code: str, key: str):
    return _plan(code, item_metadata_key_removal(key))


# -- wallets, by id or by the customer's wallet code ------------------------------------------------------------------

def _wallet(wallet_id: str, change: Change):
    return _answer(wallets.change_wallet_metadata(organization_id=organization_id(), wallet_id=wallet_id,
                                                  change=change))


def _coded(external_customer_id: str, wallet_code: str) -> str:
    return wallets.wallet_id_by_code(organization_id=organization_id(), external_customer_id=external_customer_id,
                                     code=wallet_code)


@bp.post("/wallets/<wallet_id>/metadata")
def replace_wallet_metadata(wallet_id: str):
    return _wallet(wallet_id, _sent(partial=False))


@bp.patch("/wallets/<wallet_id>/metadata")
def merge_wallet_metadata(wallet_id: str):
    return _wallet(wallet_id, _sent(partial=True))


@bp.delete("/wallets/<wallet_id>/metadata")
def delete_wallet_metadata(wallet_id: str):
    return _wallet(wallet_id, _removal())


@bp.delete("/wallets/<wallet_id>/metadata/<path:key>")
def delete_wallet_metadata_key(wallet_id: str, key: str):
    return _wallet(wallet_id, item_metadata_key_removal(key))


@bp.post("/customers/<external_customer_id>/wallets/<wallet_code>/metadata")
def replace_customer_wallet_metadata(external_customer_id: str, wallet_code: str):
    return _wallet(_coded(external_customer_id, wallet_code), _sent(partial=False))


@bp.patch("/customers/<external_customer_id>/wallets/<wallet_code>/metadata")
def merge_customer_wallet_metadata(external_customer_id: str, wallet_code: str):
    return _wallet(_coded(external_customer_id, wallet_code), _sent(partial=True))


@bp.delete("/customers/<external_customer_id>/wallets/<wallet_code>/metadata")
def delete_customer_wallet_metadata(external_customer_id: str, wallet_code: str):
    return _wallet(_coded(external_customer_id, wallet_code), _removal())


@bp.delete("/customers/<external_customer_id>/wallets/<wallet_code>/metadata/<path:key>")
def delete_customer_wallet_metadata_key(external_customer_id: str, wallet_code: str, key: str):
    return _wallet(_coded(external_customer_id, wallet_code), item_metadata_key_removal(key))
