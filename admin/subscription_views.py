"""A customer's subscriptions, managed from the customer page: assign a plan, change it (upgrade now or
downgrade at the end of the period, as the service decides), terminate, and override one subscription's
prices. Every action answers the page's subscriptions block (htmx) or the whole page; a refusal is
shown next to its field, never as an error page. Every read and write is scoped to the signed-in
manager's organization and to the customer in the URL."""

from __future__ import annotations

from flask import Response, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from admin import plans
from admin import subscriptions as forms
from admin.blueprint import admin_blueprint, organization_id
from admin.customer_views import render_customer
from billing.errors import NotFound, ValidationFailed
from billing.invoicing.termination import termination_credit_note
from billing.lifecycle import create_subscription, terminate_subscription
from billing.ports import runtime
from billing.screens import overview
from billing.screens.catalog import plan_options
from billing.subscriptions.periods import local_date
from billing.subscriptions.services import plan_change_of, update_subscription
from web.htmx import is_htmx_request
from web.responses import refused_status
from wording import subscriptions as words

# NOTE: announced to the page (house rule 8): the invoices list refreshes itself on this event.
INVOICES_CHANGED = "invoices-changed"


def _scope(customer_id: str) -> dict[str, str]:
    return {"organization_id": organization_id(), "customer_id": customer_id}


def _done(customer_id: str, result: forms.Result, *, invoices_changed: bool = False) -> ResponseReturnValue:
    """After an action: the subscriptions block with what happened (htmx), else back to the page."""
    if not is_htmx_request():
        flash(result.message)
        return redirect(url_for("admin.customer", customer_id=customer_id), code=303)
    response = render_customer(customer_id, "usage", result=result)
    response.headers["HX-Retarget"] = "#usage"
    response.headers["HX-Reswap"] = "innerHTML"
    if invoices_changed:
        response.headers["HX-Trigger"] = INVOICES_CHANGED
    return response


def _refused(customer_id: str, **context) -> ResponseReturnValue:
    return render_customer(customer_id, "usage", status=refused_status(), **context)


def _live(customer_id: str, subscription_id: str) -> overview.SubscriptionPlan:
    subscription = overview.customer_subscription(**_scope(customer_id), subscription_id=subscription_id)
    if not subscription.live or subscription.replaces:
        raise NotFound("subscription")  # ended, or a downgrade waiting for its start: managed through the current one
    return subscription


def _plan_name(code: str) -> str:
    return next((p.invoice_display_name or p.name for p in plan_options(organization_id=organization_id())
                 if p.code == code), code)


@admin_blueprint.post("/customers/<customer_id>/subscriptions")
def subscription_assign(customer_id: str) -> ResponseReturnValue:
    customer = overview.customer_summary(**_scope(customer_id))
    assign = forms.read_assign_form(request.form)
    data, reasons = forms.assign_data(assign, customer, runtime.clock.now())
    if not reasons:
        try:
            subscription = create_subscription(organization_id=organization_id(), data=data)
        except NotFound:
            reasons = {"plan_code": ["plan_not_found"]}
        except ValidationFailed as failed:
            reasons = failed.details
        else:
            name = subscription.plan.invoice_display_name or subscription.plan.name
            starts = (local_date(subscription.subscription_at, customer.timezone)
                      if subscription.status == "pending" else None)
            message = words.subscribed(plan=name, external_id=subscription.external_id, starts=starts)
            return _done(customer_id, forms.Result(message), invoices_changed=subscription.plan.pay_in_advance)
    assign.errors = forms.sentences(reasons, rename=forms.ASSIGN_FIELDS)
    return _refused(customer_id, assign=assign)


@admin_blueprint.post("/customers/<customer_id>/subscriptions/<subscription_id>/plan")
def subscription_change_plan(customer_id: str, subscription_id: str) -> ResponseReturnValue:
    """Another plan for a live subscription: create_subscription with the same external id (Lago's way)."""
    current = _live(customer_id, subscription_id)
    customer = overview.customer_summary(**_scope(customer_id))
    plan_code = (request.form.get("plan_code") or "").strip()[:255]
    reasons: dict[str, object] = {}
    if not plan_code:
        reasons = {"plan_code": ["value_is_mandatory"]}
    elif plan_code == current.base_plan.code:
        reasons = {"plan_code": ["same_plan"]}
    else:
        try:
            changed = create_subscription(organization_id=organization_id(), data={
                "external_customer_id": customer.external_id, "plan_code": plan_code,
                "external_id": current.external_id})
        except NotFound:
            reasons = {"plan_code": ["plan_not_found"]}
        except ValidationFailed as failed:
            reasons = failed.details
        else:
            new_name = _plan_name(plan_code)
            if changed.id != current.id:
                invoice = overview.latest_subscription_invoice(**_scope(customer_id), subscription_id=current.id)
                note = termination_credit_note(organization_id=organization_id(), subscription_id=current.id)
                message = words.upgraded(plan=new_name, previous=current.plan.name)
                if note is not None:
                    message += " " + words.credit_note_sentence(note)
                return _done(customer_id, forms.Result(message, invoice=invoice, credit_note=note),
                             invoices_changed=True)
            if changed.status == "pending":
                return _done(customer_id, forms.Result(words.pending_plan_changed(plan=new_name)))
            change = plan_change_of(changed)
            return _done(customer_id, forms.Result(words.downgrade_scheduled(
                plan=new_name, previous=current.plan.name, on=change.downgrade_plan_date)))
    errors = forms.sentences(reasons, rename={"currency": "plan_code"})
    return _refused(customer_id, change_errors={current.id: [m for ms in errors.values() for m in ms]})


