"""What Lago serves under one customer: its invoices, subscriptions, payments, credit notes and applied coupons (the
top-level lists, same filters and pages, 404 for an unknown customer), its wallets by code, and its projected usage.
"""

from __future__ import annotations

from flask import request

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args
from api.coupons import applied_coupons_of
from api.credit_notes import credit_notes_of
from api.invoices import invoices_of
from api.payments import payments_of
from api.subscriptions import subscriptions_of
from api.wallets import serialize_wallet
from billing import serializers
from billing.customers.services import get_customer
from billing.errors import ValidationFailed
from billing.metering.period_usage import projected_usage
from billing.wallets import services as wallets


def _known(external_customer_id: str) -> str:
    """The customer's external id, once it is known to exist in this organization (404 `customer_not_found`)."""
    get_customer(organization_id=organization_id(), external_id=external_customer_id)
    return external_customer_id


@bp.get("/customers/<path:external_customer_id>/invoices")
def list_customer_invoices(external_customer_id: str):
    return invoices_of(_known(external_customer_id))


@bp.get("/customers/<path:external_customer_id>/subscriptions")
def list_customer_subscriptions(external_customer_id: str):
    return subscriptions_of(_known(external_customer_id))


@bp.get("/customers/<path:external_customer_id>/payments")
def list_customer_payments(external_customer_id: str):
    return payments_of(_known(external_customer_id))


@bp.get("/customers/<path:external_customer_id>/credit_notes")
def list_customer_credit_notes(external_customer_id: str):
    return credit_notes_of(_known(external_customer_id))


@bp.get("/customers/<path:external_customer_id>/applied_coupons")
def list_customer_applied_coupons(external_customer_id: str):
    return applied_coupons_of(_known(external_customer_id))


@bp.get("/customers/<path:external_customer_id>/projected_usage")
def customer_projected_usage(external_customer_id: str):
    external_subscription_id = request.args.get("external_subscription_id")
    if not external_subscription_id:
        raise ValidationFailed({"external_subscription_id": ["value_is_mandatory"]})
    projected = projected_usage(organization_id=organization_id(), external_customer_id=external_customer_id,
                                external_subscription_id=external_subscription_id)
    return one("customer_projected_usage", serializers.projected_usage(projected))


# -- wallets by code ---------------------------------------------------------------------------------------------------

def _wallet_id(external_customer_id: str, code: str) -> str:
    return wallets.wallet_id_by_code(organization_id=organization_id(), external_customer_id=external_customer_id,
                                     code=code)


@bp.post("/customers/<external_customer_id>/wallets")
def create_customer_wallet(external_customer_id: str):
    # NOTE: the path names the customer (an `external_customer_id` in the body is overridden, as Lago's).
    data = {**body("wallet"), "external_customer_id": _known(external_customer_id)}
    return one("wallet", serialize_wallet(wallets.create_wallet(organization_id=organization_id(), data=data)))


@bp.get("/customers/<external_customer_id>/wallets")
def list_customer_wallets(external_customer_id: str):
    page = wallets.list_wallets(organization_id=organization_id(),
                                external_customer_id=_known(external_customer_id), **page_args())
    return many("wallets", page, serialize_wallet)


@bp.get("/customers/<external_customer_id>/wallets/<code>")
def get_customer_wallet(external_customer_id: str, code: str):
    return one("wallet", serialize_wallet(wallets.get_wallet(organization_id=organization_id(),
                                                             wallet_id=_wallet_id(external_customer_id, code))))


@bp.put("/customers/<external_customer_id>/wallets/<code>")
def update_customer_wallet(external_customer_id: str, code: str):
    wallet_id = _wallet_id(external_customer_id, code)
    return one("wallet", serialize_wallet(wallets.update_wallet(organization_id=organization_id(), wallet_id=wallet_id,
                                                                data=body("wallet"))))


@bp.delete("/customers/<external_customer_id>/wallets/<code>")
def terminate_customer_wallet(external_customer_id: str, code: str):
    wallet_id = _wallet_id(external_customer_id, code)
    return one("wallet", serialize_wallet(wallets.terminate_wallet(organization_id=organization_id(),
                                                                   wallet_id=wallet_id)))
