"""Invoice emails: queued with the finalization, sent by a job to a real SMTP server (aiosmtpd), retried."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta

from sqlalchemy import select

from billing import db, ports
from billing.clock import run_billing_clock
from billing.customers.services import upsert_customer
from billing.emails import services as emails
from billing.emails.models import EmailDelivery
from billing.invoicing.models import Invoice
from billing.lifecycle import create_subscription
from billing.organizations.models import Organization
from tests.integration.helpers import monthly_plan, run_scheduled_now


def _bill_one_period(org, clock, run_jobs, *, customer_email: str | None) -> Invoice:
    with db.unit_of_work() as uow:
        organization = uow.session.get(Organization, org.id)
        organization.email = "accounts@acme.test"
    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id, amount_cents=3000)
    upsert_customer(organization_id=org.id, data={"external_id": "cust-1", "name": "Bertrand SARL",
                                                  "email": customer_email, "country": "FR", "timezone": "UTC"})
    create_subscription(organization_id=org.id, data={
        "external_customer_id": "cust-1", "plan_code": "startup", "external_id": "sub-1",
        "subscription_at": "2026-09-01T00:00:00Z"})
    clock.set("2026-10-01T00:30:00Z")
    run_billing_clock()
    run_jobs()
    with db.read_only() as session:
        [invoice] = session.scalars(select(Invoice)).all()
        return invoice


def _deliveries() -> list[EmailDelivery]:
    with db.read_only() as session:
        return list(session.scalars(select(EmailDelivery)))


def test_a_finalized_invoice_is_emailed_once_with_its_pdf(org, clock, run_jobs, smtp):
    invoice = _bill_one_period(org, clock, run_jobs, customer_email="ap@bertrand.test")
    assert invoice.status == "finalized" and invoice.total_amount_cents == 3000

    [(envelope_from, recipients, _raw)] = smtp.messages
    assert envelope_from == "billing@tally.test" and recipients == ["ap@bertrand.test"]
    [mail] = smtp.parsed()
    assert mail["From"] == "Acme Cloud <accounts@acme.test>" and mail["To"] == "ap@bertrand.test"
    assert mail["Reply-To"] == "accounts@acme.test"
    assert invoice.number in mail["Subject"]
    body = mail.get_body(("plain",)).get_content()
    assert "30,00\u00a0€" in body  # the customer's locale (FR): the money helpers' format
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{invoice.number}.pdf"
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF-")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
        assert invoice.number in text and "€30.00" in text

    [delivery] = _deliveries()
    assert delivery.status == "sent" and delivery.attempts == 1 and delivery.invoice_id == invoice.id
    assert mail["Message-ID"].startswith(f"<{delivery.id}@")

    # Run again (a second clock run, a rerun job, a sweep): nothing more is sent.
    assert emails.send_email(delivery_id=delivery.id) is None
    clock.set(clock.now() + timedelta(days=1))
    run_billing_clock()
    run_jobs()
    assert len(smtp.messages) == 1 and len(_deliveries()) == 1


def test_a_refused_mail_is_retried_with_back_off(org, clock, run_jobs, smtp, app):
    smtp.refuse = 1
    invoice = _bill_one_period(org, clock, run_jobs, customer_email="ap@bertrand.test")
    [first] = _deliveries()
    assert first.status == "pending" and first.attempts == 1 and "451" in first.last_error
    assert first.next_attempt_at == clock.now() + emails.BACKOFF[0]
    assert smtp.messages == []

    assert emails.send_due_emails() == 0  # not due yet
    assert emails.send_email(delivery_id=first.id) is None
    clock.set(clock.now() + emails.BACKOFF[0] + timedelta(seconds=1))
    run_scheduled_now(app)  # RQ: the retry was scheduled on Redis
    emails.send_due_emails()  # in process: the sweep asks for what is due
    run_jobs()

    [done] = _deliveries()
    assert done.status == "sent" and done.attempts == 2 and done.last_error is None
    [mail] = smtp.parsed()
    assert invoice.number in mail["Subject"] and len(list(mail.iter_attachments())) == 1


def test_a_mail_fails_for_good_after_its_last_attempt(org, clock, run_jobs, smtp):
    smtp.refuse = 100
    _bill_one_period(org, clock, run_jobs, customer_email="ap@bertrand.test")
    [delivery] = _deliveries()
    for _ in range(emails.MAX_ATTEMPTS - 1):
        clock.set(delivery.next_attempt_at)
        result = emails.send_email(delivery_id=delivery.id)
        [delivery] = _deliveries()
    assert result.status == "failed" and delivery.status == "failed" and delivery.attempts == emails.MAX_ATTEMPTS
    assert delivery.next_attempt_at is None and smtp.messages == []


def test_no_mail_without_a_customer_email(org, clock, run_jobs, smtp):
    invoice = _bill_one_period(org, clock, run_jobs, customer_email=None)
    assert invoice.status == "finalized"
    assert _deliveries() == [] and smtp.messages == []


def test_no_mail_when_smtp_is_not_configured(org, clock, run_jobs):
    assert ports.runtime.mailer is None  # no SMTP_HOST: the embedded default
    invoice = _bill_one_period(org, clock, run_jobs, customer_email="ap@bertrand.test")
    assert invoice.status == "finalized" and _deliveries() == []


def test_with_background_pdfs_off_the_mail_renders_the_pdf_itself(org, clock, run_jobs, smtp):
    ports.configure(invoice_pdfs=False)
    try:
        invoice = _bill_one_period(org, clock, run_jobs, customer_email="ap@bertrand.test")
    finally:
        ports.configure(invoice_pdfs=True)
    [mail] = smtp.parsed()
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content().startswith(b"%PDF-")
    assert invoice.file_key is not None  # rendered (and stored) by the mail job, on demand
