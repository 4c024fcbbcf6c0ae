"""The payment core with the in-memory provider: linking customers, saving methods, collecting invoices,
applying inbound events once and in order, manual payments, refunds, and a charge killed mid-way.

The same flows run against localstripe in tests/integration/test_stripe_payments.py; here the provider is
the fake, so each rule of the core is checked without a network.
"""

from __future__ import annotations

import json

import pytest
from lago_python_client.models import AddOn, CreditNote, Customer, OneOffInvoice, WebhookEndpoint
from lago_python_client.models.credit_note import Item, Items
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from sqlalchemy import func, select

from billing.customers.models import Customer as CustomerRow
from billing.db import read_only
from billing.errors import NotAllowed, ValidationFailed
from billing.invoicing.models import CreditNote as CreditNoteRow
from billing.invoicing.models import Invoice
from billing.payments import collection, customers, inbound, providers, refunds
from billing.payments import fake as fake_provider
from billing.payments.interface import SignatureInvalid, WebhookEvent, WebhookKind
from billing.payments.models import Payment, PaymentProviderAccount, PaymentReceipt, SavedPaymentMethod
from billing.webhooks.models import WebhookDelivery

pytestmark = pytest.mark.usefixtures("allow_private_webhooks")

SECRET = "whsec_core_test_0123456789"


def _webhooks(webhook_type: str) -> list[dict]:
    with read_only() as session:
        return [json.loads(d.body) for d in session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.webhook_type == webhook_type).order_by(WebhookDelivery.created_at))]


def _adapter(org) -> fake_provider.FakeProvider:
    with read_only() as session:
        return providers.adapter_for(session, org.id, "fake_main")


@pytest.fixture
def connected(org, lago, run_jobs):
    providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main",
                               settings={"webhook_secret": SECRET})
    lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="http://127.0.0.1:9/hooks"))
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=12_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="acme", name="Acme", email="billing@acme.test", currency="EUR",
                                   billing_configuration={"payment_provider": "fake",
                                                          "payment_provider_code": "fake_main",
                                                          "sync_with_provider": True}))
    run_jobs()
    with read_only() as session:
        return session.scalar(select(CustomerRow).where(CustomerRow.external_id == "acme"))


def _save_card(org, customer, number: str) -> SavedPaymentMethod:
    token = _adapter(org).tokenize_card(number)
    return customers.save_new_method(organization_id=org.id, customer_id=customer.id, provider_method_id=token)


def _invoice(lago, amount_cents: int = 12_000):
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=amount_cents)])
    return lago.invoices.create(OneOffInvoice(external_customer_id="acme", currency="EUR", fees=fees))


def _invoice_row(invoice_id: str) -> Invoice:
    with read_only() as session:
        return session.get(Invoice, invoice_id)


def _payments(invoice_id: str) -> list[Payment]:
    with read_only() as session:
        return list(session.scalars(select(Payment).where(Payment.invoice_id == invoice_id)
                                    .order_by(Payment.created_at)))


def test_settings_are_sealed_and_shown_only_by_their_last_characters(org):
    shown = providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main",
                                       settings={"webhook_secret": SECRET})
    assert shown.visible_settings == {"webhook_secret": "…6789"}
    with read_only() as session:
        row = session.scalar(select(PaymentProviderAccount))
        assert SECRET not in row.sealed_settings and SECRET not in json.dumps(row.visible_settings)
    # Editing without the secret keeps it; an unknown setting or a second kind under one code is refused.
    providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main", settings={}, name="Test")
    with read_only() as session:
        assert providers.provider_settings(session, org.id, "fake_main")[1] == {"webhook_secret": SECRET}
    with pytest.raises(ValidationFailed) as refused:
        providers.connect_provider(organization_id=org.id, kind="fake", code="x", settings={"password": "p"})
    assert refused.value.details == {"password": ["unknown_setting"]}
    with pytest.raises(ValidationFailed):
        providers.connect_provider(organization_id=org.id, kind="stripe", code="fake_main",
                                   settings={"secret_key": "sk_test_1"})


def test_a_customer_names_a_connected_provider_or_is_refused(org, lago):
    from lago_python_client.exceptions import LagoApiError

    with pytest.raises(LagoApiError) as refused:
        lago.customers.create(Customer(external_id="nobody", billing_configuration={
            "payment_provider": "stripe", "payment_provider_code": "missing"}))
    assert refused.value.status_code == 422
    assert "billing_configuration.payment_provider_code" in refused.value.response["error_details"]
    with read_only() as session:
        assert session.scalar(select(func.count()).select_from(CustomerRow)) == 0  # nothing half-written
    with pytest.raises(LagoApiError):
        lago.customers.create(Customer(external_id="odd", billing_configuration={"provider_payment_methods": ["cash"]}))


