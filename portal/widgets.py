"""The embeddable widgets: compact pages a host product frames, opened by an embed token (docs/embedding.md).

`/embed/<token>/<widget>` (usage, bill, wallet, invoices) shows one customer's part of the portal, live (htmx polls
the same URL for the page's `live` block). The token in the URL is the only credential: no cookie is read or set
(a third-party iframe's cookies are partitioned or blocked), the top-up form carries a token bound to it
(`portal.link_forms`), and every read is scoped to the organization and the customer it names. Only the
organization's allowed origins may frame the pages (CSP frame-ancestors); a tampered or expired token gets the
"link expired" view (`data-tally-expired`), which static/js/widget.js tells the host page about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, g, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError

from billing import i18n, links
from billing.db import one_read
from billing.embedding import origins
from billing.embedding import services as embedding
from billing.errors import BillingError, NotFound
from billing.ports import runtime
from billing.screens import current_bill, overview
from billing.wallets import services as wallets
from portal import top_ups
from portal.acting import act_as_customer, stop_acting_for_request
from portal.link_forms import WIDGET_FORMS, bind_forms, check_link_form
from portal.payments import CustomerPayments, customer_payments
from web.htmx import STOP_POLLING, is_htmx_request, render_page
from web.responses import embeddable_page_headers, pdf_file
from wording import widgets as words

widgets_blueprint = Blueprint("widgets", __name__)

THEMES = ("light", "dark", "auto")
INVOICES_SHOWN = 10
TRANSACTIONS_SHOWN = 5
EXPIRED_PAGE = "widgets/expired.html"


@widgets_blueprint.after_request
def widget_headers(response: Response) -> Response:
    # The token in the URL is the customer's credential: out of Referer headers, caches and search engines.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    # Framed only by the origins the token's organization allows; an unknown organization: by no one.
    embeddable_page_headers(response, origins=g.get("frame_origins", ()))
    return response


widgets_blueprint.teardown_request(stop_acting_for_request)


@widgets_blueprint.before_request
def widget_forms_carry_their_token() -> None:
    bind_forms(purpose=WIDGET_FORMS)  # first: even a refusal's page must not fall back on the session's token
    if request.method == "POST" and not _from_tally(request.headers.get("Origin")):
        # A form inside the iframe posts from Tally's own origin; another site's page posting here is refused.
        raise CSRFError("The form was sent from another site.")
    check_link_form(purpose=WIDGET_FORMS)


def _from_tally(origin: str | None) -> bool:
    """No Origin header (a client that sends none: the form token still holds), or Tally's own origin."""
    if origin is None:
        return True
    parts = urlsplit(runtime.base_url)
    try:
        return origins.parse_origin(origin) == origins.parse_origin(f"{parts.scheme}://{parts.netloc}")
    except origins.InvalidOrigin:
        return False


@widgets_blueprint.errorhandler(CSRFError)
def form_refused(_error) -> ResponseReturnValue:
    return _refusal(words.form_refused(), status=403)


@dataclass(frozen=True)
class Access:
    """What a valid embed token lets a widget show: one live customer of one organization."""

    grant: embedding.EmbedGrant
    customer: overview.CustomerSummary
    token: str
    widget: str

    @property
    def scope(self) -> dict[str, str]:
        return {"organization_id": self.grant.organization_id, "customer_id": self.customer.id}

    @property
    def subscription(self) -> str | None:
        """The one subscription (external id) the token is limited to, if any."""
        return self.grant.external_subscription_id


def _known_organization(token: str) -> embedding.EmbedGrant | None:
    """The token's grant (expired or not) if Tally signed it; its organization's origins may then frame the answer."""
    grant = embedding.read_embed_token(token)
    if grant is not None:
        g.embed_settings = embedding.embed_settings(organization_id=grant.organization_id)
        g.frame_origins = g.embed_settings.frame_ancestors
    return grant


def _speak_to(grant: embedding.EmbedGrant | None) -> None:
    """An answer refusing a token Tally signed (expired, or for another widget) speaks its customer's language."""
    if grant is not None:
        i18n.set_language(overview.customer_language(organization_id=grant.organization_id,
                                                     customer_id=grant.customer_id))


