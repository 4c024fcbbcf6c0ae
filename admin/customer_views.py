"""A customer's page with its htmx fragments (usage, invoices, events, portal link) and invoice PDFs (the list of
customers is one of `list_views.py`). The page's sections are templates of their own (`admin/customer/`)."""

from __future__ import annotations

from flask import Response, abort, render_template, request
from flask.typing import ResponseReturnValue

import wording
from admin import portal_links, subscriptions
from admin.audit_views import object_history
from admin.blueprint import admin_blueprint, organization_id, requested_page
from admin.customer_payments import customer_payment_context
from admin.forms import ApplyCouponForm
from billing.catalog.add_ons import list_add_ons
from billing.catalog.coupons import list_applied_coupons, list_coupons
from billing.errors import BillingError
from billing.invoicing.credit_notes import list_credit_notes
from billing.screens import alerts as alert_screens
from billing.screens import catalog, overdue, overview
from billing.screens import dunning as dunning_screens
from billing.wallets.models import FEE_TYPES as WALLET_FEE_TYPES
from billing.wallets.services import customer_wallets
from web.htmx import STOP_POLLING, is_htmx_request, render_page
from web.responses import pdf_file
from wording import dunning as dunning_words
from wording import overdue as overdue_words

CUSTOMER_PAGE = "admin/customer.html"
USAGE_LIVE = "admin/customer/_usage_live.html"
# The page's htmx fragments, each a block of its section's own template (included by CUSTOMER_PAGE): the
# blocks of an included template are not the page's, so a fragment is rendered from its section.
SECTION_OF_BLOCK = {
    "portal_link": "admin/customer/_portal_link.html",
    "usage": "admin/customer/_subscriptions.html",
    "terminate_confirm": "admin/customer/_subscriptions.html",
    "overrides": "admin/customer/_subscriptions.html",
    "override_diff": "admin/customer/_subscriptions.html",
    "feature_overrides": "admin/customer/_subscriptions.html",
    "coupons": "admin/customer/_coupons.html",
    "wallets": "admin/customer/_wallets.html",
    "one_off": "admin/customer/_one_off.html",
    "one_off_line": "admin/customer/_one_off.html",
    "payments": "admin/customer/_payments.html",
    "dunning": "admin/customer/_dunning.html",
    "overdue": "admin/customer/_overdue.html",
    "invoices": "admin/customer/_invoices.html",
    "events": "admin/customer/_events.html",
}
INVOICES_PER_PAGE = 20
EVENTS_PER_PAGE = 20


