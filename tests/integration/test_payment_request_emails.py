"""A payment request's emails through the outbox to a real SMTP server (aiosmtpd), with the in-memory provider:
the reminder when no charge is possible, the reminder after a failed charge, the confirmation a bank asks for, the
receipt listing every invoice; a dunning campaign's own words and blind copies; each once per request and kind.
"""

from __future__ import annotations

import pytest
from lago_python_client.models import AddOn, Customer, OneOffInvoice
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from sqlalchemy import select

from billing import events, links
from billing.customers.models import Customer as CustomerRow
from billing.db import read_only, unit_of_work
from billing.emails import request_mails
from billing.emails import services as emails
from billing.emails.models import EmailDelivery
from billing.invoicing.models import Invoice
from billing.invoicing.overdue import mark_overdue_invoices
from billing.payments import customers, providers, requests
from billing.payments import fake as fake_provider
from billing.payments.events import PaymentRequested
from billing.payments.models import PaymentReceipt, PaymentRequest

pytestmark = pytest.mark.usefixtures("allow_private_webhooks")


@pytest.fixture
def acme(org, lago, run_jobs, clock):
    clock.set("2026-11-01T09:00:00Z")
    providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main", settings={})
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=10_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="acme", name="Acme", email="billing@acme.test", currency="EUR",
                                   country="US", net_payment_term=7,
                                   billing_configuration={"payment_provider": "fake",
                                                          "payment_provider_code": "fake_main",
                                                          "sync_with_provider": True}))
    run_jobs()
    with read_only() as session:
        return session.scalar(select(CustomerRow).where(CustomerRow.external_id == "acme"))


def _invoice(lago, amount_cents: int):
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=amount_cents)])
    return lago.invoices.create(OneOffInvoice(external_customer_id="acme", currency="EUR", fees=fees))


def _card(org, customer, number: str):
    with read_only() as session:
        adapter = providers.adapter_for(session, org.id, "fake_main")
    return customers.save_new_method(organization_id=org.id, customer_id=customer.id,
                                     provider_method_id=adapter.tokenize_card(number))


@pytest.fixture
def overdue(lago, acme, clock, run_jobs, smtp):
    """Two invoices of 1 Nov (€100.00 and €25.50, due 8 Nov), overdue on 20 Nov; the invoices' own mails cleared."""
    invoices = [_invoice(lago, 10_000), _invoice(lago, 2_550)]
    run_jobs()  # their own collection found no card: they stay due
    clock.set("2026-11-20T00:00:00Z")
    assert mark_overdue_invoices(at=clock.now()) == 2
    run_jobs()
    smtp.messages.clear()
    return invoices


def _subject(mail) -> str:
    return " ".join(mail["Subject"].split())


def _body(mail) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def _deliveries(**where) -> list[EmailDelivery]:
    with read_only() as session:
        query = select(EmailDelivery).where(EmailDelivery.payment_request_id.is_not(None))
        for column, value in where.items():
            query = query.where(getattr(EmailDelivery, column) == value)
        return list(session.scalars(query.order_by(EmailDelivery.created_at)))


def _request_link(body: str, org) -> str:
    [line] = [line for line in body.splitlines() if "/pay/request/" in line]
    claim = links.verify(line.rsplit("/pay/request/", 1)[1], purpose="pay_request")
    assert claim is not None and claim.organization_id == org.id
    return claim.subject


def _dunning_request(org, acme, *, reminder, bcc) -> PaymentRequest:
    """A request as a dunning attempt makes it: the campaign's words (already rendered) and its bcc."""
    with unit_of_work() as uow:
        customer = uow.session.get(CustomerRow, acme.id)
        invoices = requests.overdue_invoices(uow.session, customer, "EUR")
        return requests.make_request(uow, customer, invoices, reminder=lambda _request: reminder, bcc=bcc)


