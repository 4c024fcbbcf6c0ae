"""API keys (admin only): create (the secret shown once, it works at once), rotate with a grace, revoke after a
confirmation; "last used" is written at most once a minute per key, whatever the traffic."""

from __future__ import annotations

import re
from datetime import timedelta

from billing.audit.services import list_entries
from billing.organizations import services as organizations
from tests.web.conftest import csrf_token_in

HTMX = {"HX-Request": "true"}


def _secret(html: str) -> str:
    return re.search(r"data-new-secret>.*?<code>([^<]+)</code>", html, re.S).group(1)


def _api(client, secret: str) -> int:
    return client.get("/api/v1/customers", headers={"Authorization": f"Bearer {secret}"}).status_code


def test_create_rotate_and_revoke_keys(signed_in, org, app, clock):
    page = signed_in.get("/admin/api-keys").get_data(as_text=True)
    assert f'data-key="{org.api_key[:10]}"' in page and org.api_key not in page and "never" in page
    token = csrf_token_in(page)
    api = app.test_client()

    created = signed_in.post("/admin/api-keys", headers=HTMX, data={"csrf_token": token}).get_data(as_text=True)
    secret = _secret(created)
    assert "<html" not in created and _api(api, secret) == 200 and _api(api, org.api_key) == 200
    assert secret not in signed_in.get("/admin/api-keys").get_data(as_text=True)  # shown once

    rotated = signed_in.post("/admin/api-keys/rotate", headers=HTMX, data={"csrf_token": token, "grace": "3600"})
    html = rotated.get_data(as_text=True)
    newest = _secret(html)
    assert "the other keys stop working on 10 Nov 2026, 13:00 UTC" in html and "stops 10 Nov 2026, 13:00 UTC" in html
    assert _api(api, newest) == 200

    keys = {k.prefix: k for k in organizations.list_api_keys(organization_id=org.id)}
    asked = signed_in.get(f"/admin/api-keys/{keys[newest[:10]].id}/revoke", headers=HTMX).get_data(as_text=True)
    assert f"Revoke the key <span class=\"mono\">{newest[:10]}…</span>?" in asked and "cannot be undone" in asked
    assert "never been used" not in asked  # it was used above
    assert organizations.list_api_keys(organization_id=org.id) == list(keys.values())  # asking changes nothing
    revoked = signed_in.post(f"/admin/api-keys/{keys[newest[:10]].id}/revoke", headers=HTMX,
                             data={"csrf_token": token}).get_data(as_text=True)
    assert f"API key {newest[:10]}… revoked" in revoked
    organizations._known_keys.clear()  # past the 10 s this process remembers a key for
    assert _api(api, newest) == 401

    entries = [(e.action, e.object_label, e.actor_label) for e in list_entries(organization_id=org.id).items]
    assert ("api_key.revoked", newest[:10], "manager@acme.test") in entries
    assert ("api_key.created", secret[:10], "manager@acme.test") in entries
    assert sum(1 for e in entries if e[0] == "api_key.revoked") == 3  # two by the rotation (with grace), one now


def test_last_used_is_written_at_most_once_a_minute(org, app, clock, monkeypatch):
    api = app.test_client()
    start = clock.now()

    def last_used():
        [key] = organizations.list_api_keys(organization_id=org.id)
        return key.last_used_at

    assert last_used() is None
    assert _api(api, org.api_key) == 200
    assert last_used() == start
    clock.set(start + timedelta(seconds=30))
    assert _api(api, org.api_key) == 200
    assert last_used() == start  # this process wrote it less than a minute ago: no write at all
    organizations._use_noted.clear()  # as another process would: it tries, and the UPDATE matches no row
    assert _api(api, org.api_key) == 200
    assert last_used() == start
    clock.set(start + timedelta(seconds=90))
    organizations._use_noted.clear()
    assert _api(api, org.api_key) == 200
    assert last_used() == start + timedelta(seconds=90)


def test_a_key_of_another_organization_is_not_found(signed_in, other_org):
    from sqlalchemy import select

    from billing.db import read_only
    from billing.organizations.models import ApiKey

    with read_only() as session:
        foreign = session.scalar(select(ApiKey.id).where(ApiKey.organization_id == other_org))
    assert signed_in.get(f"/admin/api-keys/{foreign}/revoke").status_code == 404
