"""My account: every role changes their own password (current one checked, the CLI's strength rule, the two entries
alike); the change ends the member's other sessions while this browser stays signed in, is in the audit trail without
a secret, is throttled like sign-in, and stops at the organization's wall. A member given a temporary password is
kept on My account until they choose their own."""

from __future__ import annotations

import json
import re

import pytest

from billing.audit.services import list_entries
from billing.db import read_only
from billing.errors import NotFound, ValidationFailed
from billing.organizations import passwords
from billing.organizations.models import User
from billing.organizations.services import (
    change_own_password,
    change_password,
    create_admin,
    invite_member,
    list_members,
)
from tests.web.conftest import PASSWORD, csrf_token_in, sign_in

NEW = "a brand new passphrase"
HTMX = {"HX-Request": "true"}


def _user(email: str) -> User:
    with read_only() as session:
        return session.query(User).filter_by(email=email).one()


def _change(client, current: str = PASSWORD, new: str = NEW, again: str | None = None):
    token = csrf_token_in(client.get("/admin/account").get_data(as_text=True))
    return client.post("/admin/account/password", data={
        "csrf_token": token, "current_password": current, "new_password": new,
        "new_password_again": new if again is None else again})


def _field_error(html: str, name: str) -> str | None:
    """The error shown next to the field `name`, or None."""
    match = re.search(rf'data-field="{name}".*?</div>', html, re.S)
    assert match, f"no field {name} on the page"
    error = re.search(r'class="field-error"[^>]*>([^<]*)<', match.group(0))
    return error.group(1) if error else None


def _password_entries(organization_id: str):
    return [e for e in list_entries(organization_id=organization_id).items if e.action == "member.password_changed"]


@pytest.mark.parametrize("role", ["admin", "manager", "finance"])
def test_every_role_opens_my_account_from_the_header(app, org, role):
    email = f"{role}@acme.test"
    create_admin(email=email, password=PASSWORD, organization_id=org.id, role=role)
    client = app.test_client()
    assert sign_in(client, email).status_code == 302

    home = client.get("/admin/").get_data(as_text=True)
    assert re.search(r'<a class="nav-user[^"]*" href="/admin/account"', home)

    page = client.get("/admin/account")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert email in html and "Acme Cloud" in html and role.capitalize() in html
    assert _field_error(html, "current_password") is None
    assert 'aria-current="page"><span class="visually-hidden">My account: </span>' in html
    assert "data-must-change-password" not in html


def test_a_change_replaces_the_hash_ends_other_sessions_and_keeps_this_one(app, org, account_manager, scrypt_calls):
    here, elsewhere = app.test_client(), app.test_client()
    assert sign_in(here, account_manager).status_code == 302
    assert sign_in(elsewhere, account_manager).status_code == 302
    before = _user(account_manager)
    scrypt_calls.clear()

    changed = _change(here)

    assert changed.status_code == 303 and changed.headers["Location"].endswith("/admin/account")
    assert len(scrypt_calls) == 2  # the current password checked, the new one hashed: nothing more
    after = _user(account_manager)
    assert after.password_hash != before.password_hash
    assert after.password_hash.startswith(f"scrypt${passwords._cost['n']}$8$1$")  # hashed as every password is
    assert passwords.check_password(after.password_hash, NEW)
    assert after.session_generation == before.session_generation + 1
    page = here.get("/admin/account").get_data(as_text=True)
    assert "Your password is changed. Your other sessions have ended; this one goes on." in page
    assert here.get("/admin/customers").status_code == 200  # this browser's session was issued again
    other = elsewhere.get("/admin/customers")
    assert other.status_code == 302 and "/admin/login" in other.headers["Location"]
    assert sign_in(app.test_client(), account_manager).status_code == 401
    assert sign_in(app.test_client(), account_manager, NEW).status_code == 302

    [entry] = _password_entries(org.id)
    assert (entry.object_type, entry.object_id, entry.object_label) == ("member", after.id, account_manager)
    assert (entry.actor_kind, entry.actor_label) == ("account_manager", account_manager)
    written = json.dumps([entry.changes, entry.object_label, entry.actor_label])
    for secret in (PASSWORD, NEW, before.password_hash, after.password_hash, "scrypt$"):
        assert secret not in written
    assert entry.changes == {}  # nothing to show but who and when (no request to change it was pending)


