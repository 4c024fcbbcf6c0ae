"""/plans (charges inside): create, get, update, delete, list."""

from __future__ import annotations

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args
from billing import serializers
from billing.catalog import services


@bp.post("/plans")
def create_plan():
    return one("plan", serializers.plan(services.create_plan(organization_id=organization_id(), data=body("plan"))))


@bp.get("/plans")
def list_plans():
    return many("plans", services.list_plans(organization_id=organization_id(), **page_args()), serializers.plan)


@bp.get("/plans/<path:code>")
def get_plan(code: str):
    return one("plan", serializers.plan(services.get_plan(organization_id=organization_id(), code=code)))


@bp.put("/plans/<path:code>")
def update_plan(code: str):
    # Lago sends `cascade_updates` inside the plan: apply the edit to the overridden plans too.
    data = body("plan")
    return one("plan", serializers.plan(services.update_plan(organization_id=organization_id(), code=code,
                                                             data=data, cascade_updates=data.get("cascade_updates"))))


@bp.delete("/plans/<path:code>")
def delete_plan(code: str):
    return one("plan", serializers.plan(services.delete_plan(organization_id=organization_id(), code=code)))
