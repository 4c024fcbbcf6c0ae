"""Creating and editing a customer: an htmx form saved through upsert_customer, as the API's POST /customers is
(the same checks, the same customer.created / customer.updated webhooks)."""

from __future__ import annotations

from flask import flash, request, url_for
from flask.typing import ResponseReturnValue

from admin import customer_forms
from admin.blueprint import admin_blueprint, organization_id
from admin.forms import CustomerForm
from billing.catalog.taxes import list_taxes
from billing.customers.models import Customer
from billing.customers.services import customer_exists, get_customer_by_id, upsert_customer
from billing.errors import NotFound, ValidationFailed
from billing.organizations.services import read_organization
from billing.payments import providers
from billing.screens import payments as payment_screens
from web.htmx import render_page
from web.responses import refused_status, saved
from wording import customers as words
from wording import notices

CUSTOMER_FORM_PAGE = "admin/customer_form.html"


def _render_form(form: CustomerForm, customer: Customer | None, errors: dict[str, list[str]],
                 connected: list[providers.ConnectedProvider]) -> ResponseReturnValue:
    form.provider_code.choices = [("", "None: record payments by hand")] + [
        (p.code, f"{p.name} ({p.code})") for p in connected]
    known = set(form._fields)
    other_errors = [message for field, messages in errors.items() if field not in known for message in messages]
    organization = read_organization(organization_id=organization_id())
    return render_page(CUSTOMER_FORM_PAGE, "customer_form", status=refused_status() if errors else 200, form=form,
                       customer=customer, errors=errors, other_errors=other_errors,
                       taxes=list_taxes(organization_id=organization_id(), per_page=100).items,
                       payment_providers=connected, organization_timezone=organization.timezone or "UTC",
                       organization_grace_period=organization.invoice_grace_period,
                       organization_net_payment_term=organization.net_payment_term)


def _save(form: CustomerForm, *, external_id: str, current: payment_screens.CustomerPayments | None,
          connected: list[providers.ConnectedProvider]) -> tuple[Customer | None, dict[str, list[str]]]:
    """Upsert the customer from the form; the customer saved, or the reasons by field (nothing written)."""
    data, errors = customer_forms.service_data(form, external_id=external_id, current=current, connected=connected)
    if errors:
        return None, errors
    try:
        return upsert_customer(organization_id=organization_id(), data=data), {}
    except ValidationFailed as failed:
        return None, words.customer_errors(failed.details)
    except NotFound as missing:
        if missing.resource != "tax":
            raise
        # A tax deleted since the form was shown (Lago answers an unknown tax code with 404 tax_not_found).
        return None, words.customer_errors({"tax_codes": ["tax_not_found"]})


def _saved(customer: Customer, notice: str) -> ResponseReturnValue:
    flash(notices.notice(notice, name=customer.display_name), "customer")
    return saved(url_for("admin.customer", customer_id=customer.id))


@admin_blueprint.route("/customers/new", methods=["GET", "POST"])
def customer_new() -> ResponseReturnValue:
    form = CustomerForm()
    connected = providers.list_providers(organization_id=organization_id())
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        external_id = (form.external_id.data or "").strip()
        if not external_id:
            errors = words.customer_errors({"external_id": ["value_is_mandatory"]})
        elif customer_exists(organization_id=organization_id(), external_id=external_id):
            # NOTE: the API's POST /customers updates a customer it knows; a form that creates one must not.
            errors = words.customer_errors({"external_id": ["value_already_exist"]})
        else:
            customer, errors = _save(form, external_id=external_id, current=None, connected=connected)
            if customer is not None:
                return _saved(customer, "customer_created")
    return _render_form(form, None, errors, connected)


@admin_blueprint.route("/customers/<customer_id>/edit", methods=["GET", "POST"])
def customer_edit(customer_id: str) -> ResponseReturnValue:
    customer = get_customer_by_id(organization_id=organization_id(), customer_id=customer_id)
    link = payment_screens.customer_payments(organization_id=organization_id(), customer_id=customer_id)
    connected = providers.list_providers(organization_id=organization_id())
    posted = request.method == "POST"
    form = CustomerForm() if posted else CustomerForm(data=customer_forms.initial_data(customer, link))
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        saved_customer, errors = _save(form, external_id=customer.external_id, current=link, connected=connected)
        if saved_customer is not None:
            return _saved(saved_customer, "customer_saved")
    return _render_form(form, customer, errors, connected)
