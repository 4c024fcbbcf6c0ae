"""A customer at their payment provider: the link (Lago's `billing_configuration`), and their saved methods.

The provider holds the card; Tally keeps what may be shown of it (brand, last 4, expiry) and which one is
the default, and reads the list back from the provider after every change the customer makes there.

A customer may be moved to another provider: its customer at each provider is kept (ProviderCustomer), so that
moving back links the customer it already has there, and its methods at the old provider stay listed (each
with its provider; the default and every charge are the current provider's only) until removed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import serializers
from billing.customers.events import CustomerPaymentSettingsChanged
from billing.customers.models import Customer
from billing.db import after_commit, read_only, unit_of_work
from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.payments import providers
from billing.payments.interface import CustomerRequest, PaymentMethod, ProviderError, SetupRequest, SetupSession
from billing.payments.models import PaymentProviderAccount, ProviderCustomer, SavedPaymentMethod
from billing.ports import runtime
from billing.webhooks import services as webhooks

log = logging.getLogger(__name__)

CUSTOMER_PAYMENT_PROVIDER_CREATED = "customer.payment_provider_created"
CUSTOMER_PAYMENT_PROVIDER_ERROR = "customer.payment_provider_error"
SYNC_TASK = "sync_provider_customer"


# -- The link, as the customer's billing_configuration sets it --------------------------------------------------


def on_payment_settings_changed(session: Session, event: CustomerPaymentSettingsChanged) -> None:
    """Check the provider the customer now names, and create or read its provider customer after commit."""
    customer = event.customer
    if not customer.payment_provider:
        customer.payment_provider_code = None
        return
    accounts = list(session.scalars(select(PaymentProviderAccount).where(
        PaymentProviderAccount.organization_id == customer.organization_id,
        PaymentProviderAccount.kind == customer.payment_provider)))
    if customer.payment_provider_code is None and len(accounts) == 1:
        customer.payment_provider_code = accounts[0].code  # NOTE: Lago's default when one provider is connected
    if customer.payment_provider_code not in {a.code for a in accounts}:
        raise ValidationFailed({"billing_configuration.payment_provider_code": ["payment_provider_not_found"]})
    _link_kept_provider_customer(session, customer)
    if customer.sync_with_provider or customer.payment_provider_customer_id:
        customer_id, organization_id = customer.id, customer.organization_id
        after_commit(session, lambda: runtime.dispatcher.enqueue(
            SYNC_TASK, job_id=f"provider-customer-{customer_id}", organization_id=organization_id,
            customer_id=customer_id))


def provider_customers_of(session: Session, customer: Customer) -> dict[str, str]:
    """The customer's id at each provider it has been linked to, by provider code."""
    return dict(session.execute(select(ProviderCustomer.provider_code, ProviderCustomer.provider_customer_id).where(
        ProviderCustomer.organization_id == customer.organization_id,
        ProviderCustomer.customer_id == customer.id)).tuples().all())


def _link_kept_provider_customer(session: Session, customer: Customer) -> None:
    """On a move to another provider, link the customer it already has there (or none: one is created)."""
    rows = session.execute(select(ProviderCustomer.provider_code, ProviderCustomer.provider_kind,
                                  ProviderCustomer.provider_customer_id).where(
        ProviderCustomer.organization_id == customer.organization_id,
        ProviderCustomer.customer_id == customer.id)).tuples().all()
    code, linked = customer.payment_provider_code, customer.payment_provider_customer_id
    # A code disconnected and connected again as another kind of provider does not know the customer kept there.
    here = next((id_ for c, kind, id_ in rows if c == code and kind == customer.payment_provider), None)
    others = {id_ for c, _kind, id_ in rows if c != code}
    if linked is None or (linked in others and linked != here):
        # No id given with the new code, or the id of the previous provider's customer left over by a change of
        # code alone: a provider customer id belongs to one provider.
        customer.payment_provider_customer_id = here