@admin_blueprint.route("/customers/<customer_id>/subscriptions/<subscription_id>/terminate", methods=["GET", "POST"])
def subscription_terminate(customer_id: str, subscription_id: str) -> ResponseReturnValue:
    """GET asks for confirmation (what will be billed); POST terminates and links the final invoice."""
    subscription = _live(customer_id, subscription_id)
    if request.method == "GET":
        return render_customer(customer_id, "terminate_confirm" if is_htmx_request() else "content",
                               confirm=subscription)
    options = forms.read_terminate_form(request.form, pay_in_advance=subscription.plan.pay_in_advance)
    try:
        ended = terminate_subscription(organization_id=organization_id(), external_id=subscription.external_id,
                                       options=options)
    except ValidationFailed as failed:
        errors = forms.sentences(failed.details)
        return _refused(customer_id, confirm=subscription,
                        terminate_errors=[m for ms in errors.values() for m in ms])
    if ended.status == "canceled":
        return _done(customer_id, forms.Result(words.canceled_before_start(external_id=subscription.external_id)))
    invoice = overview.latest_subscription_invoice(**_scope(customer_id), subscription_id=subscription.id)
    note = termination_credit_note(organization_id=organization_id(), subscription_id=subscription.id)
    message = words.terminated(external_id=subscription.external_id)
    if note is not None:
        message += " " + words.credit_note_sentence(note)
    elif subscription.plan.pay_in_advance and options.get("on_termination_credit_note") != "skip":
        message += " " + words.no_credit_note_yet()
    if options["on_termination_invoice"] == "skip":
        invoice = None  # no final invoice was issued: the latest one is an earlier invoice
        message += " " + words.no_final_invoice()
    return _done(customer_id, forms.Result(message, invoice=invoice, credit_note=note), invoices_changed=True)


@admin_blueprint.route("/customers/<customer_id>/subscriptions/<subscription_id>/overrides",
                       methods=["GET", "POST"])
def subscription_overrides(customer_id: str, subscription_id: str) -> ResponseReturnValue:
    """This subscription's own prices: GET opens the editor; POST saves them (Lago's plan_overrides)."""
    subscription = _live(customer_id, subscription_id)
    if request.method == "GET":
        editor = forms.override_form(subscription)
        return render_customer(customer_id, "overrides" if is_htmx_request() else "content", override=editor,
                               diff=forms.override_diff(editor))
    editor = forms.read_override_form(request.form, subscription)
    op = request.form.get("op", "")
    if op:  # a tier added or removed: show the editor again, unsaved
        plans.apply_op(editor.charges, op, metrics=[], currency=editor.currency)
        return _override_editor(customer_id, editor)
    overrides, reasons = forms.override_data(editor)
    if not reasons:
        try:
            update_subscription(organization_id=organization_id(), external_id=subscription.external_id,
                                data={"plan_overrides": overrides})
        except ValidationFailed as failed:
            reasons = failed.details
        else:
            changes = forms.override_diff(editor)
            message = words.prices_saved(external_id=subscription.external_id,
                                         changes=[(d.label, d.before, d.after) for d in changes])
            return _done(customer_id, forms.Result(message))
    forms.place_override_errors(editor, reasons)
    return _override_editor(customer_id, editor)


def _override_editor(customer_id: str, editor: forms.OverrideForm) -> ResponseReturnValue:
    status = refused_status() if editor.refused else 200
    return render_customer(customer_id, "overrides" if is_htmx_request() else "content", status=status,
                           override=editor, diff=forms.override_diff(editor))


@admin_blueprint.post("/customers/<customer_id>/subscriptions/<subscription_id>/overrides/diff")
def subscription_overrides_diff(customer_id: str, subscription_id: str) -> ResponseReturnValue:
    """How the prices typed in the editor differ from the plan's (refreshed as they are typed)."""
    subscription = _live(customer_id, subscription_id)
    if not is_htmx_request():
        return Response(status=204)
    editor = forms.read_override_form(request.form, subscription)
    return render_customer(customer_id, "override_diff", override=editor, diff=forms.override_diff(editor))
