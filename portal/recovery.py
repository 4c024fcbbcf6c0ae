"""Getting back in: an expired portal link (or an old email's) opens a page where the customer types the billing
email on file, and a fresh link is mailed to that address only (billing.emails.services.request_portal_link).

The answer is the same whether the address matched or not (same words, same status; the mail itself is sent by a
job, so a match costs the request one row more, not an SMTP exchange): the page reveals nothing about the
customer's address. The link's token says which customer: its signature is checked, its expiry is not. Requests
are rate-limited per client address and per customer (web.throttle).
"""

from __future__ import annotations

import math

from flask import Response, render_template, request
from flask.typing import ResponseReturnValue

from billing import i18n, links
from billing.emails import services as emails
from billing.screens import overview
from portal.views import portal_blueprint
from wording import portal as words

PAGE = "portal/link_refused.html"


@portal_blueprint.post("/<token>/new-link")
def request_new_link(token: str) -> ResponseReturnValue:
    claim = links.signed_claim(token, purpose="portal")
    if claim is None:
        return render_template(PAGE), 403  # a tampered token names no customer
    i18n.set_language(overview.customer_language(organization_id=claim.organization_id, customer_id=claim.subject))
    email = (request.form.get("email") or "").strip()
    if not email:
        return render_template(PAGE, token=token, email_error=words.link_email_missing()), 422
    emails.request_portal_link(organization_id=claim.organization_id, customer_id=claim.subject, email=email[:255])
    return render_template(PAGE, token=token, link_requested=True)


def too_many_link_requests(*, retry_after: float) -> Response:
    """The answer to one request too many: the same page, saying when to try again (no word about the address)."""
    minutes = max(1, math.ceil(retry_after / 60))
    token = (request.view_args or {}).get("token")
    body = render_template(PAGE, token=token, throttled=words.link_requests_throttled(minutes=minutes))
    return Response(body, status=429, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})
