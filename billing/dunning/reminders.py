"""A campaign's reminder in words: its subject and message with the placeholders filled in (pure, no database).

An account manager writes the reminder with placeholders in braces, `{customer_name}`, `{amount}`...; only the
names of PLACEHOLDERS are placeholders. A campaign naming any other one is refused when it is saved
(`unknown_placeholders`), so a reminder never goes out with a hole in it; any other brace (`{}`, `{ 1 }`, a lone
`{`) is literal text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from babel.dates import format_date

from billing.money import format_money

PLACEHOLDERS = ("customer_name", "organization_name", "amount", "invoice_numbers", "pay_link", "due_date")
# A placeholder is a name in braces; `{ x }`, `{}` or `{1}` are not names, so they are literal text.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")

DEFAULT_SUBJECT = "Payment reminder from {organization_name}: {amount} overdue"
DEFAULT_MESSAGE = (
    "Hello {customer_name},\n\n"
    "Our records show {amount} still unpaid on invoice(s) {invoice_numbers}, due since {due_date}. "
    "If you have already paid, thank you, and please ignore this message.\n\n"
    "You can pay everything at once here: {pay_link}\n\n"
    "Kind regards,\n{organization_name}"
)


@dataclass(frozen=True)
class ReminderContext:
    """What a reminder may say: one customer's overdue invoices in one currency, and where to pay them."""

    customer_name: str
    organization_name: str
    amount_cents: int
    currency: str
    invoice_numbers: Sequence[str] = field(default_factory=tuple)
    pay_link: str = ""
    due_date: date | None = None  # the oldest due date among the invoices
    locale: str = "en_US"


@dataclass(frozen=True)
class Reminder:
    subject: str
    message: str


def unknown_placeholders(text: str | None) -> list[str]:
    """The placeholders of `text` that are not PLACEHOLDERS, each once, in order of appearance."""
    found = (name for name in _PLACEHOLDER.findall(text or "") if name not in PLACEHOLDERS)
    return list(dict.fromkeys(found))


def placeholder_values(context: ReminderContext) -> dict[str, str]:
    due = format_date(context.due_date, format="medium", locale=context.locale) if context.due_date else ""
    return {
        "customer_name": context.customer_name,
        "organization_name": context.organization_name,
        "amount": format_money(context.amount_cents, context.currency, context.locale),
        "invoice_numbers": ", ".join(context.invoice_numbers),
        "pay_link": context.pay_link,
        "due_date": due,
    }


def fill(text: str, values: dict[str, str]) -> str:
    """`text` with each known placeholder replaced once (a value's own braces are never read as placeholders)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def render_reminder(subject: str | None, message: str | None, context: ReminderContext) -> Reminder:
    """The reminder a customer receives: the campaign's texts (else the default ones) filled in from `context`.

    The subject is one line: line breaks typed or brought in by a value become spaces (a mail header).
    """
    values = placeholder_values(context)
    rendered_subject = fill(subject or DEFAULT_SUBJECT, values)
    rendered_subject = _LINE_BREAKS.sub(" ", rendered_subject).strip()
    return Reminder(subject=rendered_subject, message=fill(message or DEFAULT_MESSAGE, values))


def sample_context(*, organization_name: str, currency: str = "EUR", pay_link: str = "", locale: str = "en_US",
                   today: date | None = None) -> ReminderContext:
    """Made-up values for a preview of the reminder before it is saved."""
    return ReminderContext(customer_name="Jane Doe (Example Ltd)", organization_name=organization_name,
                           amount_cents=123_450, currency=currency,
                           invoice_numbers=("INV-2026-0042", "INV-2026-0057"),
                           pay_link=pay_link or "https://billing.example.com/pay/…",
                           due_date=today or date(2026, 11, 1), locale=locale)