def _access(token: str, widget: str) -> Access | ResponseReturnValue:
    """The access the token gives to `widget`, or the answer refusing it."""
    grant = _known_organization(token)
    if grant is None or grant.expired:
        return _expired(token, widget, grant)
    if not grant.allows(widget):
        return _refusal(words.not_available())
    try:
        customer = overview.customer_summary(organization_id=grant.organization_id, customer_id=grant.customer_id)
    except NotFound:
        return _refusal(words.not_available())  # a deleted customer's tokens die with it
    act_as_customer(customer.id, customer.external_id)
    i18n.set_language(customer.language)  # read with the customer: no query more per poll
    return Access(grant, customer, token, widget)


def _parent_origin(grant: embedding.EmbedGrant | None) -> str:
    """The host page's origin (`parent`) when the organization allows it to frame the widget; else empty: the
    page's script then posts no message at all."""
    parent = request.args.get("parent") or ""
    if grant is None or not origins.allows(g.get("frame_origins", ()), parent):
        return ""
    return origins.parse_origin(parent)


def _page_context(token: str, widget: str, grant: embedding.EmbedGrant | None) -> dict[str, object]:
    theme = request.args.get("theme")
    expires_at = grant.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if grant else ""
    settings = g.get("embed_settings") if grant else None  # read with the grant (`_known_organization`)
    return dict(token=token, widget=widget, theme=theme if theme in THEMES else "auto", expires_at=expires_at,
                parent_origin=_parent_origin(grant), has_theme=settings is not None,
                has_logo=bool(settings and settings.has_logo), version=settings.version if settings else "0",
                poll_query=_poll_query())


def _poll_query() -> dict[str, str]:
    """The page's own query (theme, parent) kept on its polls and forms."""
    return {key: request.args[key] for key in ("parent", "theme") if request.args.get(key)}


def _expired(token: str, widget: str, grant: embedding.EmbedGrant | None) -> ResponseReturnValue:
    _speak_to(grant)
    if is_htmx_request():
        # A widget still polling when its token expires: the expired view in its place, and no more polling.
        return render_page(EXPIRED_PAGE, "expired", status=STOP_POLLING, message=words.link_expired())
    return render_template(EXPIRED_PAGE, message=words.link_expired(), organization_name=None,
                           **_page_context(token, widget, grant)), 403


def _refusal(message: str, status: int = 403) -> ResponseReturnValue:
    token = (request.view_args or {}).get("token", "")
    widget = (request.view_args or {}).get("widget", "")
    grant = _known_organization(token)
    _speak_to(grant)
    if is_htmx_request():
        return render_page("widgets/refused.html", "refused", status=status, message=message)
    return render_template("widgets/refused.html", message=message, organization_name=None,
                           **_page_context(token, widget, grant)), status


def _render(access: Access, block: str, status: int = 200, **context) -> ResponseReturnValue:
    return render_page(f"widgets/{access.widget}.html", block, status=status,
                       **_page_context(access.token, access.widget, access.grant),
                       organization_name=access.customer.organization_name, customer=access.customer, **context)


# --- the widgets --------------------------------------------------------------------------------------------------

@widgets_blueprint.get("/<token>/<widget>")
@one_read()  # a page of reads: one session and one snapshot for all its parts
def show(token: str, widget: str) -> ResponseReturnValue:
    """A widget's page, or (htmx) its live block: what the page polls."""
    if widget not in embedding.WIDGETS:
        abort(404)
    access = _access(token, widget)
    if not isinstance(access, Access):
        return access
    return _render(access, "live", **_CONTEXTS[widget](access))


def _usage(access: Access) -> dict[str, object]:
    # A downgrade waiting for the period end has no usage yet.
    meters = [s for s in overview.subscriptions_with_usage(**access.scope, live_only=True) if not s.replaces
              and (access.subscription is None or s.external_id == access.subscription)]
    return dict(meters=meters)


def _bill(access: Access) -> dict[str, object]:
    return dict(bills=current_bill.current_bills(**access.scope, external_subscription_id=access.subscription),
                estimate_note=words.bill_estimate(), fee_timing=words.fee_timing)


