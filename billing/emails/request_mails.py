"""What a payment request's emails say: the reminder (no charge possible), the reminder after a failed charge,
the payment the customer's bank asks them to confirm, and the receipt of the payment that settled them all.

billing.emails.services queues them (one per request and kind) and sends them; this module writes them. What
they state (the amount, the invoices with their due dates, a dunning campaign's own subject and message, the
blind copies) is read when they are queued (`details_of`) and kept with the outbox row, so a retry hours later
says the same; the pay link is signed when the mail is built, so that its week of validity starts when it is
sent. Every sentence is in `WORDS`, in English, looked up in the customer's language's catalog (billing.i18n).
"""

from __future__ import annotations

from email.utils import formataddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import links
from billing.customers.models import Customer
from billing.emails import payment_mails
from billing.emails.language import mail_language
from billing.emails.models import EmailDelivery
from billing.emails.portal_links import portal_link_lines
from billing.i18n import N_, NN_, customer_language, gettext, ngettext, using
from billing.payments.models import Payment, PaymentReceipt, PaymentRequest
from billing.ports import OutgoingMail, runtime

REMINDER = "payment_request.reminder"  # no charge could be tried: the link that pays them all
FAILED = "payment_request.failed"  # the charge failed: said so, and the link
REQUIRES_ACTION = "payment_request.requires_action"  # the bank asks the customer to confirm: the link
SUCCEEDED = "payment_request.succeeded"  # the receipt, listing the invoices paid
KINDS = (REMINDER, FAILED, REQUIRES_ACTION, SUCCEEDED)
ASKING = (REMINDER, FAILED, REQUIRES_ACTION)  # the mails that ask for money: a campaign's words and bcc apply

# Each text is a str.format template in English, translated where it is used; a pair is (one, other): the form for
# one invoice and for several (ngettext: the language's own plural rules).
WORDS: dict[str, str | tuple[str, str]] = {
    "hello": N_("Hello {name},"),
    "reminder_subject": N_("Reminder: {amount} overdue to {org}"),
    "reminder_intro": NN_("Our records show that this invoice from {org} is past its due date ({amount}):",
                       "Our records show that these {count} invoices from {org} are past their due date, "
                       "{amount} in all:"),
    "already_paid": N_("If you have paid in the meantime, thank you, and please disregard this message."),
    "failed_subject": N_("We could not charge {amount} for your overdue invoices"),
    "failed_intro": N_("We tried to charge {amount}{method} for the invoices below, but the payment failed."),
    "failed_method": N_(" to {method}"),
    "failed_reason": N_("Reason: {reason}"),
    "failed_reason_unknown": N_("the payment was declined."),
    "action_subject": N_("Please confirm your payment of {amount} to {org}"),
    "action_intro": N_("Your bank asks you to confirm the payment of {amount} for the invoices below. "
                    "Nothing has been charged yet."),
    "receipt_subject": NN_("Receipt {receipt} for invoice {number} ({amount})",
                        "Receipt {receipt} for {count} invoices ({amount})"),
    "receipt_intro": N_("{org} has received your payment of {amount}. Thank you."),
    "receipt_number": N_("Receipt number: {receipt}"),
    "amount_paid": N_("Amount paid: {amount}"),
    "paid_on": N_("Paid on: {day}"),
    "payment_method": N_("Payment method: {method}"),
    "invoices_paid": N_("Invoices paid:"),
    "invoice_due_line": N_("  {number}  due on {due}  {amount}"),
    "invoice_paid_line": N_("  {number}  {amount}"),
    "pay_all": N_("To pay them all at once (the link is valid for 7 days):"),
    "pay_other": N_("To pay them with this card or another one (the link is valid for 7 days):"),
    "confirm": N_("To confirm it (the link is valid for 7 days):"),
    "contact": N_("Please contact {org} to pay them."),
}


def _word(language: str, key: str, count: int | None = None, **values) -> str:
    text = WORDS[key]
    if isinstance(text, tuple):
        text = ngettext(text[0], text[1], count or 0, language)
    else:
        text = gettext(text, language)
    return text.format(count=count, **values)


def _language(session: Session, request: PaymentRequest) -> str:
    return customer_language(session.get(Customer, request.customer_id))


