"""Invoice emails through an outbox: queued with the finalization, sent by a job, retried with back-off.

`queue_invoice_email` writes the mail's row in the finalizing transaction (a rolled-back
finalization sends nothing; a committed one is never lost) and asks for it after commit.
`send_invoice_email` claims a due row under a lease (two workers never both send it), sends it
through the `Mailer` port and records the outcome, scheduling a retry on failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr

from sqlalchemy import and_, inspect, or_, select, update
from sqlalchemy.orm import Session

from billing.db import after_commit, new_id, read_only, unit_of_work
from billing.emails.models import EmailDelivery
from billing.invoicing.models import Invoice
from billing.money import format_money, locale_for_country
from billing.ports import OutgoingMail, runtime

INVOICE_FINALIZED = "invoice.finalized"
# NOTE: SMTP servers refuse mail for a while (greylisting, 4xx) and come back; 5 attempts over
# about 3 hours, as webhooks are retried (docs/webhooks.md).
MAX_ATTEMPTS = 5
BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=15), timedelta(hours=2))
# Longer than the SMTP timeout plus rendering a PDF: a worker that died mid-send loses the mail
# to another worker only after this.
LEASE = timedelta(minutes=2)
EARLY_TOLERANCE = timedelta(seconds=5)


def _job_id(delivery_id: str, attempt: int) -> str:
    return f"email-{delivery_id}-{attempt}"


def queue_invoice_email(session: Session, invoice: Invoice, *, new_invoice: bool = False) -> str | None:
    """Record the finalized invoice's email in the caller's transaction; None when nothing is to be sent.

    Nothing is queued when no mailer is configured (no SMTP_HOST) or the customer has no email.
    `new_invoice`: the invoice is being created (a billing batch), so it has no email yet to look for.
    """
    email = (invoice.customer.email or "").strip()
    if runtime.mailer is None or not email:
        return None
    if not new_invoice and session.scalar(select(EmailDelivery.id).where(
            EmailDelivery.invoice_id == invoice.id, EmailDelivery.kind == INVOICE_FINALIZED)):
        return None
    if inspect(invoice).pending:
        session.flush()  # the invoice first: its email refers to it
    delivery = EmailDelivery(id=new_id(), organization_id=invoice.organization_id, invoice_id=invoice.id,
                             kind=INVOICE_FINALIZED, to_address=email, status="pending",
                             next_attempt_at=runtime.clock.now())
    session.add(delivery)
    delivery_id = delivery.id
    after_commit(session, lambda: runtime.dispatcher.enqueue(
        "send_invoice_email", job_id=_job_id(delivery_id, 1), delivery_id=delivery_id))
    return delivery_id


@dataclass(frozen=True)
class EmailResult:
    delivery_id: str
    attempt: int
    status: str  # sent | pending (a retry is scheduled) | failed
    error: str | None = None


def _claim(delivery_id: str) -> int | None:
    now = runtime.clock.now()
    with unit_of_work() as uow:
        taken = uow.session.execute(update(EmailDelivery).where(
            EmailDelivery.id == delivery_id,
            or_(and_(EmailDelivery.status == "pending", EmailDelivery.next_attempt_at <= now + EARLY_TOLERANCE),
                and_(EmailDelivery.status == "sending", EmailDelivery.lease_expires_at <= now)),
        ).values(status="sending", attempts=EmailDelivery.attempts + 1, lease_expires_at=now + LEASE,
                 updated_at=now).execution_options(synchronize_session=False))
        if taken.rowcount != 1:
            return None
        return uow.session.scalar(select(EmailDelivery.attempts).where(EmailDelivery.id == delivery_id))


def invoice_mail(delivery: EmailDelivery, invoice: Invoice, pdf: bytes) -> OutgoingMail:
    """The invoice's email: the organization as sender, the total in the customer's locale, the PDF attached."""
    customer = invoice.customer
    org = customer.organization
    locale = locale_for_country(customer.country or org.country)
    total = format_money(invoice.total_amount_cents, invoice.currency, locale)
    sender = org.email or runtime.mail_from
    if not sender:
        raise RuntimeError("no sender address: set SMTP_FROM or the organization's email")
    lines = [f"Hello {customer.display_name},", "",
             f"{org.name} has issued invoice {invoice.number} for {total}.",
             f"Issued on {invoice.issuing_date:%Y-%m-%d}, due on {invoice.payment_due_date:%Y-%m-%d}.", "",
             "The invoice is attached as a PDF.", "", org.name]
    domain = (runtime.mail_from or sender).rpartition("@")[2] or "tally.invalid"
    return OutgoingMail(
        from_address=formataddr((org.name, sender)), to=(delivery.to_address,),
        subject=f"Invoice {invoice.number} from {org.name} ({total})", text="\n".join(lines) + "\n",
        envelope_from=runtime.mail_from or sender, reply_to=org.email or None,
        message_id=f"<{delivery.id}@{domain.strip('>')}>",
        attachments=((f"{invoice.number}.pdf", "application/pdf", pdf),))


def send_invoice_email(*, delivery_id: str) -> EmailResult | None:
    """Send one attempt of a due invoice email and record it; None when it is not due (sent, failed, in flight).

    A worker killed between the SMTP server's acceptance and the record leaves the row `sending`;
    once its lease expires it is sent again with the same Message-ID (at least once, never lost).
    """
    from billing.invoicing.services import invoice_pdf_bytes

    attempt = _claim(delivery_id)
    if attempt is None:
        return None
    error = None
    try:
        with read_only() as session:
            organization_id, invoice_id = session.execute(select(
                EmailDelivery.organization_id, EmailDelivery.invoice_id).where(EmailDelivery.id == delivery_id)).one()
        # Rendered now when the PDF job has not run yet (or PDFs are rendered on demand only);
        # outside any open session: rendering records the file in a transaction of its own.
        pdf = invoice_pdf_bytes(organization_id=organization_id, invoice_id=invoice_id)
        with read_only() as session:
            mail = invoice_mail(session.get(EmailDelivery, delivery_id), session.get(Invoice, invoice_id), pdf)
        if runtime.mailer is None:
            raise RuntimeError("no mailer configured (SMTP_HOST)")
        runtime.mailer.send(mail)
    except Exception as exc:  # any failure is one failed attempt: recorded, retried
        error = f"{type(exc).__name__}: {exc}"[:255]
    return _record(delivery_id, attempt, error)


def _record(delivery_id: str, attempt: int, error: str | None) -> EmailResult:
    now = runtime.clock.now()
    with unit_of_work() as uow:
        delivery = uow.session.scalar(select(EmailDelivery).where(EmailDelivery.id == delivery_id).with_for_update())
        if delivery.status != "sending" or delivery.attempts != attempt:
            return EmailResult(delivery_id, attempt, delivery.status, error)  # another worker took over
        delivery.lease_expires_at = None
        delivery.last_error = error
        if error is None:
            delivery.status, delivery.sent_at, delivery.next_attempt_at = "sent", now, None
        elif attempt >= MAX_ATTEMPTS:
            delivery.status, delivery.next_attempt_at = "failed", None
        else:
            wait = BACKOFF[min(attempt - 1, len(BACKOFF) - 1)]
            delivery.status, delivery.next_attempt_at = "pending", now + wait
            uow.after_commit(lambda: runtime.dispatcher.enqueue_in(
                wait, "send_invoice_email", job_id=_job_id(delivery_id, attempt + 1), delivery_id=delivery_id))
        return EmailResult(delivery_id, attempt, delivery.status, error)


def send_due_emails(*, limit: int = 1000) -> int:
    """Ask for every email that is due and not in flight (the billing clock and cron run it).

    It recovers what a lost enqueue, a dead worker or a restarted embedded process left behind.
    """
    at = runtime.clock.now()
    with read_only() as session:
        due = list(session.execute(select(EmailDelivery.id, EmailDelivery.attempts).where(or_(
            and_(EmailDelivery.status == "pending", EmailDelivery.next_attempt_at <= at),
            and_(EmailDelivery.status == "sending", EmailDelivery.lease_expires_at <= at),
        )).order_by(EmailDelivery.next_attempt_at).limit(limit)))
    for delivery_id, attempts in due:
        runtime.dispatcher.enqueue("send_invoice_email", job_id=_job_id(delivery_id, attempts + 1),
                                   delivery_id=delivery_id)
    return len(due)
