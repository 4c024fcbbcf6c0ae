"""Members (admin only): add one with a temporary password shown once (it signs in), change a role, deactivate and
reactivate; the last active admin can be neither demoted nor deactivated; each change is in the audit trail."""

from __future__ import annotations

import re

from billing.audit.services import list_entries
from billing.organizations.services import list_members
from tests.web.conftest import csrf_token_in, sign_in

HTMX = {"HX-Request": "true"}


def _member(org, email):
    return next(m for m in list_members(organization_id=org.id) if m.email == email)


def test_add_a_member_who_signs_in_with_the_temporary_password(signed_in, org, app):
    page = signed_in.get("/admin/members")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-member="manager@acme.test"' in html and "(you)" in html
    token = csrf_token_in(html)

    refused = signed_in.post("/admin/members", headers=HTMX, data={"csrf_token": token, "email": "nope",
                                                                  "role": "finance"})
    fragment = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "<html" not in fragment and 'data-field="email"' in fragment
    assert "has-error" in fragment and len(list_members(organization_id=org.id)) == 1

    added = signed_in.post("/admin/members", headers=HTMX, data={"csrf_token": token, "email": "Fin@Acme.test",
                                                                "role": "finance"})
    fragment = added.get_data(as_text=True)
    assert added.status_code == 200 and "fin@acme.test can sign in now" in fragment
    password = re.search(r"data-temporary-password>.*?<code>([^<]+)</code>", fragment, re.S).group(1)
    assert _member(org, "fin@acme.test").role == "finance"
    assert password not in signed_in.get("/admin/members").get_data(as_text=True)  # shown once

    other = app.test_client()
    assert sign_in(other, "fin@acme.test", password).status_code == 302
    # A temporary password: they choose their own before any other page (tests/web/test_admin_account.py).
    assert other.get("/admin/members").headers["Location"].endswith("/admin/account")

    taken = signed_in.post("/admin/members", data={"csrf_token": token, "email": "fin@acme.test", "role": "admin"})
    assert taken.status_code == 422 and "already" in taken.get_data(as_text=True).lower()


def test_change_roles_and_deactivate_but_never_lose_the_last_active_admin(signed_in, org, app):
    token = csrf_token_in(signed_in.get("/admin/members").get_data(as_text=True))
    me = _member(org, "manager@acme.test")

    demoted = signed_in.post(f"/admin/members/{me.id}/role", headers=HTMX, data={"csrf_token": token,
                                                                               "role": "finance"})
    assert "is the last active admin" in demoted.get_data(as_text=True)
    deactivated = signed_in.post(f"/admin/members/{me.id}/active", headers=HTMX, data={"csrf_token": token,
                                                                                     "active": "0"})
    assert "is the last active admin" in deactivated.get_data(as_text=True)
    assert _member(org, "manager@acme.test").role == "admin" and _member(org, "manager@acme.test").active

    signed_in.post("/admin/members", headers=HTMX, data={"csrf_token": token, "email": "ops@acme.test",
                                                         "role": "manager"})
    ops = _member(org, "ops@acme.test")
    promoted = signed_in.post(f"/admin/members/{ops.id}/role", headers=HTMX, data={"csrf_token": token,
                                                                                 "role": "admin"})
    assert "ops@acme.test is now Admin." in promoted.get_data(as_text=True)
    off = signed_in.post(f"/admin/members/{ops.id}/active", headers=HTMX, data={"csrf_token": token, "active": "0"})
    assert "ops@acme.test is deactivated" in off.get_data(as_text=True) and not _member(org, "ops@acme.test").active
    # With ops deactivated, the signed-in admin is the last active one again.
    again = signed_in.post(f"/admin/members/{me.id}/role", headers=HTMX, data={"csrf_token": token, "role": "manager"})
    assert "is the last active admin" in again.get_data(as_text=True)
    on = signed_in.post(f"/admin/members/{ops.id}/active", headers=HTMX, data={"csrf_token": token, "active": "1"})
    assert "ops@acme.test can sign in again." in on.get_data(as_text=True) and _member(org, "ops@acme.test").active

    actions = [(e.action, e.object_label, e.actor_label, e.changes)
               for e in reversed(list_entries(organization_id=org.id).items) if e.object_type == "member"]
    assert [a[:3] for a in actions] == [
        ("member.created", "manager@acme.test", "system"),  # made by the test's setup, outside any request
        ("member.created", "ops@acme.test", "manager@acme.test"),
        ("member.role_changed", "ops@acme.test", "manager@acme.test"),
        ("member.deactivated", "ops@acme.test", "manager@acme.test"),
        ("member.reactivated", "ops@acme.test", "manager@acme.test"),
    ]
    assert actions[2][3] == {"role": ["manager", "admin"]}


def test_members_of_another_organization_are_not_found(signed_in, other_org):
    from billing.organizations.services import create_admin

    stranger = create_admin(email="x@globex.test", password="long enough", organization_id=other_org)
    token = csrf_token_in(signed_in.get("/admin/members").get_data(as_text=True))
    assert signed_in.post(f"/admin/members/{stranger}/role", data={"csrf_token": token,
                                                                   "role": "finance"}).status_code == 404
    assert "x@globex.test" not in signed_in.get("/admin/members").get_data(as_text=True)