def render_customer(customer_id: str, block: str, *, status: int = 200, invoices_page: int = 1,
                    events_page: int = 1, **extra) -> ResponseReturnValue:
    """The customer page, or one of its blocks for htmx; `extra` adds to (or replaces) what the blocks read."""
    scope = {"organization_id": organization_id(), "customer_id": customer_id}
    customer = overview.customer_summary(**scope)
    transaction_id = request.args.get("transaction_id", "").strip()[:255]
    code = request.args.get("code", "").strip()[:255]
    context = {"customer": customer, "portal_url": None, "transaction_id": transaction_id, "code": code,
               "event_problems": wording.event_problems, "result": None, "override": None, "confirm": None,
               "feature_override": None, "feature_subscription": None, "feature_notice": None,
               "change_errors": {}, "terminate_errors": [], "credit_note_choices": wording.CREDIT_NOTE_CHOICES}
    context.update(extra)
    whole_page = not is_htmx_request()
    if whole_page:
        context["history"] = object_history(*overview.customer_part_ids(**scope))
    if whole_page or block == "usage":
        context["subscriptions"] = overview.subscriptions_with_usage(**scope, live_only=False)
        context["alerts_of"] = {s.external_id: alert_screens.subscription_alerts(
            organization_id=organization_id(), external_id=s.external_id) for s in context["subscriptions"]}
        context.update(subscriptions.page_context(organization_id(), customer, assign=extra.get("assign")))
    if whole_page or block == "invoices":
        overdue_only = request.args.get("overdue") == "1"  # the "Overdue only" filter, kept in the URL
        context["overdue_only"] = overdue_only
        context["invoices"] = overview.customer_invoices(**scope, include_drafts=True, page=invoices_page,
                                                       per_page=INVOICES_PER_PAGE, overdue_only=overdue_only)
        context["credit_notes"] = list_credit_notes(**scope, per_page=50).items
    if whole_page or block == "events":
        context["events"] = overview.customer_events(**scope, transaction_id=transaction_id or None,
                                                     code=code or None, page=events_page, per_page=EVENTS_PER_PAGE)
    if whole_page or block == "coupons":
        context["applied_coupons"] = list_applied_coupons(**scope, per_page=100).items
        context["coupon_choices"] = list_coupons(organization_id=organization_id(), per_page=100).items
        context.setdefault("coupon_form", ApplyCouponForm())
        context.setdefault("coupon_error", None)
    if whole_page or block == "wallets":
        context["wallets"] = customer_wallets(**scope)
        context["wallet_alerts_of"] = {view.wallet.id: alert_screens.wallet_alerts(
            organization_id=organization_id(), wallet_id=view.wallet.id) for view in context["wallets"]}
        context.setdefault("wallet_error", None)
        context.setdefault("wallet_notice", None)
        context.setdefault("wallet_forms", {})
        context.setdefault("wallet_confirm", None)  # admin.confirmations.Confirmation: a wallet action asking first
        context["wallet_metric_codes"] = catalog.metric_codes(organization_id=organization_id())
        context["wallet_fee_types"] = WALLET_FEE_TYPES
    if whole_page or block == "one_off":
        context["add_on_choices"] = list_add_ons(organization_id=organization_id(), per_page=100).items
        context.setdefault("one_off", None)  # admin.add_on_views.OneOffForm: the lines typed, their errors
    if whole_page or block == "payments":
        context.update(customer_payment_context(organization_id(), customer.id, extra))
    if whole_page or block == "dunning":
        context["dunning"] = dunning_screens.customer_dunning(**scope)
        context.setdefault("dunning_notice", None)
        context.setdefault("dunning_error", None)
        context["dunning_words"] = dunning_words
    if whole_page or block == "overdue":
        context["overdue"] = overdue.customer_overdue(**scope)
        context.setdefault("overdue_notice", None)
        context.setdefault("overdue_confirm", None)  # "Request payment now" asking first (admin.overdue_views)
        context["overdue_words"] = overdue_words
    context.setdefault("invoice_error", None)
    context.setdefault("invoice_confirm", None)  # "Mark paid" asking first (admin.invoice_views)
    if whole_page:
        context["metric_codes"] = catalog.metric_codes(organization_id=organization_id())
    template = CUSTOMER_PAGE if whole_page else SECTION_OF_BLOCK.get(block, CUSTOMER_PAGE)  # "content": the page's own
    return render_page(template, block, status=status, **context)


@admin_blueprint.get("/customers/<customer_id>")
def customer(customer_id: str) -> ResponseReturnValue:
    return render_customer(customer_id, "content", invoices_page=requested_page())


@admin_blueprint.get("/customers/<customer_id>/usage")
def customer_usage(customer_id: str) -> ResponseReturnValue:
    return render_customer(customer_id, "usage")


@admin_blueprint.get("/customers/<customer_id>/usage/live")
def customer_usage_live(customer_id: str) -> ResponseReturnValue:
    """The active subscriptions' usage so far, each swapped into its place on the page (hx-swap-oob), polled while
    one is active; once none is, the answer stops the polling (286), as the portal's meters do."""
    active = [s for s in overview.subscriptions_with_usage(organization_id=organization_id(), customer_id=customer_id,
                                                           live_only=True) if s.status == "active"]
    if not active:
        return Response(status=STOP_POLLING)
    return render_template(USAGE_LIVE, subscriptions=active)


@admin_blueprint.get("/customers/<customer_id>/invoices")
def customer_invoices(customer_id: str) -> ResponseReturnValue:
    return render_customer(customer_id, "invoices", invoices_page=requested_page())


@admin_blueprint.get("/customers/<customer_id>/events")
def customer_events(customer_id: str) -> ResponseReturnValue:
    """The latest events of the customer's subscriptions: a search by transaction id, a code, or a page of them."""
    return render_customer(customer_id, "events", events_page=requested_page())


@admin_blueprint.get("/customers/<customer_id>/portal-link")
def customer_portal_link(customer_id: str) -> ResponseReturnValue:
    link = portal_links.fresh_portal_url(organization_id=organization_id(), customer_id=customer_id)
    return render_customer(customer_id, "portal_link", portal_url=link)


@admin_blueprint.get("/customers/<customer_id>/invoices/<invoice_id>.pdf")
def customer_invoice_pdf(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    try:
        number, data = overview.customer_invoice_pdf(organization_id=organization_id(), customer_id=customer_id,
                                                     invoice_id=invoice_id, include_drafts=True)
    except BillingError:
        abort(404)
    return pdf_file(data, number, cache_control="private, no-store")
