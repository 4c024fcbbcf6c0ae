"""The customer page's Overdue section: the overdue balance per currency and "Request payment now" (one payment
request per currency: charged to the default method, or its link emailed; billing.payments.requests), which asks
first, naming the amounts (admin/confirmations.py)."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask.typing import ResponseReturnValue

from admin.blueprint import admin_blueprint, organization_id
from admin.confirmations import ask, confirmed
from admin.customer_views import render_customer
from billing.money import format_money
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
    if not confirmed() and before.balances:
        question = ask("request_payment_charge" if before.chargeable else "request_payment_email",
                       action_url=url_for("admin.customer_request_payment", customer_id=customer_id),
                       target="#overdue", cancel_url=url_for("admin.customer", customer_id=customer_id),
                       cancel_fragment_url=url_for("admin.customer_overdue", customer_id=customer_id),
                       amount=", ".join(format_money(b.amount_cents, b.currency) for b in before.balances))
        return render_customer(customer_id, "overdue", overdue_confirm=question)
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
