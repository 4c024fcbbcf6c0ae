"""The customer portal: one signed link (API.md §2b) shows live usage and invoices, nothing else."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError

from billing import i18n, links
from billing.db import one_read
from billing.embedding import services as embedding
from billing.errors import BillingError, NotFound
from billing.links import Claim
from billing.payments import requests as payment_requests
from billing.ports import runtime
from billing.screens import documents, overview
from billing.screens import entitlements as plan_features
from billing.wallets import services as wallets
from portal import top_ups
from portal.acting import act_as_customer, stop_acting_for_request
from portal.link_forms import PORTAL_FORMS, bind_forms, check_link_form
from portal.payments import CustomerPayments, customer_payments, failed_invoices, refused
from web.htmx import STOP_POLLING, is_htmx_request, render_page
from web.responses import embeddable_page_headers, pdf_file
from wording import portal as words

portal_blueprint = Blueprint("portal", __name__)

PAGE = "portal/customer.html"
INVOICES_PER_PAGE = 12


@portal_blueprint.after_request
def portal_security_headers(response: Response) -> Response:
    # The token in the URL is the customer's credential: keep it out of Referer headers, caches
    # and search engines. Same-origin framing only, for Tally's own embeddable widgets.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    # Framed only by the origins the organization allows (docs/embedding.md); a page taking a card allows its
    # payment provider's origins (portal.payments), that page only.
    embeddable_page_headers(response, origins=g.get("frame_origins", ()), provider=g.get("provider_origins"))
    return response


portal_blueprint.teardown_request(stop_acting_for_request)


@portal_blueprint.before_request
def portal_forms_carry_their_link_token() -> None:
    check_link_form(purpose=PORTAL_FORMS)
    bind_forms(purpose=PORTAL_FORMS)


@portal_blueprint.errorhandler(CSRFError)
def form_refused(_error) -> ResponseReturnValue:
    if request.headers.get("Sec-Fetch-Mode", "navigate") != "navigate":  # a page's script or htmx: JSON
        return refused(words.form_expired(), status=400)
    return render_template("portal/link_refused.html", form_expired=True), 400


@dataclass(frozen=True)
class Access:
    """Who a valid portal link lets in: one live customer of one organization."""

    claim: Claim
    customer: overview.CustomerSummary

    @property
    def scope(self) -> dict[str, str]:
        return {"organization_id": self.claim.organization_id, "customer_id": self.customer.id}


def _access(token: str) -> Access | None:
    claim = links.verify(token, purpose="portal")
    if claim is None:
        return None
    try:
        customer = overview.customer_summary(organization_id=claim.organization_id, customer_id=claim.subject)
    except NotFound:
        return None  # a deleted customer's links die with it
    g.frame_origins = embedding.allowed_origins(organization_id=claim.organization_id)
    act_as_customer(customer.id, customer.external_id)
    i18n.set_language(customer.language)
    return Access(claim, customer)


def _link_refused() -> ResponseReturnValue:
    if is_htmx_request():
        # A meter still polling when its link expires: show a notice in its place and stop polling.
        return render_page(PAGE, "usage", status=STOP_POLLING, link_expired=True, meters=[])
    # A link Tally signed (expired, or an old email's) offers a fresh one by email (portal.recovery).
    token = (request.view_args or {}).get("token") or ""
    claim = links.signed_claim(token, purpose="portal")
    signed = claim is not None
    if signed:  # an expired link still names its customer: the page speaks their language
        i18n.set_language(overview.customer_language(organization_id=claim.organization_id, customer_id=claim.subject))
    return render_template("portal/link_refused.html", token=token if signed else None), 403


def _meters(access: Access) -> list[overview.SubscriptionUsage]:
    # A downgrade waiting for the period end has no usage yet: the plan section tells it.
    return [s for s in overview.subscriptions_with_usage(**access.scope, live_only=True) if not s.replaces]


def _meters_and_plans(access: Access) -> tuple[list[overview.SubscriptionUsage], list[overview.SubscriptionPlan]]:
    """The meters, and the live subscriptions' plans; a downgrade waiting for the period end is told on the current
    one, not as a subscription of its own."""
    meters, plans = overview.subscriptions_and_plans(**access.scope, live_only=True)
    return [s for s in meters if not s.replaces], [s for s in plans if not s.replaces]


def _invoices(access: Access):
    return overview.customer_invoices(**access.scope, include_drafts=False, page=_requested_page(),
                                      per_page=INVOICES_PER_PAGE)


def _payments(access: Access) -> CustomerPayments:
    return customer_payments(**access.scope)


def pay_link(access: Access, token: str, invoice_id: str) -> str:
    """The invoice's pay page, with the way back to this portal (the pay page checks it is the same customer)."""
    return f"{links.pay_url(invoice_id=invoice_id, organization_id=access.claim.organization_id)}?portal={token}"