def details_of(session: Session, kind: str, request: PaymentRequest, *, payment: Payment | None = None,
               reminder: tuple[str, str] | None = None, bcc: tuple[str, ...] = ()) -> dict:
    """What the mail of this kind states, read in the transaction that queues it."""
    details: dict = {"amount_cents": request.amount_cents, "currency": request.currency}
    invoices = sorted(request.invoices, key=lambda i: (i.payment_due_date, i.number or ""))
    if kind == SUCCEEDED:
        # The invoices are paid by now: their totals are what the receipt lists.
        details["invoices"] = [{"number": i.number, "amount_cents": i.total_amount_cents} for i in invoices]
        receipt = session.scalar(select(PaymentReceipt.number).where(PaymentReceipt.payment_id == payment.id))
        paid_at = payment.paid_at or runtime.clock.now()
        details.update(amount_cents=payment.amount_cents, receipt_number=receipt, paid_on=f"{paid_at:%Y-%m-%d}",
                       method=payment_mails.method_name(session, payment, _language(session, request)))
        return details
    details["invoices"] = [{"number": i.number, "due_date": f"{i.payment_due_date:%Y-%m-%d}",
                            "amount_due_cents": i.total_due_amount_cents} for i in invoices]
    details.update(reminder=list(reminder) if reminder else None, bcc=list(bcc))
    if payment is not None:
        details.update(amount_cents=payment.amount_cents,
                       method=payment_mails.method_name(session, payment, _language(session, request)),
                       error_message=payment.error_message, error_code=payment.error_code)
    return details


def request_mail(delivery: EmailDelivery, request: PaymentRequest, customer: Customer, *, sender: str,
                 message_id: str) -> OutgoingMail:
    """The request's mail of the delivery's kind, in the customer's language."""
    org = customer.organization
    speech = mail_language(customer)
    language = speech.language
    details = delivery.details or {}
    currency = details["currency"]
    amount = speech.money(int(details["amount_cents"]), currency)
    invoices = details.get("invoices") or []
    count = len(invoices)

    def word(key: str, **values) -> str:
        return _word(language, key, count, **{"org": org.name, "amount": amount, **values})

    reminder = details.get("reminder")
    # A dunning campaign's message is the whole letter, its greeting included.
    lines = [] if reminder and delivery.kind in ASKING else [word("hello", name=customer.display_name), ""]
    if delivery.kind == SUCCEEDED:
        number = invoices[0]["number"] if invoices else ""
        subject = word("receipt_subject", receipt=details.get("receipt_number"), number=number)
        lines += [word("receipt_intro"), "", word("receipt_number", receipt=details.get("receipt_number")),
                  word("amount_paid"), word("paid_on", day=speech.day(details.get("paid_on")))]
        if details.get("method"):
            lines.append(word("payment_method", method=details["method"]))
        lines += ["", word("invoices_paid")]
        lines += [word("invoice_paid_line", number=i["number"],
                       amount=speech.money(int(i["amount_cents"]), currency)) for i in invoices]
        with using(language):
            lines += ["", *portal_link_lines(customer), org.name]
        return _mail(delivery, org, sender, message_id, subject, lines, bcc=())

    table = [word("invoice_due_line", number=i["number"], due=speech.day(i["due_date"]),
                  amount=speech.money(int(i["amount_due_cents"]), currency)) for i in invoices]
    news: list[str] = []  # what happened to the charge, before the campaign's words or ours
    if delivery.kind == FAILED:
        method = details.get("method")
        news = [word("failed_intro", method=word("failed_method", method=method) if method else ""),
                word("failed_reason", reason=details.get("error_message") or word("failed_reason_unknown")), ""]
        subject = word("failed_subject")
        invitation = "pay_other"
    elif delivery.kind == REQUIRES_ACTION:
        news = [word("action_intro"), ""]
        subject = word("action_subject")
        invitation = "confirm"
    else:
        subject = word("reminder_subject")
        invitation = "pay_all"
    link = (links.payment_request_url(payment_request_id=request.id, organization_id=request.organization_id)
            if runtime.secret_key and runtime.base_url else None)
    if reminder:
        # A dunning campaign's own words, rendered when its attempt made the request; the facts follow them.
        campaign_subject, message = reminder
        subject = subject if delivery.kind == REQUIRES_ACTION else campaign_subject
        lines += news + [message.strip(), "", *table, ""]
        if link and "/pay/request/" not in message:  # the campaign's message may carry the link already
            lines += [word(invitation), link, ""]
    else:
        if delivery.kind == REMINDER:
            lines += [word("reminder_intro"), ""]
        lines += news + table + [""]
        lines += [word(invitation), link, ""] if link else [word("contact"), ""]
        if delivery.kind == REMINDER:
            lines += [word("already_paid"), ""]
    with using(language):
        lines += portal_link_lines(customer)
    lines.append(org.name)
    return _mail(delivery, org, sender, message_id, subject, lines, bcc=tuple(details.get("bcc") or ()))


def _mail(delivery: EmailDelivery, org, sender: str, message_id: str, subject: str, lines: list[str], *,
          bcc: tuple[str, ...]) -> OutgoingMail:
    return OutgoingMail(
        from_address=formataddr((org.name, sender)), to=(delivery.to_address,), subject=subject,
        text="\n".join(lines) + "\n", envelope_from=runtime.mail_from or sender, reply_to=org.email or None,
        message_id=message_id, bcc=bcc)
