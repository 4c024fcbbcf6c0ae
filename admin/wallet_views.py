"""Wallets on the customer page: create one, set what it pays and its top-up limits, grant, top up, void, edit its
rules, terminate; mark a top-up waiting for its payment paid.

A refused form is shown again with what was typed and its errors next to the fields (`wallet_forms`:
form key -> {"values": …, "errors": field -> sentences}); an error of no field goes above the panel.
Granting, topping up, voiding credits, marking a top-up paid and terminating ask first, naming the credits and what
they are worth (`wallet_confirm`, admin/confirmations.py), shown on the wallet they are about.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

import wording
from admin.blueprint import admin_blueprint, organization_id, refusal_message
from admin.confirmations import ask, confirmed, typed
from admin.customer_views import render_customer
from billing.errors import BillingError, ValidationFailed
from billing.money import decimal_str, format_money, to_minor, to_minor_exactly
from billing.payments import collection
from billing.screens import overview
from billing.wallets import services as wallets
from web.htmx import is_htmx_request
from web.responses import refused_status
from wording import notices

TRANSACTION_KINDS = {"grant": "granted_credits", "top_up": "paid_credits", "void": "voided_credits"}
LIMITS = {"paid_top_up_min_amount_cents": "top_up_min", "paid_top_up_max_amount_cents": "top_up_max"}

# The API's fields as the forms name them.
FORM_FIELDS = {"paid_credits": "credits", "granted_credits": "credits", "voided_credits": "credits",
               "paid_top_up_min_amount_cents": "top_up_min", "paid_top_up_max_amount_cents": "top_up_max",
               "applies_to": "applies_to", "recurring_transaction_rules.paid_credits": "paid_credits"}
# The new-wallet form has a field for each kind of credits.
NEW_FORM_FIELDS = {**FORM_FIELDS, "paid_credits": "paid_credits", "granted_credits": "granted_credits"}


def _limit_words(wallet_id: str | None) -> dict[str, str]:
    """The wallet's top-up limits in words, for the reasons that name them."""
    if not wallet_id:
        return {}
    wallet = wallets.get_wallet(organization_id=organization_id(), wallet_id=wallet_id)
    words = {}
    if wallet.paid_top_up_min_amount_cents is not None:
        words["amount_below_minimum"] = format_money(wallet.paid_top_up_min_amount_cents, wallet.currency)
    if wallet.paid_top_up_max_amount_cents is not None:
        words["amount_above_maximum"] = format_money(wallet.paid_top_up_max_amount_cents, wallet.currency)
    return words


def _field_errors(failed: ValidationFailed, wallet_id: str | None = None,
                  names: dict[str, str] = FORM_FIELDS) -> dict[str, list[str]]:
    limits = _limit_words(wallet_id)
    errors: dict[str, list[str]] = {}
    for field, codes in failed.details.items():
        for code in codes if isinstance(codes, list | tuple) else [codes]:
            text = wording.wallet_reason(field, str(code))
            if str(code) in limits:
                text = f"{text} ({limits[str(code)]})"
            # A rule's field is reported under its own name (the rule form has one rule).
            errors.setdefault(names.get(field) or field.removeprefix("recurring_transaction_rules."), []).append(text)
    return errors


def _done(customer_id: str, *, error: str | None = None, notice: str | None = None, form: str | None = None,
          failed: BillingError | None = None, wallet_id: str | None = None) -> ResponseReturnValue:
    """The wallet panel again; a refused form (`form`, `failed`) keeps what was typed, its errors inline."""
    forms = {}
    if failed is not None and isinstance(failed, ValidationFailed) and form:
        names = NEW_FORM_FIELDS if form == "new" else FORM_FIELDS
        forms[form] = {"values": request.form.to_dict(flat=False), "errors": _field_errors(failed, wallet_id, names)}
        error = notices.refusal("form_has_errors")
    elif failed is not None:
        error = refusal_message(failed)
    if not is_htmx_request() and error is None:
        return redirect(url_for("admin.customer", customer_id=customer_id), code=303)
    response = render_customer(customer_id, "wallets", status=refused_status() if error else 200,
                               wallet_error=error, wallet_notice=notice, wallet_forms=forms)
    if error is None and is_htmx_request():
        response.headers["HX-Trigger"] = "invoices-changed"  # a top-up adds an invoice
    return response


