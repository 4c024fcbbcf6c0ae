"""Customer emails through an outbox: queued with the change they announce, sent by a job, retried.

`queue_invoice_email` (a finalized invoice, its PDF attached) and `queue_wallet_depleted_email`
(a wallet's ongoing balance reached zero) write the mail's row in the transaction of that change
(a rolled-back change sends nothing; a committed one is never lost) and ask for it after commit.
They run as handlers of the domain events `InvoiceFinalized` and `WalletDepleted` (billing.events,
subscribed by `subscribe_to_events` at configuration time): invoicing and wallets never import emails.
`queue_payment_email` does the same for a payment's receipt, failure or confirmation (the payment core's
PaymentSucceeded, PaymentFailed, PaymentRequiresAction), once per payment and kind; what those mails say
is written in billing.emails.payment_mails. `queue_request_email` does it for a payment request (PaymentRequested
and the request branch of those events), once per request and kind: billing.emails.request_mails.
`request_portal_link` mails a fresh portal link to the billing email a customer typed, if it is the one on file
(billing.emails.portal_links adds such a link to every other customer mail too).
`send_email` claims a due row under a lease (two workers never both send it), sends it through
the `Mailer` port and records the outcome, scheduling a retry on failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from billing import events, outbox
from billing.customers.models import Customer
from billing.db import new_id, read_only, unit_of_work
from billing.emails import payment_mails, request_mails
from billing.emails.language import mail_language
from billing.emails.models import EmailDelivery
from billing.emails.portal_links import portal_link_lines
from billing.i18n import N_, gettext, using
from billing.invoicing.documents import invoice_pdf_bytes
from billing.invoicing.events import InvoiceFinalized
from billing.invoicing.models import Invoice
from billing.payments.events import PaymentFailed, PaymentRequested, PaymentRequiresAction, PaymentSucceeded
from billing.payments.models import Payment, PaymentRequest
from billing.ports import OutgoingMail, runtime
from billing.wallets.events import WalletDepleted
from billing.wallets.models import Wallet

INVOICE_FINALIZED = "invoice.finalized"
WALLET_DEPLETED = "wallet.depleted_ongoing_balance"
PORTAL_LINK = "portal.link_requested"
JOB = "send_email"
# NOTE: SMTP servers refuse mail for a while (greylisting, 4xx) and come back; 5 attempts over
# about 3 hours, as webhooks are retried (billing.outbox).
MAX_ATTEMPTS = outbox.MAX_ATTEMPTS
BACKOFF = outbox.BACKOFF
# Longer than the SMTP timeout plus rendering a PDF: a worker that died mid-send loses the mail
# to another worker only after this.
LEASE = timedelta(minutes=2)
OUTBOX = outbox.Outbox(EmailDelivery, job=JOB, job_prefix="email", lease=LEASE)


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
    return _ask_after_commit(session, delivery)


def subscribe_to_events() -> None:
    """Queue the customers' emails on the events that call for one (configuration time: billing.events)."""
    events.subscribe(InvoiceFinalized, _on_invoice_finalized)
    events.subscribe(WalletDepleted, _on_wallet_depleted)
    events.subscribe(PaymentSucceeded, _on_payment_event)
    events.subscribe(PaymentFailed, _on_payment_event)
    events.subscribe(PaymentRequiresAction, _on_payment_event)
    events.subscribe(PaymentRequested, _on_payment_requested)


def _on_invoice_finalized(session: Session, event: InvoiceFinalized) -> None:
    queue_invoice_email(session, event.invoice, new_invoice=event.new_invoice)


def _on_wallet_depleted(session: Session, event: WalletDepleted) -> None:
    queue_wallet_depleted_email(session, event.wallet, ongoing_balance_cents=event.ongoing_balance_cents,
                                credits_ongoing_balance=event.credits_ongoing_balance)


_PAYMENT_KINDS = {PaymentSucceeded: payment_mails.PAYMENT_SUCCEEDED, PaymentFailed: payment_mails.PAYMENT_FAILED,
                  PaymentRequiresAction: payment_mails.PAYMENT_REQUIRES_ACTION}


