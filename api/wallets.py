"""/wallets (create, update, terminate, get, list per customer) and /wallet_transactions (top up, void, list, get,
a link to pay a top-up)."""

from __future__ import annotations

from flask import jsonify, request

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args
from billing import serializers
from billing.payments import checkout
from billing.wallets import ongoing, services


def serialize_wallet(wallet):
    return serializers.wallet(wallet, ongoing.ongoing_balance(wallet))


@bp.post("/wallets")
def create_wallet():
    wallet = services.create_wallet(organization_id=organization_id(), data=body("wallet"))
    return one("wallet", serialize_wallet(wallet))


@bp.get("/wallets")
def list_wallets():
    page = services.list_wallets(organization_id=organization_id(),
                                 external_customer_id=request.args.get("external_customer_id") or None, **page_args())
    return many("wallets", page, serialize_wallet)


@bp.get("/wallets/<wallet_id>")
def get_wallet(wallet_id: str):
    return one("wallet", serialize_wallet(services.get_wallet(organization_id=organization_id(), wallet_id=wallet_id)))


@bp.put("/wallets/<wallet_id>")
def update_wallet(wallet_id: str):
    return one("wallet", serialize_wallet(services.update_wallet(organization_id=organization_id(), wallet_id=wallet_id,
                                                           data=body("wallet"))))


@bp.delete("/wallets/<wallet_id>")
def terminate_wallet(wallet_id: str):
    return one("wallet", serialize_wallet(services.terminate_wallet(organization_id=organization_id(),
                                                              wallet_id=wallet_id)))


@bp.post("/wallet_transactions")
def create_wallet_transactions():
    created = services.create_wallet_transaction(organization_id=organization_id(), data=body("wallet_transaction"))
    return jsonify({"wallet_transactions": [serializers.wallet_transaction(t) for t in created]})


@bp.get("/wallets/<wallet_id>/wallet_transactions")
def list_wallet_transactions(wallet_id: str):
    page = services.list_wallet_transactions(
        organization_id=organization_id(), wallet_id=wallet_id, status=request.args.get("status") or None,
        transaction_type=request.args.get("transaction_type") or None, **page_args())
    return many("wallet_transactions", page, serializers.wallet_transaction)


@bp.get("/wallet_transactions/<transaction_id>")
def get_wallet_transaction(transaction_id: str):
    return one("wallet_transaction", serializers.wallet_transaction(services.get_wallet_transaction(
        organization_id=organization_id(), wallet_transaction_id=transaction_id)))


@bp.post("/wallet_transactions/<transaction_id>/payment_url")
def wallet_transaction_payment_url(transaction_id: str):
    link = checkout.wallet_transaction_payment_url(organization_id=organization_id(),
                                                   wallet_transaction_id=transaction_id)
    return one("wallet_transaction_payment_details",
               serializers.wallet_transaction_payment_details(link.wallet_transaction, link.customer, link.url))
