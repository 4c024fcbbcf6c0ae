"""Lago's payment API, through the official lago-python-client where it has the call (raw HTTP where it
does not): payments and receipts, a customer's payment methods, the links to Tally's hosted pages
(checkout_url, payment_url), retry_payment; Lago's refusals, and one organization never reaching another's.

The provider is the in-memory fake (billing.payments.fake) but for the last test, where a retry charges
through localstripe.
"""

from __future__ import annotations

import httpx
import pytest
import stripe
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import AddOn, Customer, Payment, Wallet
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList, OneOffInvoice
from lago_python_client.models.payment_method import PaymentMethod
from sqlalchemy import select

from billing import links
from billing.customers.models import Customer as CustomerRow
from billing.db import read_only
from billing.organizations.services import create_organization
from billing.payments import collection, customers, providers
from billing.payments import fake as fake_provider
from tests.conftest import Org
from tests.servers import stripe as localstripe_server


@pytest.fixture
def connected(org, lago, run_jobs):
    """The organization with the fake provider connected, an add-on, and `acme` linked to the provider."""
    providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main", settings={})
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=12_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="acme", name="Acme", currency="EUR",
                                   billing_configuration={"payment_provider": "fake",
                                                          "payment_provider_code": "fake_main",
                                                          "sync_with_provider": True}))
    run_jobs()
    return _customer(org, "acme")


@pytest.fixture
def other(live_server) -> tuple[Org, Client]:
    """A second organization, with a customer and an invoice of its own."""
    created = create_organization(name="Other Cloud", default_currency="EUR")
    client = Client(api_key=created.api_key, api_url=live_server)
    client.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=500, amount_currency="EUR"))
    client.customers.create(Customer(external_id="acme", name="Other's Acme", currency="EUR"))
    return Org(id=created.organization_id, api_key=created.api_key), client


def _customer(org, external_id: str) -> CustomerRow:
    with read_only() as session:
        return session.scalar(select(CustomerRow).where(CustomerRow.organization_id == org.id,
                                                        CustomerRow.external_id == external_id))


def _save_card(org, customer: CustomerRow, number: str):
    """What the browser does on the hosted page: the card goes to the provider, Tally saves its token."""
    with read_only() as session:
        token = providers.adapter_for(session, org.id, "fake_main").tokenize_card(number)
    return customers.save_new_method(organization_id=org.id, customer_id=customer.id, provider_method_id=token)


def _invoice(client: Client, amount_cents: int = 12_000, customer: str = "acme"):
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=amount_cents)])
    return client.invoices.create(OneOffInvoice(external_customer_id=customer, currency="EUR", fees=fees))


def _call(live_server: str, org, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{live_server}/api/v1{path}", headers={"Authorization": f"Bearer {org.api_key}"},
                         timeout=30, **kwargs)


def _refused(call, *args) -> tuple[int, dict]:
    with pytest.raises(LagoApiError) as refused:
        call(*args)
    return refused.value.status_code, refused.value.response


# -- Payment methods -----------------------------------------------------------------------------------------------


def test_a_customers_methods_are_listed_made_default_and_removed(org, lago, live_server, connected, other):
    first = _save_card(org, connected, fake_provider.CARD_OK)
    second = _save_card(org, connected, fake_provider.CARD_OK)
    # NOTE: lago-python-client 1.55's customer_payment_methods.find_all sends no API key: raw HTTP here.
    listed = _call(live_server, org, "GET", "/customers/acme/payment_methods", params={"per_page": 1})
    assert listed.status_code == 200
    body = listed.json()
    assert body["meta"] == {"current_page": 1, "next_page": 2, "prev_page": None, "total_pages": 2, "total_count": 2}
    [newest] = body["payment_methods"]
    assert newest["lago_id"] == second.id and newest["is_default"] is False
    assert newest["payment_provider_code"] == "fake_main" and newest["payment_provider_type"] == "fake"
    assert newest["payment_provider_name"] == "Test provider" and newest["provider_method_id"]
    assert newest["details"]["last4"] == "4242" and "number" not in str(newest["details"])

    chosen = lago.customer_payment_methods.set_as_default("acme", second.id)
    assert chosen.lago_id == second.id and chosen.is_default is True
    both = _call(live_server, org, "GET", "/customers/acme/payment_methods").json()["payment_methods"]
    assert {m["lago_id"]: m["is_default"] for m in both} == {first.id: False, second.id: True}

    removed = lago.customer_payment_methods.destroy("acme", second.id)
    assert removed.lago_id == second.id
    [left] = _call(live_server, org, "GET", "/customers/acme/payment_methods").json()["payment_methods"]
    assert left["lago_id"] == first.id and left["is_default"] is True  # the one left took over

    # Refusals: an unknown method, an unknown customer; another organization reaches nothing of this one.
    status, error = _refused(lago.customer_payment_methods.set_as_default, "acme", second.id)
    assert (status, error["code"]) == (404, "payment_method_not_found")
    status, error = _refused(lago.customer_payment_methods.destroy, "nobody", first.id)
    assert (status, error["code"]) == (404, "customer_not_found")
    other_org, other_client = other
    status, error = _refused(other_client.customer_payment_methods.set_as_default, "acme", first.id)
    assert (status, error["code"]) == (404, "payment_method_not_found")
    status, error = _refused(other_client.customer_payment_methods.destroy, "acme", first.id)
    assert (status, error["code"]) == (404, "payment_method_not_found")
    theirs = _call(live_server, other_org, "GET", "/customers/acme/payment_methods").json()
    assert theirs["payment_methods"] == [] and theirs["meta"]["total_count"] == 0
    assert _call(live_server, org, "GET", "/customers/nobody/payment_methods").json()["code"] == "customer_not_found"
    assert len(customers.list_methods(organization_id=org.id, customer_id=connected.id)) == 1


