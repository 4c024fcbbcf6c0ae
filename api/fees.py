"""/fees: list (by subscription or customer) and get, pay-in-advance fees without invoice included."""

from __future__ import annotations

from flask import request

from api.blueprint import api_blueprint as bp
from api.common import many, one, organization_id, page_args
from billing.invoicing import services


@bp.get("/fees")
def list_fees():
    flag = request.args.get("pay_in_advance")
    page = services.list_fees(organization_id=organization_id(),
                              external_subscription_id=request.args.get("external_subscription_id"),
                              external_customer_id=request.args.get("external_customer_id"),
                              pay_in_advance=None if flag is None else flag.lower() == "true", **page_args())
    return many("fees", page, lambda item: item)


@bp.get("/fees/<fee_id>")
def get_fee(fee_id: str):
    return one("fee", services.get_fee(organization_id=organization_id(), fee_id=fee_id))