def test_sync_creates_the_provider_customer_once_and_reports_it(org, connected, run_jobs):
    assert connected.payment_provider_customer_id.startswith("cus_")
    created = _webhooks("customer.payment_provider_created")
    assert [w["customer"]["billing_configuration"]["provider_customer_id"] for w in created] == \
        [connected.payment_provider_customer_id]
    customers.sync_provider_customer(organization_id=org.id, customer_id=connected.id)  # again: an update
    assert len(_webhooks("customer.payment_provider_created")) == 1


def test_a_finalized_invoice_is_charged_to_the_default_card_once(org, lago, connected, run_jobs):
    _save_card(org, connected, fake_provider.CARD_OK)
    invoice = _invoice(lago)
    run_jobs()
    row = _invoice_row(invoice.lago_id)
    assert (row.payment_status, row.total_paid_amount_cents, row.total_due_amount_cents) == ("succeeded", 12_000, 0)
    [payment] = _payments(invoice.lago_id)
    assert (payment.status, payment.amount_cents) == ("succeeded", 12_000) and payment.provider_payment_id
    assert len(_adapter(org).charges()) == 1
    # The job run again, a retry asked by hand: nothing is due, nothing is charged.
    assert collection.collect_invoice(organization_id=org.id, invoice_id=invoice.lago_id).reason == "nothing_due"
    assert len(_adapter(org).charges()) == 1
    statuses = [w["invoice"]["payment_status"] for w in _webhooks("invoice.payment_status_updated")]
    assert statuses[-1] == "succeeded"
    with read_only() as session:
        receipt = session.scalar(select(PaymentReceipt))
        assert receipt.payment_id == payment.id and "-RCPT-" in receipt.number


def test_a_declined_charge_fails_the_invoice_and_another_card_pays_it(org, lago, connected, run_jobs):
    declined = _save_card(org, connected, fake_provider.CARD_DECLINED_AT_CHARGE)
    assert declined.is_default
    invoice = _invoice(lago)
    run_jobs()
    assert _invoice_row(invoice.lago_id).payment_status == "failed"
    [failure] = _webhooks("invoice.payment_failure")
    assert failure["payment_provider_invoice_payment_error"]["lago_invoice_id"] == invoice.lago_id
    assert failure["payment_provider_invoice_payment_error"]["provider_error"]["error_code"]
    # The customer pays on the pay page with a new card.
    token = _adapter(org).tokenize_card(fake_provider.CARD_OK)
    attempt = collection.pay_with_new_method(org.id, invoice_id=invoice.lago_id, customer_id=connected.id,
                                             provider_method_id=token)
    assert attempt.status == "succeeded"
    assert _invoice_row(invoice.lago_id).payment_status == "succeeded"
    assert [p.status for p in _payments(invoice.lago_id)] == ["failed", "succeeded"]


def test_a_card_declined_at_set_up_is_refused_with_the_reason(org, connected):
    with pytest.raises(ValidationFailed) as refused:
        _save_card(org, connected, fake_provider.CARD_DECLINED_AT_SETUP)
    assert refused.value.details["payment_method"]
    assert customers.list_methods(organization_id=org.id, customer_id=connected.id) == []


def test_default_and_removal_of_methods(org, connected):
    first = _save_card(org, connected, fake_provider.CARD_OK)
    second = _save_card(org, connected, fake_provider.CARD_OK)
    assert [m.is_default for m in customers.list_methods(organization_id=org.id, customer_id=connected.id)] == \
        [True, False]
    customers.set_default_method(organization_id=org.id, customer_id=connected.id, method_id=second.id)
    customers.remove_method(organization_id=org.id, customer_id=connected.id, method_id=second.id)
    [left] = customers.list_methods(organization_id=org.id, customer_id=connected.id)
    assert left.id == first.id and left.is_default
    assert [m.id for m in _adapter(org).list_payment_methods(connected.payment_provider_customer_id)] == \
        [first.provider_method_id]


def test_inbound_events_are_verified_applied_once_and_never_backwards(org, lago, connected, run_jobs):
    _save_card(org, connected, fake_provider.CARD_REQUIRES_ACTION)
    invoice = _invoice(lago)
    run_jobs()
    [payment] = _payments(invoice.lago_id)
    assert payment.status == "requires_action"
    assert _webhooks("payment.requires_action")[0]["payment"]["provider_payment_id"] == payment.provider_payment_id
    adapter = _adapter(org)
    adapter.authenticate(payment.provider_payment_id, succeed=True)
    body, headers = adapter.signed(adapter.events[-1])
    forged_body, forged_headers = adapter.signed(adapter.events[-1], secret="whsec_someone_else")
    with pytest.raises(SignatureInvalid):
        inbound.receive_provider_webhook(organization_id=org.id, code="fake_main", payload=forged_body,
                                         headers=forged_headers)
    assert _invoice_row(invoice.lago_id).payment_status == "pending"
    received = inbound.receive_provider_webhook(organization_id=org.id, code="fake_main", payload=body,
                                                headers=headers)
    assert received.outcome == "applied"
    assert inbound.receive_provider_webhook(organization_id=org.id, code="fake_main", payload=body,
                                            headers=headers).outcome == "duplicate"
    late = WebhookEvent(id="evt_late_processing", kind=WebhookKind.PAYMENT_PROCESSING,
                        provider_type="payment_intent.processing", payment_id=payment.provider_payment_id)
    late_body, late_headers = adapter.signed(late)
    inbound.receive_provider_webhook(organization_id=org.id, code="fake_main", payload=late_body,
                                     headers=late_headers)
    assert [p.status for p in _payments(invoice.lago_id)] == ["succeeded"]
    assert _invoice_row(invoice.lago_id).payment_status == "succeeded"


