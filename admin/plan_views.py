"""Plans: the list, the htmx editor (charges, tiers and filters added and removed in place, a price
preview per charge), and deleting a plan no one is subscribed to."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from jinja2_fragments.flask import render_block

import wording
from admin import plans
from admin.audit_views import object_history
from admin.blueprint import admin_blueprint, organization_id, requested_page
from admin.entitlement_views import plan_features_form
from admin.forms import PlanForm
from billing.catalog.services import create_plan, delete_plan, update_plan
from billing.errors import ValidationFailed
from billing.screens import catalog
from web.htmx import is_htmx_request, render_page
from web.responses import refused_status, saved
from wording import notices

PLANS_PAGE = "admin/plans.html"
PLAN_FORM_PAGE = "admin/plan_form.html"
PLAN_DELETE_PAGE = "admin/plan_delete.html"


@admin_blueprint.get("/plans")
def plan_list() -> ResponseReturnValue:
    page = catalog.plan_rows(organization_id=organization_id(), page=requested_page())
    return render_page(PLANS_PAGE, "results", plans=page, intervals=wording.INTERVALS)


def _currency() -> str:
    return (request.form.get("amount_currency") or "").strip().upper()[:3]


def _editor(form: PlanForm, plan: catalog.PlanView | None, charges: list[plans.ChargeDraft],
            thresholds: list[plans.ThresholdDraft], details: dict[str, object] | None = None) -> ResponseReturnValue:
    errors, other_errors = plans.place_errors(details or {}, charges, thresholds)
    refused = bool(errors or other_errors or any(c.has_errors() for c in charges))
    status = refused_status() if refused else 200
    currency = (form.amount_currency.data or "").strip().upper()
    return render_page(PLAN_FORM_PAGE, "plan_form", status=status, form=form, plan=plan, charges=charges,
                       metrics=catalog.metric_options(organization_id=organization_id()), currency=currency,
                       errors=errors, other_errors=other_errors, refused=refused, thresholds=thresholds,
                       charge_models=wording.charge_model_choices(),
                       history=object_history(plan.id) if plan is not None and not is_htmx_request() else [],
                       features=plan_features_form(plan.code) if plan is not None else None, saved_notice=None)


def _save(form: PlanForm, plan: catalog.PlanView | None) -> ResponseReturnValue:
    charges = plans.read_charges(request.form)
    thresholds = plans.read_thresholds(request.form)
    op = request.form.get("op", "")
    if op:
        # A button of the editor pressed without htmx (which sends a charge's to the charge fragments instead);
        # the usage thresholds' buttons always come here (htmx swaps the whole form back).
        if not plans.apply_threshold_op(thresholds, op):
            plans.apply_op(charges, op, metrics=catalog.metric_options(organization_id=organization_id()),
                           currency=_currency())
        return _editor(form, plan, charges, thresholds)
    data, details = plans.plan_data(form, charges, editing=plan is not None, thresholds=thresholds)
    if not details:
        try:
            if plan is None:
                plan_saved = create_plan(organization_id=organization_id(), data=data)
            else:
                plan_saved = update_plan(organization_id=organization_id(), code=plan.code, data=data,
                                    cascade_updates=bool(form.cascade_updates.data))
        except ValidationFailed as failed:
            details = failed.details
        else:
            flash(notices.notice("plan_created" if plan is None else "plan_saved", name=plan_saved.name))
            return saved(url_for("admin.plan_list"))
    return _editor(form, plan, charges, thresholds, details)


@admin_blueprint.route("/plans/new", methods=["GET", "POST"])
def plan_new() -> ResponseReturnValue:
    if request.method == "POST":
        form = PlanForm()
        if form.validate_on_submit():
            return _save(form, None)
        return _editor(form, None, plans.read_charges(request.form), plans.read_thresholds(request.form))
    currency = catalog.default_currency(organization_id=organization_id())
    form = PlanForm(data={"interval": "monthly", "amount": "0", "amount_currency": currency, "trial_period": "0"})
    return _editor(form, None, [], [])


@admin_blueprint.route("/plans/<path:code>/edit", methods=["GET", "POST"])
def plan_edit(code: str) -> ResponseReturnValue:
    plan = catalog.plan_view(organization_id=organization_id(), code=code)
    if request.method == "POST":
        form = PlanForm()
        if form.validate_on_submit():
            return _save(form, plan)
        return _editor(form, plan, plans.read_charges(request.form), plans.read_thresholds(request.form))
    form = PlanForm(data=plans.initial_data(plan))
    return _editor(form, plan, [plans.charge_from_view(c, plan.currency) for c in plan.charges],
                   plans.thresholds_from_view(plan))


# ---------------------------------------------------------------- the editor's fragments


def _charge_fragment(charge: plans.ChargeDraft) -> ResponseReturnValue:
    return render_block(PLAN_FORM_PAGE, "charge", charge=charge, currency=_currency(),
                        metrics=catalog.metric_options(organization_id=organization_id()),
                        charge_models=wording.charge_model_choices())


@admin_blueprint.post("/plans/editor/charges")
def plan_charge_new() -> ResponseReturnValue:
    """A new, empty charge (appended to the form's charges by htmx)."""
    return _charge_fragment(plans.new_charge(catalog.metric_options(organization_id=organization_id())))


@admin_blueprint.post("/plans/editor/charges/<key>")
def plan_charge(key: str) -> ResponseReturnValue:
    """One charge of the form again, after its metric or model changed or one of its buttons was pressed."""
    if not plans.KEY.match(key):
        abort(404)
    op = request.form.get("op", "")
    if op == f"remove_charge:{key}":
        return ""  # htmx deletes the charge's fieldset (hx-swap="delete")
    charges = [plans.read_charge(request.form, key)]
    plans.apply_op(charges, op, metrics=catalog.metric_options(organization_id=organization_id()),
                   currency=_currency())
    return _charge_fragment(charges[0])


@admin_blueprint.post("/plans/editor/charges/<key>/preview")
def plan_charge_preview(key: str) -> ResponseReturnValue:
    """What the typed number of units costs with the charge as typed (never a 500 for bad input)."""
    if not plans.KEY.match(key):
        abort(404)
    charge = plans.read_charge(request.form, key)
    return render_block(PLAN_FORM_PAGE, "charge_preview", preview=plans.preview(charge, _currency()))


# ---------------------------------------------------------------- deleting


@admin_blueprint.route("/plans/<path:code>/delete", methods=["GET", "POST"])
def plan_delete(code: str) -> ResponseReturnValue:
    """GET asks for confirmation; POST deletes, unless customers are still subscribed (the service refuses)."""
    plan = catalog.plan_view(organization_id=organization_id(), code=code)
    refusal = None
    if request.method == "POST":
        try:
            delete_plan(organization_id=organization_id(), code=code)
        except ValidationFailed as failed:
            refusal = "; ".join(wording.plan_reason(name, str(reason)) for name, reasons in failed.details.items()
                                for reason in (reasons if isinstance(reasons, list) else [reasons]))
        else:
            flash(notices.notice("plan_deleted", name=plan.name))
            return redirect(url_for("admin.plan_list"), code=303)
    return render_template(PLAN_DELETE_PAGE, plan=plan, refusal=refusal), 422 if refusal else 200
