"""The customer page's Payments section: what it reads (the provider link, saved methods, the connected
providers to choose from) and its form as the `billing_configuration` upsert_customer takes (as the API does)."""

from __future__ import annotations

from collections.abc import Mapping

from admin.forms import CustomerPaymentForm
from billing.payments import providers
from billing.screens import payments as payment_screens
from wording import payments as words


def customer_payment_context(organization_id: str, customer_id: str, extra: Mapping[str, object]) -> dict:
    """What the `payments` block reads; `extra` may bring the form as typed, its errors and a notice."""
    link = payment_screens.customer_payments(organization_id=organization_id, customer_id=customer_id)
    connected = providers.list_providers(organization_id=organization_id)
    form = extra.get("payment_form")
    if form is None:
        form = CustomerPaymentForm(data={"provider_code": link.provider_code or "",
                                         "link": "existing" if link.provider_customer_id else "create",
                                         "provider_customer_id": link.provider_customer_id or ""})
    form.provider_code.choices = [("", "None: record payments by hand")] + [
        (p.code, f"{p.name} ({p.code})") for p in connected]
    current = next((p for p in connected if p.code == link.provider_code), None)
    return {"payment_link": link, "payment_providers": connected, "payment_form": form, "payment_provider": current,
            "payment_errors": extra.get("payment_errors") or {}, "payment_notice": extra.get("payment_notice"),
            "payment_error": extra.get("payment_error"), "payment_words": words}


def billing_configuration(form: CustomerPaymentForm, *, current: payment_screens.CustomerPayments,
                          connected: list[providers.ConnectedProvider]) -> tuple[dict, dict[str, list[str]]]:
    """The form as Lago's billing_configuration, or the reasons it cannot be one (field -> sentences)."""
    code = (form.provider_code.data or "").strip()
    if not code:
        return {"payment_provider": None}, {}
    provider = next((p for p in connected if p.code == code), None)
    if provider is None:
        return {}, {"provider_code": [words.payment_reason("payment_provider_code", "payment_provider_not_found")]}
    configuration: dict[str, object] = {"payment_provider": provider.kind, "payment_provider_code": code}
    linked = (form.provider_customer_id.data or "").strip()
    # The form comes filled with the current provider's customer: another provider cannot know that id, so a move
    # with it left as it was creates the customer there (or links the one kept from an earlier time there).
    prefilled = code != current.provider_code and bool(linked) and linked == current.provider_customer_id
    if form.link.data == "existing" and not prefilled:
        if not linked:
            return {}, {"provider_customer_id": [words.payment_reason("provider_customer_id", "value_is_mandatory")]}
        configuration.update(provider_customer_id=linked, sync_with_provider=False)
    else:
        configuration["sync_with_provider"] = True
        if code != current.provider_code or not current.provider_customer_id:
            # NOTE: a provider customer id belongs to one provider: another code starts a new customer there.
            configuration["provider_customer_id"] = None
    return configuration, {}
