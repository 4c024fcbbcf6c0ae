"""What a payment's emails say: a receipt, a failed charge, a payment the customer must confirm.

billing.emails.services queues them (one per payment and kind, in the payment's transaction) and sends them;
this module writes them. What they state is read when they are queued (`details_of`) and kept with the
outbox row, so a retry hours later says the same; the pay link is signed when the mail is built, so that
its week of validity starts when it is sent.
"""

from __future__ import annotations

from email.utils import formataddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import links
from billing.emails.language import mail_language
from billing.emails.models import EmailDelivery
from billing.emails.portal_links import portal_link_lines
from billing.i18n import customer_language, gettext, ngettext, using
from billing.invoicing.models import Invoice
from billing.payments.models import Payment, PaymentReceipt, SavedPaymentMethod
from billing.ports import OutgoingMail, runtime

PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
PAYMENT_REQUIRES_ACTION = "payment.requires_action"
KINDS = (PAYMENT_SUCCEEDED, PAYMENT_FAILED, PAYMENT_REQUIRES_ACTION)

_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover",
           "jcb": "JCB", "diners": "Diners Club", "unionpay": "UnionPay", "cartes_bancaires": "Cartes Bancaires"}


def method_name(session: Session, payment: Payment, language: str | None = None) -> str | None:
    """How the payment was made, as the customer knows it: "Visa •••• 4242", "SEPA Direct Debit •••• 3000"."""
    if payment.payment_type == "manual":
        if payment.reference:
            return gettext("Recorded by hand ({reference})", language).format(reference=payment.reference)
        return gettext("Recorded by hand", language)
    method = session.scalar(select(SavedPaymentMethod).where(
        SavedPaymentMethod.customer_id == payment.customer_id,
        SavedPaymentMethod.provider_method_id == payment.provider_method_id))
    if method is None:
        return None
    if method.method_type == "sepa_debit":
        name = gettext("SEPA Direct Debit", language)
    else:
        name = _BRANDS.get((method.brand or "").lower(), (method.brand or gettext("Card", language)).title())
    return f"{name} •••• {method.last4}" if method.last4 else name


def details_of(session: Session, kind: str, payment: Payment, invoice: Invoice) -> dict:
    """What the mail of this kind states, read in the payment's transaction."""
    details = {"amount_cents": payment.amount_cents, "currency": payment.currency, "invoice_number": invoice.number,
               "method": method_name(session, payment, customer_language(invoice.customer))}
    if kind == PAYMENT_SUCCEEDED:
        receipt = session.scalar(select(PaymentReceipt.number).where(PaymentReceipt.payment_id == payment.id))
        paid_at = payment.paid_at or runtime.clock.now()
        details.update(receipt_number=receipt, paid_on=f"{paid_at:%Y-%m-%d}")
    elif kind == PAYMENT_FAILED:
        details.update(error_message=payment.error_message, error_code=payment.error_code,
                       amount_due_cents=invoice.total_due_amount_cents)
    return details


def _pay_link(invoice: Invoice, org_name: str, invitation: str) -> list[str]:
    """The invitation (translated) and the pay page's link; without signed links configured, whom to contact."""
    if not (runtime.secret_key and runtime.base_url):
        return [gettext("Please contact {org} to pay it.").format(org=org_name), ""]
    return [invitation, links.pay_url(invoice_id=invoice.id, organization_id=invoice.organization_id), ""]


def payment_mail(delivery: EmailDelivery, invoice: Invoice, *, sender: str, message_id: str) -> OutgoingMail:
    """The mail of a payment, in the customer's language: its receipt, its failure with a link to pay, or the link
    to confirm it."""
    customer = invoice.customer
    org = customer.organization
    speech = mail_language(customer)
    details = delivery.details or {}
    amount = speech.money(int(details["amount_cents"]), details["currency"])
    number = details.get("invoice_number") or ""
    method = details.get("method")
    with using(speech.language):
        lines = [gettext("Hello {name},").format(name=customer.display_name), ""]
        if delivery.kind == PAYMENT_SUCCEEDED:
            receipt = details.get("receipt_number")
            # The one-invoice form of the payment request's receipt (billing.emails.request_mails): one sentence.
            subject = ngettext("Receipt {receipt} for invoice {number} ({amount})",
                               "Receipt {receipt} for {count} invoices ({amount})", 1).format(
                receipt=receipt, number=number, amount=amount, count=1)
            lines += [gettext("{org} has received your payment of {amount} for invoice {number}. Thank you.").format(
                          org=org.name, amount=amount, number=number), "",
                      gettext("Receipt number: {receipt}").format(receipt=receipt),
                      gettext("Invoice: {number}").format(number=number),
                      gettext("Amount paid: {amount}").format(amount=amount),
                      gettext("Paid on: {day}").format(day=speech.day(details.get("paid_on")))]
            if method:
                lines.append(gettext("Payment method: {method}").format(method=method))
            lines.append("")
        elif delivery.kind == PAYMENT_FAILED:
            due = speech.money(int(details.get("amount_due_cents") or details["amount_cents"]), details["currency"])
            subject = gettext("Your payment of {amount} for invoice {number} failed").format(amount=amount,
                                                                                            number=number)
            if method:
                tried = gettext("We could not charge {amount} to {method} for invoice {number}.").format(
                    amount=amount, method=method, number=number)
            else:
                tried = gettext("We could not charge {amount} for invoice {number}.").format(amount=amount,
                                                                                            number=number)
            lines += [tried, gettext("Reason: {reason}").format(
                          reason=details.get("error_message") or gettext("the payment was declined.")), "",
                      gettext("{amount} is still due.").format(amount=due)]
            lines += _pay_link(invoice, org.name,
                               gettext("To pay it with this card or another one (the link is valid for 7 days):"))
        else:
            subject = gettext("Please confirm your payment of {amount} for invoice {number}").format(
                amount=amount, number=number)
            lines += [gettext("Your bank asks you to confirm the payment of {amount} for invoice {number}.").format(
                          amount=amount, number=number),
                      gettext("Nothing has been charged yet.")]
            lines += _pay_link(invoice, org.name, gettext("To confirm it (the link is valid for 7 days):"))
        lines += portal_link_lines(customer)
    lines.append(org.name)
    return OutgoingMail(
        from_address=formataddr((org.name, sender)), to=(delivery.to_address,), subject=subject,
        text="\n".join(lines) + "\n", envelope_from=runtime.mail_from or sender, reply_to=org.email or None,
        message_id=message_id)
