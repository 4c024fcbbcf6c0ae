"""Wallets on the customer page: create one, grant, top up, void, edit its rules, terminate; mark invoices paid."""

from __future__ import annotations

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from admin import wording
from admin.views import admin_blueprint, organization_id, render_customer
from billing.customers import overview
from billing.errors import BillingError, ValidationFailed
from billing.invoicing.services import update_invoice
from billing.wallets import services as wallets
from web.htmx import is_htmx_request

TRANSACTION_KINDS = {"grant": "granted_credits", "top_up": "paid_credits", "void": "voided_credits"}


def _message(failed: BillingError) -> str:
    if isinstance(failed, ValidationFailed):
        return "; ".join(f"{field}: {m}" for field, messages in wording.field_errors(failed.details).items()
                         for m in messages)
    return wording.reason("wallet", getattr(failed, "code", str(failed)))


def _done(customer_id: str, *, error: str | None = None, notice: str | None = None) -> ResponseReturnValue:
    if not is_htmx_request() and error is None:
        return redirect(url_for("admin.customer", customer_id=customer_id), code=303)
    response = render_customer(customer_id, "wallets", status=200 if is_htmx_request() or not error else 422,
                               wallet_error=error, wallet_notice=notice)
    if error is None and is_htmx_request():
        response.headers["HX-Trigger"] = "invoices-changed"  # a top-up adds an invoice
    return response


def _form(*names: str) -> dict[str, str | None]:
    return {name: (request.form.get(name) or "").strip() or None for name in names}


@admin_blueprint.get("/customers/<customer_id>/wallets")
def customer_wallets(customer_id: str) -> ResponseReturnValue:
    return render_customer(customer_id, "wallets")


@admin_blueprint.post("/customers/<customer_id>/wallets")
def customer_wallet_new(customer_id: str) -> ResponseReturnValue:
    summary = overview.customer_summary(organization_id=organization_id(), customer_id=customer_id)
    data = {"external_customer_id": summary.external_id,
            **_form("name", "rate_amount", "currency", "granted_credits", "paid_credits", "expiration_at")}
    try:
        wallets.create_wallet(organization_id=organization_id(), data=data)
    except BillingError as failed:
        return _done(customer_id, error=_message(failed))
    return _done(customer_id, notice="Wallet created.")


@admin_blueprint.post("/customers/<customer_id>/wallets/<wallet_id>/transactions")
def customer_wallet_transaction(customer_id: str, wallet_id: str) -> ResponseReturnValue:
    field = TRANSACTION_KINDS.get(request.form.get("kind", ""))
    if field is None:
        return _done(customer_id, error="Choose grant, top up or void.")
    try:
        wallets.create_wallet_transaction(organization_id=organization_id(), customer_id=customer_id,
                                          data={"wallet_id": wallet_id, field: request.form.get("credits")})
    except BillingError as failed:
        return _done(customer_id, error=_message(failed))
    notice = {"granted_credits": "Credits granted.", "voided_credits": "Credits voided.",
              "paid_credits": "Top-up invoice issued: the credits arrive when it is paid."}[field]
    return _done(customer_id, notice=notice)


@admin_blueprint.post("/customers/<customer_id>/wallets/<wallet_id>/rules")
def customer_wallet_rules(customer_id: str, wallet_id: str) -> ResponseReturnValue:
    """Replace the wallet's recurring top-up rules by the one in the form (or none)."""
    rules = []
    form = _form("trigger", "interval", "threshold_credits", "method", "target_ongoing_balance", "paid_credits",
                 "granted_credits")
    if form["trigger"]:
        rules.append({key: value for key, value in form.items() if value is not None})
    try:
        wallets.wallet_of_customer(organization_id=organization_id(), customer_id=customer_id, wallet_id=wallet_id)
        wallets.update_wallet(organization_id=organization_id(), wallet_id=wallet_id,
                              data={"recurring_transaction_rules": rules})
    except BillingError as failed:
        return _done(customer_id, error=_message(failed))
    return _done(customer_id, notice="Top-up rules saved." if rules else "Top-up rules removed.")


@admin_blueprint.post("/customers/<customer_id>/wallets/<wallet_id>/terminate")
def customer_wallet_terminate(customer_id: str, wallet_id: str) -> ResponseReturnValue:
    try:
        wallets.wallet_of_customer(organization_id=organization_id(), customer_id=customer_id, wallet_id=wallet_id)
        wallets.terminate_wallet(organization_id=organization_id(), wallet_id=wallet_id)
    except BillingError as failed:
        return _done(customer_id, error=_message(failed))
    return _done(customer_id, notice="Wallet terminated: its credits are voided.")


@admin_blueprint.post("/customers/<customer_id>/invoices/<invoice_id>/paid")
def customer_invoice_paid(customer_id: str, invoice_id: str) -> ResponseReturnValue:
    """Mark a finalized invoice paid (no payment provider connected); a top-up's credits settle."""
    try:
        update_invoice(organization_id=organization_id(), invoice_id=invoice_id, customer_id=customer_id,
                       data={"payment_status": "succeeded"})
    except BillingError as failed:
        return render_customer(customer_id, "invoices", status=422, invoice_error=_message(failed))
    if not is_htmx_request():
        return redirect(url_for("admin.customer", customer_id=customer_id), code=303)
    response = render_customer(customer_id, "invoices")
    response.headers["HX-Trigger"] = "wallets-changed"
    return response
