"""Dunning: the campaigns (list, editor with inline reasons and a live preview of the reminder, set as default,
delete with confirmation, the customers each applies to) and the customer page's Dunning section (the campaign in
use, a form to pick one or exclude the customer, the attempts so far)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from admin.blueprint import admin_blueprint, organization_id, requested_page
from admin.customer_views import render_customer
from admin.dunning_campaigns import CampaignForm
from billing.customers.services import upsert_customer
from billing.dunning import campaigns
from billing.dunning.reminders import PLACEHOLDERS, render_reminder, sample_context, unknown_placeholders
from billing.errors import ValidationFailed
from billing.screens import catalog
from billing.screens import dunning as dunning_screens
from web.htmx import render_page
from web.responses import refused_status, saved
from wording import dunning as words

CAMPAIGNS_PAGE = "admin/dunning_campaigns.html"
CAMPAIGN_FORM_PAGE = "admin/dunning_campaign_form.html"
CAMPAIGN_DELETE_PAGE = "admin/dunning_campaign_delete.html"
CAMPAIGN_CUSTOMERS_PAGE = "admin/dunning_campaign_customers.html"


@admin_blueprint.get("/dunning")
def dunning_campaign_list() -> ResponseReturnValue:
    rows = campaigns.list_campaigns(organization_id=organization_id())
    return render_template(CAMPAIGNS_PAGE, rows=rows)


def _preview(form: CampaignForm) -> dict:
    """The reminder as a customer would read it, filled with sample values; the unknown placeholders named."""
    currency = next((c for c, _ in form.thresholds if c), "") or catalog.default_currency(
        organization_id=organization_id())
    try:
        context = sample_context(organization_name=dunning_screens.organization_name(
            organization_id=organization_id()), currency=currency)
        reminder = render_reminder(form.reminder_subject, form.reminder_message, context)
    except (ValueError, KeyError, LookupError):  # a currency babel does not know: sample in the default one
        context = sample_context(organization_name=dunning_screens.organization_name(
            organization_id=organization_id()))
        reminder = render_reminder(form.reminder_subject, form.reminder_message, context)
    unknown = unknown_placeholders(form.reminder_subject) + unknown_placeholders(form.reminder_message)
    return {"reminder": reminder, "unknown": words.unknown_placeholders(list(dict.fromkeys(unknown)), PLACEHOLDERS)
            if unknown else None, "placeholders": PLACEHOLDERS}


def _render_form(form: CampaignForm, campaign, errors: dict[str, list[str]]) -> ResponseReturnValue:
    return render_page(CAMPAIGN_FORM_PAGE, "campaign_form", status=refused_status() if errors else 200, form=form,
                       campaign=campaign, errors=errors, **_preview(form))


def _save(form: CampaignForm, campaign_id: str | None):
    data, errors = form.service_data()
    try:
        if campaign_id is None:
            saved_campaign = campaigns.create_campaign(organization_id=organization_id(), data=data)
        else:
            saved_campaign = campaigns.update_campaign(organization_id=organization_id(), campaign_id=campaign_id,
                                                       data=data)
    except ValidationFailed as failed:
        return None, {**_reasons(form, failed.details), **errors}
    if errors:  # the service took it, but an amount typed was not one: should not happen (sent as 0), refuse
        return None, errors
    return saved_campaign, {}


@admin_blueprint.route("/dunning/new", methods=["GET", "POST"])
def dunning_campaign_new() -> ResponseReturnValue:
    if request.method == "GET":
        form = CampaignForm.blank(catalog.default_currency(organization_id=organization_id()))
        return _render_form(form, None, {})
    form = CampaignForm.read(request.form)
    _, typed_errors = form.service_data()
    if typed_errors:  # nothing is saved with an amount that is not one; the service still reports the rest
        return _render_form(form, None, {**_check_only(form), **typed_errors})
    created, errors = _save(form, None)
    if created is None:
        return _render_form(form, None, errors)
    flash(words.dunning_notice("campaign_created", name=created.name))
    return saved(url_for("admin.dunning_campaign_list"))


def _check_only(form: CampaignForm, campaign_id: str | None = None) -> dict[str, list[str]]:
    """The service's reasons for the form, without saving it (an amount typed was refused here)."""
    data, _ = form.service_data()
    details = campaigns.validate_campaign(organization_id=organization_id(), campaign_id=campaign_id, data=data)
    return _reasons(form, details)


def _reasons(form: CampaignForm, details: dict) -> dict[str, list[str]]:
    """The service's reasons in words; an unknown placeholder is named, with the ones that may be used."""
    errors = words.dunning_errors(details)
    for name in ("reminder_subject", "reminder_message"):
        unknown = unknown_placeholders(getattr(form, name))
        if unknown and name in errors:
            errors[name] = [words.unknown_placeholders(unknown, PLACEHOLDERS)]
    return errors