def _on_payment_event(session: Session, event: PaymentSucceeded | PaymentFailed | PaymentRequiresAction) -> None:
    if event.invoice is not None:
        queue_payment_email(session, event.payment, event.invoice, kind=_PAYMENT_KINDS[type(event)])
    elif event.payment_request is not None:
        _on_request_payment(session, event)


def _on_payment_requested(session: Session, event: PaymentRequested) -> None:
    """No charge possible: the reminder now. A charge follows: nothing now, but a campaign's words and bcc are
    held for the mail its failure would send (the failure's event does not carry them). Nothing for a request the
    customer made to pay on its page now (the portal's "Pay all"): a link to the page they are on says nothing."""
    if event.customer_present:
        return
    if not event.chargeable:
        queue_request_email(session, event.payment_request, kind=request_mails.REMINDER, reminder=event.reminder,
                            bcc=event.bcc)
    elif event.reminder or event.bcc:
        queue_request_email(session, event.payment_request, kind=request_mails.FAILED, reminder=event.reminder,
                            bcc=event.bcc, hold=True)


_REQUEST_KINDS = {PaymentSucceeded: request_mails.SUCCEEDED, PaymentFailed: request_mails.FAILED,
                  PaymentRequiresAction: request_mails.REQUIRES_ACTION}


def _on_request_payment(session: Session, event: PaymentSucceeded | PaymentFailed | PaymentRequiresAction) -> None:
    payment, request = event.payment, event.payment_request
    kind = _REQUEST_KINDS[type(event)]
    held = session.scalar(select(EmailDelivery).where(
        EmailDelivery.payment_request_id == request.id, EmailDelivery.kind == request_mails.FAILED,
        EmailDelivery.status == "held"))
    if kind == request_mails.SUCCEEDED:
        if held is not None:
            session.delete(held)  # the charge went through: the words held for its failure are not needed
        queue_request_email(session, request, kind=kind, payment=payment)
        return
    # NOTE: as for an invoice's payment, a failure or a confirmation is mailed only for a charge made without the
    # customer (off-session); on the request's pay page they see the answer at once.
    if not (payment.off_session and payment.payment_type == "provider"):
        return
    words = (held.details or {}) if held is not None else {}
    reminder = tuple(words["reminder"]) if words.get("reminder") else None
    queue_request_email(session, request, kind=kind, payment=payment, reminder=reminder,
                        bcc=tuple(words.get("bcc") or ()), held=held)


def queue_request_email(session: Session, request: PaymentRequest, *, kind: str, payment: Payment | None = None,
                        reminder: tuple[str, str] | None = None, bcc: tuple[str, ...] = (), hold: bool = False,
                        held: EmailDelivery | None = None) -> str | None:
    """Record, in the request's transaction, its mail of `kind` (billing.emails.request_mails); once per request and
    kind (the request's row lock, held by whoever moves it, and the unique (request, kind) see to it).

    `hold`: written ahead, `held`, not sent (a failure mail's words); `held`: that row, now sent as this mail.
    To the request's email; blind copies (`bcc`) on the mails that ask for money only. None when nothing is sent.
    """
    email = (request.email or "").strip()
    if runtime.mailer is None or not email:
        return None
    details = request_mails.details_of(session, kind, request, payment=payment, reminder=reminder,
                                       bcc=bcc if kind in request_mails.ASKING else ())
    if held is not None and kind == request_mails.FAILED:
        held.details, held.status, held.next_attempt_at = details, "pending", runtime.clock.now()
        session.flush()
        return _ask_after_commit(session, held)
    if session.scalar(select(EmailDelivery.id).where(EmailDelivery.payment_request_id == request.id,
                                                     EmailDelivery.kind == kind)):
        return None
    delivery = EmailDelivery(organization_id=request.organization_id, payment_request_id=request.id,
                             payment_id=payment.id if payment is not None else None, kind=kind, to_address=email,
                             status="held" if hold else "pending",
                             next_attempt_at=None if hold else runtime.clock.now(), details=details)
    session.add(delivery)
    session.flush()
    return delivery.id if hold else _ask_after_commit(session, delivery)