def test_no_charge_possible_mails_one_reminder_with_the_invoices_and_one_link(org, acme, overdue, run_jobs, smtp):
    first, second = overdue
    [request] = requests.request_overdue_payment(organization_id=org.id, customer_id=acme.id)
    run_jobs()
    [(_, recipients, _)] = smtp.messages
    [mail] = smtp.parsed()
    assert recipients == ["billing@acme.test"] and mail["Bcc"] is None
    assert _subject(mail) == "Reminder: €125.50 overdue to Acme Cloud"
    body = _body(mail)
    assert body.startswith("Hello Acme,\n")
    assert "these 2 invoices from Acme Cloud are past their due date, €125.50 in all:" in body
    assert f"  {first.number}  due on 2026-11-08  €100.00" in body
    assert f"  {second.number}  due on 2026-11-08  €25.50" in body
    assert "please disregard this message" in body
    assert _request_link(body, org) == request.id
    [delivery] = _deliveries()
    assert (delivery.kind, delivery.status, delivery.to_address) == (request_mails.REMINDER, "sent",
                                                                    "billing@acme.test")
    assert mail["Message-ID"].startswith(f"<{delivery.id}@")

    # The same event again (a handler run twice), the send job again, the sweep: still one mail.
    with unit_of_work() as uow:
        stored = uow.session.get(PaymentRequest, request.id)
        events.publish(uow.session, PaymentRequested(stored, chargeable=False))
        assert emails.queue_request_email(uow.session, stored, kind=request_mails.REMINDER) is None
    assert emails.send_email(delivery_id=delivery.id) is None
    emails.send_due_emails()
    run_jobs()
    assert len(smtp.messages) == 1 and len(_deliveries()) == 1


def test_a_failed_charge_says_so_then_paying_by_the_link_is_receipted_once_listing_both(org, acme, overdue,
                                                                                       run_jobs, smtp):
    first, second = overdue
    _card(org, acme, fake_provider.CARD_DECLINED_AT_CHARGE)
    [request] = requests.request_overdue_payment(organization_id=org.id, customer_id=acme.id)
    run_jobs()
    [mail] = smtp.parsed()
    assert _subject(mail) == "We could not charge €125.50 for your overdue invoices"
    body = _body(mail)
    assert "We tried to charge €125.50 to Visa •••• 0341 for the invoices below, but the payment failed." in body
    assert "Reason: " in body and first.number in body and second.number in body
    assert "To pay them with this card or another one" in body
    assert _request_link(body, org) == request.id
    assert [d.kind for d in _deliveries()] == [request_mails.FAILED]

    # On the request's page (on-session): a decline there is not mailed; the success is receipted, once.
    declined = _card(org, acme, fake_provider.CARD_DECLINED_AT_CHARGE)
    assert requests.pay_payment_request(organization_id=org.id, payment_request_id=request.id, customer_id=acme.id,
                                        method_id=declined.id).status == "failed"
    run_jobs()
    assert len(smtp.messages) == 1
    good = _card(org, acme, fake_provider.CARD_OK)
    assert requests.pay_payment_request(organization_id=org.id, payment_request_id=request.id, customer_id=acme.id,
                                        method_id=good.id).status == "succeeded"
    run_jobs()
    with read_only() as session:
        receipt = session.scalar(select(PaymentReceipt.number))
    receipt_mail = smtp.parsed()[1]
    assert _subject(receipt_mail) == f"Receipt {receipt} for 2 invoices (€125.50)"
    body = _body(receipt_mail)
    for line in ("Acme Cloud has received your payment of €125.50. Thank you.", f"Receipt number: {receipt}",
                 "Amount paid: €125.50", "Paid on: 2026-11-20", "Payment method: Visa •••• 4242", "Invoices paid:",
                 f"  {first.number}  €100.00", f"  {second.number}  €25.50"):
        assert line in body
    assert "/pay/" not in body
    assert [d.kind for d in _deliveries()] == [request_mails.FAILED, request_mails.SUCCEEDED]
    emails.send_due_emails()
    run_jobs()
    assert len(smtp.messages) == 2


def test_a_campaigns_words_and_blind_copies_go_with_the_reminder(org, acme, overdue, run_jobs, smtp):
    reminder = ("Acme, a friendly nudge", "Dear Acme,\n\nYou owe us €125.50. We would be grateful.")
    request = _dunning_request(org, acme, reminder=reminder, bcc=("ar@acme-cloud.test", "boss@acme-cloud.test"))
    run_jobs()
    [(_, recipients, _)] = smtp.messages
    [mail] = smtp.parsed()
    assert recipients == ["billing@acme.test", "ar@acme-cloud.test", "boss@acme-cloud.test"]
    assert mail["To"] == "billing@acme.test" and mail["Bcc"] is None  # blind: never in a header
    assert _subject(mail) == "Acme, a friendly nudge"
    body = _body(mail)
    assert "Dear Acme,\n\nYou owe us €125.50. We would be grateful." in body
    assert "due on 2026-11-08" in body and "Our records show" not in body and "Hello" not in body
    assert _request_link(body, org) == request.id  # the campaign's message had no link: Tally's follows