def _invoice_pay_links(access: Access, token: str, invoices, payments: CustomerPayments) -> dict[str, str]:
    """A pay page for every unpaid finalized invoice of `invoices` (InvoiceRows), when the customer can pay by card."""
    if not payments.has_provider:
        return {}
    return {i.id: pay_link(access, token, i.id) for i in invoices
            if i.status == "finalized" and i.payment_status in ("pending", "failed") and i.total_amount_cents > 0}


def _wallet_pay_links(access: Access, token: str, views, payments: CustomerPayments) -> dict[str, str]:
    """A pay page for every credit purchase still waiting for its payment, when the customer can pay by card."""
    if not payments.has_provider:
        return {}
    return {t.id: pay_link(access, token, t.invoice_id) for view in views for t in view.transactions
            if t.status == "pending" and t.invoice_id and t.transaction_status == "purchased"}


def _invoices_context(access: Access, token: str, payments: CustomerPayments | None = None) -> dict[str, object]:
    payments = payments or _payments(access)
    invoices = _invoices(access)
    return dict(invoices=invoices, invoice_pay_links=_invoice_pay_links(access, token, invoices.items, payments))


def _wallets_context(access: Access, token: str, payments: CustomerPayments | None = None) -> dict[str, object]:
    payments = payments or _payments(access)
    views = _wallets(access)
    # A purchase whose payment failed keeps its credits pending: the wallet says the payment failed.
    waiting = {t.invoice_id for view in views for t in view.transactions if t.status == "pending" and t.invoice_id}
    return dict(wallets=views, wallet_pay_links=_wallet_pay_links(access, token, views, payments),
                wallet_failed_invoices=failed_invoices(**access.scope, invoice_ids=waiting))


def _wallets(access: Access) -> list[wallets.WalletView]:
    return [w for w in wallets.customer_wallets(**access.scope) if w.wallet.status == "active"]


def _requested_page() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


@portal_blueprint.get("/<token>")
@one_read()  # a page of reads: one session and one snapshot for all its parts
def home(token: str) -> ResponseReturnValue:
    access = _access(token)
    if access is None:
        return _link_refused()
    return render_page(PAGE, "content", **_page(access, token))


def _page(access: Access, token: str) -> dict[str, object]:
    """Everything the whole portal page shows (its blocks need only their part of it)."""
    payments = _payments(access)
    meters, plans = _meters_and_plans(access)
    return dict(token=token, customer=access.customer, link_expires_at=access.claim.expires_at,
                meters=meters, plans=plans, now=runtime.clock.now(),
                plan_features=plan_features.customer_features(**access.scope),
                credit_notes=documents.customer_credit_notes(**access.scope),
                wallet_error=None, wallet_notice=None, wallet_forms={},
                payments=payments, overdue=payment_requests.overdue_balances(**access.scope),
                **_invoices_context(access, token, payments),
                **_wallets_context(access, token, payments))


