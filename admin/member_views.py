"""Account managers (admin only): `/admin/members` lists them; add one (a temporary password shown once), change a
role, deactivate or reactivate. Each form swaps the `members` block over htmx; the last active admin stays one."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue
from flask_login import current_user

import wording
from admin.blueprint import admin_blueprint, organization_id
from admin.forms import MemberForm, MemberRoleForm
from admin.roles import ROLE_DESCRIPTIONS
from billing.errors import Conflict, NotFound, ValidationFailed
from billing.organizations import services as organizations
from web.htmx import render_page
from web.responses import refused_status
from wording import audit as words
from wording import notices

MEMBERS_PAGE = "admin/members.html"


def _render(*, form: MemberForm | None = None, errors: dict[str, list[str]] | None = None, notice: str | None = None,
            refusal: str | None = None, invited: organizations.InvitedMember | None = None,
            status: int = 200) -> ResponseReturnValue:
    return render_page(MEMBERS_PAGE, "members", status=status, form=form or MemberForm(formdata=None),
                       errors=errors or {}, notice=notice, refusal=refusal, invited=invited,
                       members=organizations.list_members(organization_id=organization_id()),
                       role_descriptions=ROLE_DESCRIPTIONS,
                       me=current_user.id)


@admin_blueprint.get("/members")
def member_list() -> ResponseReturnValue:
    return _render()


@admin_blueprint.post("/members")
def member_new() -> ResponseReturnValue:
    form = MemberForm()
    if not form.validate_on_submit():
        return _render(form=form, errors={name: list(messages) for name, messages in form.errors.items()},
                       status=refused_status())
    try:
        invited = organizations.invite_member(organization_id=organization_id(), email=form.email.data or "",
                                              role=form.role.data or "")
    except ValidationFailed as failed:
        errors = {name: [wording.reason(name, str(code)) for code in codes]
                  for name, codes in failed.details.items()}
        return _render(form=form, errors=errors, status=refused_status())
    # The password is in this answer only (never in the session's flash cookie): the admin hands it over.
    return _render(notice=words.notice("member_invited", email=invited.member.email), invited=invited)


def _member_email(user_id: str) -> str:
    for member in organizations.list_members(organization_id=organization_id()):
        if member.id == user_id:
            return member.email
    raise NotFound("member")


@admin_blueprint.post("/members/<user_id>/role")
def member_role(user_id: str) -> ResponseReturnValue:
    form = MemberRoleForm()
    if not form.validate_on_submit():
        return _render(refusal=notices.refusal("check_the_form"), status=refused_status())
    try:
        member = organizations.change_member_role(organization_id=organization_id(), user_id=user_id,
                                                  role=form.role.data or "")
    except Conflict:
        return _render(refusal=words.refusal("last_active_admin", email=_member_email(user_id)),
                       status=refused_status())
    except ValidationFailed:
        return _render(refusal=notices.refusal("check_the_form"), status=refused_status())
    return _render(notice=words.notice("role_changed", email=member.email, role=words.role(member.role)))


@admin_blueprint.post("/members/<user_id>/active")
def member_active(user_id: str) -> ResponseReturnValue:
    active = request.form.get("active") == "1"  # the CSRF token was checked app-wide (web.extensions.csrf)
    try:
        member = organizations.set_member_active(organization_id=organization_id(), user_id=user_id, active=active)
    except Conflict:
        return _render(refusal=words.refusal("last_active_admin", email=_member_email(user_id)),
                       status=refused_status())
    code = "member_reactivated" if active else "member_deactivated"
    return _render(notice=words.notice(code, email=member.email))