def _keep_provider_customer(session: Session, customer: Customer) -> None:
    """Remember the customer's id at its current provider (after it was created or linked there)."""
    code, linked = customer.payment_provider_code, customer.payment_provider_customer_id
    if not code or not linked or not customer.payment_provider:
        return
    row = session.scalar(select(ProviderCustomer).where(ProviderCustomer.customer_id == customer.id,
                                                        ProviderCustomer.provider_code == code))
    if row is None:
        session.add(ProviderCustomer(organization_id=customer.organization_id, customer_id=customer.id,
                                     provider_code=code, provider_kind=customer.payment_provider,
                                     provider_customer_id=linked))
    else:  # an existing customer linked by hand replaces the one kept (and a code connected again, its kind)
        row.provider_customer_id, row.provider_kind = linked, customer.payment_provider


def sync_provider_customer(*, organization_id: str, customer_id: str) -> str | None:
    """Create the customer at the provider (or update the one it links), then read back its methods (the job)."""
    with read_only() as session:
        customer = _customer(session, organization_id, customer_id)
        code, linked = customer.payment_provider_code, customer.payment_provider_customer_id
        if not code:
            return None
        adapter = providers.adapter_for(session, organization_id, code)
        request = CustomerRequest(reference=customer.id, idempotency_key=f"tally-customer-{customer.id}-{code}",
                                  name=customer.name, email=(customer.email or "").split(",")[0].strip() or None,
                                  metadata={"tally_customer_id": customer.id,
                                            "external_customer_id": customer.external_id})
    try:
        if linked:
            provider_customer_id = adapter.update_customer(linked, request).id
            methods = adapter.list_payment_methods(provider_customer_id)
        else:
            provider_customer_id = adapter.create_customer(request).id
            methods = ()
    except ProviderError as error:
        _record_error(organization_id, customer_id, error)
        if error.retryable:
            raise
        return None
    with unit_of_work() as uow:
        customer = _customer(uow.session, organization_id, customer_id, lock=True)
        created = customer.payment_provider_customer_id is None
        if customer.payment_provider_code != code:
            return None  # moved to another provider meanwhile: its own sync job links it there
        customer.payment_provider_customer_id = provider_customer_id
        customer.payment_provider_error = None
        _keep_provider_customer(uow.session, customer)
        _store_methods(uow.session, customer, methods)
        if created:
            webhooks.emit(uow.session, organization_id, CUSTOMER_PAYMENT_PROVIDER_CREATED, "customer",
                          lambda: serializers.customer(customer), object_id=customer.id)
    return provider_customer_id


def _record_error(organization_id: str, customer_id: str, error: ProviderError) -> None:
    with unit_of_work() as uow:
        customer = _customer(uow.session, organization_id, customer_id, lock=True)
        customer.payment_provider_error = str(error)[:1000]
        webhooks.emit(uow.session, organization_id, CUSTOMER_PAYMENT_PROVIDER_ERROR, "payment_provider_customer_error",
                      {"lago_customer_id": customer.id, "external_customer_id": customer.external_id,
                       "payment_provider": customer.payment_provider,
                       "payment_provider_code": customer.payment_provider_code,
                       "provider_error": {"message": str(error), "error_code": error.code}},
                      object_id=customer.id)


def _customer(session: Session, organization_id: str, customer_id: str, *, lock: bool = False) -> Customer:
    query = select(Customer).where(Customer.organization_id == organization_id, Customer.id == customer_id,
                                   Customer.deleted_at.is_(None))
    customer = session.scalar(query.with_for_update(of=Customer) if lock else query)
    if customer is None:
        raise NotFound("customer")
    return customer


def _provider_customer(organization_id: str, customer_id: str) -> tuple[str, str]:
    """The customer's provider code and provider customer id, created now when the link asks for one."""
    with read_only() as session:
        customer = _customer(session, organization_id, customer_id)
        code, linked = customer.payment_provider_code, customer.payment_provider_customer_id
    if not code:
        raise NotAllowed("no_payment_provider")
    if not linked:
        linked = sync_provider_customer(organization_id=organization_id, customer_id=customer_id)
        if not linked:
            raise NotAllowed("payment_provider_customer_error")
    return code, linked


# -- Saved methods ----------------------------------------------------------------------------------------------

DIRECT_DEBIT_TYPES = ("sepa_debit", "bacs_debit")


