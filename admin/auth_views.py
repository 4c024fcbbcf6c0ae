"""Signing in and out: the login form, its throttled answer, and sign-out (which ends every session of the user)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user

from admin.auth import AccountManager
from admin.blueprint import admin_blueprint
from admin.forms import LoginForm
from billing.organizations.services import authenticate_user, end_sessions


def _local_path_or_none(target: str | None) -> str | None:
    """`target` if it is a path on this site (so `next=` cannot send a signed-in user elsewhere)."""
    if not target or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or target.startswith("//"):
        return None
    return target


@admin_blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("admin.home"))
    form = LoginForm()
    refused = False
    if form.validate_on_submit():
        user = authenticate_user(email=form.email.data, password=form.password.data)
        if user is not None:
            login_user(AccountManager.from_signed_in(user))
            return redirect(_local_path_or_none(request.args.get("next")) or url_for("admin.home"))
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