def test_a_wrong_current_password_is_refused_next_to_its_field_and_changes_nothing(app, org, account_manager):
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, account_manager)
    sign_in(elsewhere, account_manager)
    before = _user(account_manager)

    refused = _change(here, current="not my password")

    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert _field_error(html, "current_password") == "Not your current password"
    assert _field_error(html, "new_password") is None and _field_error(html, "new_password_again") is None
    assert "not my password" not in html and NEW not in html  # no password typed comes back in the page
    after = _user(account_manager)
    assert (after.password_hash, after.session_generation) == (before.password_hash, before.session_generation)
    assert here.get("/admin/customers").status_code == 200 and elsewhere.get("/admin/customers").status_code == 200
    assert _password_entries(org.id) == []


@pytest.mark.parametrize(("new", "again", "field", "reason"), [
    ("short", "short", "new_password", "Too short"),
    (PASSWORD, PASSWORD, "new_password", "This is your current password: choose another one"),
    (NEW, NEW + "!", "new_password_again", "Not the same as the new password"),
    ("", "", "new_password", "Too short"),
])
def test_a_weak_same_or_mismatched_new_password_is_refused_next_to_its_field(signed_in, org, account_manager, new,
                                                                              again, field, reason):
    before = _user(account_manager)

    refused = _change(signed_in, new=new, again=again)

    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and _field_error(html, field) == reason
    assert 'aria-invalid="true"' in html and f'aria-describedby="{field}' in html
    assert _user(account_manager).password_hash == before.password_hash
    assert signed_in.get("/admin/customers").status_code == 200
    assert _password_entries(org.id) == []


def test_the_strength_rule_is_the_one_of_member_creation_and_the_cli(org, account_manager):
    for refused in (lambda: create_admin(email="x@acme.test", password="seven77", organization_id=org.id),
                    lambda: change_password(email=account_manager, password="seven77")):
        with pytest.raises(ValidationFailed) as failed:
            refused()
        assert failed.value.details == {"password": [passwords.strength_problem("seven77")]}
    user = _user(account_manager)
    with pytest.raises(ValidationFailed) as failed:
        change_own_password(organization_id=org.id, user_id=user.id, current_password=PASSWORD,
                            new_password="seven77", new_password_again="seven77")
    assert failed.value.details == {"new_password": ["too_short"]}
    assert passwords.strength_problem("eight888") is None  # MIN_LENGTH characters are enough


def test_every_problem_is_told_at_once(org, account_manager):
    user = _user(account_manager)
    with pytest.raises(ValidationFailed) as failed:
        change_own_password(organization_id=org.id, user_id=user.id, current_password="wrong one",
                            new_password="short", new_password_again="other")
    assert failed.value.details == {"current_password": ["wrong_password"], "new_password": ["too_short"],
                                    "new_password_again": ["does_not_match"]}
    with pytest.raises(ValidationFailed) as failed:
        change_own_password(organization_id=org.id, user_id=user.id, current_password="",
                            new_password=NEW, new_password_again=NEW)
    assert failed.value.details == {"current_password": ["value_is_mandatory"]}


def test_wrong_current_passwords_are_throttled_like_sign_in(app, org, account_manager, scrypt_calls):
    client = app.test_client()
    sign_in(client, account_manager)
    create_admin(email="colleague@acme.test", password=PASSWORD, organization_id=org.id)
    colleague = app.test_client()
    sign_in(colleague, "colleague@acme.test")
    for _ in range(5):
        assert _change(client, current="guess").status_code == 422
    scrypt_calls.clear()

    throttled = _change(client)  # even the right one, once the account's minute is spent

    html = throttled.get_data(as_text=True)
    assert throttled.status_code == 429 and 1 <= int(throttled.headers["Retry-After"]) <= 61
    assert _field_error(html, "current_password") == "Too many attempts; try again in 1 minute."
    assert scrypt_calls == []  # refused before any password is checked
    assert passwords.check_password(_user(account_manager).password_hash, PASSWORD)
    assert client.get("/admin/customers").status_code == 200  # still signed in, only the form waits
    assert _change(colleague).status_code == 303  # counted per account


