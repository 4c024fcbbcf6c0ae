"""The portal's pages of the customer's own account, each reached by the same signed link as the overview:
billing details (`/<token>/details`), usage history (`/<token>/history`), documents (`/<token>/documents`) and the
wallet (`/<token>/wallet`). What they show comes from billing.screens; what the customer changes is saved by the
services the API uses."""

from __future__ import annotations

from flask import abort, redirect, request, url_for
from flask.typing import ResponseReturnValue

from billing.customers import services as customers
from billing.db import one_read
from billing.errors import ValidationFailed
from billing.screens import documents, usage_history
from billing.wallets import services as wallets
from portal import top_ups
from portal.views import (
    Access,
    _access,
    _invoice_pay_links,
    _link_refused,
    _payments,
    _requested_page,
    pay_link,
    portal_blueprint,
)
from web.htmx import is_htmx_request, render_page
from web.responses import saved
from wording import portal as words
from wording.wallets import describe_rule

DOCUMENTS_PER_PAGE = 20
TRANSACTIONS_PER_PAGE = 20
# The billing address's fields, and the shipping address's as the form names them (shipping_<field>).
ADDRESS_FIELDS = ("address_line1", "address_line2", "zipcode", "city", "state", "country")
DETAILS_FIELDS = ("name", "legal_name", "tax_identification_number", "email", *ADDRESS_FIELDS)


def _common(access: Access, token: str, section: str) -> dict[str, object]:
    """What every page of the portal's layout needs (header, navigation, footer)."""
    return dict(token=token, customer=access.customer, link_expires_at=access.claim.expires_at, section=section)


# ---------------------------------------------------------------- billing details


def _current_details(access: Access) -> dict[str, str]:
    customer = customers.get_customer_by_id(**access.scope)
    values = {field: getattr(customer, field) or "" for field in DETAILS_FIELDS}
    values.update({f"shipping_{field}": getattr(customer, _shipping_column(field)) or "" for field in ADDRESS_FIELDS})
    return values


def _shipping_column(field: str) -> str:
    return "shipping_country" if field == "country" else f"shipping_{field}"


def _typed_details() -> tuple[dict[str, str], dict[str, object]]:
    """The form as typed (to show again) and as the service takes it (Lago's customer fields)."""
    typed = {field: request.form.get(field, "") for field in DETAILS_FIELDS}
    typed.update({f"shipping_{field}": request.form.get(f"shipping_{field}", "") for field in ADDRESS_FIELDS})
    data: dict[str, object] = {field: typed[field] for field in DETAILS_FIELDS}
    data["shipping_address"] = {field: typed[f"shipping_{field}"] for field in ADDRESS_FIELDS}
    return typed, data


def _form_field(field: str) -> str:
    """The form's input a service field's reason belongs to (`shipping_address.city` -> `shipping_city`)."""
    return "shipping_" + field.split(".", 1)[1] if field.startswith("shipping_address.") else field


@portal_blueprint.get("/<token>/details")
@one_read()  # a page of reads: one session and one snapshot for all its parts
def billing_details(token: str) -> ResponseReturnValue:
    access = _access(token)
    if access is None:
        return _link_refused()
    notice = words.details_saved() if request.args.get("saved") == "1" else None
    return render_page("portal/details.html", "content", **_common(access, token, "details"),
                       values=_current_details(access), errors={}, notice=notice,
                       countries=words.country_choices())


@portal_blueprint.post("/<token>/details")
def billing_details_save(token: str) -> ResponseReturnValue:
    """Save what the customer corrected; a refused form is shown again as typed, each reason by its field, and
    nothing is written."""
    access = _access(token)
    if access is None:
        return _link_refused()
    typed, data = _typed_details()
    try:
        customers.update_billing_details(**access.scope, data=data)
    except ValidationFailed as refused:
        errors: dict[str, list[str]] = {}
        for field, reasons in refused.details.items():
            errors.setdefault(_form_field(field), []).extend(
                words.details_reason(str(reason)) for reason in (reasons if isinstance(reasons, list) else [reasons]))
        return render_page("portal/details.html", "content", status=422, **_common(access, token, "details"),
                           values=typed, errors=errors, notice=None, countries=words.country_choices())
    return redirect(url_for("portal.billing_details", token=token, saved=1), code=303)


# ---------------------------------------------------------------- usage history


