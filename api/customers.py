"""/customers: create-or-update by external_id, get, list, delete; current usage; portal link."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import BadRequest

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args, read_json
from billing import lifecycle, serializers
from billing.customers import services
from billing.embedding import services as embedding
from billing.errors import ValidationFailed
from billing.metering.period_usage import current_usage, past_usage
from billing.pagination import Page


@bp.post("/customers")
def upsert_customer():
    return one("customer", serializers.customer(services.upsert_customer(organization_id=organization_id(),
                                                                         data=body("customer"))))


@bp.get("/customers")
def list_customers():
    page = services.list_customers(organization_id=organization_id(), search=request.args.get("search_term"),
                                   **page_args())
    return many("customers", page, serializers.customer)


@bp.get("/customers/<path:external_id>/current_usage")
def customer_current_usage(external_id: str):
    external_subscription_id = request.args.get("external_subscription_id")
    if not external_subscription_id:
        raise ValidationFailed({"external_subscription_id": ["value_is_mandatory"]})
    usage = current_usage(organization_id=organization_id(), external_customer_id=external_id,
                          external_subscription_id=external_subscription_id)
    return one("customer_usage", serializers.usage(usage))


@bp.get("/customers/<path:external_id>/past_usage")
def customer_past_usage(external_id: str):
    external_subscription_id = request.args.get("external_subscription_id")
    if not external_subscription_id:
        raise ValidationFailed({"external_subscription_id": ["value_is_mandatory"]})
    periods_count = request.args.get("periods_count")  # checked by the service (1..MAX_PERIODS)
    usages = past_usage(organization_id=organization_id(), external_customer_id=external_id,
                        external_subscription_id=external_subscription_id,
                        billable_metric_code=request.args.get("billable_metric_code"), periods_count=periods_count)
    args = page_args()
    start = (args["page"] - 1) * args["per_page"]
    window = usages[start:start + args["per_page"]]
    page = Page(items=window, current_page=args["page"], per_page=args["per_page"], total_count=len(usages))
    return many("usage_periods", page, lambda item: serializers.usage(item[0], lago_invoice_id=item[1]))


@bp.get("/customers/<path:external_id>/portal_url")
def customer_portal_url(external_id: str):
    url = services.customer_portal_url(organization_id=organization_id(), external_id=external_id)
    return one("customer", {"portal_url": url})


@bp.post("/customers/<path:external_id>/embed_token")
def customer_embed_token(external_id: str):
    """Tally's own: a token for the customer's widgets, for the host product's backend to put in its pages."""
    data = read_json()
    if data is not None and (not isinstance(data, dict) or not isinstance(data.get("embed", {}), dict)):
        raise BadRequest("param is missing or the value is empty: embed")
    made = embedding.issue_embed_token(organization_id=organization_id(), external_customer_id=external_id,
                                       data=(data or {}).get("embed") or {})
    return one("embed", {"token": made.token, "expires_at": serializers.iso(made.expires_at), "urls": made.urls,
                         "script_url": embedding.script_url()})


@bp.get("/customers/<path:external_id>")
def get_customer(external_id: str):
    return one("customer", serializers.customer(services.get_customer(organization_id=organization_id(),
                                                                      external_id=external_id)))


@bp.delete("/customers/<path:external_id>")
def delete_customer(external_id: str):
    return one("customer", serializers.customer(lifecycle.delete_customer(organization_id=organization_id(),
                                                                         external_id=external_id)))
