"""/fees: list (by subscription or customer), get, update (a fee's payment status), delete (one on no invoice); fees
without invoice included."""

from __future__ import annotations

from flask import request

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args
from billing.invoicing import advance, queries


@bp.get("/fees")
def list_fees():
    flag = request.args.get("pay_in_advance")
    page = queries.list_fees(organization_id=organization_id(),
                              external_subscription_id=request.args.get("external_subscription_id"),
                              external_customer_id=request.args.get("external_customer_id"),
                              pay_in_advance=None if flag is None else flag.lower() == "true", **page_args())
    return many("fees", page, lambda item: item)


@bp.get("/fees/<fee_id>")
def get_fee(fee_id: str):
    return one("fee", queries.get_fee(organization_id=organization_id(), fee_id=fee_id))


@bp.delete("/fees/<fee_id>")
def delete_fee(fee_id: str):
    return one("fee", advance.delete_fee(organization_id=organization_id(), fee_id=fee_id))


@bp.put("/fees/<fee_id>")
def update_fee(fee_id: str):
    return one("fee", advance.update_fee(organization_id=organization_id(), fee_id=fee_id, data=body("fee")))