def test_a_campaigns_message_with_its_own_link_gets_no_second_one(org, acme, overdue, run_jobs, smtp):
    with unit_of_work() as uow:
        customer = uow.session.get(CustomerRow, acme.id)
        invoices = requests.overdue_invoices(uow.session, customer, "EUR")
        def words(request):  # the campaign's message carries {pay_link} itself
            link = links.payment_request_url(payment_request_id=request.id, organization_id=org.id)
            return "Pay", f"Please pay here: {link}"

        requests.make_request(uow, customer, invoices, reminder=words)
    run_jobs()
    [mail] = smtp.parsed()
    assert _body(mail).count("/pay/request/") == 1


def test_a_campaigns_words_wait_for_the_charge_and_go_with_its_failure(org, acme, overdue, run_jobs, smtp):
    _card(org, acme, fake_provider.CARD_DECLINED_AT_CHARGE)
    reminder = ("Acme, a friendly nudge", "Please settle your account.")
    with unit_of_work() as uow:
        customer = uow.session.get(CustomerRow, acme.id)
        invoices = requests.overdue_invoices(uow.session, customer, "EUR")
        request = requests.make_request(uow, customer, invoices, reminder=lambda _request: reminder,
                                        bcc=["ar@acme-cloud.test"])
        # A charge follows: nothing is sent now, the words are held for its failure.
        [held] = uow.session.scalars(select(EmailDelivery).where(EmailDelivery.payment_request_id == request.id))
        assert (held.kind, held.status, held.next_attempt_at) == (request_mails.FAILED, "held", None)
    assert emails.send_due_emails() == 0
    run_jobs()
    [(_, recipients, _)] = smtp.messages
    [mail] = smtp.parsed()
    assert recipients == ["billing@acme.test", "ar@acme-cloud.test"]
    assert _subject(mail) == "Acme, a friendly nudge"
    body = _body(mail)
    assert body.index("but the payment failed.") < body.index("Please settle your account.")
    assert _request_link(body, org) == request.id
    [delivery] = _deliveries()
    assert (delivery.id, delivery.status) == (held.id, "sent")


def test_a_campaigns_charge_that_succeeds_sends_only_the_receipt_without_blind_copies(org, acme, overdue, run_jobs,
                                                                                    smtp):
    _card(org, acme, fake_provider.CARD_OK)
    _dunning_request(org, acme, reminder=("Nudge", "Please pay."), bcc=("ar@acme-cloud.test",))
    run_jobs()
    [(_, recipients, _)] = smtp.messages
    [mail] = smtp.parsed()
    assert recipients == ["billing@acme.test"] and _subject(mail).startswith("Receipt ")
    assert [(d.kind, d.status) for d in _deliveries()] == [(request_mails.SUCCEEDED, "sent")]  # the held row is gone


def test_a_charge_the_bank_wants_confirmed_mails_the_link_to_confirm(org, acme, overdue, run_jobs, smtp):
    _card(org, acme, fake_provider.CARD_REQUIRES_ACTION)
    [request] = requests.request_overdue_payment(organization_id=org.id, customer_id=acme.id)
    run_jobs()
    [mail] = smtp.parsed()
    assert _subject(mail) == "Please confirm your payment of €125.50 to Acme Cloud"
    body = _body(mail)
    assert "Nothing has been charged yet." in body and "To confirm it" in body
    assert _request_link(body, org) == request.id


def test_one_invoice_is_said_in_the_singular(org, lago, acme, clock, run_jobs, smtp):
    invoice = _invoice(lago, 4_200)
    run_jobs()
    clock.set("2026-11-20T00:00:00Z")
    mark_overdue_invoices(at=clock.now())
    run_jobs()
    smtp.messages.clear()
    requests.request_overdue_payment(organization_id=org.id, customer_id=acme.id)
    run_jobs()
    [mail] = smtp.parsed()
    assert "this invoice from Acme Cloud is past its due date (€42.00):" in _body(mail)
    assert f"  {invoice.number}  due on 2026-11-08  €42.00" in _body(mail)


def test_a_customer_without_email_or_without_a_mailer_gets_nothing(org, lago, acme, overdue, run_jobs, smtp):
    lago.customers.create(Customer(external_id="acme", email=""))
    [request] = requests.request_overdue_payment(organization_id=org.id, customer_id=acme.id)
    run_jobs()
    assert request.email is None and smtp.messages == [] and _deliveries() == []
    with read_only() as session:
        assert all(i.payment_overdue for i in session.scalars(select(Invoice)))