def queue_payment_email(session: Session, payment: Payment, invoice: Invoice, *, kind: str) -> str | None:
    """Record, in the payment's transaction, its receipt, its failure or its confirmation mail; once each.

    NOTE: a failure or a confirmation is mailed only for a charge made without the customer (off-session:
    the collection job); on the pay page they see the answer at once. A receipt is mailed for every
    payment, manual ones included (Lago issues a receipt for each payment). None when nothing is to be sent.
    """
    email = (invoice.customer.email or "").strip()
    if runtime.mailer is None or not email:
        return None
    if kind != payment_mails.PAYMENT_SUCCEEDED and not (payment.off_session and payment.payment_type == "provider"):
        return None
    if session.scalar(select(EmailDelivery.id).where(EmailDelivery.payment_id == payment.id,
                                                     EmailDelivery.kind == kind)):
        return None
    delivery = EmailDelivery(organization_id=payment.organization_id, payment_id=payment.id, kind=kind,
                             to_address=email, status="pending", next_attempt_at=runtime.clock.now(),
                             details=payment_mails.details_of(session, kind, payment, invoice))
    session.add(delivery)
    session.flush()
    return _ask_after_commit(session, delivery)


def _ask_after_commit(session: Session, delivery: EmailDelivery) -> str:
    OUTBOX.ask_after_commit(session, [delivery.id])
    return delivery.id


def queue_wallet_depleted_email(session: Session, wallet: Wallet, *, ongoing_balance_cents: int,
                                credits_ongoing_balance) -> str | None:
    """Record, in the caller's transaction, the email telling the customer their credits are used up.

    The caller holds the wallet's row lock and has just counted the crossing (`wallet.depletions`):
    one mail per crossing, whatever the number of checks or events that saw it (the unique
    (wallet, kind, sequence) makes a second row for the same crossing impossible). What the mail
    says is stored with it. None when nothing is to be sent (no SMTP_HOST, no customer email).
    """
    email = (wallet.customer.email or "").strip()
    if runtime.mailer is None or not email:
        return None
    exists = session.scalar(select(EmailDelivery.id).where(
        EmailDelivery.wallet_id == wallet.id, EmailDelivery.kind == WALLET_DEPLETED,
        EmailDelivery.sequence == wallet.depletions))
    if exists:
        return None
    delivery = EmailDelivery(
        organization_id=wallet.organization_id, wallet_id=wallet.id, sequence=wallet.depletions,
        kind=WALLET_DEPLETED, to_address=email, status="pending", next_attempt_at=runtime.clock.now(),
        details={"ongoing_balance_cents": ongoing_balance_cents, "balance_cents": wallet.balance_cents,
                 "credits_ongoing_balance": str(credits_ongoing_balance), "currency": wallet.currency})
    session.add(delivery)
    session.flush()
    return _ask_after_commit(session, delivery)


@dataclass(frozen=True)
class EmailResult:
    delivery_id: str
    attempt: int
    status: str  # sent | pending (a retry is scheduled) | failed
    error: str | None = None


def _claim(delivery_id: str) -> int | None:
    with unit_of_work() as uow:
        return OUTBOX.claim(uow.session, delivery_id)


def _sender(org) -> str:
    sender = org.email or runtime.mail_from
    if not sender:
        raise RuntimeError("no sender address: set SMTP_FROM or the organization's email")
    return sender


def _message_id(delivery: EmailDelivery, sender: str) -> str:
    domain = (runtime.mail_from or sender).rpartition("@")[2] or "tally.invalid"
    return f"<{delivery.id}@{domain.strip('>')}>"


