"""Tally-hosted pay pages: `/pay/<token>` pays one invoice (a saved card in one click, or a new card), and
`/pay/setup/<token>` adds a card (Lago's checkout_url). Both open from signed, expiring links (billing.links).

The page reads the invoice again at every step: a link to an invoice paid or voided meanwhile says so and
never charges; the core allows one attempt at a time per invoice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from billing import i18n, links
from billing.customers.services import get_customer_by_id
from billing.db import read_only
from billing.errors import BillingError, NotFound
from billing.invoicing.queries import get_invoice_in
from billing.payments import collection
from billing.payments import customers as payment_customers
from billing.payments.models import OPEN_PAYMENT_STATUSES
from portal import payments
from web.htmx import STOP_POLLING, is_htmx_request
from web.responses import page_security_headers
from wording import portal_payments as words

pay_blueprint = Blueprint("pay", __name__)

PAGE = "portal/pay.html"
SETUP_PAGE = "portal/pay_setup.html"
REFUSED_PAGE = "portal/pay_refused.html"


@pay_blueprint.after_request
def pay_security_headers(response: Response) -> Response:
    # The token in the URL pays an invoice: kept out of Referer headers, caches and search engines. A page
    # with a Pay button is framed by no one (a framed button could be clicked by a trick).
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["X-Frame-Options"] = "DENY"
    page_security_headers(response, frame_ancestors="'none'", provider=g.get("provider_origins"))
    return response


@dataclass(frozen=True)
class PayView:
    """One invoice as its pay page shows it, and what the customer can do with it now (`state`)."""

    invoice_id: str
    organization_id: str
    organization_name: str
    customer_id: str
    customer_name: str
    number: str
    invoice_type: str
    invoice_status: str
    payment_status: str
    issuing_date: date
    payment_due_date: date
    currency: str
    total_amount_cents: int
    total_due_amount_cents: int
    state: str  # payable | paid | voided | not_payable | in_progress | no_provider
    next_action_url: str | None = None
    last_failure: str | None = None
    language: str = "en"  # the customer's (billing.i18n.customer_language)

    @property
    def is_credit_purchase(self) -> bool:
        return self.invoice_type == "credit"

    @property
    def status(self) -> str:  # what templates/_macros.html's invoice_status reads
        return self.invoice_status


def _state(invoice, customer, open_payment) -> str:
    if invoice.status == "voided":
        return "voided"
    if invoice.status not in ("finalized", "open"):
        return "not_payable"
    if invoice.payment_status == "succeeded" or invoice.total_due_amount_cents <= 0:
        return "paid"
    if open_payment is not None:
        return "in_progress"
    if not customer.payment_provider_code:
        return "no_provider"
    return "payable"


def _pay_view(organization_id: str, invoice_id: str) -> PayView:
    with read_only() as session:
        invoice = get_invoice_in(session, organization_id, invoice_id)
        customer = invoice.customer
        history = collection.payments_of_invoice(session, invoice.id)
        open_payment = next((p for p in history if p.status in OPEN_PAYMENT_STATUSES), None)
        failed = [p for p in history if p.status == "failed"]
        last_failure = (failed[-1].error_message or "") if failed and invoice.payment_status == "failed" else None
        return PayView(invoice_id=invoice.id, organization_id=organization_id,
                       organization_name=customer.organization.name, customer_id=customer.id,
                       customer_name=customer.display_name, number=invoice.number, invoice_type=invoice.invoice_type,
                       invoice_status=invoice.status, payment_status=invoice.payment_status,
                       issuing_date=invoice.issuing_date, payment_due_date=invoice.payment_due_date,
                       currency=invoice.currency, total_amount_cents=invoice.total_amount_cents,
                       total_due_amount_cents=invoice.total_due_amount_cents,
                       state=_state(invoice, customer, open_payment),
                       next_action_url=open_payment.next_action_url if open_payment is not None else None,
                       last_failure=last_failure, language=i18n.customer_language(customer))


def _view(token: str) -> PayView | None:
    claim = links.verify(token, purpose="pay_invoice")
    if claim is None:
        return None
    try:
        view = _pay_view(claim.organization_id, claim.subject)
    except NotFound:
        return None
    i18n.set_language(view.language)
    return view


def portal_token(view) -> str | None:
    """The portal link the customer came from, kept only when it is valid and theirs (for the way back)."""
    token = request.args.get("portal") or ""
    claim = links.verify(token, purpose="portal") if token else None
    if claim is None or claim.subject != view.customer_id or claim.organization_id != view.organization_id:
        return None
    return token


def refused_link() -> ResponseReturnValue:
    """An expired, tampered or foreign link: the page that says nothing was charged (htmx: stop and reload)."""
    if is_htmx_request():
        return Response(status=STOP_POLLING, headers={"HX-Refresh": "true"})
    return render_template(REFUSED_PAGE), 403


def wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def _page_url(token: str, portal: str | None, *, external: bool = False) -> str:
    return url_for("pay.invoice", token=token, portal=portal, _external=external)


def _render(token: str, view: PayView, *, status: int = 200, error: str | None = None,
            error_field: str | None = None) -> ResponseReturnValue:
    portal = portal_token(view)
    state = payments.customer_payments(organization_id=view.organization_id, customer_id=view.customer_id)
    card_form = None
    if view.state == "payable":
        card_form = payments.start_card_form(organization_id=view.organization_id, customer_id=view.customer_id,
                                             return_url=_page_url(token, portal, external=True))
    failure = words.payment_failed(view.last_failure) if view.last_failure is not None else None
    return render_template(PAGE, token=token, view=view, payments=state, card_form=card_form, portal=portal,
                           error=error, error_field=error_field, failure=failure), status


@pay_blueprint.get("/<token>")
def invoice(token: str) -> ResponseReturnValue:
    view = _view(token)
    if view is None:
        return refused_link()
    return _render(token, view)


@pay_blueprint.get("/<token>/state")
def invoice_state(token: str) -> ResponseReturnValue:
    """While a payment is under way the page asks again; once it is settled, the page reloads (htmx)."""
    view = _view(token)
    if view is None or view.state != "in_progress":
        return Response(status=STOP_POLLING, headers={"HX-Refresh": "true"})
    return Response(status=204)


def after_attempt(attempt: collection.Attempt, *, page_url: str,
                  refusal: Callable[[str, str], ResponseReturnValue], field: str) -> ResponseReturnValue:
    """Where an attempt to pay leads: the bank's page, the refusal by the field, or back to the page."""
    if attempt.status == "requires_action" and attempt.next_action_url and wants_json():
        return payments.go_to(attempt.next_action_url)  # the bank's page (3-D Secure), then back here
    if attempt.status == "failed":
        return refusal(words.declined(attempt.error_message), field)
    if attempt.status == "skipped" and attempt.reason in ("no_payment_provider", "no_payment_method"):
        return refusal(words.refusal(attempt.reason), field)
    # Paid, under way, or nothing left to pay: the page says which.
    if wants_json():
        return payments.go_to(page_url)
    return redirect(page_url, code=303)


