"""A customer moved between providers keeps its history: Stripe (localstripe) to GoCardless (the fake of
tests/fakes/gocardless.py) and back, both served over real HTTP and driven through the official SDKs.

After a move, the old payments, receipts and refunds stay attached to the provider that made them (a refund of an
old payment goes through it); the old provider's card stays listed, marked with its provider, never the new one's
default and never charged; a customer is created at the new provider and collection goes through it; moving back
links the customer kept at the old provider (no second one there) and its card is charged again.
"""

from __future__ import annotations

import itertools
import time

import httpx
import pytest
import stripe
from lago_python_client.models import AddOn, CreditNote, Customer, OneOffInvoice
from lago_python_client.models.credit_note import Item, Items
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from sqlalchemy import select

from admin.customer_payments import billing_configuration
from billing import links
from billing.customers.models import Customer as CustomerRow
from billing.customers.services import upsert_customer
from billing.db import read_only
from billing.errors import NotAllowed, NotFound
from billing.invoicing.models import CreditNote as CreditNoteRow
from billing.payments import collection, customers, providers
from billing.payments.models import Payment, PaymentReceipt, ProviderCustomer, Refund, SavedPaymentMethod
from billing.screens import payments as payment_screens
from tests.fakes import gocardless as fake_gocardless
from tests.servers import stripe as localstripe_server

pytestmark = pytest.mark.usefixtures("allow_private_webhooks")

STRIPE = "stripe_main"
GOCARDLESS = "gocardless_main"
GC_SECRET = "whsec_moves_gocardless"  # noqa: S105 (a test's webhook secret)
_keys = itertools.count(1)


class Form:
    """The admin's customer payment form as typed (admin.forms.CustomerPaymentForm's fields)."""

    def __init__(self, code: str):
        self.provider_code = type("F", (), {"data": code})
        self.link = type("F", (), {"data": "create"})
        self.provider_customer_id = type("F", (), {"data": ""})


@pytest.fixture
def both(org, lago, live_server, localstripe, gocardless_server, run_jobs):
    n = next(_keys)
    secret_key = f"sk_test_moves_{n}_{org.id[:8]}"
    token = f"sandbox_moves_{n}_{org.id[:6]}"
    providers.connect_provider(organization_id=org.id, kind="stripe", code=STRIPE,
                               settings={"secret_key": secret_key, "api_base": localstripe,
                                         "publishable_key": "pk_test_moves"})
    providers.connect_provider(organization_id=org.id, kind="gocardless", code=GOCARDLESS,
                               settings={"access_token": token, "webhook_secret": GC_SECRET,
                                         "api_base": gocardless_server})
    fake_gocardless.register_account(gocardless_server, token, GC_SECRET,
                                     f"{live_server}/webhooks/gocardless/{org.id}?code={GOCARDLESS}")
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=12_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="acme", name="Acme", email="billing@acme.test", currency="EUR",
                                   billing_configuration={"payment_provider": "stripe",
                                                          "payment_provider_code": STRIPE,
                                                          "sync_with_provider": True}))
    run_jobs()
    yield {"org_id": org.id, "customer_id": _customer().id, "secret_key": secret_key, "stripe": localstripe,
           "gocardless": gocardless_server, "token": token}
    fake_gocardless.register_account(gocardless_server, token, GC_SECRET, None)


def _customer() -> CustomerRow:
    with read_only() as session:
        return session.scalar(select(CustomerRow).where(CustomerRow.external_id == "acme"))


def _invoice(lago, amount_cents: int = 12_000):
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=amount_cents)])
    return lago.invoices.create(OneOffInvoice(external_customer_id="acme", currency="EUR", fees=fees))


def _payments(invoice_id: str) -> list[Payment]:
    with read_only() as session:
        return list(session.scalars(select(Payment).where(Payment.invoice_id == invoice_id)
                                    .order_by(Payment.created_at)))


def _methods(customer_id: str) -> list[SavedPaymentMethod]:
    with read_only() as session:
        return list(session.scalars(select(SavedPaymentMethod).where(SavedPaymentMethod.customer_id == customer_id)
                                    .order_by(SavedPaymentMethod.created_at)))


