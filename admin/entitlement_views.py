"""Features (list, create, edit, delete), what a plan includes (the plan editor's Features section) and a
subscription's own values (next to its prices in the customer page's override editor)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from admin import entitlements as forms
from admin.blueprint import admin_blueprint, organization_id, requested_page
from admin.customer_views import render_customer
from admin.forms import FeatureForm
from billing.entitlements import features, services
from billing.errors import NotFound, ValidationFailed
from billing.screens import catalog, overview
from billing.screens import entitlements as screens
from web.htmx import is_htmx_request, render_page
from web.responses import refused_status, saved
from wording import entitlements as words
from wording import notices

FEATURES_PAGE = "admin/features.html"
FEATURE_FORM_PAGE = "admin/feature_form.html"
FEATURE_DELETE_PAGE = "admin/feature_delete.html"
PLAN_FORM_PAGE = "admin/plan_form.html"
FORM_FIELDS = ("name", "code", "description")


# ---------------------------------------------------------------- features


@admin_blueprint.get("/features")
def feature_list() -> ResponseReturnValue:
    page = features.list_features(organization_id=organization_id(), page=requested_page(), per_page=25)
    return render_page(FEATURES_PAGE, "results", features=page, value_types=dict(words.value_type_choices()))


def _render_form(form: FeatureForm, feature, rows: list[forms.PrivilegeDraft],
                 errors: dict[str, list[str]]) -> ResponseReturnValue:
    other = [message for name, messages in errors.items()
             if name not in FORM_FIELDS and not name.startswith("privilege") for message in messages]
    privilege_errors = [m for name, messages in errors.items() if name.startswith("privilege") for m in messages]
    return render_page(FEATURE_FORM_PAGE, "feature_form", status=refused_status() if errors else 200, form=form,
                       feature=feature, rows=rows, errors=errors, other_errors=other,
                       privilege_errors=privilege_errors, value_types=words.value_type_choices())


def _data(form: FeatureForm, rows: list[forms.PrivilegeDraft], *, creating: bool) -> dict[str, object]:
    data: dict[str, object] = {"name": (form.name.data or "").strip() or None,
                               "description": (form.description.data or "").strip() or None,
                               "privileges": forms.privileges_data(rows)}
    if creating:
        data["code"] = (form.code.data or "").strip()
    return data


@admin_blueprint.route("/features/new", methods=["GET", "POST"])
def feature_new() -> ResponseReturnValue:
    form = FeatureForm()
    rows = forms.read_privileges(request.form) if request.method == "POST" else forms.privilege_drafts([])
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        try:
            created = features.create_feature(organization_id=organization_id(), data=_data(form, rows, creating=True))
        except ValidationFailed as failed:
            errors = words.field_reasons(failed.details)
        else:
            flash(notices.notice("feature_created", name=created.name or created.code))
            return saved(url_for("admin.feature_list"))
    return _render_form(form, None, rows, errors)


@admin_blueprint.route("/features/<path:code>/edit", methods=["GET", "POST"])
def feature_edit(code: str) -> ResponseReturnValue:
    current = features.get_feature(organization_id=organization_id(), code=code)
    if request.method == "POST":
        form, rows = FeatureForm(), forms.read_privileges(request.form)
    else:
        form = FeatureForm(data={"name": current.name or "", "code": current.code,
                                 "description": current.description or ""})
        rows = forms.privilege_drafts(current.privileges)
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        try:
            updated = features.update_feature(organization_id=organization_id(), code=code,
                                              data=_data(form, rows, creating=False))
        except ValidationFailed as failed:
            errors = words.field_reasons(failed.details)
        else:
            flash(notices.notice("feature_saved", name=updated.name or updated.code))
            return saved(url_for("admin.feature_list"))
    return _render_form(form, current, rows, errors)


@admin_blueprint.route("/features/<path:code>/delete", methods=["GET", "POST"])
def feature_delete(code: str) -> ResponseReturnValue:
    """GET asks for confirmation; POST deletes it, and with it its values in every plan and subscription."""
    feature = features.get_feature(organization_id=organization_id(), code=code)
    if request.method == "POST":
        features.delete_feature(organization_id=organization_id(), code=code)
        flash(notices.notice("feature_deleted", name=feature.name or feature.code))
        return redirect(url_for("admin.feature_list"), code=303)
    return render_template(FEATURE_DELETE_PAGE, feature=feature)


# ---------------------------------------------------------------- what a plan includes


def plan_features_form(plan_code: str) -> forms.ValuesForm:
    """The plan editor's Features section as stored."""
    return forms.ValuesForm(screens.plan_feature_editor(organization_id=organization_id(), plan_code=plan_code))