@portal_blueprint.get("/<token>/usage")
@one_read()
def usage(token: str) -> ResponseReturnValue:
    """The usage meters alone: what the page polls."""
    access = _access(token)
    if access is None:
        return _link_refused()
    if not is_htmx_request():
        return redirect(url_for("portal.home", token=token))
    return render_page(PAGE, "usage", token=token, meters=_meters(access))


@portal_blueprint.get("/<token>/invoices")
@one_read()
def invoices(token: str) -> ResponseReturnValue:
    """One page of the invoice list alone: what the pager swaps in."""
    access = _access(token)
    if access is None:
        return _link_refused()
    if not is_htmx_request():
        return redirect(url_for("portal.home", token=token, page=_requested_page()))
    return render_page(PAGE, "invoices", token=token, **_invoices_context(access, token))


@portal_blueprint.get("/<token>/wallets")
@one_read()
def wallet_balances(token: str) -> ResponseReturnValue:
    """The wallets alone (balance, ongoing balance, history): what the page polls."""
    access = _access(token)
    if access is None:
        return _link_refused()
    if not is_htmx_request():
        return redirect(url_for("portal.home", token=token))
    return render_page(PAGE, "wallets", token=token, wallet_error=None, wallet_notice=None, wallet_forms={},
                       **_wallets_context(access, token))


@portal_blueprint.post("/<token>/wallets/<wallet_id>/top-up")
def wallet_top_up(token: str, wallet_id: str) -> ResponseReturnValue:
    """Buy credits: a top-up invoice is issued; the credits arrive when it is paid.

    The wallet's paid top-up limits hold (the customer cannot ignore them); a refused amount is
    shown again with the reason next to it.
    """
    access = _access(token)
    if access is None:
        return _link_refused()
    result = top_ups.top_up(**access.scope, wallet_id=wallet_id, credits=request.form.get("credits"))
    error, forms = result.error, result.form_errors(wallet_id)
    payments = _payments(access)
    notice = top_ups.notice_after(result, payments)  # a card to charge, or the Pay button of its line
    if not is_htmx_request():
        if error is None:
            return redirect(url_for("portal.wallet_page", token=token, topped=1), code=303)
        # Without htmx (no JavaScript), the whole page again, with the refused amount and its reason.
        return render_page(PAGE, "content", status=422, **{**_page(access, token), "wallet_forms": forms})
    response = render_page(PAGE, "wallets", token=token, wallet_error=None, wallet_notice=notice, wallet_forms=forms,
                           **_wallets_context(access, token, payments))
    response.headers["HX-Trigger"] = "invoices-changed"
    return response


@portal_blueprint.post("/<token>/overdue/pay")
def pay_overdue(token: str) -> ResponseReturnValue:
    """The banner's "Pay all": one payment request for the overdue invoices of the chosen currency, paid on its
    page (an unpaid one for the same invoices is reused). Nothing overdue any more: back to the portal."""
    access = _access(token)
    if access is None:
        return _link_refused()
    currency = (request.form.get("currency") or "").strip().upper()
    home_url = url_for("portal.home", token=token)
    overdue = {balance.currency for balance in payment_requests.overdue_balances(**access.scope)}
    if currency not in overdue or not _payments(access).has_provider:
        return redirect(home_url, code=303)
    try:
        made = payment_requests.request_overdue_payment(**access.scope, currency=currency, customer_present=True)
    except BillingError:
        return redirect(home_url, code=303)
    if not made:
        return redirect(home_url, code=303)
    url = links.payment_request_url(payment_request_id=made[0].id, organization_id=access.claim.organization_id)
    return redirect(f"{url}?portal={token}", code=303)


@portal_blueprint.get("/<token>/invoices/<invoice_id>.pdf")
def invoice_pdf(token: str, invoice_id: str) -> ResponseReturnValue:
    access = _access(token)
    if access is None:
        return _link_refused()
    try:
        number, data = overview.customer_invoice_pdf(**access.scope, invoice_id=invoice_id, include_drafts=False)
    except BillingError:
        abort(404)
    return pdf_file(data, number)
