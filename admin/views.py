"""Account-manager screens: sign in, see a customer (usage, invoices, events), manage billable metrics."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError
from jinja2_fragments.flask import render_block

import wording
from admin import customers_list, metrics, subscriptions
from admin.auth import AccountManager, register_user_loader
from admin.forms import ApplyCouponForm, LoginForm, MetricForm
from billing.catalog.add_ons import list_add_ons
from billing.catalog.coupons import list_applied_coupons, list_coupons
from billing.catalog.services import create_billable_metric, delete_billable_metric, update_billable_metric
from billing.errors import BillingError, NotFound, ValidationFailed
from billing.invoicing.credit_notes import list_credit_notes
from billing.metering.aggregation import epoch_seconds
from billing.metering.expression import try_expression
from billing.organizations.services import authenticate_user, end_sessions
from billing.ports import runtime
from billing.screens import catalog, overview
from billing.wallets.models import FEE_TYPES as WALLET_FEE_TYPES
from billing.wallets.services import customer_wallets
from web.htmx import is_htmx_request, render_page
from wording import notices

admin_blueprint = Blueprint("admin", __name__)
admin_blueprint.record_once(register_user_loader)

CUSTOMERS_PAGE = "admin/customers.html"
CUSTOMER_PAGE = "admin/customer.html"
METRICS_PAGE = "admin/metrics.html"
METRIC_FORM_PAGE = "admin/metric_form.html"
METRIC_DELETE_PAGE = "admin/metric_delete.html"
INVOICES_PER_PAGE = 20
EVENTS_PER_PAGE = 20
OPEN_ENDPOINTS = frozenset({"admin.login"})


@admin_blueprint.before_request
def require_login() -> ResponseReturnValue | None:
    if request.endpoint in OPEN_ENDPOINTS or current_user.is_authenticated:
        return None
    if is_htmx_request():
        # A fragment request from a page whose session ended: send the whole tab to the login form.
        return Response(status=401, headers={"HX-Redirect": url_for("admin.login")})
    return current_app.login_manager.unauthorized()


@admin_blueprint.after_request
def admin_security_headers(response: Response) -> Response:
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
    return response


@admin_blueprint.errorhandler(NotFound)
@admin_blueprint.errorhandler(404)
def not_found(_error) -> ResponseReturnValue:
    return render_template("admin/message.html", title="Not found",
                           message="There is nothing here, or it belongs to another organization."), 404


@admin_blueprint.errorhandler(CSRFError)
def csrf_refused(_error) -> ResponseReturnValue:
    message = "This form was not sent from a current Tally page. Go back, reload and try again."
    return render_template("admin/message.html", title="Form expired", message=message), 400


def organization_id() -> str:
    """The signed-in account manager's organization: every read and write of the admin screens is scoped to it."""
    return current_user.organization_id


def requested_page() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


def _local_path_or_none(target: str | None) -> str | None:
    """`target` if it is a path on this site (so `next=` cannot send a signed-in user elsewhere)."""
    if not target or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or target.startswith("//"):
        return None
    return target


# ---------------------------------------------------------------- signing in


@admin_blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("admin.customers"))
    form = LoginForm()
    refused = False
    if form.validate_on_submit():
        user = authenticate_user(email=form.email.data, password=form.password.data)
        if user is not None:
            login_user(AccountManager.from_signed_in(user))
            return redirect(_local_path_or_none(request.args.get("next")) or url_for("admin.customers"))
        refused = True
    status = 401 if refused else 200
    return render_template("admin/login.html", form=form, refused=refused), status


def too_many_sign_ins(retry_after: int) -> Response:
    """The sign-in form, refused before any password is checked: too many attempts for this account or address."""
    minutes = max(1, round(retry_after / 60))
    return Response(render_template("admin/login.html", form=LoginForm(), throttled_minutes=minutes), status=429,
                    headers={"Retry-After": str(retry_after)})


@admin_blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    end_sessions(user_id=current_user.id)  # the cookie this browser holds, or a copy of it, no longer signs in
    logout_user()
    return redirect(url_for("admin.login"))


# ---------------------------------------------------------------- customers


@admin_blueprint.get("/")
def home() -> ResponseReturnValue:
    return redirect(url_for("admin.customers"))


@admin_blueprint.get("/customers")
def customers() -> ResponseReturnValue:
    search = request.args.get("search", "").strip()[:255]
    page = customers_list.search_customers(organization_id=organization_id(), search=search, page=requested_page())
    return render_page(CUSTOMERS_PAGE, "results", customers=page, search=search)


