"""Settings › Invoices' form (flask-wtf adds and checks its CSRF token); billing.organizations.bank_details
validates the values and its reasons are shown next to each field."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from billing.i18n import LANGUAGES


class BankDetailsForm(FlaskForm):
    account_holder = StringField("Account holder")
    iban = StringField("IBAN")
    bic = StringField("BIC (SWIFT code)")
    bank_name = StringField("Bank")
    payment_instructions = TextAreaField("Payment instructions")

    def values(self) -> dict[str, str]:
        return {name: self[name].data or "" for name in ("account_holder", "iban", "bic", "bank_name",
                                                          "payment_instructions")}


class DocumentLanguageForm(FlaskForm):
    """The organization's default language of documents: one of the languages Tally ships."""

    document_locale = SelectField("Language of documents", validate_choice=False,
                                  choices=[SelectChoice(code, name) for code, name in LANGUAGES.items()])