def test_checkout_url_signs_a_link_to_the_page_that_adds_a_method(org, lago, live_server, connected, other):
    url = lago.customers.checkout_url("acme")
    assert url.startswith(f"{live_server}/pay/setup/")
    claim = links.verify(url.rsplit("/", 1)[1], purpose="add_payment_method")
    assert (claim.subject, claim.organization_id) == (connected.id, org.id)
    answer = _call(live_server, org, "POST", "/customers/acme/checkout_url").json()["customer"]
    assert answer["lago_customer_id"] == connected.id and answer["external_customer_id"] == "acme"
    assert (answer["payment_provider"], answer["payment_provider_code"]) == ("fake", "fake_main")
    # Refused: a customer with no provider (Lago: 422 on base), an unknown one, another organization's.
    lago.customers.create(Customer(external_id="cash", currency="EUR"))
    status, error = _refused(lago.customers.checkout_url, "cash")
    assert (status, error["code"], error["error_details"]) == (422, "validation_errors",
                                                               {"base": ["no_linked_payment_provider"]})
    status, error = _refused(lago.customers.checkout_url, "nobody")
    assert (status, error["code"]) == (404, "customer_not_found")
    status, error = _refused(other[1].customers.checkout_url, "acme")  # their acme has no provider
    assert error["error_details"] == {"base": ["no_linked_payment_provider"]}
    # A provider disconnected since: refused, not a link to a page that cannot work.
    providers.disconnect_provider(organization_id=org.id, code="fake_main")
    status, error = _refused(lago.customers.checkout_url, "acme")
    assert (status, error["error_details"]) == (422, {"base": ["missing_payment_provider"]})


# -- Links to pay -------------------------------------------------------------------------------------------------


def test_payment_url_signs_a_link_to_pay_an_unpaid_invoice(org, lago, live_server, connected, other, run_jobs):
    invoice = _invoice(lago)
    run_jobs()  # no saved method: nothing is charged, the invoice waits
    url = lago.invoices.payment_url(invoice.lago_id)
    assert url.startswith(f"{live_server}/pay/")
    claim = links.verify(url.rsplit("/", 1)[1], purpose="pay_invoice")
    assert (claim.subject, claim.organization_id) == (invoice.lago_id, org.id)
    details = _call(live_server, org, "POST", f"/invoices/{invoice.lago_id}/payment_url").json()
    assert details == {"invoice_payment_details": {
        "lago_customer_id": connected.id, "external_customer_id": "acme", "payment_provider": "fake",
        "lago_invoice_id": invoice.lago_id, "payment_url": details["invoice_payment_details"]["payment_url"]}}

    # Paid (by hand here), or voided: no link (Lago's code).
    lago.payments.create(Payment(invoice_id=invoice.lago_id, amount_cents=12_000, reference="wire 1"))
    status, error = _refused(lago.invoices.payment_url, invoice.lago_id)
    assert (status, error["error_details"]) == (422, {"base": ["invalid_invoice_status_or_payment_status"]})
    voided = _invoice(lago, 3_000)
    lago.invoices.void_invoice(voided.lago_id)
    status, error = _refused(lago.invoices.payment_url, voided.lago_id)
    assert error["error_details"] == {"base": ["invalid_invoice_status_or_payment_status"]}
    # A customer without provider; an unknown invoice; another organization's.
    lago.customers.create(Customer(external_id="cash", currency="EUR"))
    cash = _invoice(lago, 2_000, customer="cash")
    status, error = _refused(lago.invoices.payment_url, cash.lago_id)
    assert (status, error["error_details"]) == (422, {"base": ["no_linked_payment_provider"]})
    theirs = _invoice(other[1], 500)
    status, error = _refused(lago.invoices.payment_url, theirs.lago_id)
    assert (status, error["code"]) == (404, "invoice_not_found")
    status, error = _refused(other[1].invoices.payment_url, cash.lago_id)
    assert (status, error["code"]) == (404, "invoice_not_found")


