"""The portal's "Payment methods" page: the customer's saved cards or Direct Debit mandates, a new one (Stripe.js, or
the provider's hosted page), the default, removal; methods kept from a previous provider are listed, removable only."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue

from billing.errors import BillingError, NotAllowed, NotFound
from billing.payments import customers as payment_customers
from portal import payments
from portal.views import _access, _link_refused, portal_blueprint
from web.responses import saved
from wording import portal_payments as words

PAGE = "portal/payment_methods.html"


def _methods_url(token: str, notice: str | None = None) -> str:
    return url_for("portal.payment_methods", token=token, notice=notice)


@portal_blueprint.get("/<token>/payment-methods")
def payment_methods(token: str) -> ResponseReturnValue:
    access = _access(token)
    if access is None:
        return _link_refused()
    if request.args.get("returned") == "1":
        # Back from a provider's hosted page (Adyen's payment link): the card it stored is read back now,
        # without waiting for the provider's notification.
        try:
            payment_customers.refresh_methods(**access.scope)
        except BillingError:
            pass  # the page shows what is known; the notification or the next visit brings the rest
    state = payments.customer_payments(**access.scope)
    card_form = None
    if state.has_provider:
        card_form = payments.start_card_form(**access.scope, return_url=url_for(
            "portal.payment_methods", token=token, returned=1, _external=True))
    return render_template(PAGE, token=token, customer=access.customer, link_expires_at=access.claim.expires_at,
                           payments=state, card_form=card_form, notice=words.notice(request.args.get("notice")),
                           error=None, words=words)


@portal_blueprint.post("/<token>/payment-methods/setup")
def payment_method_setup(token: str) -> ResponseReturnValue:
    """A fresh set-up for the next try at a card (JSON for the page's script)."""
    access = _access(token)
    if access is None:
        return payments.refused(words.refusal("link_expired"), status=403)
    return payments.fresh_setup_secret(**access.scope,
                                       return_url=url_for("portal.payment_methods", token=token, _external=True))


@portal_blueprint.post("/<token>/payment-methods")
def payment_method_add(token: str) -> ResponseReturnValue:
    """Keep the card the browser just set up with the provider (JSON for the page's script)."""
    access = _access(token)
    if access is None:
        return payments.refused(words.refusal("link_expired"), status=403)
    try:
        method_id = payments.provider_method_id(request.form)
        payment_customers.save_new_method(**access.scope, provider_method_id=method_id)
    except BillingError as error:
        return payments.refused(payments.card_refusal(error))
    return payments.go_to(_methods_url(token, "added"))


@portal_blueprint.post("/<token>/payment-methods/<method_id>/default")
def payment_method_default(token: str, method_id: str) -> ResponseReturnValue:
    access = _access(token)
    if access is None:
        return _link_refused()
    try:
        payment_customers.set_default_method(**access.scope, method_id=method_id)
    except NotFound:
        return _refused_page(access, token, words.refusal("payment_method_not_found"))
    except NotAllowed as refused:  # a method kept from a provider the customer left
        return _refused_page(access, token, words.refusal(refused.code))
    return saved(_methods_url(token, "default"))


@portal_blueprint.post("/<token>/payment-methods/<method_id>/remove")
def payment_method_remove(token: str, method_id: str) -> ResponseReturnValue:
    access = _access(token)
    if access is None:
        return _link_refused()
    try:
        payment_customers.remove_method(**access.scope, method_id=method_id)
    except BillingError as error:
        return _refused_page(access, token, payments.card_refusal(error))
    return saved(_methods_url(token, "removed"))


def _refused_page(access, token: str, message: str) -> ResponseReturnValue:
    state = payments.customer_payments(**access.scope)
    return render_template(PAGE, token=token, customer=access.customer, link_expires_at=access.claim.expires_at,
                           payments=state, card_form=None, notice=None, error=message, words=words), 422
