"""A wallet's recurring top-up rules in plain words, for the customer (the portal's Wallet page)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from billing.money import decimal_str, format_money, to_minor
from wording.dates import day_text
from wording.i18n import DEFAULT_LOCALE, gettext

_EVERY = {"weekly": "Every week", "monthly": "Every month", "quarterly": "Every quarter",
          "semiannual": "Every six months", "yearly": "Every year"}


def _credits(credits: Decimal, rate: Decimal, currency: str, locale: str) -> str:
    """'10 credits (€10.00)': credits and what they cost at the wallet's rate."""
    cost = format_money(to_minor(credits * rate, currency), currency, locale)
    return gettext("{credits} credits ({amount})", locale).format(credits=decimal_str(credits), amount=cost)


def describe_rule(rule, *, rate: Decimal, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """'Every month: 10 credits (€10.00) bought and 5 credits offered.' / 'When your balance after current usage
    falls to 20 credits: topped up to 100 credits.' — `rule` a RecurringTransactionRule (read, not changed)."""
    if rule.trigger == "threshold":
        when = gettext("When your balance after current usage falls to {credits} credits", locale).format(
            credits=decimal_str(rule.threshold_credits or Decimal(0)))
    else:
        when = gettext(_EVERY.get(rule.interval or "", "Regularly"), locale)
    if rule.method == "target":
        key = ("topped up with free credits to {credits} credits" if rule.grants_target_top_up
               else "topped up to {credits} credits")
        what = gettext(key, locale).format(credits=decimal_str(rule.target_ongoing_balance or Decimal(0)))
    else:
        parts = []
        if rule.paid_credits:
            parts.append(gettext("{credits} bought", locale).format(
                credits=_credits(rule.paid_credits, rate, currency, locale)))
        if rule.granted_credits:
            parts.append(gettext("{credits} credits offered", locale).format(
                credits=decimal_str(rule.granted_credits)))
        what = gettext(" and ", locale).join(parts) or gettext("nothing added", locale)
    sentence = f"{when}: {what}."
    if rule.expiration_at is not None:
        sentence += " " + gettext("Until {day}.", locale).format(day=_day(rule.expiration_at))
    return sentence


def _day(moment: datetime) -> str:
    return day_text(moment)
