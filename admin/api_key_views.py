"""API keys (admin only): `/admin/api-keys` lists them (prefix, created, last used, revoked); create one, rotate
(a new key, the others revoked now or after a grace, as `rotate_api_key`), revoke one after a confirmation.
A new secret is shown once, in the answer that made it; each form swaps the `keys` block over htmx."""

from __future__ import annotations

from datetime import timedelta

from flask import request
from flask.typing import ResponseReturnValue

from admin.blueprint import admin_blueprint, organization_id
from admin.forms import ApiKeyRotateForm
from billing.db import utcnow
from billing.errors import NotFound
from billing.organizations import services as organizations
from web.htmx import render_page
from web.responses import refused_status
from wording import audit as words
from wording.dates import moment_text

API_KEYS_PAGE = "admin/api_keys.html"


def _render(*, secret: str | None = None, notice: str | None = None, confirm: organizations.ApiKeyInfo | None = None,
            status: int = 200, form: ApiKeyRotateForm | None = None) -> ResponseReturnValue:
    return render_page(API_KEYS_PAGE, "keys", status=status, keys=organizations.list_api_keys(
        organization_id=organization_id()), secret=secret, notice=notice, confirm=confirm, now=utcnow(),
        rotate_form=form or ApiKeyRotateForm(formdata=None))


@admin_blueprint.get("/api-keys")
def api_key_list() -> ResponseReturnValue:
    return _render()


@admin_blueprint.post("/api-keys")
def api_key_new() -> ResponseReturnValue:
    """A new key; the others keep working (rotate_api_key without revoking)."""
    created = organizations.rotate_api_key(organization_id=organization_id(), revoke_old_after=None)
    # The secret is in this answer only (never in the session's flash cookie), and stored hashed.
    return _render(secret=created.api_key, notice=words.notice("key_created", prefix=created.api_key[:10]))


@admin_blueprint.post("/api-keys/rotate")
def api_key_rotate() -> ResponseReturnValue:
    form = ApiKeyRotateForm()
    grace = form.grace.data or "0"
    if not grace.isdigit() or int(grace) > organizations.MAX_KEY_OVERLAP:
        return _render(status=refused_status(), form=form)
    created = organizations.rotate_api_key(organization_id=organization_id(), revoke_old_after=int(grace))
    when = "now" if grace == "0" else f"on {moment_text(utcnow() + timedelta(seconds=int(grace)))}"
    return _render(secret=created.api_key, notice=words.notice("key_rotated", prefix=created.api_key[:10], when=when))


@admin_blueprint.route("/api-keys/<key_id>/revoke", methods=["GET", "POST"])
def api_key_revoke(key_id: str) -> ResponseReturnValue:
    """GET asks (naming the key and its last use), POST revokes."""
    key = next((k for k in organizations.list_api_keys(organization_id=organization_id()) if k.id == key_id), None)
    if key is None:
        raise NotFound("api_key")
    if request.method == "GET":
        return _render(confirm=key)
    revoked = organizations.revoke_api_key(organization_id=organization_id(), key=key.id)
    return _render(notice=words.notice("key_revoked", prefix=revoked.prefix))
