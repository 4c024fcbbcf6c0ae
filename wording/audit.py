"""What the audit trail and the members and API keys pages say: actions, object types, roles, a change
(`field: before → after`, amounts as money), and the pages' notices and refusals."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation

from billing.money import format_money, format_price, is_currency
from wording.dates import moment_text
from wording.i18n import DEFAULT_LOCALE, N_, babel_locale, gettext

ACTIONS = {
    "customer.created": N_("Customer created"),
    "customer.updated": N_("Customer changed"),
    "customer.billing_details_updated": N_("Billing details corrected by the customer"),
    "plan.created": N_("Plan created"),
    "plan.updated": N_("Plan changed"),
    "plan.deleted": N_("Plan deleted"),
    "plan.features_changed": N_("Features changed"),
    "subscription.created": N_("Subscription created"),
    "subscription.updated": N_("Subscription changed"),
    "subscription.plan_changed": N_("Plan changed before the start"),
    "subscription.upgraded": N_("Upgraded"),
    "subscription.downgrade_scheduled": N_("Downgrade scheduled"),
    "subscription.terminated": N_("Terminated"),
    "subscription.overrides_changed": N_("Plan overrides changed"),
    "subscription.features_changed": N_("Its own feature values changed"),
    "feature.created": N_("Feature created"),
    "feature.updated": N_("Feature changed"),
    "feature.deleted": N_("Feature deleted"),
    "wallet.created": N_("Wallet created"),
    "wallet.updated": N_("Wallet settings changed"),
    "wallet.rules_changed": N_("Top-up rules changed"),
    "wallet.topped_up": N_("Wallet topped up"),
    "wallet.credits_granted": N_("Credits granted"),
    "wallet.terminated": N_("Wallet terminated"),
    "invoice.finalized": N_("Invoice finalized"),
    "invoice.refreshed": N_("Draft invoice refreshed"),
    "invoice.voided": N_("Invoice voided"),
    "invoice.one_off_created": N_("One-off invoice issued"),
    "invoice.credit_note_issued": N_("Credit note issued"),
    "invoice.credit_note_changed": N_("Credit note changed"),
    "invoice.credit_note_voided": N_("Credit note voided"),
    "invoice.metadata_changed": N_("Invoice metadata changed"),
    "invoice.payment_recorded": N_("Payment recorded"),
    "invoice.payment_status_changed": N_("Payment status set by hand"),
    "customer.coupon_applied": N_("Coupon applied"),
    "customer.coupon_removed": N_("Applied coupon removed"),
    "coupon.created": N_("Coupon created"),
    "coupon.updated": N_("Coupon changed"),
    "coupon.deleted": N_("Coupon deleted"),
    "billable_metric.created": N_("Metric created"),
    "billable_metric.updated": N_("Metric changed"),
    "billable_metric.deleted": N_("Metric deleted"),
    "add_on.created": N_("Add-on created"),
    "add_on.updated": N_("Add-on changed"),
    "add_on.deleted": N_("Add-on deleted"),
    "tax.created": N_("Tax created"),
    "tax.updated": N_("Tax changed"),
    "tax.deleted": N_("Tax deleted"),
    "api_key.created": N_("API key created"),
    "api_key.revoked": N_("API key revoked"),
    "member.created": N_("Member added"),
    "member.role_changed": N_("Role changed"),
    "member.deactivated": N_("Member deactivated"),
    "member.reactivated": N_("Member reactivated"),
    "member.password_changed": N_("Password changed by its owner"),
    "organization.bank_details_updated": N_("Bank details changed"),
    "organization.document_locale_updated": N_("Language of documents changed"),
}

OBJECT_TYPES = {
    "customer": N_("Customer"),
    "plan": N_("Plan"), "subscription": N_("Subscription"), "wallet": N_("Wallet"), "invoice": N_("Invoice"),
    "api_key": N_("API key"), "member": N_("Member"), "organization": N_("Organization"), "alert": N_("Alert"),
    "feature": N_("Feature"), "coupon": N_("Coupon"), "billable_metric": N_("Billable metric"),
    "add_on": N_("Add-on"), "tax": N_("Tax"),
}

ACTOR_KINDS = {"account_manager": N_("Account manager"), "api_key": N_("API key"), "customer": N_("Customer (portal)"),
               "system": N_("System")}

ROLES = {"admin": N_("Admin"), "manager": N_("Manager"), "finance": N_("Finance")}

NOTICES = {
    "member_invited": N_("{email} can sign in now with the temporary password below."),
    "role_changed": N_("{email} is now {role}."),
    "member_deactivated": N_("{email} is deactivated: their sessions have ended."),
    "member_reactivated": N_("{email} can sign in again."),
    "password_changed": N_("Your password is changed. Your other sessions have ended; this one goes on."),
    "key_created": N_("API key {prefix}… created."),
    "key_rotated": N_("API key {prefix}… created; the other keys stop working {when}."),
    "key_revoked": N_("API key {prefix}… revoked: requests with it are refused within 10 seconds."),
}

REFUSALS = {
    "too_many_password_attempts": N_("Too many attempts; try again in {wait}."),
    "last_active_admin": N_("Refused: {email} is the last active admin. Make someone else an admin first, or "
                            "no one could manage members and API keys any more."),
}

# Prices inside a charge's properties: unit prices in major units (Decimal text), not minor units.
PRICE_FIELDS = frozenset({"amount", "flat_amount", "per_unit_amount", "fixed_amount", "rate_amount",
                          "per_transaction_max_amount", "per_transaction_min_amount"})


def action(code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    text = ACTIONS.get(code)
    return gettext(text, locale) if text else code.replace("_", " ").replace(".", ": ")


def object_type(code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    text = OBJECT_TYPES.get(code)
    return gettext(text, locale) if text else code.replace("_", " ")


def actor_kind(code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext(ACTOR_KINDS.get(code, code), locale)


def role(code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext(ROLES.get(code, code), locale)


def notice(code: str, locale: str | None = DEFAULT_LOCALE, **values: object) -> str:
    return gettext(NOTICES[code], locale).format(**values)


def refusal(code: str, locale: str | None = DEFAULT_LOCALE, **values: object) -> str:
    return gettext(REFUSALS[code], locale).format(**values)


def too_many_password_attempts(minutes: int) -> str:
    """Why My account's password form is refused for now (the admin speaks English: the plural is English's)."""
    return refusal("too_many_password_attempts", wait=f"{minutes} minute{'' if minutes == 1 else 's'}")


def field_label(field: str) -> str:
    """A dotted field as a path in words: `charges.api_calls.properties.amount` → `charges › api_calls › amount`."""
    parts = [part for part in field.split(".") if part != "properties"]
    return " › ".join(part.replace("_cents", "").replace("_", " ") if i == len(parts) - 1 else part
                      for i, part in enumerate(parts))


def value_text(field: str, value: object, currency: str | None, locale: str | None = DEFAULT_LOCALE) -> str:
    """One side of a change: amounts in minor units and prices as money, dates readable, nothing as —."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    last = field.rsplit(".", 1)[-1]
    money = currency if currency and is_currency(currency) else None
    if money and last.endswith("_cents") and isinstance(value, int) and not isinstance(value, bool):
        return format_money(value, money, babel_locale(locale))
    if money and last in PRICE_FIELDS:
        try:
            return format_price(Decimal(str(value)), money, babel_locale(locale))
        except InvalidOperation:
            pass
    if isinstance(value, bool):
        return gettext(N_("yes") if value else N_("no"), locale)
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return moment_text(datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
        # Tiers and packages (graduated ranges...): one line each, their prices as money.
        return "; ".join(", ".join(f"{key.replace('_', ' ')} {value_text(key, item_value, currency, locale)}"
                                   for key, item_value in item.items()) for item in value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return str(value)


def change_lines(changes: Mapping[str, list], currency: str | None, locale: str | None = DEFAULT_LOCALE
                 ) -> list[tuple[str, str, str]]:
    """An entry's changes as (field, before, after) in words."""
    return [(field_label(field), value_text(field, old, currency, locale), value_text(field, new, currency, locale))
            for field, (old, new) in changes.items()]
