"""/plans (charges inside): create, get, update, delete, list."""

from __future__ import annotations

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args
from billing import serializers
from billing.catalog import services
from billing.entitlements.services import entitlements_of_plans


def _plan(plan):
    """Lago's plan object, with the features it includes (`entitlements`)."""
    return serializers.plan(plan, entitlements=entitlements_of_plans(plan_ids=[plan.id])[plan.id])


@bp.post("/plans")
def create_plan():
    return one("plan", _plan(services.create_plan(organization_id=organization_id(), data=body("plan"))))


@bp.get("/plans")
def list_plans():
    page = services.list_plans(organization_id=organization_id(), **page_args())
    included = entitlements_of_plans(plan_ids=[plan.id for plan in page.items])
    return many("plans", page, lambda plan: serializers.plan(plan, entitlements=included[plan.id]))


@bp.get("/plans/<path:code>")
def get_plan(code: str):
    return one("plan", _plan(services.get_plan(organization_id=organization_id(), code=code)))


@bp.put("/plans/<path:code>")
def update_plan(code: str):
    # Lago sends `cascade_updates` inside the plan: apply the edit to the overridden plans too.
    data = body("plan")
    return one("plan", _plan(services.update_plan(organization_id=organization_id(), code=code,
                                                  data=data, cascade_updates=data.get("cascade_updates"))))


@bp.delete("/plans/<path:code>")
def delete_plan(code: str):
    return one("plan", _plan(services.delete_plan(organization_id=organization_id(), code=code)))
