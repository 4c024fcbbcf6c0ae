"""A credit note's states and reasons in words (admin pages, lists; Lago's codes stay in the API)."""

from __future__ import annotations

from wording.i18n import DEFAULT_LOCALE, N_, gettext

# What is left of its credit (Lago's credit_status).
CREDIT_STATUSES = {"available": N_("Available"), "consumed": N_("Used"), "voided": N_("Voided")}
# Where its refund is (Lago's refund_status): asked of the payment provider, done, or refused by it.
REFUND_STATUSES = {"pending": N_("Refund pending"), "succeeded": N_("Refunded"), "failed": N_("Refund failed")}
REASONS = {"duplicated_charge": N_("Duplicated charge"), "product_unsatisfactory": N_("Product unsatisfactory"),
           "order_change": N_("Order change"), "order_cancellation": N_("Order cancellation"),
           "fraudulent_charge": N_("Fraudulent charge"), "other": N_("Other")}


def _words(table: dict[str, str], code: str | None, locale: str) -> str:
    if not code:
        return ""
    text = table.get(code)
    return gettext(text, locale) if text else code.replace("_", " ").capitalize()


def credit_status(code: str | None, locale: str | None = DEFAULT_LOCALE) -> str:
    return _words(CREDIT_STATUSES, code, locale)


def refund_status(code: str | None, locale: str | None = DEFAULT_LOCALE) -> str:
    return _words(REFUND_STATUSES, code, locale)


def reason(code: str | None, locale: str | None = DEFAULT_LOCALE) -> str:
    return _words(REASONS, code, locale)