def _wallet(access: Access, payments: CustomerPayments | None = None) -> dict[str, object]:
    payments = payments or customer_payments(**access.scope)
    views = [w for w in wallets.customer_wallets(**access.scope, transactions=TRANSACTIONS_SHOWN)
             if w.wallet.status == "active"]
    # A credit purchase still waiting for its payment: its pay page, when the customer can pay by card.
    pay_links = {t.id: _pay_url(access, t.invoice_id) for view in views for t in view.transactions
                 if payments.has_provider and t.status == "pending" and t.invoice_id
                 and t.transaction_status == "purchased"}
    return dict(wallets=views, wallet_pay_links=pay_links, payments=payments, top_up=None, top_up_wallet=None,
                wallet_forms={})


def _invoices(access: Access) -> dict[str, object]:
    payments = customer_payments(**access.scope)
    page = overview.customer_invoices(**access.scope, include_drafts=False, per_page=INVOICES_SHOWN)
    pay_links = {i.id: _pay_url(access, i.id) for i in page.items
                 if payments.has_provider and i.status == "finalized" and i.payment_status in ("pending", "failed")
                 and i.total_amount_cents > 0}
    return dict(invoices=page.items, invoice_pay_links=pay_links)


_CONTEXTS = {"usage": _usage, "bill": _bill, "wallet": _wallet, "invoices": _invoices}


def _pay_url(access: Access, invoice_id: str) -> str:
    """The invoice's Tally-hosted pay page: opened in a new tab (it refuses to be framed)."""
    return links.pay_url(invoice_id=invoice_id, organization_id=access.grant.organization_id)


@widgets_blueprint.post("/<token>/wallet/<wallet_id>/top-up")
def wallet_top_up(token: str, wallet_id: str) -> ResponseReturnValue:
    """Buy credits from the wallet widget: a top-up invoice is issued, the credits arrive when it is paid.

    With a default card the payment core charges it by itself; with a provider but no saved card, the customer
    pays it on its page (a new tab); without a provider, the organization collects it its own way.
    """
    access = _access(token, "wallet")
    if not isinstance(access, Access):
        return access
    try:
        wallets.wallet_of_customer(**access.scope, wallet_id=wallet_id)
    except BillingError:
        abort(404)  # another customer's wallet, or none: nothing said, nothing written
    result = top_ups.top_up(**access.scope, wallet_id=wallet_id, credits=request.form.get("credits"))
    payments = customer_payments(**access.scope)
    context = _wallet(access, payments)
    notice, pay_url = top_ups.notice_after(result, payments), None
    if top_ups.needs_paying(result, payments):
        pay_url = _pay_url(access, result.invoice_id)
    context.update(top_up=result, top_up_wallet=wallet_id, top_up_notice=notice, top_up_pay_url=pay_url,
                   wallet_forms=result.form_errors(wallet_id))
    status = 422 if result.error is not None and not is_htmx_request() else 200
    response = _render(access, "top_up", status=status, **context)
    if result.error is None and is_htmx_request():
        response.headers["HX-Trigger"] = "wallet-changed"  # the balances reload now, not in 10 s
    return response


# --- files --------------------------------------------------------------------------------------------------------

@widgets_blueprint.get("/<token>/invoices/<invoice_id>.pdf")
def invoice_pdf(token: str, invoice_id: str) -> ResponseReturnValue:
    """One of the token's customer's finalized invoices as a PDF; any other invoice: 404."""
    access = _access(token, "invoices")
    if not isinstance(access, Access):
        return access
    try:
        number, data = overview.customer_invoice_pdf(**access.scope, invoice_id=invoice_id, include_drafts=False)
    except BillingError:
        abort(404)
    return pdf_file(data, number)


@widgets_blueprint.get("/<token>/theme.css")
def theme_css(token: str) -> ResponseReturnValue:
    """The organization's accent in each theme, as CSS variables (validated colours only: `branding.palette`)."""
    grant = _known_organization(token)
    if grant is None:
        abort(404)
    css = render_template("widgets/theme.css", palette=g.embed_settings.palette)
    return Response(css, mimetype="text/css")


@widgets_blueprint.get("/<token>/logo")
def logo(token: str) -> ResponseReturnValue:
    """The organization's logo, with its type (a raster image, checked by its bytes when uploaded)."""
    grant = _known_organization(token)
    found = embedding.logo(organization_id=grant.organization_id) if grant is not None else None
    if found is None:
        abort(404)
    data, content_type = found
    return Response(data, mimetype=content_type, headers={"X-Content-Type-Options": "nosniff"})
