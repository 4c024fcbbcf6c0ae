"""A customer's payment settings on their page: the provider that collects (Lago's billing_configuration,
saved through upsert_customer like the API's) and reading their saved methods back from the provider."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from admin.blueprint import admin_blueprint, organization_id
from admin.customer_payments import billing_configuration
from admin.customer_views import render_customer
from admin.forms import CustomerPaymentForm
from billing.customers.services import upsert_customer
from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.payments import customers as payment_customers
from billing.payments import providers
from billing.payments.interface import ProviderError
from billing.payments.secrets import SettingsUnreadable
from billing.screens import payments as payment_screens
from web.responses import refused_status
from wording import payments as words


@admin_blueprint.get("/customers/<customer_id>/payments")
def customer_payments(customer_id: str) -> ResponseReturnValue:
    return render_customer(customer_id, "payments")


@admin_blueprint.post("/customers/<customer_id>/payment-provider")
def customer_payment_provider(customer_id: str) -> ResponseReturnValue:
    """Set, change or remove the customer's payment provider."""
    current = payment_screens.customer_payments(organization_id=organization_id(), customer_id=customer_id)
    form = CustomerPaymentForm()
    connected = providers.list_providers(organization_id=organization_id())
    errors: dict[str, list[str]] = {}
    if not form.validate_on_submit():
        errors = {field: list(messages) for field, messages in form.errors.items() if field != "csrf_token"}
    else:
        configuration, errors = billing_configuration(form, current=current, connected=connected)
        if not errors:
            try:
                upsert_customer(organization_id=organization_id(),
                                data={"external_id": current.external_id, "billing_configuration": configuration})
            except ValidationFailed as failed:
                errors = words.payment_errors(failed.details)
                if "payment_provider_code" in errors:
                    errors["provider_code"] = errors.pop("payment_provider_code")
            else:
                done = "customer_link_saved" if configuration.get("payment_provider") else "customer_link_removed"
                return render_customer(customer_id, "payments", payment_notice=words.payment_notice(done))
    return render_customer(customer_id, "payments", status=refused_status(), payment_form=form,
                           payment_errors=errors)


@admin_blueprint.post("/customers/<customer_id>/payment-methods/refresh")
def customer_payment_methods_refresh(customer_id: str) -> ResponseReturnValue:
    """Read the customer's saved methods back from the provider (a card added at Stripe directly)."""
    try:
        payment_customers.refresh_methods(organization_id=organization_id(), customer_id=customer_id)
    except NotAllowed as refused:
        refusal = refused.code
    except NotFound as missing:  # its provider was disconnected
        refusal = missing.resource
    except SettingsUnreadable:
        refusal = "settings_unreadable"
    except ProviderError:
        refusal = "payment_provider_unavailable"
    else:
        return render_customer(customer_id, "payments")
    return render_customer(customer_id, "payments", status=refused_status(),
                           payment_error=words.payment_refusal(refusal))
