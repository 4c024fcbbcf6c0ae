"""What a customer has overdue, as the admin's customer page shows it: the balance per currency, how many invoices,
the oldest due date, and what "Request payment now" would do (charge the default method, or email the link)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from billing.customers.models import Customer
from billing.db import read_only
from billing.errors import NotFound
from billing.payments import requests
from billing.ports import runtime


@dataclass(frozen=True)
class OverdueBalance:
    currency: str
    amount_cents: int
    invoices_count: int
    oldest_due_date: date


@dataclass(frozen=True)
class CustomerOverdue:
    balances: tuple[OverdueBalance, ...]  # one per currency, by currency
    chargeable: bool  # a request is charged to the default method (else its link is emailed)
    email: str | None  # where a request's link goes
    can_mail: bool  # a mail server is configured (SMTP_HOST): a request's link can be emailed

    @property
    def any(self) -> bool:
        return bool(self.balances)


def customer_overdue(*, organization_id: str, customer_id: str) -> CustomerOverdue:
    with read_only() as session:
        customer = session.scalar(select(Customer).where(
            Customer.organization_id == organization_id, Customer.id == customer_id, Customer.deleted_at.is_(None)))
        if customer is None:
            raise NotFound("customer")
        by_currency: dict[str, list] = {}
        for invoice in requests.overdue_invoices(session, customer):
            by_currency.setdefault(invoice.currency, []).append(invoice)
        balances = tuple(
            OverdueBalance(currency=currency, amount_cents=sum(i.total_due_amount_cents for i in found),
                           invoices_count=len(found), oldest_due_date=min(i.payment_due_date for i in found))
            for currency, found in sorted(by_currency.items()))
        email = (customer.email or "").split(",")[0].strip() or None
        return CustomerOverdue(balances=balances, chargeable=requests.chargeable(session, customer), email=email,
                               can_mail=runtime.mailer is not None)