def render_customer(customer_id: str, block: str, *, status: int = 200, invoices_page: int = 1,
                    events_page: int = 1, **extra) -> ResponseReturnValue:
    """The customer page, or one of its blocks for htmx; `extra` adds to (or replaces) what the blocks read."""
    scope = {"organization_id": organization_id(), "customer_id": customer_id}
    customer = overview.customer_summary(**scope)
    transaction_id = request.args.get("transaction_id", "").strip()[:255]
    code = request.args.get("code", "").strip()[:255]
    context = {"customer": customer, "portal_url": None, "transaction_id": transaction_id, "code": code,
               "event_problems": wording.event_problems, "result": None, "override": None, "confirm": None,
               "change_errors": {}, "terminate_errors": [], "credit_note_choices": wording.CREDIT_NOTE_CHOICES}
    context.update(extra)
    whole_page = not is_htmx_request()
    if whole_page or block == "usage":
        context["subscriptions"] = overview.subscriptions_with_usage(**scope, live_only=False)
        context.update(subscriptions.page_context(organization_id(), customer, assign=extra.get("assign")))
    if whole_page or block == "invoices":
        context["invoices"] = overview.customer_invoices(**scope, include_drafts=True, page=invoices_page,
                                                       per_page=INVOICES_PER_PAGE)
        context["credit_notes"] = list_credit_notes(**scope, per_page=50).items
    if whole_page or block == "events":
        context["events"] = overview.customer_events(**scope, transaction_id=transaction_id or None,
                                                     code=code or None, page=events_page, per_page=EVENTS_PER_PAGE)
    if whole_page or block == "coupons":
        context["applied_coupons"] = list_applied_coupons(**scope, per_page=100).items
        context["coupon_choices"] = list_coupons(organization_id=organization_id(), per_page=100).items
        context.setdefault("coupon_form", ApplyCouponForm())
        context.setdefault("coupon_error", None)
    if whole_page or block == "wallets":
        context["wallets"] = customer_wallets(**scope)
        context.setdefault("wallet_error", None)
        context.setdefault("wallet_notice", None)
        context.setdefault("wallet_forms", {})
        context["wallet_metric_codes"] = catalog.metric_codes(organization_id=organization_id())
        context["wallet_fee_types"] = WALLET_FEE_TYPES
    if whole_page or block == "one_off":
        context["add_on_choices"] = list_add_ons(organization_id=organization_id(), per_page=100).items
        context.setdefault("one_off", None)  # admin.add_on_views.OneOffForm: the lines typed, their errors
    context.setdefault("invoice_error", None)
    if whole_page:
        context["metric_codes"] = catalog.metric_codes(organization_id=organization_id())
    return render_page(CUSTOMER_PAGE, block, status=status, **context)


@admin_blueprint.get("/customers/<customer_id>")
def customer(customer_id: str) -> ResponseReturnValue:
    return render_customer(customer_id, "content", invoices_page=requested_page())


@admin_blueprint.get("/customers/<customer_id>/usage")
def customer_usage(customer_id: str) -> ResponseReturnValue:
    return render_customer(customer_id, "usage")


@admin_blueprint.get("/customers/<customer_id>/invoices")
def customer_invoices(customer_id: str) -> ResponseReturnValue:
    return render_customer(customer_id, "invoices", invoices_page=requested_page())


@admin_blueprint.get("/customers/<customer_id>/events")
def customer_events(customer_id: str) -> ResponseReturnValue:
    """The latest events of the customer's subscriptions: a search by transaction id, a code, or a page of them."""
    return render_customer(customer_id, "events", events_page=requested_page())


@admin_blueprint.get("/customers/<customer_id>/portal-link")
def customer_portal_link(customer_id: str) -> ResponseReturnValue:
    link = customers_list.fresh_portal_url(organization_id=organization_id(), customer_id=customer_id)
    return render_customer(customer_id, "portal_link", portal_url=link)


@admin_blueprint.get("/customers/<customer_id>/invoices/<invoice_id>.pdf")
def customer_invoice_pdf(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    try:
        number, data = overview.customer_invoice_pdf(organization_id=organization_id(), customer_id=customer_id,
                                                     invoice_id=invoice_id, include_drafts=True)
    except BillingError:
        abort(404)
    safe_name = "".join(c if c.isalnum() or c in "-_" else "_" for c in number) or "invoice"
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{safe_name}.pdf"',
                             "Cache-Control": "private, no-store"})


# ---------------------------------------------------------------- billable metrics


@admin_blueprint.get("/metrics")
def metric_list() -> ResponseReturnValue:
    page = catalog.metric_rows(organization_id=organization_id(), page=requested_page())
    return render_page(METRICS_PAGE, "results", metrics=page, aggregations=wording.AGGREGATIONS)


def _saved(message: str) -> ResponseReturnValue:
    """After a save: back to the list, as a whole page (htmx is told to go there itself)."""
    flash(message)
    if is_htmx_request():
        return Response(status=200, headers={"HX-Redirect": url_for("admin.metric_list")})
    return redirect(url_for("admin.metric_list"), code=303)


def _render_metric_form(form: MetricForm, metric: catalog.MetricRow | None,
                        errors: dict[str, list[str]]) -> ResponseReturnValue:
    # htmx swaps only a 2xx response in: a refused form is a 200 to htmx, a 422 to a plain post.
    status = 422 if errors and not is_htmx_request() else 200
    known = set(metrics.FIELDS)
    other_errors = [f"{field}: {message}" for field, messages in errors.items() if field not in known
                    for message in messages]
    return render_page(METRIC_FORM_PAGE, "metric_form", status=status, form=form, metric=metric, errors=errors,
                       other_errors=other_errors)


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