def test_a_top_ups_payment_url_is_its_invoices_until_it_settles(org, lago, live_server, connected, other):
    wallet = lago.wallets.create(Wallet(external_customer_id="acme", rate_amount="1", currency="EUR",
                                        paid_credits="25", granted_credits="5",
                                        invoice_requires_successful_payment=True))
    transactions = lago.wallet_transactions.find_all(wallet.lago_id)["wallet_transactions"]
    purchased = next(t for t in transactions if t.transaction_status == "purchased")
    granted = next(t for t in transactions if t.transaction_status == "granted")
    assert purchased.status == "pending" and purchased.lago_invoice_id

    url = lago.wallet_transactions.payment_url(purchased.lago_id)
    assert links.verify(url.rsplit("/", 1)[1], purpose="pay_invoice").subject == purchased.lago_invoice_id
    details = _call(live_server, org, "POST", f"/wallet_transactions/{purchased.lago_id}/payment_url").json()
    assert details["wallet_transaction_payment_details"] == {
        "lago_customer_id": connected.id, "external_customer_id": "acme", "payment_provider": "fake",
        "lago_wallet_transaction_id": purchased.lago_id,
        "payment_url": details["wallet_transaction_payment_details"]["payment_url"]}

    status, error = _refused(lago.wallet_transactions.payment_url, granted.lago_id)
    assert (status, error["error_details"]) == (422, {"base": ["wallet_transaction_not_purchased"]})
    status, error = _refused(other[1].wallet_transactions.payment_url, purchased.lago_id)
    assert (status, error["code"]) == (404, "wallet_transaction_not_found")
    # Paid with a saved card (as the hosted page does): the credits settle, and the link is refused from then on.
    _save_card(org, connected, fake_provider.CARD_OK)
    assert collection.collect_invoice(organization_id=org.id, invoice_id=purchased.lago_invoice_id).status == \
        "succeeded"
    assert lago.wallets.find(wallet.lago_id).balance_cents == 3_000
    status, error = _refused(lago.wallet_transactions.payment_url, purchased.lago_id)
    assert (status, error["error_details"]) == (422, {"base": ["wallet_transaction_already_settled"]})


# -- Retrying a payment -----------------------------------------------------------------------------------------------


def test_retry_payment_charges_again_with_the_default_or_the_named_method(org, lago, connected, other, run_jobs):
    declined = _save_card(org, connected, fake_provider.CARD_DECLINED_AT_CHARGE)
    invoice = _invoice(lago)
    run_jobs()
    assert lago.invoices.find(invoice.lago_id).payment_status == "failed"
    # The default card still declines: 200, the invoice failed again (as Lago, the caller reads the result).
    again = lago.invoices.retry_payment(invoice.lago_id)
    assert again.lago_id == invoice.lago_id and again.payment_status == "failed"
    good = _save_card(org, connected, fake_provider.CARD_OK)
    customers.set_default_method(organization_id=org.id, customer_id=connected.id, method_id=declined.id)
    # Named: a method of another customer is not found; this customer's good card pays.
    status, error = _refused(lago.invoices.retry_payment, invoice.lago_id,
                             PaymentMethod(payment_method_type="provider", payment_method_id="not-a-method"))
    assert (status, error["code"]) == (404, "payment_method_not_found")
    paid = lago.invoices.retry_payment(invoice.lago_id,
                                       PaymentMethod(payment_method_type="provider", payment_method_id=good.id))
    assert (paid.payment_status, paid.total_paid_amount_cents) == ("succeeded", 12_000)
    payments = lago.payments.find_all({"invoice_id": invoice.lago_id})["payments"]
    assert [p.payment_status for p in payments] == ["succeeded", "failed", "failed"]  # newest first

    # Refusals in Lago's words: paid already; a manual method; another organization's invoice.
    status, error = _refused(lago.invoices.retry_payment, invoice.lago_id)
    assert (status, error["code"]) == (405, "invalid_status")
    status, error = _refused(lago.invoices.retry_payment, invoice.lago_id, PaymentMethod(payment_method_type="manual"))
    assert (status, error["error_details"]) == (422, {"payment_method.payment_method_type": ["value_is_invalid"]})
    status, error = _refused(other[1].invoices.retry_payment, invoice.lago_id)
    assert (status, error["code"]) == (404, "invoice_not_found")


