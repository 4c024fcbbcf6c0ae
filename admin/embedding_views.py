"""Settings › Embedding: the origins allowed to frame the widgets and the portal, the accent colour (with a live
preview of both themes), the logo, and how a host product embeds the widgets. Every read and write goes through
billing.embedding.services; each panel is a block of one template that its htmx form swaps back."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, get_flashed_messages, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from admin.blueprint import admin_blueprint, organization_id
from admin.embedding_forms import AccentForm, LogoForm, OriginsForm, RemoveLogoForm
from billing.embedding import branding
from billing.embedding import origins as frame_origins
from billing.embedding import services as embedding
from billing.errors import NotFound, ValidationFailed
from billing.ports import runtime
from web.htmx import is_htmx_request, render_page
from web.responses import refused_status, saved
from wording import embedding as words

PAGE = "admin/embedding.html"


def _context(settings: embedding.EmbedSettingsView, **overrides: Any) -> dict[str, Any]:
    """What every panel of the page shows, from the saved settings; `overrides` are a refused or saved form's."""
    context: dict[str, Any] = {
        "settings": settings,
        "origins_form": OriginsForm(formdata=None, data={"frame_ancestors": "\n".join(settings.own_frame_ancestors)}),
        "origin_errors": {}, "origin_refusals": [], "origins_notice": None,
        "accent_form": AccentForm(formdata=None, data={
            "accent_color": settings.accent_color or "",
            "accent_picker": settings.accent_color or branding.DEFAULT_ACCENT}),
        "accent_errors": {}, "accent_notice": None,
        "logo_form": LogoForm(formdata=None), "remove_logo_form": RemoveLogoForm(formdata=None),
        "logo_errors": {}, "logo_notice": None,
        "flashed": [],
    }
    context.update(overrides)
    context.update(_frame_facts(settings))
    context.update(_preview(context["accent_form"].accent_color.data or ""))
    context.update(words=words, base_url=runtime.base_url, script_url=embedding.script_url(),
                   widgets=embedding.WIDGETS, default_accent=branding.DEFAULT_ACCENT,
                   max_logo_kb=branding.MAX_LOGO_BYTES // 1024)
    return context


def _frame_facts(settings: embedding.EmbedSettingsView) -> dict[str, Any]:
    return {"frame_ancestors_value": frame_origins.frame_ancestors(settings.frame_ancestors),
            "insecure_origins": embedding.insecure_origins(settings.frame_ancestors)}


def _preview(text: str) -> dict[str, Any]:
    """The light and dark accent the widgets would use for the colour typed (the default when blank)."""
    text = text.strip()
    try:
        color = branding.parse_color(text) if text else None
    except branding.InvalidColor:
        return {"preview_color": None, "preview_checks": None, "preview_invalid": text}
    return {"preview_color": color, "preview_checks": embedding.accent_checks(color), "preview_invalid": None}


def _settings() -> embedding.EmbedSettingsView:
    return embedding.embed_settings(organization_id=organization_id())


def _refused(block: str, settings: embedding.EmbedSettingsView, **overrides: Any) -> ResponseReturnValue:
    return render_page(PAGE, block, status=refused_status(), **_context(settings, **overrides))


def _saved(block: str, settings: embedding.EmbedSettingsView, notice: str, **overrides: Any) -> ResponseReturnValue:
    """htmx gets its panel back with the notice in it; a plain post goes back to the page (303), notice flashed."""
    if not is_htmx_request():
        flash(notice)
        return saved(url_for("admin.embedding_settings"))
    return render_page(PAGE, block, **_context(settings, **overrides))


def _form_errors(form) -> dict[str, list[str]]:
    return {field: list(messages) for field, messages in form.errors.items() if field != "csrf_token"}


@admin_blueprint.get("/settings/embedding")
def embedding_settings() -> ResponseReturnValue:
    return render_page(PAGE, "content", **_context(_settings(), flashed=get_flashed_messages()))


@admin_blueprint.post("/settings/embedding/origins")
def embedding_origins() -> ResponseReturnValue:
    form = OriginsForm()
    if not form.validate_on_submit():
        return _refused("origins_panel", _settings(), origins_form=form, origin_errors=_form_errors(form))
    text = form.frame_ancestors.data or ""
    try:
        settings = embedding.update_embed_settings(organization_id=organization_id(), data={"frame_ancestors": text})
    except ValidationFailed as failed:
        return _refused("origins_panel", _settings(), origins_form=form,
                        origin_errors=words.embedding_errors(failed.details),
                        origin_refusals=embedding.origin_refusals(text))
    notice = words.notice("origins_saved")
    return _saved("origins_panel", settings, notice, origins_notice=notice)


@admin_blueprint.post("/settings/embedding/accent")
def embedding_accent() -> ResponseReturnValue:
    form = AccentForm()
    if not form.validate_on_submit():
        return _refused("accent_panel", _settings(), accent_form=form, accent_errors=_form_errors(form))
    color = "" if request.form.get("use_default") else (form.accent_color.data or "").strip()
    try:
        settings = embedding.update_embed_settings(organization_id=organization_id(), data={"accent_color": color})
    except ValidationFailed as failed:
        return _refused("accent_panel", _settings(), accent_form=form,
                        accent_errors=words.embedding_errors(failed.details))
    return _saved("accent_panel", settings, words.notice("accent_saved"), accent_notice=words.notice("accent_saved"))


@admin_blueprint.post("/settings/embedding/accent/preview")
def embedding_accent_preview() -> ResponseReturnValue:
    """The palette for the colour being typed or picked (an htmx fragment; nothing saved). The other input is
    brought in step out of band: the text field after a pick, the picker after a valid colour is typed."""
    picked = request.headers.get("HX-Trigger-Name") == "accent_picker"
    text = request.form.get("accent_picker" if picked else "accent_color", "")[:32]
    context = _preview(text)
    sync = None
    if context["preview_color"] is not None:
        sync = "text" if picked else "picker"
    return render_page(PAGE, "accent_preview", **context, sync=sync, sync_color=context["preview_color"],
                       words=words, default_accent=branding.DEFAULT_ACCENT)


@admin_blueprint.post("/settings/embedding/logo")
def embedding_logo_upload() -> ResponseReturnValue:
    form = LogoForm()
    if not form.validate_on_submit():
        return _refused("logo_panel", _settings(), logo_errors=_form_errors(form))
    image = form.image()
    if image is None:
        return _refused("logo_panel", _settings(), logo_errors=words.embedding_errors({"logo": ["value_is_mandatory"]}))
    try:
        settings = embedding.update_embed_settings(organization_id=organization_id(), data={"logo": image})
    except ValidationFailed as failed:
        return _refused("logo_panel", _settings(), logo_errors=words.embedding_errors(failed.details))
    return _saved("logo_panel", settings, words.notice("logo_saved"), logo_notice=words.notice("logo_saved"))


@admin_blueprint.post("/settings/embedding/logo/remove")
def embedding_logo_remove() -> ResponseReturnValue:
    form = RemoveLogoForm()
    if not form.validate_on_submit():
        return _refused("logo_panel", _settings(), logo_errors=_form_errors(form))
    settings = embedding.update_embed_settings(organization_id=organization_id(), data={"remove_logo": True})
    return _saved("logo_panel", settings, words.notice("logo_removed"), logo_notice=words.notice("logo_removed"))


@admin_blueprint.get("/settings/embedding/logo")
def embedding_logo() -> ResponseReturnValue:
    """The organization's logo as stored (a raster image, checked by its bytes when uploaded)."""
    found = embedding.logo(organization_id=organization_id())
    if found is None:
        raise NotFound("logo")
    data, content_type = found
    return Response(data, mimetype=content_type, headers={"Content-Disposition": "inline"})


@admin_blueprint.errorhandler(RequestEntityTooLarge)
def upload_too_large(_error) -> ResponseReturnValue:
    """A body past the app's MAX_CONTENT_LENGTH: the logo form says so next to its field; elsewhere, a message."""
    if request.endpoint == "admin.embedding_logo_upload":
        return _refused("logo_panel", _settings(), logo_errors=words.embedding_errors({"logo": ["file_too_large"]}))
    return render_template("admin/message.html", title="Too large",
                           message="What was sent is too large for Tally to read."), 413
