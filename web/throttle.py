"""Throttling: attempts at the admin sign-in form, counted per account and per client address; attempts at My
account's password form, counted per signed-in account; requests for a fresh portal link (portal.recovery), counted
per customer and per client address.

Checked before the form's password is hashed, so refused attempts cost no scrypt work. Every
POST counts, successful or not. Nothing else is limited: the API, the portal's other pages and every other page
never reach the limiter (`throttle_sign_in` takes its per-request hooks off the app).
"""

from __future__ import annotations

import functools
import hashlib
import math
import time

from flask import Flask, Response, request
from flask_limiter import Limiter, RequestLimit
from flask_login import current_user

from admin.account_views import too_many_password_attempts
from admin.auth_views import too_many_sign_ins
from billing import links
from portal.recovery import too_many_link_requests

# NOTE: per account, a person who mistypes a password a few times is not held up; a guesser gets
# 20 tries an hour. Per address, an office behind one NAT can still sign in several people a minute.
PER_ACCOUNT = "5/minute;20/hour"
PER_ADDRESS = "20/minute;100/hour"


# NOTE: a customer who mistypes their billing email a few times still gets their link; a script trying addresses
# for one link gets 5 tries an hour; an address asking for many customers' links is held up too.
LINK_REQUESTS_PER_CUSTOMER = "5/hour;10/day"
LINK_REQUESTS_PER_ADDRESS = "10/hour;30/day"


def _submitted_account() -> str:
    email = (request.form.get("email") or "").strip().lower()
    return "account:" + hashlib.sha256(email.encode()).hexdigest()  # no email in the storage's keys


def _client_address() -> str:
    # request.remote_addr: the peer of the connection. Behind a reverse proxy, that is the proxy,
    # unless the app is told to trust its X-Forwarded-For (TALLY_TRUSTED_PROXIES, web.app).
    return "address:" + (request.remote_addr or "unknown")


def _link_customer() -> str:
    token = (request.view_args or {}).get("token") or ""
    claim = links.signed_claim(token, purpose="portal")
    who = f"{claim.organization_id}:{claim.subject}" if claim else "unsigned"
    return "portal-link:" + hashlib.sha256(who.encode()).hexdigest()


def _link_client_address() -> str:
    return "portal-link:" + _client_address()


def _refuse_link_request(limit: RequestLimit) -> Response:
    return too_many_link_requests(retry_after=max(1, limit.reset_at - time.time()))


def throttle_portal_link_requests(app: Flask, limiter: Limiter) -> None:
    """Limit the portal's requests for a fresh link, per customer and per client address (see throttle_sign_in)."""
    view = app.view_functions["portal.request_new_link"]
    view = limiter.limit(LINK_REQUESTS_PER_CUSTOMER, key_func=_link_customer, methods=["POST"],
                         on_breach=_refuse_link_request)(view)
    view = limiter.limit(LINK_REQUESTS_PER_ADDRESS, key_func=_link_client_address, methods=["POST"],
                         on_breach=_refuse_link_request)(view)
    app.view_functions["portal.request_new_link"] = view


def _refuse(limit: RequestLimit) -> Response:
    return too_many_sign_ins(retry_after=max(1, math.ceil(limit.reset_at - time.time())))


def throttle_sign_in(app: Flask, limiter: Limiter) -> None:
    """Limit POSTs to the admin sign-in form (its view, wrapped: the check runs before the view does)."""
    view = app.view_functions["admin.login"]
    view = limiter.limit(PER_ACCOUNT, key_func=_submitted_account, methods=["POST"], on_breach=_refuse)(view)
    view = limiter.limit(PER_ADDRESS, key_func=_client_address, methods=["POST"], on_breach=_refuse)(view)
    app.view_functions["admin.login"] = view
    # The wrapped view checks its own limits. The limiter's app-wide hooks serve default and
    # application-wide limits, which Tally has none of, yet cost every request ≈ 60 µs (10 times
    # routing its URL): take them off, so the API and the portal do not pay for sign-in throttling.
    for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        hooks[None] = [hook for hook in hooks.get(None, []) if not _belongs_to(hook, limiter)]


def _signed_in_account() -> str:
    return "password-change:" + current_user.id  # reached signed in only (admin.blueprint.require_login runs first)


def _refuse_password_change(limit: RequestLimit) -> Response:
    return too_many_password_attempts(retry_after=max(1, math.ceil(limit.reset_at - time.time())))


def throttle_password_change(app: Flask, limiter: Limiter) -> None:
    """Limit POSTs to My account's password form per account, as sign-in's (PER_ACCOUNT): a borrowed session
    guessing the current password gets no more tries than a guesser at the sign-in form, and none costs scrypt."""
    view = app.view_functions["admin.account_password"]
    view = limiter.limit(PER_ACCOUNT, key_func=_signed_in_account, methods=["POST"],
                         on_breach=_refuse_password_change)(view)
    app.view_functions["admin.account_password"] = view


def _belongs_to(hook, limiter: Limiter) -> bool:
    if isinstance(hook, functools.partial):
        return any(argument is limiter for argument in hook.args)
    return getattr(hook, "__self__", None) is limiter
