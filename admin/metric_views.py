"""Billable metrics: the list, the htmx form (create, edit, the expression tester) and deleting one."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from jinja2_fragments.flask import render_block

import wording
from admin import metrics
from admin.audit_views import object_history
from admin.blueprint import admin_blueprint, organization_id, requested_page
from admin.forms import MetricForm
from billing.catalog.metrics import create_billable_metric, delete_billable_metric, update_billable_metric
from billing.errors import ValidationFailed
from billing.metering.aggregation import epoch_seconds
from billing.metering.expression import try_expression
from billing.ports import runtime
from billing.screens import catalog
from web.htmx import is_htmx_request, render_page
from web.responses import refused_status, saved
from wording import notices

METRICS_PAGE = "admin/metrics.html"
METRIC_FORM_PAGE = "admin/metric_form.html"
METRIC_DELETE_PAGE = "admin/metric_delete.html"


@admin_blueprint.get("/metrics")
def metric_list() -> ResponseReturnValue:
    page = catalog.metric_rows(organization_id=organization_id(), page=requested_page())
    return render_page(METRICS_PAGE, "results", metrics=page, aggregations=wording.AGGREGATIONS)


def _saved(message: str) -> ResponseReturnValue:
    """After a save: back to the list, as a whole page (htmx is told to go there itself)."""
    flash(message)
    return saved(url_for("admin.metric_list"))


def _render_metric_form(form: MetricForm, metric: catalog.MetricRow | None,
                        errors: dict[str, list[str]]) -> ResponseReturnValue:
    status = refused_status() if errors else 200
    known = set(metrics.FIELDS)
    other_errors = [f"{field}: {message}" for field, messages in errors.items() if field not in known
                    for message in messages]
    return render_page(METRIC_FORM_PAGE, "metric_form", status=status, form=form, metric=metric, errors=errors,
                       other_errors=other_errors,
                       history=object_history(metric.id) if metric is not None and not is_htmx_request() else [])


@admin_blueprint.route("/metrics/new", methods=["GET", "POST"])
def metric_new() -> ResponseReturnValue:
    form = MetricForm()
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        data, reasons = metrics.service_data(form, current=None)
        if reasons:
            errors = wording.field_errors(reasons)
        else:
            try:
                metric = create_billable_metric(organization_id=organization_id(), data=data)
            except ValidationFailed as failed:
                errors = wording.field_errors(failed.details, expression=data.get("expression"))
            else:
                return _saved(notices.notice("metric_created", name=metric.name))
    return _render_metric_form(form, None, errors)


@admin_blueprint.route("/metrics/<path:code>/edit", methods=["GET", "POST"])
def metric_edit(code: str) -> ResponseReturnValue:
    current = catalog.metric_row(organization_id=organization_id(), code=code)
    form = MetricForm() if request.method == "POST" else MetricForm(data=metrics.initial_data(current))
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        data, reasons = metrics.service_data(form, current=current)
        if reasons:
            errors = wording.field_errors(reasons)
        else:
            try:
                metric = update_billable_metric(organization_id=organization_id(), code=code, data=data,
                                                nulls_clear=True)
            except ValidationFailed as failed:
                errors = wording.field_errors(failed.details, expression=data.get("expression"))
            else:
                return _saved(notices.notice("metric_saved", name=metric.name))
    return _render_metric_form(form, current, errors)


@admin_blueprint.post("/metrics/expression-test")
def metric_expression_test() -> ResponseReturnValue:
    """What the expression typed in the form makes of the sample properties (an htmx fragment; never a 500)."""
    form = request.form
    trial = try_expression(expression=form.get("expression", "")[:2000],
                           sample_properties=form.get("sample_properties", ""),
                           code=form.get("code", "").strip()[:255], timestamp=epoch_seconds(runtime.clock.now()))
    problem = None if trial.ok else wording.expression_problem(trial)
    return render_block(METRIC_FORM_PAGE, "expression_result", trial=trial, problem=problem)


@admin_blueprint.route("/metrics/<path:code>/delete", methods=["GET", "POST"])
def metric_delete(code: str) -> ResponseReturnValue:
    """GET asks for confirmation (and says which plans lose a charge); POST deletes."""
    metric = catalog.metric_row(organization_id=organization_id(), code=code)
    if request.method == "POST":
        delete_billable_metric(organization_id=organization_id(), code=code)
        flash(notices.notice("metric_deleted", name=metric.name))
        return redirect(url_for("admin.metric_list"), code=303)
    return render_template(METRIC_DELETE_PAGE, metric=metric)
