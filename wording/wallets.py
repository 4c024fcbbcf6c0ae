"""A wallet's recurring top-up rules and its movements in plain words, for the customer (the portal's Wallet page)
and for account managers (the admin's customer page)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from billing.money import decimal_str, format_money, to_minor
from wording.dates import day_text
from wording.i18n import DEFAULT_LOCALE, N_, babel_locale, gettext

_EVERY = {"weekly": N_("Every week"), "monthly": N_("Every month"), "quarterly": N_("Every quarter"),
          "semiannual": N_("Every six months"), "yearly": N_("Every year")}


def _credits(credits: Decimal, rate: Decimal, currency: str, locale: str) -> str:
    """'10 credits (€10.00)': credits and what they cost at the wallet's rate."""
    cost = format_money(to_minor(credits * rate, currency), currency, babel_locale(locale))
    return gettext("{credits} credits ({amount})", locale).format(credits=decimal_str(credits), amount=cost)


# What a wallet transaction did (its transaction_status), as the account manager says it.
MOVEMENTS = {"purchased": N_("Purchased"), "granted": N_("Granted"), "invoiced": N_("Used on an invoice"),
             "voided": N_("Voided")}
RULE_STATUSES = {"active": N_("active"), "terminated": N_("ended")}


def movement(transaction_status: str, locale: str | None = DEFAULT_LOCALE) -> str:
    text = MOVEMENTS.get(transaction_status)
    return gettext(text, locale) if text else transaction_status.replace("_", " ")


def describe_rule(rule, *, rate: Decimal, currency: str, for_customer: bool = True,
                  locale: str | None = DEFAULT_LOCALE) -> str:
    """'Every month: 10 credits (€10.00) bought and 5 credits offered.' / 'When your balance after current usage
    falls to 20 credits: topped up to 100 credits.' — `rule` a RecurringTransactionRule (read, not changed).
    For the account manager (`for_customer=False`): "the ongoing balance", the top-up limits it ignores, and an
    ended rule said to be so."""
    if rule.trigger == "threshold":
        key = (N_("When your balance after current usage falls to {credits} credits") if for_customer
               else N_("When the ongoing balance falls to {credits} credits"))
        when = gettext(key, locale).format(credits=decimal_str(rule.threshold_credits or Decimal(0)))
    else:
        when = gettext(_EVERY.get(rule.interval or "", N_("Regularly")), locale)
    if rule.method == "target":
        key = (N_("topped up with free credits to {credits} credits") if rule.grants_target_top_up
               else N_("topped up to {credits} credits"))
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
    if not for_customer:
        if rule.ignore_paid_top_up_limits:
            sentence += " " + gettext("Ignores the top-up limits.", locale)
        if rule.status != "active":
            status = RULE_STATUSES.get(rule.status)
            sentence += " " + gettext("({status})", locale).format(
                status=gettext(status, locale) if status else rule.status)
    return sentence


def _day(moment: datetime) -> str:
    return day_text(moment)