def invoice_mail(delivery: EmailDelivery, invoice: Invoice, pdf: bytes) -> OutgoingMail:
    """The invoice's email, in the customer's language: the organization as sender, the total in the customer's
    currency, the PDF attached."""
    customer = invoice.customer
    org = customer.organization
    speech = mail_language(customer)
    total = speech.money(invoice.total_amount_cents, invoice.currency)
    sender = _sender(org)
    with using(speech.language):
        lines = [gettext("Hello {name},").format(name=customer.display_name), "",
                 gettext("{org} has issued invoice {number} for {amount}.").format(org=org.name, number=invoice.number,
                                                                                  amount=total),
                 gettext("Issued on {issued}, due on {due}.").format(
                     issued=speech.day(f"{invoice.issuing_date:%Y-%m-%d}"),
                     due=speech.day(f"{invoice.payment_due_date:%Y-%m-%d}")), "",
                 gettext("The invoice is attached as a PDF."), "", *portal_link_lines(customer), org.name]
        subject = gettext("Invoice {number} from {org} ({amount})").format(number=invoice.number, org=org.name,
                                                                           amount=total)
    return OutgoingMail(
        from_address=formataddr((org.name, sender)), to=(delivery.to_address,),
        subject=subject, text="\n".join(lines) + "\n",
        envelope_from=runtime.mail_from or sender, reply_to=org.email or None,
        message_id=_message_id(delivery, sender),
        attachments=((f"{invoice.number}.pdf", "application/pdf", pdf),))


def wallet_depleted_mail(delivery: EmailDelivery, wallet: Wallet) -> OutgoingMail:
    """The wallet's depletion email: the amounts as they were at the crossing, a link to top up in the portal."""
    customer = wallet.customer
    org = customer.organization
    speech = mail_language(customer)
    details = delivery.details or {}
    ongoing = speech.money(int(details.get("ongoing_balance_cents", 0)), wallet.currency)
    balance = speech.money(int(details.get("balance_cents", 0)), wallet.currency)
    sender = _sender(org)
    with using(speech.language):
        name = wallet.name or gettext("prepaid credits")
        lines = [gettext("Hello {name},").format(name=customer.display_name), "",
                 gettext("Your {org} wallet “{wallet}” has no credits left for your current usage.").format(
                     org=org.name, wallet=name),
                 gettext("Balance after current usage: {ongoing} (settled balance: {balance}).").format(
                     ongoing=ongoing, balance=balance),
                 gettext("Usage beyond your credits is invoiced."), ""]
        lines += portal_link_lines(customer, N_("To buy credits, open your billing portal"))
        subject = gettext("Your {org} prepaid credits are used up").format(org=org.name)
    lines.append(org.name)
    return OutgoingMail(
        from_address=formataddr((org.name, sender)), to=(delivery.to_address,),
        subject=subject, text="\n".join(lines) + "\n",
        envelope_from=runtime.mail_from or sender, reply_to=org.email or None,
        message_id=_message_id(delivery, sender))


def request_portal_link(*, organization_id: str, customer_id: str, email: str) -> bool:
    """Mail a fresh portal link to the customer's billing email when `email` is one of its addresses (Lago's
    `email` may list several, comma-separated). Returns whether a mail was queued: the caller must not tell.

    The mail goes to the address on file only, never to one merely typed; its link is made when it is sent.
    """
    typed = email.strip().lower()
    with unit_of_work() as uow:
        customer = uow.session.scalar(select(Customer).where(
            Customer.organization_id == organization_id, Customer.id == customer_id, Customer.deleted_at.is_(None)))
        on_file = [address.strip() for address in ((customer.email if customer else None) or "").split(",")]
        address = next((a for a in on_file if a and a.lower() == typed), None)
        if runtime.mailer is None or customer is None or address is None or not typed:
            return False
        delivery = EmailDelivery(id=new_id(), organization_id=organization_id, kind=PORTAL_LINK, to_address=address,
                                 status="pending", next_attempt_at=runtime.clock.now(),
                                 details={"customer_id": customer.id})
        uow.session.add(delivery)
        _ask_after_commit(uow.session, delivery)
        return True


