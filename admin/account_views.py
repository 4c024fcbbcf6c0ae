"""My account (every role): who is signed in, and the form that changes their own password.

A member signed in with a temporary password is sent here from every other page until they choose their own
(admin.blueprint.require_own_password). The password form is throttled per account like sign-in (web.throttle).
"""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user

import wording
from admin.auth import AccountManager
from admin.blueprint import admin_blueprint, organization_id
from admin.forms import PasswordChangeForm
from admin.roles import ROLE_DESCRIPTIONS
from billing.errors import ValidationFailed
from billing.organizations import services as organizations
from billing.organizations.passwords import MIN_LENGTH
from wording import audit as words

ACCOUNT_PAGE = "admin/account.html"


def _page(*, form: PasswordChangeForm | None = None, errors: dict[str, list[str]] | None = None) -> str:
    return render_template(ACCOUNT_PAGE, form=form or PasswordChangeForm(formdata=None), errors=errors or {},
                           account=organizations.read_account(organization_id=organization_id(),
                                                              user_id=current_user.id),
                           role_description=ROLE_DESCRIPTIONS.get(current_user.role, ""), min_length=MIN_LENGTH)


@admin_blueprint.get("/account")
def account() -> ResponseReturnValue:
    return _page()


@admin_blueprint.post("/account/password")
def account_password() -> ResponseReturnValue:
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        return _page(form=form, errors={name: list(messages) for name, messages in form.errors.items()}), 422
    try:
        user = organizations.change_own_password(
            organization_id=organization_id(), user_id=current_user.id, current_password=form.current_password.data,
            new_password=form.new_password.data, new_password_again=form.new_password_again.data)
    except ValidationFailed as failed:
        errors = {name: [wording.reason(name, str(code)) for code in codes] for name, codes in failed.details.items()}
        return _page(form=form, errors=errors), 422
    # Every session of this member ended with the change; this browser's is issued again, with the new generation.
    login_user(AccountManager.from_signed_in(user))
    flash(words.notice("password_changed"))
    return redirect(url_for("admin.account"), code=303)


def too_many_password_attempts(retry_after: int) -> Response:
    """The page, refused before the current password is checked: too many attempts for this account."""
    minutes = max(1, round(retry_after / 60))
    body = _page(errors={"current_password": [words.too_many_password_attempts(minutes)]})
    return Response(body, status=429, headers={"Retry-After": str(retry_after)})