def _after_attempt(token: str, view: PayView, attempt: collection.Attempt, *, field: str) -> ResponseReturnValue:
    return after_attempt(attempt, page_url=_page_url(token, portal_token(view)), field=field,
                         refusal=lambda message, field: _refusal(token, view, message, field=field))


def _refusal(token: str, view: PayView, message: str, *, field: str) -> ResponseReturnValue:
    if wants_json():
        return payments.refused(message, field=field)
    return _render(token, _pay_view(view.organization_id, view.invoice_id), status=422, error=message,
                   error_field=field)


@pay_blueprint.post("/<token>")
def pay_with_saved_method(token: str) -> ResponseReturnValue:
    """Pay with a saved card (Tally's id of it; the default one when none is named), the customer present."""
    view = _view(token)
    if view is None:
        return refused_link()
    if view.state != "payable":
        return _after_attempt(token, view, collection.Attempt(None, "skipped", reason=view.state), field="method")
    try:
        attempt = collection.pay_invoice(organization_id=view.organization_id, invoice_id=view.invoice_id,
                                         customer_id=view.customer_id, method_id=request.form.get("method_id") or None,
                                         return_url=_page_url(token, portal_token(view), external=True))
    except BillingError as error:
        return _refusal(token, view, payments.card_refusal(error), field="method")
    return _after_attempt(token, view, attempt, field="method")


