"""/billable_metrics: create, get, update, delete, list; evaluate an expression on a sample event."""

from __future__ import annotations

from decimal import Decimal

from werkzeug.exceptions import BadRequest

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args, read_json
from billing import serializers
from billing.catalog import metrics
from billing.money import decimal_str


@bp.post("/billable_metrics")
def create_billable_metric():
    metric = metrics.create_billable_metric(organization_id=organization_id(), data=body("billable_metric"))
    return one("billable_metric", serializers.billable_metric(metric))


@bp.get("/billable_metrics")
def list_billable_metrics():
    page = metrics.list_billable_metrics(organization_id=organization_id(), **page_args())
    return many("billable_metrics", page, serializers.billable_metric)


@bp.get("/billable_metrics/<path:code>")
def get_billable_metric(code: str):
    return one("billable_metric", serializers.billable_metric(
        metrics.get_billable_metric(organization_id=organization_id(), code=code)))


@bp.put("/billable_metrics/<path:code>")
def update_billable_metric(code: str):
    metric = metrics.update_billable_metric(organization_id=organization_id(), code=code,
                                             data=body("billable_metric"))
    return one("billable_metric", serializers.billable_metric(metric))


@bp.delete("/billable_metrics/<path:code>")
def delete_billable_metric(code: str):
    return one("billable_metric", serializers.billable_metric(
        metrics.delete_billable_metric(organization_id=organization_id(), code=code)))


@bp.post("/billable_metrics/evaluate_expression")
def evaluate_billable_metric_expression():
    """An expression's value on one sample event (nothing is stored); a number is a decimal string, as Lago's."""
    # NOTE: lago-python-client sends no body here: Lago then answers 422 (no expression), so does Tally.
    data = read_json() or {}
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    value = metrics.evaluate_expression(expression=data.get("expression"), event=data.get("event"))
    return one("expression_result", {"value": decimal_str(value) if isinstance(value, Decimal) else value})

