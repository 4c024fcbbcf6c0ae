"""The customer page's Overdue section: the overdue balance per currency and "Request payment now" (one payment
request per currency: charged to the default method, or its link emailed; billing.payments.requests)."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask.typing import ResponseReturnValue

from admin.blueprint import admin_blueprint, organization_id
from admin.customer_views import render_customer
from billing.payments import requests
from billing.screens import overdue
from web.htmx import is_htmx_request
from wording import overdue as words

# NOTE: announced to the page (house rule 8): the invoice list reloads itself on this event; not invoices-changed,
# on which this section reloads itself too, losing the notice the answer carries.
PAYMENT_REQUESTED = "payment-requested"


@admin_blueprint.get("/customers/<customer_id>/overdue")
def customer_overdue(customer_id: str) -> ResponseReturnValue:
    return render_customer(customer_id, "overdue")


@admin_blueprint.post("/customers/<customer_id>/request-payment")
def customer_request_payment(customer_id: str) -> ResponseReturnValue:
    """Request payment of everything overdue now, and say what it did: charging, emailed, or nothing overdue."""
    before = overdue.customer_overdue(organization_id=organization_id(), customer_id=customer_id)
    made = requests.request_overdue_payment(organization_id=organization_id(), customer_id=customer_id)
    notice = words.request_notice([(r.amount_cents, r.currency) for r in made], chargeable=before.chargeable,
                                  email=made[0].email if made else before.email,
                                  can_mail=before.can_mail)
    if not is_htmx_request():
        flash(notice.text)
        return redirect(url_for("admin.customer", customer_id=customer_id), code=303)
    response = render_customer(customer_id, "overdue", overdue_notice=notice)
    if made:
        response.headers["HX-Trigger"] = PAYMENT_REQUESTED
    return response