@pay_blueprint.post("/<token>/setup")
def pay_setup_secret(token: str) -> ResponseReturnValue:
    """A fresh set-up for the next try at a new card (JSON for the page's script)."""
    view = _view(token)
    if view is None:
        return payments.refused(words.refusal("link_expired"), status=403)
    return payments.fresh_setup_secret(organization_id=view.organization_id, customer_id=view.customer_id,
                                       return_url=_page_url(token, portal_token(view), external=True))


@pay_blueprint.post("/<token>/card")
def pay_with_new_card(token: str) -> ResponseReturnValue:
    """Pay with the card the browser just set up with the provider: kept first (a decline there is the answer)."""
    view = _view(token)
    if view is None:
        return payments.refused(words.refusal("link_expired"), status=403)
    if view.state != "payable":
        return payments.go_to(_page_url(token, portal_token(view)))
    try:
        attempt = collection.pay_with_new_method(view.organization_id, customer_id=view.customer_id,
                                                 provider_method_id=payments.provider_method_id(request.form),
                                                 invoice_id=view.invoice_id,
                                                 return_url=_page_url(token, portal_token(view), external=True))
    except BillingError as error:
        return payments.refused(payments.card_refusal(error))
    return _after_attempt(token, view, attempt, field="payment_method")


# -- Adding a card alone (Lago's checkout_url) -------------------------------------------------------------------


def _setup_claim(token: str):
    claim = links.verify(token, purpose="add_payment_method")
    if claim is None:
        return None
    try:
        customer = get_customer_by_id(organization_id=claim.organization_id, customer_id=claim.subject)
    except NotFound:
        return None
    i18n.set_language(i18n.customer_language(customer))
    return claim, customer


@pay_blueprint.get("/setup/<token>")
def setup(token: str) -> ResponseReturnValue:
    found = _setup_claim(token)
    if found is None:
        return refused_link()
    claim, customer = found
    state = payments.customer_payments(organization_id=claim.organization_id, customer_id=customer.id)
    card_form = None
    if state.has_provider:
        card_form = payments.start_card_form(organization_id=claim.organization_id, customer_id=customer.id,
                                             return_url=url_for("pay.setup", token=token, _external=True))
    return render_template(SETUP_PAGE, token=token, customer_name=customer.display_name,
                           organization_name=customer.organization.name, payments=state, card_form=card_form,
                           notice=words.notice(request.args.get("notice")))


@pay_blueprint.post("/setup/<token>/setup")
def setup_secret(token: str) -> ResponseReturnValue:
    found = _setup_claim(token)
    if found is None:
        return payments.refused(words.refusal("link_expired"), status=403)
    claim, customer = found
    return payments.fresh_setup_secret(organization_id=claim.organization_id, customer_id=customer.id,
                                       return_url=url_for("pay.setup", token=token, _external=True))


@pay_blueprint.post("/setup/<token>")
def setup_add(token: str) -> ResponseReturnValue:
    found = _setup_claim(token)
    if found is None:
        return payments.refused(words.refusal("link_expired"), status=403)
    claim, customer = found
    try:
        method_id = payments.provider_method_id(request.form)
        payment_customers.save_new_method(organization_id=claim.organization_id, customer_id=customer.id,
                                          provider_method_id=method_id)
    except BillingError as error:
        return payments.refused(payments.card_refusal(error))
    return payments.go_to(url_for("pay.setup", token=token, notice="added"))

