"""What the admin's customer page says about overdue invoices: what "Request payment now" did, per currency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from billing.money import format_money
from wording.i18n import DEFAULT_LOCALE, N_, babel_locale, gettext, ngettext

NOTHING_OVERDUE = N_("Nothing is overdue: no payment was requested.")
CHARGING = N_("Requested {amount}: charging the default payment method now. If the charge fails, {email} is "
              "emailed a link to pay.")
CHARGING_NO_EMAIL = N_("Requested {amount}: charging the default payment method now.")
EMAILED = N_("Requested {amount}: {email} is emailed a link that pays the overdue invoices.")
NOT_SENT = N_("Requested {amount}, but nothing was sent: the customer has no payment method and {why}.")
NO_EMAIL = N_("no email address")
NO_MAILER = N_("no mail server is configured (SMTP_HOST)")


@dataclass(frozen=True)
class Notice:
    text: str
    warning: bool = False  # a request was made but nothing reaches the customer


def request_notice(amounts: Sequence[tuple[int, str]], *, chargeable: bool, email: str | None, can_mail: bool,
                   locale: str | None = DEFAULT_LOCALE) -> Notice:
    """What requesting payment did: `amounts` (minor units, currency) per request made, nothing when empty."""
    if not amounts:
        return Notice(gettext(NOTHING_OVERDUE, locale))
    amount = ", ".join(format_money(cents, currency, babel_locale(locale)) for cents, currency in amounts)
    if chargeable:
        text = CHARGING if email and can_mail else CHARGING_NO_EMAIL
    elif email and can_mail:
        text = EMAILED
    else:
        why = gettext(NO_EMAIL if not email else NO_MAILER, locale)
        return Notice(gettext(NOT_SENT, locale).format(amount=amount, why=why), warning=True)
    return Notice(gettext(text, locale).format(amount=amount, email=email))


def invoices_due_since(count: int, since: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """How many invoices make an overdue balance and since when the oldest is due ("2 invoices · due since ...")."""
    return ngettext("{count} invoice · due since {since}", "{count} invoices · due since {since}", count,
                    locale).format(count=count, since=since)
