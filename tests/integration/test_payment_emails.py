"""A payment's emails (a receipt, a failed charge with a link to pay, a payment to confirm), sent through the
outbox to a real SMTP server (aiosmtpd), once per payment, with the in-memory provider.

The same mails through Stripe (localstripe) are in tests/integration/test_stripe_payments.py.
"""

from __future__ import annotations

import pytest
from lago_python_client.models import AddOn, Customer, OneOffInvoice
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from sqlalchemy import select

from billing import links
from billing.customers.models import Customer as CustomerRow
from billing.db import read_only, unit_of_work
from billing.emails import services as emails
from billing.emails.models import EmailDelivery
from billing.payments import collection, customers, providers
from billing.payments import fake as fake_provider
from billing.payments.models import Payment, PaymentReceipt

pytestmark = pytest.mark.usefixtures("allow_private_webhooks")


@pytest.fixture
def customer(org, lago, run_jobs):
    providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main", settings={})
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=12_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="acme", name="Acme", email="billing@acme.test", currency="EUR",
                                   country="US", billing_configuration={"payment_provider": "fake",
                                                                        "payment_provider_code": "fake_main",
                                                                        "sync_with_provider": True}))
    run_jobs()
    with read_only() as session:
        return session.scalar(select(CustomerRow).where(CustomerRow.external_id == "acme"))


def _save_card(org, customer, number: str):
    with read_only() as session:
        adapter = providers.adapter_for(session, org.id, "fake_main")
    token = adapter.tokenize_card(number)
    return customers.save_new_method(organization_id=org.id, customer_id=customer.id, provider_method_id=token)


def _invoice(lago, amount_cents: int = 12_000):
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=amount_cents)])
    return lago.invoices.create(OneOffInvoice(external_customer_id="acme", currency="EUR", fees=fees))


def _payment_mails(smtp) -> list:
    return [mail for mail in smtp.parsed() if not mail["Subject"].startswith("Invoice ")]


def _subject(mail) -> str:
    return " ".join(mail["Subject"].split())  # a long subject is folded on the wire


def _body(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def _deliveries(kind: str) -> list[EmailDelivery]:
    with read_only() as session:
        return list(session.scalars(select(EmailDelivery).where(EmailDelivery.kind == kind)))


def test_a_succeeded_charge_is_receipted_once(org, lago, customer, run_jobs, smtp):
    _save_card(org, customer, fake_provider.CARD_OK)
    invoice = _invoice(lago)
    run_jobs()
    [mail] = _payment_mails(smtp)
    with read_only() as session:
        receipt = session.scalar(select(PaymentReceipt))
        payment = session.scalar(select(Payment))
    assert mail["To"] == "billing@acme.test" and mail["From"].startswith("Acme Cloud <")
    assert _subject(mail) == f"Receipt {receipt.number} for invoice {invoice.number} (€120.00)"
    body = _body(mail)
    for line in (f"Receipt number: {receipt.number}", f"Invoice: {invoice.number}", "Amount paid: €120.00",
                 "Payment method: Visa •••• 4242"):
        assert line in body
    [delivery] = _deliveries("payment.succeeded")
    assert delivery.payment_id == payment.id and delivery.status == "sent"
    assert mail["Message-ID"].startswith(f"<{delivery.id}@")

    # The same answer applied again (a webhook after the job), the send job again: nothing more.
    with unit_of_work() as uow:
        again = uow.session.get(Payment, payment.id)
        assert collection.apply_status(uow, again, "succeeded") is False
    assert emails.send_email(delivery_id=delivery.id) is None
    run_jobs()
    assert len(_payment_mails(smtp)) == 1


def test_a_declined_charge_mails_what_failed_and_a_link_to_pay(org, lago, customer, run_jobs, smtp):
    _save_card(org, customer, fake_provider.CARD_DECLINED_AT_CHARGE)
    invoice = _invoice(lago)
    run_jobs()
    [mail] = _payment_mails(smtp)
    assert _subject(mail) == f"Your payment of €120.00 for invoice {invoice.number} failed"
    body = _body(mail)
    assert "We could not charge €120.00 to Visa •••• 0341" in body and "€120.00 is still due." in body
    assert "Reason: " in body
    [link] = [line for line in body.splitlines() if "/pay/" in line]
    claim = links.verify(link.rsplit("/pay/", 1)[1], purpose="pay_invoice")
    assert claim is not None and (claim.subject, claim.organization_id) == (invoice.lago_id, org.id)

    # A second failure of the same invoice (a retry) is another payment: its own mail, once.
    collection.retry_invoice_payment(organization_id=org.id, invoice_id=invoice.lago_id)
    run_jobs()
    assert len(_payment_mails(smtp)) == 2 and len(_deliveries("payment.failed")) == 2


def test_a_payment_to_confirm_mails_the_link_and_the_pay_page_mails_nothing_but_the_receipt(org, lago, customer,
                                                                                          run_jobs, smtp):
    _save_card(org, customer, fake_provider.CARD_REQUIRES_ACTION)
    invoice = _invoice(lago)
    run_jobs()
    [mail] = _payment_mails(smtp)
    assert _subject(mail) == f"Please confirm your payment of €120.00 for invoice {invoice.number}"
    assert "Nothing has been charged yet." in _body(mail) and "/pay/" in _body(mail)

    # On the pay page the customer sees the answer: a decline there is not mailed, a success is receipted.
    declined = _save_card(org, customer, fake_provider.CARD_DECLINED_AT_CHARGE)
    customers.set_default_method(organization_id=org.id, customer_id=customer.id, method_id=declined.id)
    smtp.messages.clear()
    other_invoice = _invoice(lago, 3_000)
    run_jobs()  # the second invoice's off-session charge: the default (declined) card, mailed
    assert [_subject(m) for m in _payment_mails(smtp)] == [
        f"Your payment of €30.00 for invoice {other_invoice.number} failed"]
    smtp.messages.clear()
    attempt = collection.pay_invoice(organization_id=org.id, invoice_id=other_invoice.lago_id,
                                     customer_id=customer.id, method_id=declined.id)
    run_jobs()
    assert attempt.status == "failed" and _payment_mails(smtp) == []
    ok = _save_card(org, customer, fake_provider.CARD_OK)
    attempt = collection.pay_invoice(organization_id=org.id, invoice_id=other_invoice.lago_id,
                                     customer_id=customer.id, method_id=ok.id)
    run_jobs()
    assert attempt.status == "succeeded"
    assert [_subject(m).split(" for ")[0].split(" ")[0] for m in _payment_mails(smtp)] == ["Receipt"]


def test_a_manual_payment_is_receipted_and_a_customer_without_email_gets_nothing(org, lago, customer, run_jobs,
                                                                                 smtp):
    invoice = _invoice(lago)
    run_jobs()  # no saved card: nothing charged
    collection.record_manual_payment(organization_id=org.id, data={
        "invoice_id": invoice.lago_id, "amount_cents": 5_000, "reference": "wire 42"})
    run_jobs()
    [mail] = _payment_mails(smtp)
    assert "Amount paid: €50.00" in _body(mail) and "Payment method: Recorded by hand (wire 42)" in _body(mail)

    lago.customers.create(Customer(external_id="acme", email=""))
    collection.record_manual_payment(organization_id=org.id, data={
        "invoice_id": invoice.lago_id, "amount_cents": 7_000, "reference": "wire 43"})
    run_jobs()
    assert len(_payment_mails(smtp)) == 1