@portal_blueprint.get("/<token>/history")
@one_read()
def usage_history_page(token: str) -> ResponseReturnValue:
    access = _access(token)
    if access is None:
        return _link_refused()
    return render_page("portal/history.html", "content", **_common(access, token, "history"),
                       histories=usage_history.usage_history(**access.scope))


# ---------------------------------------------------------------- documents


def _requested_year() -> int | None:
    year = request.args.get("year", type=int)
    return year if year is not None and 1970 <= year <= 9999 else None


def _documents_context(access: Access, token: str) -> dict[str, object]:
    found = documents.customer_documents(**access.scope, year=_requested_year(), page=_requested_page(),
                                         per_page=DOCUMENTS_PER_PAGE)
    invoices = [d.invoice for d in found.page.items if d.invoice is not None]
    return dict(documents=found, invoice_pay_links=_invoice_pay_links(access, token, invoices, _payments(access)))


@portal_blueprint.get("/<token>/documents")
@one_read()
def documents_page(token: str) -> ResponseReturnValue:
    """Invoices and credit notes together, newest first; `?year=` filters, `?page=` pages (htmx swaps the list)."""
    access = _access(token)
    if access is None:
        return _link_refused()
    return render_page("portal/documents.html", "documents", **_common(access, token, "documents"),
                       **_documents_context(access, token))


# ---------------------------------------------------------------- wallet


def _wallet_context(access: Access, token: str, *, paged: str | None = None, notice: str | None = None,
                    forms: dict | None = None) -> dict[str, object]:
    views = [w for w in wallets.customer_wallets(**access.scope, transactions=0) if w.wallet.status == "active"]
    histories = {}
    for view in views:
        page = _requested_page() if view.wallet.id == paged else 1
        histories[view.wallet.id] = wallets.list_wallet_transactions(
            organization_id=access.claim.organization_id, wallet_id=view.wallet.id, page=page,
            per_page=TRANSACTIONS_PER_PAGE)
    payments = _payments(access)
    # A purchase still waiting for its payment: its Pay button, when the customer can pay by card.
    pay_links = {t.id: pay_link(access, token, t.invoice_id) for page in histories.values() for t in page.items
                 if payments.has_provider and t.status == "pending" and t.invoice_id
                 and t.transaction_status == "purchased"}
    rules = {view.wallet.id: [describe_rule(rule, rate=view.wallet.rate_amount, currency=view.wallet.currency)
                              for rule in view.rules if rule.status == "active"] for view in views}
    return dict(**_common(access, token, "wallet"), wallets=views, histories=histories, rules=rules,
                wallet_pay_links=pay_links, wallet_notice=notice, wallet_forms=forms or {})


@portal_blueprint.get("/<token>/wallet")
@one_read()
def wallet_page(token: str) -> ResponseReturnValue:
    """The active wallets: balances, the top-up, the recurring rules in words and each one's history, page by page
    (`?wallet=<id>&page=`: htmx swaps that wallet's history alone)."""
    access = _access(token)
    if access is None:
        return _link_refused()
    paged = request.args.get("wallet")
    notice = top_ups.issued_notice(_payments(access)) if request.args.get("topped") else None
    context = _wallet_context(access, token, paged=paged, notice=notice)
    if paged is not None and paged not in context["histories"]:
        abort(404)  # another customer's wallet, or none
    if is_htmx_request() and paged is not None:
        view = next(v for v in context["wallets"] if v.wallet.id == paged)
        return render_page("portal/wallet.html", "history", **context, view=view)
    return render_page("portal/wallet.html", "content", **context)


@portal_blueprint.post("/<token>/wallet/<wallet_id>/top-up")
def wallet_page_top_up(token: str, wallet_id: str) -> ResponseReturnValue:
    """The wallet page's top-up: as the overview's (portal.top_ups), back to this page."""
    access = _access(token)
    if access is None:
        return _link_refused()
    result = top_ups.top_up(**access.scope, wallet_id=wallet_id, credits=request.form.get("credits"))
    if result.error is not None:
        return render_page("portal/wallet.html", "content", status=422,
                           **_wallet_context(access, token, forms=result.form_errors(wallet_id)))
    # Back to this page, never straight to the pay page: it may be inside another site's frame (top_ups.notice_after).
    return saved(url_for("portal.wallet_page", token=token, topped=1))