def test_retry_payment_refuses_while_a_charge_is_in_flight_or_without_a_provider(org, lago, live_server, connected):
    _save_card(org, connected, fake_provider.CARD_REQUIRES_ACTION)
    waiting = _invoice(lago)
    assert collection.collect_invoice(organization_id=org.id, invoice_id=waiting.lago_id).status == "requires_action"
    status, error = _refused(lago.invoices.retry_payment, waiting.lago_id)
    assert (status, error["code"]) == (405, "payment_processor_is_currently_handling_payment")
    lago.customers.create(Customer(external_id="cash", currency="EUR"))
    cash = _invoice(lago, 2_000, customer="cash")
    status, error = _refused(lago.invoices.retry_payment, cash.lago_id)
    assert (status, error["code"]) == (405, "no_payment_provider")
    # A body that is not an object is a bad request, never a 500.
    response = _call(live_server, org, "POST", f"/invoices/{waiting.lago_id}/retry_payment", json=[1])
    assert response.status_code == 400 and response.json()["error"].startswith("BadRequest")


def test_retry_payment_leaves_a_lost_connection_to_the_job(org, lago, connected, run_jobs):
    invoice = _invoice(lago)
    run_jobs()  # no method yet: nothing charged
    _save_card(org, connected, fake_provider.CARD_FLAKY)  # its first call is lost on the way back
    answered = lago.invoices.retry_payment(invoice.lago_id)
    assert answered.lago_id == invoice.lago_id  # 200, never a 500: the job calls again with the same key
    run_jobs()
    assert lago.invoices.find(invoice.lago_id).payment_status == "succeeded"
    [payment] = lago.payments.find_all({"invoice_id": invoice.lago_id})["payments"]
    assert payment.payment_status == "succeeded"
    with read_only() as session:
        assert len(providers.adapter_for(session, org.id, "fake_main").charges()) == 1


# -- Payments and receipts ------------------------------------------------------------------------------------------


def test_manual_payments_are_recorded_listed_and_found(org, lago, live_server, connected, other, run_jobs):
    _save_card(org, connected, fake_provider.CARD_OK)
    charged = _invoice(lago, 4_000)
    run_jobs()  # collected by card
    _call(live_server, org, "DELETE", f"/customers/acme/payment_methods/"
          f"{customers.list_methods(organization_id=org.id, customer_id=connected.id)[0].id}")
    by_hand = _invoice(lago)
    run_jobs()  # no method left: waits

    partial = lago.payments.create(Payment(invoice_id=by_hand.lago_id, amount_cents=5_000, reference="wire 42",
                                           paid_at="2026-11-20"))
    assert (partial.type, partial.reference, partial.amount_cents, partial.amount_currency) == \
        ("manual", "wire 42", 5_000, "EUR")
    assert partial.payment_status == "succeeded" and partial.invoice_ids == [by_hand.lago_id]
    assert partial.invoice_numbers == [by_hand.number]
    left = lago.invoices.find(by_hand.lago_id)
    assert (left.payment_status, left.total_due_amount_cents) == ("pending", 7_000)
    status, error = _refused(lago.payments.create, Payment(invoice_id=by_hand.lago_id, amount_cents=7_001,
                                                           reference="too much"))
    assert (status, error["error_details"]) == (422, {"amount_cents": ["greater_than_invoice_due_amount"]})

    everything = lago.payments.find_all()
    assert everything["meta"]["total_count"] == 2
    assert [p.lago_id for p in everything["payments"]][0] == partial.lago_id  # newest first
    [card] = lago.payments.find_all({"invoice_id": charged.lago_id})["payments"]
    assert (card.type, card.payment_status, card.reference) == ("provider", "succeeded", "")
    raw = _call(live_server, org, "GET", f"/payments/{card.lago_id}").json()["payment"]
    assert raw["payment_provider_code"] == "fake_main" and raw["provider_payment_id"]
    assert raw["external_customer_id"] == "acme" and raw["lago_payable_id"] == charged.lago_id
    assert lago.payments.find_all({"external_customer_id": "acme", "per_page": 1})["meta"]["total_pages"] == 2
    assert lago.payments.find_all({"external_customer_id": "nobody"})["payments"] == []
    assert lago.payments.find(partial.lago_id).reference == "wire 42"

    # Another organization sees none of it and pays none of it.
    other_client = other[1]
    assert other_client.payments.find_all()["payments"] == []
    assert other_client.payments.find_all({"invoice_id": charged.lago_id})["payments"] == []
    status, error = _refused(other_client.payments.find, partial.lago_id)
    assert (status, error["code"]) == (404, "payment_not_found")
    status, error = _refused(other_client.payments.create, Payment(invoice_id=by_hand.lago_id, amount_cents=1,
                                                                   reference="theirs"))
    assert (status, error["code"]) == (404, "invoice_not_found")
    # Bad input answers Lago's format.
    response = _call(live_server, org, "POST", "/payments", json={"payment": {"invoice_id": by_hand.lago_id,
                                                                            "amount_cents": "ten"}})
    assert response.status_code == 422 and set(response.json()["error_details"]) == {"amount_cents", "reference"}
    assert _call(live_server, org, "POST", "/payments", json={}).status_code == 400


