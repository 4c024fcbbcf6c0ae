"""Account-manager screens: sign in, find a customer, see its subscriptions, usage and invoices."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError

from admin import customers_list
from admin.auth import AccountManager, register_user_loader
from admin.forms import LoginForm
from billing.customers import overview
from billing.errors import BillingError, NotFound
from billing.organizations.services import authenticate_user
from web.htmx import is_htmx_request, render_page

admin_blueprint = Blueprint("admin", __name__)
admin_blueprint.record_once(register_user_loader)

CUSTOMERS_PAGE = "admin/customers.html"
CUSTOMER_PAGE = "admin/customer.html"
INVOICES_PER_PAGE = 20
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


def _organization_id() -> str:
    return current_user.organization_id


def _requested_page() -> int:
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


@admin_blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    logout_user()
    return redirect(url_for("admin.login"))


# ---------------------------------------------------------------- customers


@admin_blueprint.get("/")
def home() -> ResponseReturnValue:
    return redirect(url_for("admin.customers"))


@admin_blueprint.get("/customers")
def customers() -> ResponseReturnValue:
    search = request.args.get("search", "").strip()[:255]
    page = customers_list.search_customers(organization_id=_organization_id(), search=search, page=_requested_page())
    return render_page(CUSTOMERS_PAGE, "results", customers=page, search=search)


def _render_customer(customer_id: str, block: str, **extra) -> ResponseReturnValue:
    scope = {"organization_id": _organization_id(), "customer_id": customer_id}
    customer = overview.customer_summary(**scope)
    context = {"customer": customer, "portal_url": None, **extra}
    if not is_htmx_request() or block == "usage":
        context["subscriptions"] = overview.subscriptions_with_usage(**scope, live_only=False)
    if not is_htmx_request() or block == "invoices":
        context["invoices"] = overview.customer_invoices(**scope, include_drafts=True, page=_requested_page(),
                                                       per_page=INVOICES_PER_PAGE)
    return render_page(CUSTOMER_PAGE, block, **context)


@admin_blueprint.get("/customers/<customer_id>")
def customer(customer_id: str) -> ResponseReturnValue:
    return _render_customer(customer_id, "content")


@admin_blueprint.get("/customers/<customer_id>/usage")
def customer_usage(customer_id: str) -> ResponseReturnValue:
    return _render_customer(customer_id, "usage")


@admin_blueprint.get("/customers/<customer_id>/invoices")
def customer_invoices(customer_id: str) -> ResponseReturnValue:
    return _render_customer(customer_id, "invoices")


@admin_blueprint.get("/customers/<customer_id>/portal-link")
def customer_portal_link(customer_id: str) -> ResponseReturnValue:
    link = customers_list.fresh_portal_url(organization_id=_organization_id(), customer_id=customer_id)
    return _render_customer(customer_id, "portal_link", portal_url=link)


@admin_blueprint.get("/customers/<customer_id>/invoices/<invoice_id>.pdf")
def customer_invoice_pdf(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    try:
        number, data = overview.customer_invoice_pdf(organization_id=_organization_id(), customer_id=customer_id,
                                                     invoice_id=invoice_id, include_drafts=True)
    except BillingError:
        abort(404)
    safe_name = "".join(c if c.isalnum() or c in "-_" else "_" for c in number) or "invoice"
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{safe_name}.pdf"',
                             "Cache-Control": "private, no-store"})
