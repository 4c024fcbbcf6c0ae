"""The admin blueprint: its sign-in guard, page headers and error pages, and what every view asks of a request.

Like `api/blueprint.py`: the view modules (one per resource, beside its form) add their routes to
`admin_blueprint`; `admin/__init__.py` imports them all.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf.csrf import CSRFError

import wording
from admin import navigation, roles
from admin.auth import register_user_loader
from billing.audit.actors import Actor, act_as, stop_acting
from billing.errors import BillingError, NotFound, ValidationFailed
from web.htmx import is_htmx_request
from web.responses import page_security_headers
from wording import audit as wording_audit
from wording import credit_notes as wording_credit_notes
from wording import wallets as wording_wallets

admin_blueprint = Blueprint("admin", __name__)
admin_blueprint.record_once(register_user_loader)

OPEN_ENDPOINTS = frozenset({"admin.login"})


@admin_blueprint.before_request
def require_login() -> ResponseReturnValue | None:
    if request.endpoint in OPEN_ENDPOINTS or current_user.is_authenticated:
        return None
    if is_htmx_request():
        # A fragment request from a page whose session ended: send the whole tab to the login form.
        return Response(status=401, headers={"HX-Redirect": url_for("admin.login")})
    return current_app.login_manager.unauthorized()


# What a member who must choose their own password may still open (admin.account_views).
OWN_PASSWORD_ENDPOINTS = frozenset({"admin.account", "admin.account_password", "admin.logout"})


@admin_blueprint.before_request
def require_own_password() -> ResponseReturnValue | None:
    """A member signed in with a temporary password goes to My account until they choose their own (before their
    role is asked: every other page sends them there, whether their role opens it or not)."""
    if request.endpoint in OPEN_ENDPOINTS or request.endpoint in OWN_PASSWORD_ENDPOINTS:
        return None
    if not current_user.must_change_password:
        return None
    if is_htmx_request():
        return Response(status=403, headers={"HX-Redirect": url_for("admin.account")})
    return redirect(url_for("admin.account"))


@admin_blueprint.before_request
def require_role() -> ResponseReturnValue | None:
    """Every view needs its permission (admin/roles.py); an endpoint not in the map is refused to everyone."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not roles.may_open(current_user.role, request.endpoint):
        if is_htmx_request():
            # htmx swaps no 4xx answer: the whole tab goes to the page saying why.
            return Response(status=403, headers={"HX-Redirect": url_for("admin.forbidden")})
        return forbidden_page()
    # What this request changes is recorded in the audit trail under this account manager.
    g.actor_token = act_as(Actor(kind="account_manager", id=current_user.id, label=current_user.email))
    return None


@admin_blueprint.teardown_request
def stop_acting_for_request(_error) -> None:
    token = g.pop("actor_token", None)
    if token is not None:
        stop_acting(token)


@admin_blueprint.get("/forbidden")
def forbidden() -> ResponseReturnValue:
    return forbidden_page()


def forbidden_page() -> ResponseReturnValue:
    role = roles.ROLE_NAMES.get(current_user.role, current_user.role)
    message = (f"Your role ({role}) does not open this page. {roles.ROLE_DESCRIPTIONS.get(current_user.role, '')} "
               "An admin of your organization can change your role.")
    return render_template("admin/message.html", title="Not allowed", message=message), 403


@admin_blueprint.context_processor
def role_helpers() -> dict[str, object]:
    """`may_open(endpoint)` for templates: the nav and the actions show only what the role may open."""
    role = current_user.role if current_user.is_authenticated else None

    def may_open(endpoint: str) -> bool:
        return role is not None and roles.may_open(role, endpoint)

    return {"may_open": may_open, "audit_words": wording_audit, "credit_note_words": wording_credit_notes,
            "wallet_words": wording_wallets, "coupon_frequency": wording.prices.coupon_frequency,
            "admin_menu": lambda: navigation.menu_for(may_open, request.endpoint)}


@admin_blueprint.after_request
def admin_security_headers(response: Response) -> Response:
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    page_security_headers(response, frame_ancestors="'none'")
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


def refusal_message(failed: BillingError) -> str:
    """A refused action in one sentence, for the message above a panel (a wallet's, the invoice list's)."""
    if isinstance(failed, ValidationFailed):
        return "; ".join(f"{field}: {m}" for field, messages in wording.field_errors(failed.details).items()
                         for m in messages)
    return wording.reason("wallet", getattr(failed, "code", str(failed)))