def test_a_charge_killed_after_the_provider_answered_is_finished_without_a_second_charge(org, lago, connected,
                                                                                        monkeypatch, run_jobs):
    invoice = _invoice(lago)
    run_jobs()  # no saved method yet: nothing charged
    _save_card(org, connected, fake_provider.CARD_OK)
    with monkeypatch.context() as patched:
        def killed(*_args, **_kwargs):
            raise SystemExit("worker killed between the provider's answer and Tally's write")
        patched.setattr(collection, "_finish", killed)
        with pytest.raises(SystemExit):
            collection.collect_invoice(organization_id=org.id, invoice_id=invoice.lago_id)
    [pending] = _payments(invoice.lago_id)
    assert (pending.status, pending.provider_payment_id) == ("pending", None)
    assert len(_adapter(org).charges()) == 1  # the provider took the money once
    # The job again (RQ's retry, the abandoned-job recovery or the stalled-payment sweep): the same key.
    collection.collect_invoice(organization_id=org.id, invoice_id=invoice.lago_id)
    assert len(_adapter(org).charges()) == 1
    [payment] = _payments(invoice.lago_id)
    assert payment.id == pending.id and payment.status == "succeeded"
    assert _invoice_row(invoice.lago_id).payment_status == "succeeded"


def test_one_attempt_in_flight_per_invoice(org, lago, connected):
    _save_card(org, connected, fake_provider.CARD_REQUIRES_ACTION)
    invoice = _invoice(lago)
    first = collection.collect_invoice(organization_id=org.id, invoice_id=invoice.lago_id)
    second = collection.collect_invoice(organization_id=org.id, invoice_id=invoice.lago_id)
    assert first.status == "requires_action" and second.reason == "payment_in_progress"
    assert len(_payments(invoice.lago_id)) == 1


def test_manual_payments_may_be_partial_and_never_exceed_what_is_due(org, lago):
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=12_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="acme", currency="EUR"))
    invoice = _invoice(lago)
    collection.record_manual_payment(organization_id=org.id, data={
        "invoice_id": invoice.lago_id, "amount_cents": 5_000, "reference": "wire 42"})
    row = _invoice_row(invoice.lago_id)
    assert (row.payment_status, row.total_paid_amount_cents, row.total_due_amount_cents) == ("pending", 5_000, 7_000)
    with pytest.raises(ValidationFailed) as refused:
        collection.record_manual_payment(organization_id=org.id, data={
            "invoice_id": invoice.lago_id, "amount_cents": 7_001, "reference": "too much"})
    assert refused.value.details == {"amount_cents": ["greater_than_invoice_due_amount"]}
    with pytest.raises(ValidationFailed) as refused:
        collection.record_manual_payment(organization_id=org.id, data={
            "invoice_id": invoice.lago_id, "amount_cents": 1, "reference": "later", "paid_at": "2999-01-01T00:00:00Z"})
    assert refused.value.details == {"paid_at": ["value_is_in_the_future"]}
    collection.record_manual_payment(organization_id=org.id, data={
        "invoice_id": invoice.lago_id, "amount_cents": 7_000, "reference": "wire 43"})
    row = _invoice_row(invoice.lago_id)
    assert (row.payment_status, row.total_paid_amount_cents, row.total_due_amount_cents) == ("succeeded", 12_000, 0)
    with pytest.raises(NotAllowed):
        collection.record_manual_payment(organization_id=org.id, data={
            "invoice_id": invoice.lago_id, "amount_cents": 1, "reference": "after"})


def test_a_credit_note_refund_goes_back_through_the_provider(org, lago, connected, run_jobs):
    _save_card(org, connected, fake_provider.CARD_OK)
    invoice = _invoice(lago)
    run_jobs()
    fee_id = lago.invoices.find(invoice.lago_id).fees.__root__[0].lago_id
    note = lago.credit_notes.create(CreditNote(invoice_id=invoice.lago_id, reason="other", refund_amount_cents=3_000,
                                               credit_amount_cents=0,
                                               items=Items(__root__=[Item(fee_id=fee_id, amount_cents=3_000)])))
    run_jobs()
    with read_only() as session:
        assert session.get(CreditNoteRow, note.lago_id).refund_status == "succeeded"
    assert refunds.refund_credit_note(organization_id=org.id, credit_note_id=note.lago_id) == "succeeded"  # once
    assert [e.amount_cents for e in _adapter(org).events if e.kind == WebhookKind.REFUND_SUCCEEDED] == [3_000]