@admin_blueprint.route("/dunning/<campaign_id>/edit", methods=["GET", "POST"])
def dunning_campaign_edit(campaign_id: str) -> ResponseReturnValue:
    campaign = campaigns.get_campaign(organization_id=organization_id(), campaign_id=campaign_id)
    if request.method == "GET":
        return _render_form(CampaignForm.of(campaign), campaign, {})
    form = CampaignForm.read(request.form)
    _, typed_errors = form.service_data()
    if typed_errors:
        return _render_form(form, campaign, {**_check_only(form, campaign_id), **typed_errors})
    before = CampaignForm.of(campaign)
    updated, errors = _save(form, campaign_id)
    if updated is None:
        return _render_form(form, campaign, errors)
    after = CampaignForm.of(updated)
    rules = ("max_attempts", "days_between_attempts", "thresholds", "applied_to_organization")
    restarted = any(getattr(before, r) != getattr(after, r) for r in rules)
    flash(words.dunning_notice("campaign_saved_restarted" if restarted else "campaign_saved", name=updated.name))
    return saved(url_for("admin.dunning_campaign_list"))


@admin_blueprint.post("/dunning/preview")
def dunning_campaign_preview() -> ResponseReturnValue:
    """The reminder typed so far, filled with sample values (the editor's live preview)."""
    form = CampaignForm.read(request.form)
    return render_page(CAMPAIGN_FORM_PAGE, "preview", **_preview(form))


@admin_blueprint.post("/dunning/<campaign_id>/default")
def dunning_campaign_default(campaign_id: str) -> ResponseReturnValue:
    made = campaigns.update_campaign(organization_id=organization_id(), campaign_id=campaign_id,
                                     data={"applied_to_organization": True})
    flash(words.dunning_notice("campaign_made_default", name=made.name))
    return redirect(url_for("admin.dunning_campaign_list"), code=303)


@admin_blueprint.route("/dunning/<campaign_id>/delete", methods=["GET", "POST"])
def dunning_campaign_delete(campaign_id: str) -> ResponseReturnValue:
    """GET asks for confirmation (how many customers it chases); POST deletes."""
    campaign = campaigns.get_campaign(organization_id=organization_id(), campaign_id=campaign_id)
    if request.method == "POST":
        campaigns.delete_campaign(organization_id=organization_id(), campaign_id=campaign_id)
        flash(words.dunning_notice("campaign_deleted", name=campaign.name))
        return redirect(url_for("admin.dunning_campaign_list"), code=303)
    count = campaigns.campaign_customers(organization_id=organization_id(), campaign_id=campaign_id,
                                         per_page=1).total_count
    return render_template(CAMPAIGN_DELETE_PAGE, campaign=campaign, customers_count=count)


@admin_blueprint.get("/dunning/<campaign_id>/customers")
def dunning_campaign_customers(campaign_id: str) -> ResponseReturnValue:
    campaign = campaigns.get_campaign(organization_id=organization_id(), campaign_id=campaign_id)
    page = campaigns.campaign_customers(organization_id=organization_id(), campaign_id=campaign_id,
                                        page=requested_page())
    return render_page(CAMPAIGN_CUSTOMERS_PAGE, "results", campaign=campaign, customers=page)


# -- The customer page's Dunning section ---------------------------------------------------------------------------


@admin_blueprint.get("/customers/<customer_id>/dunning")
def customer_dunning(customer_id: str) -> ResponseReturnValue:
    return render_customer(customer_id, "dunning")


@admin_blueprint.post("/customers/<customer_id>/dunning")
def customer_dunning_save(customer_id: str) -> ResponseReturnValue:
    """Put the customer on a campaign of its own, back on the default, or exclude it (as the API's fields do)."""
    current = dunning_screens.customer_dunning(organization_id=organization_id(), customer_id=customer_id)
    choice = (request.form.get("campaign") or "").strip()[:255]
    if choice == "__exclude__":
        data = {"exclude_from_dunning_campaign": True}
    else:
        data = {"applied_dunning_campaign_code": choice or None, "exclude_from_dunning_campaign": False}
    unchanged = (current.excluded and choice == "__exclude__") or (
        not current.excluded and (current.own_code or "") == choice)
    if unchanged:
        notice = words.dunning_notice("customer_dunning_unchanged")
        return render_customer(customer_id, "dunning", dunning_notice=notice)
    try:
        upsert_customer(organization_id=organization_id(), data={"external_id": current.external_id, **data})
    except ValidationFailed as failed:
        message = next(m for messages in words.dunning_errors(failed.details).values() for m in messages)
        return render_customer(customer_id, "dunning", status=refused_status(), dunning_error=message)
    return render_customer(customer_id, "dunning", dunning_notice=words.dunning_notice("customer_dunning_saved"))