def test_a_member_of_another_organization_is_beyond_the_wall(app, org, other_org, account_manager):
    create_admin(email="ops@globex.test", password=PASSWORD, organization_id=other_org)
    stranger = _user("ops@globex.test")
    theirs = app.test_client()
    sign_in(theirs, "ops@globex.test")

    with pytest.raises(NotFound):  # one organization's member cannot reach another's, whatever the id given
        change_own_password(organization_id=org.id, user_id=stranger.id, current_password=PASSWORD,
                            new_password=NEW, new_password_again=NEW)
    mine = app.test_client()
    sign_in(mine, account_manager)
    assert _change(mine).status_code == 303

    after = _user("ops@globex.test")
    assert (after.password_hash, after.session_generation) == (stranger.password_hash, stranger.session_generation)
    assert theirs.get("/admin/customers").status_code == 200
    assert _password_entries(other_org) == [] and len(_password_entries(org.id)) == 1


def test_the_form_needs_its_csrf_token(signed_in, account_manager):
    before = _user(account_manager)
    refused = signed_in.post("/admin/account/password", data={
        "current_password": PASSWORD, "new_password": NEW, "new_password_again": NEW})
    assert refused.status_code == 400 and "Form expired" in refused.get_data(as_text=True)
    assert _user(account_manager).password_hash == before.password_hash


# ---------------------------------------------------------------- a temporary password


def test_a_new_member_is_kept_on_my_account_until_they_choose_their_own_password(app, org, account_manager):
    invited = invite_member(organization_id=org.id, email="fin@acme.test", role="finance")
    assert _user("fin@acme.test").must_change_password
    client = app.test_client()

    signed = sign_in(client, "fin@acme.test", invited.temporary_password)
    assert signed.status_code == 302
    home = client.get(signed.headers["Location"])
    assert home.status_code == 302 and home.headers["Location"].endswith("/admin/account")
    page = client.get("/admin/account").get_data(as_text=True)
    assert "You signed in with a temporary password" in page and "data-must-change-password" in page
    assert 'class="nav-sections"' not in page and "Sign out" in page  # no section to open yet, but a way out
    for path in ("/admin/customers", "/admin/invoices", "/admin/dunning", "/admin/forbidden", "/admin/members"):
        refused = client.get(path)
        assert refused.status_code == 302 and refused.headers["Location"].endswith("/admin/account"), path
    fragment = client.get("/admin/invoices", headers=HTMX)
    assert fragment.headers["HX-Redirect"] == "/admin/account"

    assert _change(client, current=invited.temporary_password).status_code == 303

    assert not _user("fin@acme.test").must_change_password
    page = client.get("/admin/account").get_data(as_text=True)
    assert "You signed in with a temporary password" not in page and 'class="nav-sections"' in page
    assert client.get("/admin/invoices").status_code == 200
    assert client.get("/admin/members").status_code == 403  # their role still rules what they open
    [entry] = _password_entries(org.id)
    assert entry.object_label == "fin@acme.test" and entry.changes == {"must_change_password": [True, False]}


def test_a_member_kept_on_my_account_may_still_sign_out(app, org, account_manager):
    invited = invite_member(organization_id=org.id, email="ops@acme.test", role="manager")
    client = app.test_client()
    sign_in(client, "ops@acme.test", invited.temporary_password)
    token = csrf_token_in(client.get("/admin/account").get_data(as_text=True))

    out = client.post("/admin/logout", data={"csrf_token": token})

    assert out.status_code == 302 and out.headers["Location"].endswith("/admin/login")
    assert client.get("/admin/account").status_code == 302  # signed out for real
    assert _user("ops@acme.test").must_change_password  # still to be chosen at the next sign-in


def test_a_password_set_for_someone_else_is_temporary_only_when_said(org, account_manager):
    members = {m.email: m for m in list_members(organization_id=org.id)}
    assert not _user(account_manager).must_change_password and members[account_manager].active

    change_password(email=account_manager, password="set by the operator", temporary=True)
    assert _user(account_manager).must_change_password
    change_password(email=account_manager, password="set by the owner")
    assert not _user(account_manager).must_change_password


def test_the_cli_sets_a_temporary_password(app, org, account_manager):
    result = app.test_cli_runner().invoke(args=["admin", "set-password", account_manager, "--password",
                                                "handed over once", "--temporary"])
    assert result.exit_code == 0, result.output
    client = app.test_client()
    assert sign_in(client, account_manager, "handed over once").status_code == 302
    assert client.get("/admin/customers").headers["Location"].endswith("/admin/account")