def test_receipts_are_listed_per_invoice_and_found(org, lago, connected, other, run_jobs):
    _save_card(org, connected, fake_provider.CARD_OK)
    first = _invoice(lago, 4_000)
    second = _invoice(lago, 6_000)
    run_jobs()
    receipts = lago.payment_receipts.find_all()
    assert receipts["meta"]["total_count"] == 2
    [mine] = lago.payment_receipts.find_all({"invoice_id": first.lago_id})["payment_receipts"]
    assert mine.payment.invoice_ids == [first.lago_id] and mine.payment.amount_cents == 4_000
    assert "-RCPT-" in mine.number
    found = lago.payment_receipts.find(mine.lago_id)
    assert (found.lago_id, found.payment.lago_id) == (mine.lago_id, mine.payment.lago_id)
    assert lago.payment_receipts.find_all({"invoice_id": second.lago_id})["payment_receipts"][0].number != mine.number
    other_client = other[1]
    assert other_client.payment_receipts.find_all()["payment_receipts"] == []
    status, error = _refused(other_client.payment_receipts.find, mine.lago_id)
    assert (status, error["code"]) == (404, "payment_receipt_not_found")


# -- Through Stripe ---------------------------------------------------------------------------------------------------


def test_retry_payment_charges_through_stripe(org, lago, localstripe, run_jobs):
    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_test",
                               settings={"secret_key": "sk_test_api_retry", "api_base": localstripe})
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=12_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="acme", name="Acme", currency="EUR",
                                   billing_configuration={"payment_provider": "stripe",
                                                          "payment_provider_code": "stripe_test",
                                                          "sync_with_provider": True}))
    run_jobs()
    customer = _customer(org, "acme")
    assert customer.payment_provider_customer_id.startswith("cus_")
    browser = stripe.StripeClient("sk_test_browser", base_addresses={"api": localstripe})

    def card(number: str):
        method = browser.v1.payment_methods.create(params={
            "type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
        return customers.save_new_method(organization_id=org.id, customer_id=customer.id,
                                         provider_method_id=method.id)

    card("4000000000000341")  # saved, declined at every charge
    invoice = _invoice(lago)
    run_jobs()
    assert lago.invoices.find(invoice.lago_id).payment_status == "failed"
    good = card("4242424242424242")
    lago.customer_payment_methods.set_as_default("acme", good.id)
    paid = lago.invoices.retry_payment(invoice.lago_id)
    assert (paid.payment_status, paid.total_paid_amount_cents) == ("succeeded", 12_000)
    [payment, failed] = lago.payments.find_all({"invoice_id": invoice.lago_id})["payments"]
    assert (payment.payment_status, failed.payment_status) == ("succeeded", "failed")
    intent = localstripe_server.get(localstripe, f"/v1/payment_intents/{payment.external_payment_id}",
                                    key="sk_test_api_retry")
    assert (intent["status"], intent["amount"], intent["customer"]) == \
        ("succeeded", 12_000, customer.payment_provider_customer_id)
    assert intent["payment_method"] == good.provider_method_id
