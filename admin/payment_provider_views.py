"""Payment providers: the connected ones with the webhook URL to register at each, connecting Stripe, Adyen or
GoCardless (the kind chosen first: /payment-providers/new?kind=adyen), editing their settings (a secret left blank
keeps its stored value) and disconnecting one (refused while a payment through it is in flight)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from admin.blueprint import admin_blueprint, organization_id
from admin.forms import PROVIDER_FORMS, PaymentProviderForm
from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.payments import providers, secrets
from billing.screens import payments as payment_screens
from web.htmx import render_page
from web.responses import refused_status, saved
from wording import payments as words

PROVIDERS_PAGE = "admin/payment_providers.html"
PROVIDER_FORM_PAGE = "admin/payment_provider_form.html"
PROVIDER_DISCONNECT_PAGE = "admin/payment_provider_disconnect.html"


@admin_blueprint.get("/payment-providers")
def payment_provider_list() -> ResponseReturnValue:
    rows = payment_screens.provider_rows(organization_id=organization_id())
    return render_template(PROVIDERS_PAGE, rows=rows, words=words, kinds=tuple(PROVIDER_FORMS),
                           display_names=providers.DISPLAY_NAMES)


def _editable_provider(code: str) -> providers.ConnectedProvider:
    provider = providers.get_provider(organization_id=organization_id(), code=code)
    if provider.kind not in PROVIDER_FORMS:  # Tally's test provider is connected by other means
        raise NotFound("payment_provider")
    return provider


def _render_form(form: PaymentProviderForm, provider: providers.ConnectedProvider | None,
                 errors: dict[str, list[str]]) -> ResponseReturnValue:
    known = {"name", "code", *form.SETTINGS}
    other_errors = [f"{field}: {message}" for field, messages in errors.items() if field not in known
                    for message in messages]
    return render_page(PROVIDER_FORM_PAGE, "provider_form", status=refused_status() if errors else 200, form=form,
                       kind=form.KIND, display_kind=providers.DISPLAY_NAMES[form.KIND], provider=provider,
                       errors=errors, other_errors=other_errors, words=words)


def _form_errors(form: PaymentProviderForm) -> dict[str, list[str]]:
    return {field: list(messages) for field, messages in form.errors.items() if field != "csrf_token"}


@admin_blueprint.route("/payment-providers/new", methods=["GET", "POST"])
def payment_provider_new() -> ResponseReturnValue:
    kind = request.args.get("kind", "stripe")
    if kind not in PROVIDER_FORMS:
        abort(404)
    form = PROVIDER_FORMS[kind]()
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        code = (form.code.data or "").strip()
        try:
            if code and any(p.code == code for p in providers.list_providers(organization_id=organization_id())):
                # connect_provider would update the provider with this code: a new one must not.
                raise ValidationFailed({"code": ["value_already_exist"]})
            connected = providers.connect_provider(organization_id=organization_id(), kind=kind, code=code,
                                                   name=form.name.data, settings=form.settings())
        except ValidationFailed as failed:
            errors = words.payment_errors(failed.details)
        else:
            flash(words.payment_notice("provider_connected", name=connected.name))
            return saved(url_for("admin.payment_provider_list"))
    elif request.method == "POST":
        errors = _form_errors(form)
    return _render_form(form, None, errors)


@admin_blueprint.route("/payment-providers/<code>/edit", methods=["GET", "POST"])
def payment_provider_edit(code: str) -> ResponseReturnValue:
    provider = _editable_provider(code)
    form_class = PROVIDER_FORMS[provider.kind]
    if request.method == "POST":
        form = form_class()
    else:
        shown = {field: provider.visible_settings[field] for field in form_class.SETTINGS
                 if field in provider.visible_settings and field not in secrets.SECRET_SETTINGS}
        form = form_class(data={"name": provider.name, "code": provider.code, **shown})
    form.code.data = provider.code  # the code customers are linked with never changes here
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        try:
            connected = providers.connect_provider(organization_id=organization_id(), kind=provider.kind,
                                                   code=provider.code, name=form.name.data, settings=form.settings(),
                                                   cleared=form.cleared())
        except ValidationFailed as failed:
            errors = words.payment_errors(failed.details)
        else:
            flash(words.payment_notice("provider_saved", name=connected.name))
            return saved(url_for("admin.payment_provider_list"))
    elif request.method == "POST":
        errors = _form_errors(form)
    return _render_form(form, provider, errors)


@admin_blueprint.route("/payment-providers/<code>/disconnect", methods=["GET", "POST"])
def payment_provider_disconnect(code: str) -> ResponseReturnValue:
    """GET asks for confirmation; POST disconnects, or says why it may not (payments in flight)."""
    provider = providers.get_provider(organization_id=organization_id(), code=code)
    refusal = None
    if request.method == "POST":
        try:
            providers.disconnect_provider(organization_id=organization_id(), code=code)
        except NotAllowed as refused:
            refusal = words.payment_refusal(refused.code)
        else:
            flash(words.payment_notice("provider_disconnected", name=provider.name))
            return redirect(url_for("admin.payment_provider_list"), code=303)
    return render_template(PROVIDER_DISCONNECT_PAGE, provider=provider, refusal=refusal), 422 if refusal else 200
