"""/taxes: create, get, update, delete, list (by `code`, as Lago)."""

from __future__ import annotations

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args
from billing import serializers
from billing.catalog import taxes as services


@bp.post("/taxes")
def create_tax():
    return one("tax", serializers.tax(services.create_tax(organization_id=organization_id(), data=body("tax"))))


@bp.get("/taxes")
def list_taxes():
    return many("taxes", services.list_taxes(organization_id=organization_id(), **page_args()), serializers.tax)


@bp.get("/taxes/<code>")
def get_tax(code: str):
    return one("tax", serializers.tax(services.get_tax(organization_id=organization_id(), code=code)))


@bp.put("/taxes/<code>")
def update_tax(code: str):
    return one("tax", serializers.tax(services.update_tax(organization_id=organization_id(), code=code,
                                                          data=body("tax"))))


@bp.delete("/taxes/<code>")
def delete_tax(code: str):
    return one("tax", serializers.tax(services.delete_tax(organization_id=organization_id(), code=code)))