@admin_blueprint.post("/plans/<path:code>/features")
def plan_features(code: str) -> ResponseReturnValue:
    """Save what the plan includes: the features listed (less those removed, plus one added) and their values."""
    plan = catalog.plan_view(organization_id=organization_id(), code=code)
    entitlements, typed, added = forms.read_values(request.form)
    errors: dict[str, list[str]] = {}
    try:
        services.replace_plan_entitlements(organization_id=organization_id(), plan_code=code,
                                           entitlements=entitlements)
    except ValidationFailed as failed:
        errors = forms.value_errors(failed.details)
    except NotFound as missing:
        errors = {"": [words.reason(missing.code)]}
    section = plan_features_form(code)
    if errors:
        section.typed, section.errors, section.added = typed, errors, added
        return render_page(PLAN_FORM_PAGE, "plan_features", status=refused_status(), plan=plan, features=section,
                           saved_notice=None)
    if not is_htmx_request():
        flash(notices.notice("plan_features_saved", name=plan.name))
        return redirect(url_for("admin.plan_edit", code=code), code=303)
    return render_page(PLAN_FORM_PAGE, "plan_features", plan=plan, features=section,
                       saved_notice=notices.notice("plan_features_saved", name=plan.name))


# ---------------------------------------------------------------- a subscription's own values


def _subscription(customer_id: str, subscription_id: str) -> overview.SubscriptionPlan:
    subscription = overview.customer_subscription(organization_id=organization_id(), customer_id=customer_id,
                                                  subscription_id=subscription_id)
    if not subscription.live or subscription.replaces:
        raise NotFound("subscription")
    return subscription


def _values_form(customer_id: str, subscription_id: str) -> forms.ValuesForm:
    return forms.ValuesForm(screens.subscription_feature_editor(
        organization_id=organization_id(), customer_id=customer_id, subscription_id=subscription_id))


@admin_blueprint.route("/customers/<customer_id>/subscriptions/<subscription_id>/features", methods=["GET", "POST"])
def subscription_features(customer_id: str, subscription_id: str) -> ResponseReturnValue:
    """This subscription's own privilege values: GET opens the editor, POST saves them (blank: the plan's)."""
    subscription = _subscription(customer_id, subscription_id)
    block = "feature_overrides" if is_htmx_request() else "content"
    if request.method == "GET":
        return render_customer(customer_id, block, feature_override=_values_form(customer_id, subscription_id),
                               feature_subscription=subscription)
    entitlements, typed, added = forms.read_values(request.form)
    errors: dict[str, list[str]] = {}
    try:
        services.set_subscription_overrides(organization_id=organization_id(), external_id=subscription.external_id,
                                            entitlements=entitlements, status=subscription.status)
    except ValidationFailed as failed:
        errors = forms.value_errors(failed.details)
    except NotFound as missing:
        errors = {"": [words.reason(missing.code)]}
    section = _values_form(customer_id, subscription_id)
    if errors:
        section.typed, section.errors, section.added = typed, errors, added
        return render_customer(customer_id, block, status=refused_status(), feature_override=section,
                               feature_subscription=subscription)
    if not is_htmx_request():
        flash(notices.notice("subscription_features_saved", external_id=subscription.external_id))
        return redirect(url_for("admin.customer", customer_id=customer_id), code=303)
    return render_customer(customer_id, block, feature_override=section, feature_subscription=subscription,
                           feature_notice=notices.notice("subscription_features_saved",
                                                         external_id=subscription.external_id))
