"""What Settings › Invoices says: why a bank detail was refused and what was saved
(billing.organizations.bank_details)."""

from __future__ import annotations

from collections.abc import Mapping

from billing.i18n import LANGUAGES
from wording.i18n import DEFAULT_LOCALE, N_, gettext
from wording.reasons import reason

FIELD_REASONS = {
    ("iban", "invalid_format"): N_("Not an IBAN: two letters for the country, two check digits, then the account "
                                   "(e.g. DE89 3704 0044 0532 0130 00)"),
    ("iban", "unknown_country"): N_("No country issues IBANs starting with these two letters"),
    ("iban", "wrong_length"): N_("Not the length of this country's IBANs: a character is missing or extra"),
    ("iban", "invalid_checksum"): N_("The check digits do not match: a character is mistyped"),
    ("bic", "invalid_format"): N_("Not a BIC: 8 or 11 letters and digits, e.g. DEUTDEFF or DEUTDEFF500"),
    ("account_holder", "value_is_mandatory"): N_("Required with an IBAN: the name the account is in"),
    ("account_holder", "value_is_too_long"): N_("At most 255 characters"),
    ("bank_name", "value_is_too_long"): N_("At most 255 characters"),
    ("payment_instructions", "value_is_too_long"): N_("At most 1,000 characters"),
}

NOTICES = {
    "bank_details_saved": N_("Bank details saved: every invoice PDF with something due shows them from its next "
                             "download."),
    "bank_details_cleared": N_("Bank details removed: invoice PDFs no longer offer a bank transfer."),
}


def bank_detail_errors(details: Mapping[str, object], locale: str | None = DEFAULT_LOCALE) -> dict[str, list[str]]:
    """ValidationFailed details of `update_bank_details` as field -> sentences."""
    errors: dict[str, list[str]] = {}
    for field, codes in details.items():
        codes = codes if isinstance(codes, list | tuple) else [codes]
        errors[field] = [gettext(FIELD_REASONS[(field, str(code))], locale) if (field, str(code)) in FIELD_REASONS
                         else reason(field, str(code), locale) for code in codes]
    return errors


def notice(code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext(NOTICES[code], locale)


def language_saved(code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """The organization's language of documents was chosen."""
    return gettext("Documents are now in {language} for every customer without a language of their own.",
                   locale).format(language=LANGUAGES.get(code, code))


def language_refused(locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext("Choose one of the languages listed.", locale)
