"""The pay page of a payment request, `/pay/request/<token>` (links.payment_request_url): every overdue invoice
the request groups, their total, and one payment for them all (a saved card in one click, or a new card).

Built on the invoice pay page (portal.pay): the same blueprint (its security headers and card-page CSP), the same
forms and script. The page reads the request and its invoices again at every step: a request paid meanwhile, or
whose invoices were paid or voided one by one, says so and never charges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Response, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from billing import i18n, links
from billing.customers.models import Customer
from billing.db import read_only
from billing.errors import BillingError
from billing.payments import collection, requests
from billing.payments.models import OPEN_PAYMENT_STATUSES, Payment, PaymentRequest
from portal import payments
from portal.pay import after_attempt, pay_blueprint, portal_token, refused_link, wants_json
from web.htmx import STOP_POLLING
from wording import portal_payments as words

PAGE = "portal/pay_request.html"


@dataclass(frozen=True)
class RequestedInvoice:
    """One invoice of the request as its page lists it (`status`, `payment_status`, `payment_overdue` for the
    badge of templates/_macros.html)."""

    id: str
    number: str
    payment_due_date: date
    status: str
    payment_status: str
    payment_overdue: bool
    amount_due_cents: int
    total_amount_cents: int


@dataclass(frozen=True)
class RequestPayView:
    """A payment request as its page shows it, and what the customer can do with it now (`state`)."""

    request_id: str
    organization_id: str
    organization_name: str
    customer_id: str
    customer_name: str
    currency: str
    invoices: tuple[RequestedInvoice, ...]
    total_due_cents: int
    paid_cents: int  # what the request's payment paid (a paid page shows it)
    state: str  # payable | paid | nothing_due | in_progress | no_provider
    next_action_url: str | None = None
    last_failure: str | None = None
    language: str = "en"  # the customer's (billing.i18n.customer_language)


def _amount_due(invoice) -> int:
    # NOTE: what the request's payment pays of each invoice (billing.payments.collection): a finalized invoice's
    # amount still due; nothing for one paid or voided since the request was made.
    if invoice.status != "finalized" or invoice.payment_status == "succeeded":
        return 0
    return invoice.total_due_amount_cents


def _state(payment_request: PaymentRequest, customer: Customer, invoices, total_due: int, busy: bool) -> str:
    if total_due <= 0:
        paid = payment_request.payment_status == "succeeded" or all(i.payment_status == "succeeded" for i in invoices)
        return "paid" if paid else "nothing_due"
    if busy:
        return "in_progress"
    if not customer.payment_provider_code:
        return "no_provider"
    return "payable"


def _request_view(organization_id: str, payment_request_id: str) -> RequestPayView | None:
    with read_only() as session:
        payment_request = session.scalar(select(PaymentRequest).where(
            PaymentRequest.organization_id == organization_id, PaymentRequest.id == payment_request_id))
        if payment_request is None:
            return None
        customer = session.get(Customer, payment_request.customer_id)
        if customer is None or customer.deleted_at is not None:
            return None  # a deleted customer's links die with it
        invoices = sorted(payment_request.invoices, key=lambda i: (i.payment_due_date, i.number or ""))
        history = requests.payments_of_request(session, payment_request.id)
        open_payment = next((p for p in history if p.status in OPEN_PAYMENT_STATUSES), None)
        # An invoice of the request being paid on its own (its collection job, its own pay page) is under way
        # too: paying the request meanwhile could pay it twice.
        invoice_busy = session.scalar(select(Payment.id).where(
            Payment.invoice_id.in_([i.id for i in invoices]), Payment.status.in_(OPEN_PAYMENT_STATUSES)).limit(1))
        failed = [p for p in history if p.status == "failed"]
        last_failure = (failed[-1].error_message or "") if failed and payment_request.payment_status == "failed" \
            else None
        lines = tuple(RequestedInvoice(id=i.id, number=i.number, payment_due_date=i.payment_due_date, status=i.status,
                                       payment_status=i.payment_status,
                                       payment_overdue=i.payment_overdue and i.status == "finalized",
                                       amount_due_cents=_amount_due(i), total_amount_cents=i.total_amount_cents)
                      for i in invoices)
        total_due = sum(line.amount_due_cents for line in lines)
        return RequestPayView(
            request_id=payment_request.id, organization_id=organization_id,
            organization_name=customer.organization.name, customer_id=customer.id,
            customer_name=customer.display_name, currency=payment_request.currency, invoices=lines,
            total_due_cents=total_due, paid_cents=sum(p.amount_cents for p in history if p.status == "succeeded"),
            state=_state(payment_request, customer, lines, total_due,
                         open_payment is not None or invoice_busy is not None),
            next_action_url=open_payment.next_action_url if open_payment is not None else None,
            last_failure=last_failure, language=i18n.customer_language(customer))


def _view(token: str) -> RequestPayView | None:
    claim = links.verify(token, purpose="pay_request")
    if claim is None:
        return None
    view = _request_view(claim.organization_id, claim.subject)
    if view is not None:
        i18n.set_language(view.language)
    return view


def _page_url(token: str, portal: str | None, *, external: bool = False) -> str:
    return url_for("pay.payment_request", token=token, portal=portal, _external=external)


def _render(token: str, view: RequestPayView, *, status: int = 200, error: str | None = None,
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


def _refusal(token: str, view: RequestPayView, message: str, *, field: str) -> ResponseReturnValue:
    if wants_json():
        return payments.refused(message, field=field)
    fresh = _request_view(view.organization_id, view.request_id) or view
    return _render(token, fresh, status=422, error=message, error_field=field)


def _after_attempt(token: str, view: RequestPayView, attempt: collection.Attempt, *,
                   field: str) -> ResponseReturnValue:
    return after_attempt(attempt, page_url=_page_url(token, portal_token(view)), field=field,
                         refusal=lambda message, field: _refusal(token, view, message, field=field))


def _pay(view: RequestPayView, method_id: str | None, token: str) -> collection.Attempt:
    return requests.pay_payment_request(organization_id=view.organization_id, payment_request_id=view.request_id,
                                        customer_id=view.customer_id, method_id=method_id,
                                        return_url=_page_url(token, portal_token(view), external=True))


@pay_blueprint.get("/request/<token>")
def payment_request(token: str) -> ResponseReturnValue:
    view = _view(token)
    if view is None:
        return refused_link()
    return _render(token, view)


@pay_blueprint.get("/request/<token>/state")
def payment_request_state(token: str) -> ResponseReturnValue:
    """While a payment is under way the page asks again; once it is settled, the page reloads (htmx)."""
    view = _view(token)
    if view is None or view.state != "in_progress":
        return Response(status=STOP_POLLING, headers={"HX-Refresh": "true"})
    return Response(status=204)


@pay_blueprint.post("/request/<token>")
def pay_request_with_saved_method(token: str) -> ResponseReturnValue:
    """Pay every invoice of the request with a saved card (Tally's id of it; the default one when none is named)."""
    view = _view(token)
    if view is None:
        return refused_link()
    if view.state != "payable":
        return _after_attempt(token, view, collection.Attempt(None, "skipped", reason=view.state), field="method")
    try:
        attempt = _pay(view, request.form.get("method_id") or None, token)
    except BillingError as error:
        return _refusal(token, view, payments.card_refusal(error), field="method")
    return _after_attempt(token, view, attempt, field="method")


@pay_blueprint.post("/request/<token>/setup")
def pay_request_setup_secret(token: str) -> ResponseReturnValue:
    """A fresh set-up for the next try at a new card (JSON for the page's script)."""
    view = _view(token)
    if view is None:
        return payments.refused(words.refusal("link_expired"), status=403)
    return payments.fresh_setup_secret(organization_id=view.organization_id, customer_id=view.customer_id,
                                       return_url=_page_url(token, portal_token(view), external=True))


@pay_blueprint.post("/request/<token>/card")
def pay_request_with_new_card(token: str) -> ResponseReturnValue:
    """Pay with the card the browser just set up with the provider: kept first (a decline there is the answer)."""
    view = _view(token)
    if view is None:
        return payments.refused(words.refusal("link_expired"), status=403)
    if view.state != "payable":
        return payments.go_to(_page_url(token, portal_token(view)))
    try:
        attempt = collection.pay_with_new_method(view.organization_id, customer_id=view.customer_id,
                                                 provider_method_id=payments.provider_method_id(request.form),
                                                 request_id=view.request_id,
                                                 return_url=_page_url(token, portal_token(view), external=True))
    except BillingError as error:
        return payments.refused(payments.card_refusal(error))
    return _after_attempt(token, view, attempt, field="payment_method")
