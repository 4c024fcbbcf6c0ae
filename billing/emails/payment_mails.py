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
from billing.emails.models import EmailDelivery
from billing.emails.portal_links import portal_link_lines
from billing.invoicing.models import Invoice
from billing.money import format_money, locale_for_country
from billing.payments.models import Payment, PaymentReceipt, SavedPaymentMethod
from billing.ports import OutgoingMail, runtime

PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
PAYMENT_REQUIRES_ACTION = "payment.requires_action"
KINDS = (PAYMENT_SUCCEEDED, PAYMENT_FAILED, PAYMENT_REQUIRES_ACTION)

_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover",
           "jcb": "JCB", "diners": "Diners Club", "unionpay": "UnionPay", "cartes_bancaires": "Cartes Bancaires"}


def method_name(session: Session, payment: Payment) -> str | None:
    """How the payment was made, as the customer knows it: "Visa •••• 4242", "SEPA Direct Debit •••• 3000"."""
    if payment.payment_type == "manual":
        return f"Recorded by hand ({payment.reference})" if payment.reference else "Recorded by hand"
    method = session.scalar(select(SavedPaymentMethod).where(
        SavedPaymentMethod.customer_id == payment.customer_id,
        SavedPaymentMethod.provider_method_id == payment.provider_method_id))
    if method is None:
        return None
    if method.method_type == "sepa_debit":
        name = "SEPA Direct Debit"
    else:
        name = _BRANDS.get((method.brand or "").lower(), (method.brand or "Card").title())
    return f"{name} •••• {method.last4}" if method.last4 else name


def details_of(session: Session, kind: str, payment: Payment, invoice: Invoice) -> dict:
    """What the mail of this kind states, read in the payment's transaction."""
    details = {"amount_cents": payment.amount_cents, "currency": payment.currency, "invoice_number": invoice.number,
               "method": method_name(session, payment)}
    if kind == PAYMENT_SUCCEEDED:
        receipt = session.scalar(select(PaymentReceipt.number).where(PaymentReceipt.payment_id == payment.id))
        paid_at = payment.paid_at or runtime.clock.now()
        details.update(receipt_number=receipt, paid_on=f"{paid_at:%Y-%m-%d}")
    elif kind == PAYMENT_FAILED:
        details.update(error_message=payment.error_message, error_code=payment.error_code,
                       amount_due_cents=invoice.total_due_amount_cents)
    return details


def _pay_link(invoice: Invoice, org_name: str, invitation: str) -> list[str]:
    """The invitation and the pay page's link; without signed links configured, whom to contact."""
    if not (runtime.secret_key and runtime.base_url):
        return [f"Please contact {org_name} to pay it.", ""]
    return [f"{invitation} (the link is valid for 7 days):",
            links.pay_url(invoice_id=invoice.id, organization_id=invoice.organization_id), ""]


def payment_mail(delivery: EmailDelivery, invoice: Invoice, *, sender: str, message_id: str) -> OutgoingMail:
    """The mail of a payment: its receipt, its failure with a link to pay, or the link to confirm it."""
    customer = invoice.customer
    org = customer.organization
    locale = locale_for_country(customer.country or org.country)
    details = delivery.details or {}
    amount = format_money(int(details["amount_cents"]), details["currency"], locale)
    number = details.get("invoice_number") or ""
    method = details.get("method")
    lines = [f"Hello {customer.display_name},", ""]
    if delivery.kind == PAYMENT_SUCCEEDED:
        subject = f"Receipt {details.get('receipt_number')} for invoice {number} ({amount})"
        lines += [f"{org.name} has received your payment of {amount} for invoice {number}. Thank you.", "",
                  f"Receipt number: {details.get('receipt_number')}",
                  f"Invoice: {number}",
                  f"Amount paid: {amount}",
                  f"Paid on: {details.get('paid_on')}"]
        if method:
            lines.append(f"Payment method: {method}")
        lines.append("")
    elif delivery.kind == PAYMENT_FAILED:
        due = format_money(int(details.get("amount_due_cents") or details["amount_cents"]), details["currency"],
                           locale)
        subject = f"Your payment of {amount} for invoice {number} failed"
        charged = f" to {method}" if method else ""
        lines += [f"We could not charge {amount}{charged} for invoice {number}.",
                  f"Reason: {details.get('error_message') or 'the payment was declined.'}", "",
                  f"{due} is still due."]
        lines += _pay_link(invoice, org.name, "To pay it with this card or another one")
    else:
        subject = f"Please confirm your payment of {amount} for invoice {number}"
        lines += [f"Your bank asks you to confirm the payment of {amount} for invoice {number}.",
                  "Nothing has been charged yet."]
        lines += _pay_link(invoice, org.name, "To confirm it")
    lines += portal_link_lines(customer)
    lines.append(org.name)
    return OutgoingMail(
        from_address=formataddr((org.name, sender)), to=(delivery.to_address,), subject=subject,
        text="\n".join(lines) + "\n", envelope_from=runtime.mail_from or sender, reply_to=org.email or None,
        message_id=message_id)