def offered_method_type(*, kind: str | None, method_types: Sequence[str] | None, currency: str | None) -> str:
    """What a customer sets up at its provider: a card (Stripe, Adyen), or a Direct Debit mandate (GoCardless)."""
    if kind != "gocardless":
        return "card"
    # NOTE: GoCardless collects by Direct Debit only, in the scheme the customer's method types name, else the
    # one of its currency: SEPA Core for euros, Bacs for pounds (billing.payments.gocardless, start_setup).
    asked = [t for t in (method_types or ()) if t in DIRECT_DEBIT_TYPES]
    if len(set(asked)) == 1:
        return asked[0]
    return "bacs_debit" if (currency or "").upper() == "GBP" else "sepa_debit"



@dataclass(frozen=True)
class MethodSetup:
    """A started set-up: what the page needs to let the customer enter a method at the provider."""

    session: SetupSession
    provider_kind: str
    provider_code: str
    settings_public: dict[str, str]  # publishable key and API base: what the browser may know


def start_setup(*, organization_id: str, customer_id: str, return_url: str, attempt: str) -> MethodSetup:
    """Start saving a payment method; `attempt` makes the idempotency key (one set-up per page view)."""
    code, provider_customer_id = _provider_customer(organization_id, customer_id)
    with read_only() as session:
        customer = _customer(session, organization_id, customer_id)
        adapter = providers.adapter_for(session, organization_id, code)
        kind, settings = providers.provider_settings(session, organization_id, code)
        method_types = tuple(customer.provider_payment_methods or ()) or ("card",)
        currency = customer.currency
    try:
        setup = adapter.start_setup(SetupRequest(customer_id=provider_customer_id, return_url=return_url,
                                                 idempotency_key=f"tally-setup-{customer_id}-{attempt}",
                                                 method_types=method_types, currency=currency))
    except ProviderError as error:
        raise NotAllowed("payment_provider_error") from error
    public = {k: v for k, v in settings.items() if k in ("publishable_key", "api_base", "client_key")}
    return MethodSetup(session=setup, provider_kind=kind, provider_code=code, settings_public=public)


def refresh_methods(*, organization_id: str, customer_id: str) -> list[SavedPaymentMethod]:
    """Read the customer's methods back from the provider (after a set-up in the browser) and keep them."""
    code, provider_customer_id = _provider_customer(organization_id, customer_id)
    with read_only() as session:
        adapter = providers.adapter_for(session, organization_id, code)
    try:
        methods = adapter.list_payment_methods(provider_customer_id)
    except ProviderError as error:
        raise NotAllowed("payment_provider_error") from error
    with unit_of_work() as uow:
        customer = _customer(uow.session, organization_id, customer_id, lock=True)
        return _store_methods(uow.session, customer, methods)


def save_new_method(*, organization_id: str, customer_id: str, provider_method_id: str) -> SavedPaymentMethod:
    """Keep a method the customer just entered (a card declined here raises ValidationFailed with the reason).

    Stripe attaches a card to the customer when its SetupIntent is confirmed in the browser: it is then among
    the customer's methods already. One that is not (a bare method, or a provider that does not attach at
    set-up, as localstripe) is attached now.
    """
    code, provider_customer_id = _provider_customer(organization_id, customer_id)
    with read_only() as session:
        adapter = providers.adapter_for(session, organization_id, code)
    try:
        methods = adapter.list_payment_methods(provider_customer_id)
        attached = next((m for m in methods if m.id == provider_method_id), None)
        if attached is None:
            attached = adapter.attach_payment_method(provider_customer_id, provider_method_id)
            methods = adapter.list_payment_methods(provider_customer_id)
    except ProviderError as error:
        if error.retryable:
            raise NotAllowed("payment_provider_unavailable") from error
        raise ValidationFailed({"payment_method": [str(error) or error.code]}) from error
    with unit_of_work() as uow:
        customer = _customer(uow.session, organization_id, customer_id, lock=True)
        stored = _store_methods(uow.session, customer, methods)
        return next(m for m in stored if m.provider_method_id == attached.id)


