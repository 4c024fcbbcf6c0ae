"""Forms on pages opened by a signed link (the portal, the embedded widgets), protected without a cookie.

A host product may frame these pages, and a browser partitions or blocks a third-party iframe's cookies: the
session's CSRF token would not survive there. The link's token is the page's credential, so each form carries
a second token bound to it (`links.derived_token`, made with the secret key): a page another site forges
cannot know it. The templates keep calling `csrf_token()`, which gives this token on such a page
(`web.jinja`); the blueprint is exempt from flask-wtf's session check and calls `check_link_form` instead.
"""

from __future__ import annotations

from flask import g, request
from flask_wtf.csrf import CSRFError

from billing import links

PORTAL_FORMS = "portal_form"
WIDGET_FORMS = "embed_form"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def bind_forms(*, purpose: str) -> None:
    """This request's forms carry the token bound to the link in its URL (what `csrf_token()` gives in its
    templates). An invalid link gets a token too, harmless: its pages refuse it anyway."""
    token = (request.view_args or {}).get("token")
    if token:
        g.link_form_token = links.derived_token(token, purpose=purpose)


def check_link_form(*, purpose: str) -> None:
    """Refuse (CSRFError) a form sent without the token bound to the link in its URL."""
    if request.method not in _UNSAFE_METHODS:
        return
    token = (request.view_args or {}).get("token") or ""
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRFToken")
    if not links.derived_token_matches(token, sent, purpose=purpose):
        raise CSRFError("The form's token does not belong to this link.")