def _stripe_customers(both) -> list[dict]:
    found = localstripe_server.get(both["stripe"], "/v1/customers", {"limit": "100"}, key=both["secret_key"])
    return [c for c in found["data"] if (c.get("metadata") or {}).get("tally_customer_id") == both["customer_id"]]


def _stripe_intents(both, invoice_id: str) -> list[dict]:
    found = localstripe_server.get(both["stripe"], "/v1/payment_intents", {"limit": "100"}, key=both["secret_key"])
    return [i for i in found["data"] if (i.get("metadata") or {}).get("tally_invoice_id") == invoice_id]


def _move(both, code: str) -> None:
    """Save the customer's Payments section as the admin does: another connected provider, "create one there"."""
    current = payment_screens.customer_payments(organization_id=both["org_id"], customer_id=both["customer_id"])
    connected = providers.list_providers(organization_id=both["org_id"])
    configuration, errors = billing_configuration(Form(code), current=current, connected=connected)
    assert not errors
    upsert_customer(organization_id=both["org_id"],
                    data={"external_id": "acme", "billing_configuration": configuration})


def _portal(both) -> str:
    url = links.portal_url(customer_id=both["customer_id"], organization_id=both["org_id"])
    return httpx.get(f"{url}/payment-methods").text


def test_a_customer_moved_to_gocardless_and_back_keeps_its_history_and_is_charged_by_its_current_provider(
        both, lago, run_jobs):
    org_id, customer_id = both["org_id"], both["customer_id"]
    stripe_customer = _customer().payment_provider_customer_id
    assert stripe_customer.startswith("cus_")

    # With Stripe: a card, an invoice charged and receipted.
    browser = stripe.StripeClient(both["secret_key"], base_addresses={"api": both["stripe"]})
    method = browser.v1.payment_methods.create(params={
        "type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    card = customers.save_new_method(organization_id=org_id, customer_id=customer_id, provider_method_id=method.id)
    first = _invoice(lago)
    run_jobs()
    [paid] = _payments(first.lago_id)
    assert (paid.status, paid.provider_code, paid.provider_customer_id) == ("succeeded", STRIPE, stripe_customer)

    # Moved to GoCardless, as the admin's Payments section saves it.
    _move(both, GOCARDLESS)
    run_jobs()
    moved = _customer()
    assert (moved.payment_provider, moved.payment_provider_code) == ("gocardless", GOCARDLESS)
    gocardless_customer = moved.payment_provider_customer_id
    assert gocardless_customer.startswith("CU")
    with read_only() as session:
        kept = dict(session.execute(select(ProviderCustomer.provider_code, ProviderCustomer.provider_customer_id)
                                    .where(ProviderCustomer.customer_id == customer_id)).tuples().all())
        receipt = session.scalar(select(PaymentReceipt).where(PaymentReceipt.payment_id == paid.id))
    assert kept == {STRIPE: stripe_customer, GOCARDLESS: gocardless_customer}
    assert receipt is not None
    [still] = _payments(first.lago_id)
    assert (still.id, still.status, still.provider_code, still.provider_kind) == (
        paid.id, "succeeded", STRIPE, "stripe")

    # The Stripe card stays listed with its provider, but is neither the default for GoCardless nor payable.
    [listed] = _methods(customer_id)
    assert (listed.id, listed.provider_code, listed.provider_kind) == (card.id, STRIPE, "stripe")
    with pytest.raises(NotAllowed) as refused:
        customers.set_default_method(organization_id=org_id, customer_id=customer_id, method_id=card.id)
    assert refused.value.code == "payment_method_of_previous_provider"
    second = _invoice(lago)
    run_jobs()
    assert _payments(second.lago_id) == []  # no mandate yet: nothing collected, and never through the old card
    with pytest.raises(NotFound):
        collection.pay_invoice(organization_id=org_id, invoice_id=second.lago_id, customer_id=customer_id,
                               method_id=card.id)
    with pytest.raises(NotFound):
        collection.retry_invoice_payment(organization_id=org_id, invoice_id=second.lago_id, method_id=card.id)
    assert _stripe_intents(both, second.lago_id) == []
    page = _portal(both)
    assert "Your SEPA Direct Debit mandates" in page and "Saved with Stripe, no longer used" in page
    assert "•••• 4242" in page

    # A refund of the Stripe payment still goes through Stripe.
    fee_id = lago.invoices.find(first.lago_id).fees.__root__[0].lago_id
    note = lago.credit_notes.create(CreditNote(invoice_id=first.lago_id, reason="other", refund_amount_cents=2_000,
                                               credit_amount_cents=0,
                                               items=Items(__root__=[Item(fee_id=fee_id, amount_cents=2_000)])))
    run_jobs()
    with read_only() as session:
        assert session.get(CreditNoteRow, note.lago_id).refund_status == "succeeded"
        [refund] = session.scalars(select(Refund).where(Refund.credit_note_id == note.lago_id)).all()
    assert (refund.payment_id, refund.provider_code, refund.provider_refund_id[:3]) == (paid.id, STRIPE, "re_")

    # A mandate at GoCardless: the second invoice is collected there.
    setup = customers.start_setup(organization_id=org_id, customer_id=customer_id,
                                  return_url="https://tally.test/back", attempt=f"moves-{time.monotonic_ns()}")
    mandate_id = fake_gocardless.complete_flow(setup.session.redirect_url, "Acme GmbH")
    customers.refresh_methods(organization_id=org_id, customer_id=customer_id)
    methods = {m.provider_code: m for m in _methods(customer_id)}
    assert (methods[GOCARDLESS].provider_method_id, methods[GOCARDLESS].is_default) == (mandate_id, True)
    assert methods[STRIPE].id == card.id  # the card is still there
    collection.collect_invoice(organization_id=org_id, invoice_id=second.lago_id)
    [collected] = _payments(second.lago_id)
    assert (collected.provider_code, collected.provider_customer_id, collected.provider_method_id) == (
        GOCARDLESS, gocardless_customer, mandate_id)
    assert collected.status == "processing" and collected.provider_payment_id.startswith("PM")
    assert _stripe_intents(both, second.lago_id) == []

    # Back to Stripe through the API, naming only the provider (Lago's billing_configuration): the customer kept at
    # Stripe is linked again (none created), its card is the default again, the mandate is kept as a previous one.
    lago.customers.create(Customer(external_id="acme", billing_configuration={
        "payment_provider": "stripe", "payment_provider_code": STRIPE, "sync_with_provider": True}))
    run_jobs()
    back = _customer()
    assert (back.payment_provider_code, back.payment_provider_customer_id) == (STRIPE, stripe_customer)
    assert [c["id"] for c in _stripe_customers(both)] == [stripe_customer]
    methods = {m.provider_code: m for m in _methods(customer_id)}
    assert methods[STRIPE].is_default and methods[GOCARDLESS].provider_method_id == mandate_id
    third = _invoice(lago)
    run_jobs()
    [charged] = _payments(third.lago_id)
    assert (charged.status, charged.provider_code, charged.provider_method_id) == ("succeeded", STRIPE, method.id)
    [earlier] = _payments(second.lago_id)
    assert (earlier.id, earlier.provider_code) == (collected.id, GOCARDLESS)  # GoCardless's payment stays its own
    page = _portal(both)
    assert "Saved cards" in page and "Saved with GoCardless, no longer used" in page

    # The mandate of the provider left behind may be removed: cancelled at GoCardless with the customer kept there.
    customers.remove_method(organization_id=org_id, customer_id=customer_id, method_id=methods[GOCARDLESS].id)
    assert [m.provider_code for m in _methods(customer_id)] == [STRIPE]
    mandate = httpx.get(f"{both['gocardless']}/mandates/{mandate_id}",
                        headers={"Authorization": f"Bearer {both['token']}", "GoCardless-Version": "2015-07-06"})
    assert mandate.json()["mandates"]["status"] == "cancelled"


def test_the_api_changing_only_the_code_never_keeps_the_old_providers_customer_id(both, run_jobs):
    """A billing_configuration naming another provider without provider_customer_id: the Stripe cus_ id is not
    taken for a GoCardless customer (a new one is created there)."""
    upsert_customer(organization_id=both["org_id"], data={"external_id": "acme", "billing_configuration": {
        "payment_provider": "gocardless", "payment_provider_code": GOCARDLESS}})
    assert _customer().payment_provider_customer_id is None
    run_jobs()
    assert _customer().payment_provider_customer_id.startswith("CU")
