"""/add_ons: create, get, update, delete, list (by `code`, as Lago)."""

from __future__ import annotations

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args
from billing import serializers
from billing.catalog import add_ons as services


@bp.post("/add_ons")
def create_add_on():
    return one("add_on", serializers.add_on(services.create_add_on(organization_id=organization_id(),
                                                                   data=body("add_on"))))


@bp.get("/add_ons")
def list_add_ons():
    return many("add_ons", services.list_add_ons(organization_id=organization_id(), **page_args()),
                serializers.add_on)


@bp.get("/add_ons/<code>")
def get_add_on(code: str):
    return one("add_on", serializers.add_on(services.get_add_on(organization_id=organization_id(), code=code)))


@bp.put("/add_ons/<code>")
def update_add_on(code: str):
    return one("add_on", serializers.add_on(services.update_add_on(organization_id=organization_id(), code=code,
                                                                   data=body("add_on"))))


@bp.delete("/add_ons/<code>")
def delete_add_on(code: str):
    return one("add_on", serializers.add_on(services.delete_add_on(organization_id=organization_id(), code=code)))
