"""Settings › Invoices: the bank details every invoice PDF prints under "How to pay" and the default language of the
customers' documents. Reads and writes go through billing.organizations.bank_details and .language; each form is a
block of the page that its htmx post swaps back."""

from __future__ import annotations

from typing import Any

from flask import flash, get_flashed_messages, url_for
from flask.typing import ResponseReturnValue

from admin.blueprint import admin_blueprint, organization_id
from admin.invoice_settings_forms import BankDetailsForm, DocumentLanguageForm
from billing.errors import ValidationFailed
from billing.organizations import bank_details, language
from web.htmx import is_htmx_request, render_page
from web.responses import refused_status, saved
from wording import invoice_settings as words

PAGE = "admin/invoice_settings.html"


def _form_for(details: bank_details.BankDetails) -> BankDetailsForm:
    return BankDetailsForm(formdata=None, data={
        "account_holder": details.account_holder, "iban": details.iban_grouped, "bic": details.bic,
        "bank_name": details.bank_name, "payment_instructions": details.payment_instructions})


def _language_form(document_locale: str) -> DocumentLanguageForm:
    return DocumentLanguageForm(formdata=None, data={"document_locale": document_locale})


def _context(details: bank_details.BankDetails, **overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = {"details": details, "form": _form_for(details), "errors": {}, "notice": None,
                               "flashed": [], "language_errors": {}, "language_notice": None}
    if "language_form" not in overrides:
        context["language_form"] = _language_form(language.read_document_locale(organization_id=organization_id()))
    context.update(overrides)
    return context


@admin_blueprint.get("/settings/invoices")
def settings_invoices() -> ResponseReturnValue:
    details = bank_details.read_bank_details(organization_id=organization_id())
    return render_page(PAGE, "content", **_context(details, flashed=get_flashed_messages()))


@admin_blueprint.post("/settings/invoices/bank-details")
def settings_invoices_bank_details() -> ResponseReturnValue:
    form = BankDetailsForm()
    current = bank_details.read_bank_details(organization_id=organization_id())
    if not form.validate_on_submit():
        errors = {field: list(messages) for field, messages in form.errors.items() if field != "csrf_token"}
        return render_page(PAGE, "bank_panel", status=refused_status(), **_context(current, form=form, errors=errors))
    try:
        details = bank_details.update_bank_details(organization_id=organization_id(), data=form.values())
    except ValidationFailed as failed:
        return render_page(PAGE, "bank_panel", status=refused_status(),
                           **_context(current, form=form, errors=words.bank_detail_errors(failed.details)))
    notice = words.notice("bank_details_saved" if details.any else "bank_details_cleared")
    if not is_htmx_request():
        flash(notice)
        return saved(url_for("admin.settings_invoices"))
    return render_page(PAGE, "bank_panel", **_context(details, notice=notice))


@admin_blueprint.post("/settings/invoices/language")
def settings_invoices_language() -> ResponseReturnValue:
    form = DocumentLanguageForm()
    current = bank_details.read_bank_details(organization_id=organization_id())
    if not form.validate_on_submit():
        errors = {field: list(messages) for field, messages in form.errors.items() if field != "csrf_token"}
        return render_page(PAGE, "language_panel", status=refused_status(),
                           **_context(current, language_form=form, language_errors=errors))
    try:
        chosen = language.update_document_locale(organization_id=organization_id(),
                                                 document_locale=form.document_locale.data)
    except ValidationFailed:
        return render_page(PAGE, "language_panel", status=refused_status(),
                           **_context(current, language_form=form,
                                      language_errors={"document_locale": [words.language_refused()]}))
    notice = words.language_saved(chosen)
    if not is_htmx_request():
        flash(notice)
        return saved(url_for("admin.settings_invoices"))
    return render_page(PAGE, "language_panel", **_context(current, language_form=_language_form(chosen),
                                                          language_notice=notice))