def portal_link_mail(delivery: EmailDelivery, customer: Customer) -> OutgoingMail:
    """The link a customer asked for on the portal's expired-link page."""
    org = customer.organization
    sender = _sender(org)
    with using(mail_language(customer).language):
        lines = [gettext("Hello {name},").format(name=customer.display_name), "",
                 gettext("Here is a new link to your {org} billing portal, as asked on its page.").format(org=org.name),
                 "", *portal_link_lines(customer, N_("Open your billing portal")),
                 gettext("If you did not ask for it, you can ignore this email: the link is sent to this address "
                         "only."), "", org.name]
        subject = gettext("Your {org} billing portal link").format(org=org.name)
    return OutgoingMail(
        from_address=formataddr((org.name, sender)), to=(delivery.to_address,),
        subject=subject, text="\n".join(lines) + "\n",
        envelope_from=runtime.mail_from or sender, reply_to=org.email or None,
        message_id=_message_id(delivery, sender))


def _build(delivery_id: str) -> OutgoingMail:
    with read_only() as session:
        organization_id, kind, invoice_id = session.execute(select(
            EmailDelivery.organization_id, EmailDelivery.kind, EmailDelivery.invoice_id).where(
            EmailDelivery.id == delivery_id)).one()
    if kind == PORTAL_LINK:
        with read_only() as session:
            delivery = session.get(EmailDelivery, delivery_id)
            return portal_link_mail(delivery, session.get(Customer, delivery.details["customer_id"]))
    if kind in request_mails.KINDS:
        with read_only() as session:
            delivery = session.get(EmailDelivery, delivery_id)
            request = session.get(PaymentRequest, delivery.payment_request_id)
            customer = session.get(Customer, request.customer_id)
            sender = _sender(customer.organization)
            return request_mails.request_mail(delivery, request, customer, sender=sender,
                                              message_id=_message_id(delivery, sender))
    if kind in payment_mails.KINDS:
        with read_only() as session:
            delivery = session.get(EmailDelivery, delivery_id)
            invoice = session.get(Invoice, session.get(Payment, delivery.payment_id).invoice_id)
            sender = _sender(invoice.customer.organization)
            return payment_mails.payment_mail(delivery, invoice, sender=sender,
                                              message_id=_message_id(delivery, sender))
    if kind == INVOICE_FINALIZED:
        # Rendered now when the PDF job has not run yet (or PDFs are rendered on demand only);
        # outside any open session: rendering records the file in a transaction of its own.
        pdf = invoice_pdf_bytes(organization_id=organization_id, invoice_id=invoice_id)
        with read_only() as session:
            return invoice_mail(session.get(EmailDelivery, delivery_id), session.get(Invoice, invoice_id), pdf)
    with read_only() as session:
        delivery = session.get(EmailDelivery, delivery_id)
        return wallet_depleted_mail(delivery, session.get(Wallet, delivery.wallet_id))


def send_email(*, delivery_id: str) -> EmailResult | None:
    """Send one attempt of a due email and record it; None when it is not due (sent, failed, in flight).

    A worker killed between the SMTP server's acceptance and the record leaves the row `sending`;
    once its lease expires it is sent again with the same Message-ID (at least once, never lost).
    """
    attempt = _claim(delivery_id)
    if attempt is None:
        return None
    error = None
    try:
        mail = _build(delivery_id)
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
        outcome = OUTBOX.settle(uow, delivery, attempt, succeeded=error is None)
        if outcome is None:
            return EmailResult(delivery_id, attempt, delivery.status, error)  # another worker took over
        delivery.last_error = error
        if outcome == outbox.SUCCEEDED:
            delivery.status, delivery.sent_at = "sent", now
        elif outcome == outbox.FAILED:
            delivery.status = "failed"
        return EmailResult(delivery_id, attempt, delivery.status, error)


def send_due_emails(*, limit: int = 1000) -> int:
    """Ask for every email that is due and not in flight (the billing clock and cron run it).

    It recovers what a lost enqueue, a dead worker or a restarted embedded process left behind.
    """
    return OUTBOX.sweep(limit=limit)
