"""Render a whole page, or only one of its blocks when htmx asks (ARCHITECTURE.md, house rule 8).

Shared by the portal and admin blueprints, which may not import each other.
"""

from __future__ import annotations

from typing import Any

from flask import make_response, render_template, request
from flask.typing import ResponseReturnValue
from jinja2_fragments.flask import render_block

# NOTE: htmx stops polling an element when the response has this status (htmx docs, "Polling").
STOP_POLLING = 286


def is_htmx_request() -> bool:
    """True when htmx wants a fragment; a boosted link or a history restore (cache miss) wants the page."""
    headers = request.headers
    return (headers.get("HX-Request") == "true" and headers.get("HX-Boosted") != "true"
            and headers.get("HX-History-Restore-Request") != "true")


def render_page(template: str, block: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    """The whole page, or only `block` of the same template for an htmx request."""
    body = render_block(template, block, **context) if is_htmx_request() else render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")  # a cache must not answer a page request with a fragment
    return response
