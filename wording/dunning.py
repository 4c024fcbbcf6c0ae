"""What the admin says about dunning: the campaign form's reasons by field, notices, how a customer is chased,
and the statuses of the attempts' payment requests and emails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from wording.i18n import DEFAULT_LOCALE, N_, gettext
from wording.reasons import reason

FIELD_REASONS = {
    ("code", "value_is_mandatory"): N_("Required: the code the API and customers name it by (e.g. standard)"),
    ("code", "value_already_exist"): N_("Another campaign of this organization already has this code"),
    ("name", "value_is_mandatory"): N_("Required"),
    ("max_attempts", "value_is_mandatory"): N_("Required: how many reminders at most (1 to 20)"),
    ("max_attempts", "value_is_out_of_range"): N_("From 1 to 20 attempts"),
    ("max_attempts", "invalid_type"): N_("A whole number from 1 to 20"),
    ("days_between_attempts", "value_is_mandatory"): N_("Required: days between two attempts (1 to 365)"),
    ("days_between_attempts", "value_is_out_of_range"): N_("From 1 to 365 days"),
    ("days_between_attempts", "invalid_type"): N_("A whole number of days from 1 to 365"),
    ("thresholds", "value_is_mandatory"): N_("At least one currency, with the overdue amount from which to start"),
    ("currency", "value_is_invalid"): N_("A currency code such as EUR or USD"),
    ("currency", "value_is_mandatory"): N_("Required with an amount"),
    ("currency", "value_already_exist"): N_("This currency is already listed"),
    ("amount", "value_is_mandatory"): N_("Required: 0 starts with the first overdue cent"),
    ("amount", "value_is_out_of_range"): N_("An amount of 0 or more"),
    ("amount", "not_a_number"): N_("Not an amount"),
    ("amount", "too_many_decimals"): N_("More decimals than the currency has"),
    ("bcc_emails", "invalid_email_format"): N_("One or more is not an email address"),
    ("bcc_emails", "too_many_emails"): N_("At most 5 addresses"),
    ("reminder_subject", "value_is_mandatory"): N_("Required"),
    ("reminder_subject", "value_is_too_long"): N_("At most 255 characters"),
    ("reminder_subject", "value_is_invalid"): N_("One line only"),
    ("reminder_message", "value_is_mandatory"): N_("Required"),
    ("reminder_message", "value_is_too_long"): N_("At most 5,000 characters"),
    ("applied_dunning_campaign_code", "dunning_campaign_not_found"): N_("This campaign no longer exists"),
}
UNKNOWN_PLACEHOLDERS = N_("Unknown placeholder: {names}. Use {known}.")

NOTICES = {
    "campaign_created": N_("Campaign “{name}” created."),
    "campaign_saved": N_("Campaign “{name}” saved."),
    "campaign_saved_restarted": N_("Campaign “{name}” saved: its customers' attempts start again from the first."),
    "campaign_deleted": N_("Campaign “{name}” deleted: its customers are back on the default campaign."),
    "campaign_made_default": N_("“{name}” is now the default campaign."),
    "customer_dunning_saved": N_("Dunning saved: the customer's attempts start again from the first."),
    "customer_dunning_unchanged": N_("Nothing changed."),
}

MODES = {
    "own": N_("its own campaign"),
    "default": N_("the organization's default campaign"),
    "excluded": N_("excluded from dunning: never reminded"),
    "none": N_("no campaign: there is no default campaign"),
}

REQUEST_STATUSES = {"pending": N_("awaiting payment"), "succeeded": N_("paid"), "failed": N_("payment failed")}
EMAIL_STATUSES = {"pending": N_("email queued"), "sending": N_("email sending"), "sent": N_("email sent"),
                  "failed": N_("email failed")}


def dunning_reason(field: str, code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    text = FIELD_REASONS.get((field, code))
    return gettext(text, locale) if text else reason(field, code, locale)


def unknown_placeholders(names: Sequence[str], known: Sequence[str], locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext(UNKNOWN_PLACEHOLDERS, locale).format(
        names=", ".join(f"{{{n}}}" for n in names), known=", ".join(f"{{{k}}}" for k in known))


def dunning_errors(details: Mapping[str, object], locale: str | None = DEFAULT_LOCALE) -> dict[str, list[str]]:
    """ValidationFailed details as field -> sentences; a threshold's `thresholds.N.x` stays on its row
    (`thresholds.N.currency`, `thresholds.N.amount`)."""
    errors: dict[str, list[str]] = {}
    for field, codes in details.items():
        codes = codes if isinstance(codes, list | tuple) else [codes]
        name = field.replace("amount_cents", "amount")
        leaf = name.rsplit(".", 1)[-1] if name.startswith("thresholds.") else name
        errors.setdefault(name, []).extend(dunning_reason(leaf, str(code), locale) for code in codes)
    return errors


def dunning_notice(code: str, locale: str | None = DEFAULT_LOCALE, **values: object) -> str:
    text = gettext(NOTICES[code], locale)
    return text.format(**values) if values else text


def dunning_mode(mode: str, locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext(MODES[mode], locale)


def request_status(status: str | None, locale: str | None = DEFAULT_LOCALE) -> str:
    text = REQUEST_STATUSES.get(status or "")
    return gettext(text, locale) if text else (status or "—")


def email_status(status: str | None, locale: str | None = DEFAULT_LOCALE) -> str:
    text = EMAIL_STATUSES.get(status or "")
    return gettext(text, locale) if text else gettext(N_("no email"), locale)