def _store_methods(session: Session, customer: Customer, methods: Sequence[PaymentMethod]) -> list[SavedPaymentMethod]:
    """Make the stored methods what the provider lists; the default stays, else the newest becomes it."""
    code = customer.payment_provider_code
    kind = customer.payment_provider
    stored = {m.provider_method_id: m for m in session.scalars(select(SavedPaymentMethod).where(
        SavedPaymentMethod.customer_id == customer.id, SavedPaymentMethod.provider_code == code))}
    listed = {m.id for m in methods}
    for method_id, row in stored.items():
        if method_id not in listed:
            session.delete(row)
    kept = []
    for method in methods:
        row = stored.get(method.id)
        if row is None:
            row = SavedPaymentMethod(organization_id=customer.organization_id, customer_id=customer.id,
                                     provider_code=code, provider_kind=kind, provider_method_id=method.id)
            session.add(row)
        row.method_type, row.brand, row.last4 = method.type, method.brand, method.last4
        row.exp_month, row.exp_year = method.exp_month, method.exp_year
        kept.append(row)
    if kept and not any(row.is_default for row in kept):
        kept[-1].is_default = True
    session.flush()
    return kept


def list_methods(*, organization_id: str, customer_id: str) -> list[SavedPaymentMethod]:
    with read_only() as session:
        return methods_of(session, organization_id, customer_id)


def methods_of(session: Session, organization_id: str, customer_id: str) -> list[SavedPaymentMethod]:
    return list(session.scalars(select(SavedPaymentMethod).where(
        SavedPaymentMethod.organization_id == organization_id, SavedPaymentMethod.customer_id == customer_id)
        .order_by(SavedPaymentMethod.created_at, SavedPaymentMethod.id)))


def set_default_method(*, organization_id: str, customer_id: str, method_id: str) -> SavedPaymentMethod:
    """Make one of the current provider's methods the one invoices are charged to.

    A method kept from a previous provider cannot be: nothing is charged through a provider the customer left
    (NotAllowed `payment_method_of_previous_provider`). Each provider's methods keep their own default, so that a
    customer moved back finds theirs.
    """
    with unit_of_work() as uow:
        customer = _customer(uow.session, organization_id, customer_id, lock=True)
        methods = methods_of(uow.session, organization_id, customer_id)
        chosen = next((m for m in methods if m.id == method_id), None)
        if chosen is None:
            raise NotFound("payment_method")
        if chosen.provider_code != customer.payment_provider_code or not customer.payment_provider:
            raise NotAllowed("payment_method_of_previous_provider")
        for method in methods:
            if method.provider_code == chosen.provider_code:
                method.is_default = method is chosen
        return chosen


def remove_method(*, organization_id: str, customer_id: str, method_id: str) -> SavedPaymentMethod:
    """Detach a method at its provider and forget it; the newest left there becomes the default if it was.

    A method of a previous provider is detached there, with the customer Tally kept at that provider; if that
    provider is no longer connected, it is only forgotten (nothing can be charged through it any more).
    """
    with read_only() as session:
        method = next((m for m in methods_of(session, organization_id, customer_id) if m.id == method_id), None)
        if method is None:
            raise NotFound("payment_method")
        customer = _customer(session, organization_id, customer_id)
        if method.provider_code == customer.payment_provider_code and customer.payment_provider_customer_id:
            provider_customer_id = customer.payment_provider_customer_id
        else:
            provider_customer_id = provider_customers_of(session, customer).get(method.provider_code)
        try:
            adapter = providers.adapter_for(session, organization_id, method.provider_code)
        except NotFound:
            adapter = None  # disconnected: the method stays at the provider, Tally forgets it
    if adapter is not None and provider_customer_id:
        try:
            adapter.detach_payment_method(provider_customer_id, method.provider_method_id)
        except ProviderError as error:
            if error.retryable:
                raise NotAllowed("payment_provider_unavailable") from error
            # Already gone at the provider: forgetting it here is what the customer asked.
    with unit_of_work() as uow:
        _customer(uow.session, organization_id, customer_id, lock=True)
        methods = methods_of(uow.session, organization_id, customer_id)
        row = next((m for m in methods if m.id == method_id), None)
        if row is not None:
            uow.session.delete(row)
            rest = [m for m in methods if m is not row and m.provider_code == row.provider_code]
            if row.is_default and rest:
                rest[-1].is_default = True
        return method
