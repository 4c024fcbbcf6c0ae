"""What the admin says about a customer's subscriptions: the notices after assigning, changing, terminating
or overriding one, the termination choices, and what an override changes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from billing.money import decimal_str, format_money
from wording.i18n import DEFAULT_LOCALE, N_, babel_locale, gettext, ngettext

# NOTE: Lago's termination choices for an advance fee's unused days (docs/billing.md, Termination credit notes).
# (choice, label, what it does)
CREDIT_NOTE_CHOICES = (
    ("credit", N_("Credit them"), N_("a credit balance the customer's next invoices use")),
    ("refund", N_("Refund them"), N_("what was paid for them is refunded; the rest is credited")),
    ("offset", N_("Take them off what is owed"), N_("the invoice owes that much less; the rest is credited")),
    ("skip", N_("Nothing"), N_("no credit note")),
)

# The lines of an override's difference from the catalog plan (a charge's line is named by the charge).
FEE_LINE = N_("Subscription fee")
TRIAL_LINE = N_("Free trial")


def day(value: date, locale: str | None = DEFAULT_LOCALE) -> str:
    """A day in a notice: "6 Dec 2026"."""
    return f"{value.day} {value:%b %Y}"


def trial_days(days: Decimal | None, locale: str | None = DEFAULT_LOCALE) -> str:
    """A free trial's length: "none", "1 day", "14 days"."""
    if not days:
        return gettext("none", locale)
    return ngettext("{number} day", "{number} days", days, locale).format(number=decimal_str(days))


def subscribed(*, plan: str, external_id: str, starts: date | None, locale: str | None = DEFAULT_LOCALE) -> str:
    if starts is None:
        return gettext("Subscribed to {plan} ({external_id}): it starts now.", locale).format(
            plan=plan, external_id=external_id)
    return gettext("Subscribed to {plan} ({external_id}) from {day}: pending until then.", locale).format(
        plan=plan, external_id=external_id, day=day(starts, locale))


def upgraded(*, plan: str, previous: str, locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext("Upgraded to {plan}: it starts now, and {previous} was billed up to now.", locale).format(
        plan=plan, previous=previous)


def pending_plan_changed(*, plan: str, locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext("Now on {plan}, from its start.", locale).format(plan=plan)


def downgrade_scheduled(*, plan: str, previous: str, on: date | None, locale: str | None = DEFAULT_LOCALE) -> str:
    when = day(on, locale) if on else gettext("the end of the period", locale)
    return gettext("Downgrade to {plan} scheduled for {when}: {previous} stays until then.", locale).format(
        plan=plan, when=when, previous=previous)


def canceled_before_start(*, external_id: str, locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext("{external_id} was canceled before it started: nothing is billed.", locale).format(
        external_id=external_id)


def terminated(*, external_id: str, locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext("{external_id} is terminated.", locale).format(external_id=external_id)


def no_credit_note_yet(locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext("No credit note now: no paid day left unused, or the fee's invoice is still a draft"
                   " (then when it is finalized).", locale)


def no_final_invoice(locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext("No final invoice, as asked.", locale)


def credit_note_sentence(note, locale: str | None = DEFAULT_LOCALE) -> str:
    """What a termination's credit note gives back, in words."""
    parts = []
    if note.credit_amount_cents:
        parts.append(gettext("{amount} credited", locale).format(
            amount=format_money(note.credit_amount_cents, note.currency, babel_locale(locale))))
    if note.refund_amount_cents:
        parts.append(gettext("{amount} to refund", locale).format(
            amount=format_money(note.refund_amount_cents, note.currency, babel_locale(locale))))
    if note.offset_amount_cents:
        parts.append(gettext("{amount} off what the invoice owes", locale).format(
            amount=format_money(note.offset_amount_cents, note.currency, babel_locale(locale))))
    return gettext("Credit note {number} for the unused days: {parts}.", locale).format(
        number=note.number, parts=gettext(" and ", locale).join(parts))


def prices_saved(*, external_id: str, changes: Iterable[tuple[str, str, str]],
                 locale: str | None = DEFAULT_LOCALE) -> str:
    """The notice after saving a subscription's overrides: each (what, before, after) it changes."""
    changed = gettext("; ", locale).join(f"{label} {before} → {after}" for label, before, after in changes)
    return gettext("Prices of {external_id} saved: {changes}.", locale).format(
        external_id=external_id, changes=changed or gettext("the same as the plan's", locale))