def _ask(customer_id: str, wallet, code: str, endpoint: str, credits: Decimal, *,
         fields: tuple[tuple[str, str], ...] = (), danger: bool = False, **url_values: str) -> ResponseReturnValue:
    """The wallet panel asking before `endpoint` moves `credits` of `wallet` (named with what they are worth)."""
    page = url_for("admin.customer", customer_id=customer_id)
    question = ask(code, action_url=url_for(endpoint, customer_id=customer_id, wallet_id=wallet.id, **url_values),
                   target="#wallets", cancel_url=page,
                   cancel_fragment_url=url_for("admin.customer_wallets", customer_id=customer_id),
                   fields=fields, danger=danger, about=wallet.id, wallet=wallet.name or wording.gettext("the wallet"),
                   credits=decimal_str(credits),
                   amount=format_money(to_minor(credits * wallet.rate_amount, wallet.currency), wallet.currency))
    return render_customer(customer_id, "wallets", wallet_confirm=question)


def _typed_credits(text: str | None) -> Decimal | None:
    """Credits typed as a number above zero; anything else is left to the service to refuse, with its reason."""
    try:
        credits = Decimal((text or "").strip())
    except InvalidOperation:
        return None
    return credits if credits.is_finite() and credits > 0 else None


def _form(*names: str) -> dict[str, str | None]:
    return {name: (request.form.get(name) or "").strip() or None for name in names}


def _checked(name: str) -> bool:
    return request.form.get(name) in ("1", "on", "true")


def _cents(typed: str | None, currency: str | None) -> int | str | None:
    """A limit typed in major units, in minor units, exactly (`money.to_minor_exactly`: €10.005 is refused,
    not rounded); what is no such amount goes as typed, for the service to say why."""
    if typed is None:
        return None
    cents, problem = to_minor_exactly(typed, currency or "")
    return typed if problem is not None or cents is None else cents


def _settings(currency: str | None) -> dict[str, object]:
    """`applies_to`, the top-up limits and the invoicing choice, as the API takes them."""
    data: dict[str, object] = {
        "applies_to": {"fee_types": [t for t in request.form.getlist("fee_types") if t],
                       "billable_metric_codes": [c for c in request.form.getlist("billable_metric_codes") if c]},
        "invoice_requires_successful_payment": _checked("invoice_requires_successful_payment")}
    for field, name in LIMITS.items():
        data[field] = _cents(_form(name)[name], currency)
    return data


@admin_blueprint.get("/customers/<customer_id>/wallets")
def customer_wallets(customer_id: str) -> ResponseReturnValue:
    return render_customer(customer_id, "wallets")


@admin_blueprint.post("/customers/<customer_id>/wallets")
def customer_wallet_new(customer_id: str) -> ResponseReturnValue:
    summary = overview.customer_summary(organization_id=organization_id(), customer_id=customer_id)
    data = {"external_customer_id": summary.external_id,
            **_form("name", "rate_amount", "currency", "granted_credits", "paid_credits", "expiration_at")}
    data.update(_settings((data["currency"] or summary.currency or "").upper() or None))
    try:
        wallets.create_wallet(organization_id=organization_id(), data=data)
    except BillingError as failed:
        return _done(customer_id, form="new", failed=failed)
    return _done(customer_id, notice=notices.notice("wallet_created"))


@admin_blueprint.post("/customers/<customer_id>/wallets/<wallet_id>/settings")
def customer_wallet_settings(customer_id: str, wallet_id: str) -> ResponseReturnValue:
    """What the wallet pays (`applies_to`), its paid top-up limits and whether top-up invoices wait for payment."""
    try:
        wallet = wallets.wallet_of_customer(organization_id=organization_id(), customer_id=customer_id,
                                            wallet_id=wallet_id)
        wallets.update_wallet(organization_id=organization_id(), wallet_id=wallet_id, data=_settings(wallet.currency))
    except BillingError as failed:
        return _done(customer_id, form=f"settings-{wallet_id}", failed=failed)
    return _done(customer_id, notice=notices.notice("wallet_settings_saved"))


@admin_blueprint.post("/customers/<customer_id>/wallets/<wallet_id>/transactions")
def customer_wallet_transaction(customer_id: str, wallet_id: str) -> ResponseReturnValue:
    field = TRANSACTION_KINDS.get(request.form.get("kind", ""))
    if field is None:
        return _done(customer_id, error=notices.refusal("choose_a_transaction"))
    credits = _typed_credits(request.form.get("credits"))
    if credits is not None and not confirmed():
        try:
            wallet = wallets.wallet_of_customer(organization_id=organization_id(), customer_id=customer_id,
                                                wallet_id=wallet_id)
        except BillingError as failed:
            return _done(customer_id, failed=failed)
        code = {"granted_credits": "grant_credits", "paid_credits": "top_up", "voided_credits": "void_credits"}[field]
        return _ask(customer_id, wallet, code, "admin.customer_wallet_transaction", credits,
                    danger=field == "voided_credits",
                    fields=typed("kind", "credits", "ignore_paid_top_up_limits", "invoice_requires_successful_payment"))
    data = {"wallet_id": wallet_id, field: request.form.get("credits")}
    if field == "paid_credits":
        data["ignore_paid_top_up_limits"] = _checked("ignore_paid_top_up_limits")
        if _checked("invoice_requires_successful_payment"):
            data["invoice_requires_successful_payment"] = True
    try:
        created = wallets.create_wallet_transaction(organization_id=organization_id(), customer_id=customer_id,
                                                    data=data)
    except BillingError as failed:
        return _done(customer_id, form=f"tx-{wallet_id}", failed=failed, wallet_id=wallet_id)
    waiting = any(t.invoice_requires_successful_payment for t in created)
    done = {"granted_credits": "credits_granted", "voided_credits": "credits_voided",
            "paid_credits": "top_up_awaits_payment" if waiting else "top_up_invoiced"}[field]
    return _done(customer_id, notice=notices.notice(done))


@admin_blueprint.post("/customers/<customer_id>/wallets/<wallet_id>/transactions/<transaction_id>/paid")
def customer_wallet_top_up_paid(customer_id: str, wallet_id: str, transaction_id: str) -> ResponseReturnValue:
    """A pending top-up was paid: its invoice (issued now if it waited for the payment) is marked paid."""
    view = next((v for v in wallets.customer_wallets(organization_id=organization_id(), customer_id=customer_id)
                 if v.wallet.id == wallet_id), None)
    transaction = next((t for t in view.transactions if t.id == transaction_id), None) if view else None
    if transaction is None or transaction.invoice_id is None or transaction.status != "pending":
        return _done(customer_id, error=notices.refusal("top_up_not_waiting"))
    if not confirmed():
        return _ask(customer_id, view.wallet, "top_up_paid", "admin.customer_wallet_top_up_paid",
                    transaction.credit_amount, transaction_id=transaction_id)
    try:
        collection.set_invoice_payment_status(organization_id=organization_id(), invoice_id=transaction.invoice_id,
                                              customer_id=customer_id, payment_status="succeeded")
    except BillingError as failed:
        return _done(customer_id, failed=failed)
    return _done(customer_id, notice=notices.notice("top_up_paid"))


@admin_blueprint.post("/customers/<customer_id>/wallets/<wallet_id>/rules")
def customer_wallet_rules(customer_id: str, wallet_id: str) -> ResponseReturnValue:
    """Replace the wallet's recurring top-up rules by the one in the form (or none)."""
    rules = []
    form = _form("trigger", "interval", "threshold_credits", "method", "target_ongoing_balance", "paid_credits",
                 "granted_credits")
    if form["trigger"]:
        rule = {key: value for key, value in form.items() if value is not None}
        if _checked("ignore_paid_top_up_limits"):
            rule["ignore_paid_top_up_limits"] = True
        rules.append(rule)
    try:
        wallets.wallet_of_customer(organization_id=organization_id(), customer_id=customer_id, wallet_id=wallet_id)
        wallets.update_wallet(organization_id=organization_id(), wallet_id=wallet_id,
                              data={"recurring_transaction_rules": rules})
    except BillingError as failed:
        return _done(customer_id, form=f"rules-{wallet_id}", failed=failed, wallet_id=wallet_id)
    return _done(customer_id, notice=notices.notice("top_up_rules_saved" if rules else "top_up_rules_removed"))


@admin_blueprint.post("/customers/<customer_id>/wallets/<wallet_id>/terminate")
def customer_wallet_terminate(customer_id: str, wallet_id: str) -> ResponseReturnValue:
    try:
        wallet = wallets.wallet_of_customer(organization_id=organization_id(), customer_id=customer_id,
                                            wallet_id=wallet_id)
        if not confirmed():
            return _ask(customer_id, wallet, "terminate_wallet", "admin.customer_wallet_terminate",
                        wallet.credits_balance, danger=True)
        wallets.terminate_wallet(organization_id=organization_id(), wallet_id=wallet_id)
    except BillingError as failed:
        return _done(customer_id, error=refusal_message(failed))
    return _done(customer_id, notice=notices.notice("wallet_terminated"))
