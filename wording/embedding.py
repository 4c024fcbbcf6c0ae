"""What the admin's embedding settings say: why an origin, a colour or a logo was refused, what was saved, and
why the widgets adjust an accent colour in a theme (billing.embedding.services)."""

from __future__ import annotations

from collections.abc import Mapping

from babel.numbers import format_decimal

from wording.i18n import DEFAULT_LOCALE, N_, babel_locale, gettext
from wording.reasons import reason

# Why one typed value is no origin (billing.embedding.services.origin_refusals).
ORIGIN_REASONS = {
    "missing_scheme": N_("Start with https:// (or http:// for a page on your own machine)"),
    "unsupported_scheme": N_("Only https:// and http:// pages can embed the widgets"),
    "has_credentials": N_("No user name or password: only scheme://host and an optional :port"),
    "has_path": N_("Only the origin: no path, query or #fragment (https://app.example.com, not …/dashboard)"),
    "invalid_port": N_("Not a port number"),
    "misplaced_wildcard": N_("A * only as the first label (https://*.example.com), never for a whole top-level "
                             "domain"),
    "keyword": N_("A site's origin such as https://app.example.com, not a keyword"),
    "too_long": N_("At most 255 characters"),
    "invalid_host": N_("Not a host name or an IP address"),
}

FIELD_REASONS = {
    ("frame_ancestors", "invalid_origin"): N_("Not saved: some lines are not origins (see below)"),
    ("frame_ancestors", "too_many_origins"): N_("At most 20 origins: use a wildcard (https://*.example.com) for "
                                                "many subdomains"),
    ("frame_ancestors", "invalid_type"): N_("One origin per line"),
    ("accent_color", "invalid_color"): N_("A colour written #rrggbb (or #rgb), e.g. #1f4fd1"),
    ("logo", "invalid_image"): N_("A PNG, JPEG, WebP or GIF image only (not SVG: an SVG can carry scripts)"),
    ("logo", "file_too_large"): N_("At most 200 KB"),
    ("logo", "value_is_mandatory"): N_("Choose an image file first"),
}

NOTICES = {
    "origins_saved": N_("Allowed origins saved: the widgets and the portal answer with them from now on."),
    "accent_saved": N_("Accent colour saved."),
    "logo_saved": N_("Logo saved."),
    "logo_removed": N_("Logo removed."),
}


def embedding_errors(details: Mapping[str, object], locale: str | None = DEFAULT_LOCALE) -> dict[str, list[str]]:
    """ValidationFailed details of `update_embed_settings` as field -> sentences."""
    errors: dict[str, list[str]] = {}
    for field, codes in details.items():
        codes = codes if isinstance(codes, list | tuple) else [codes]
        errors[field] = [gettext(FIELD_REASONS[(field, str(code))], locale) if (field, str(code)) in FIELD_REASONS
                         else reason(field, str(code), locale) for code in codes]
    return errors


def origin_reason(code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext(ORIGIN_REASONS.get(code, ORIGIN_REASONS["invalid_host"]), locale)


def notice(code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    return gettext(NOTICES[code], locale)


def ratio(value: float, locale: str | None = DEFAULT_LOCALE) -> str:
    """A contrast ratio as WCAG writes it, rounded down to one decimal (4.49 is not 4.5): `4.5:1`."""
    return format_decimal(int(value * 10) / 10, format="0.0", locale=babel_locale(locale)) + ":1"


def adjustment(check, locale: str | None = DEFAULT_LOCALE) -> str:
    """Why a theme's accent differs from the colour chosen, or that it is used as chosen (an AccentCheck)."""
    words = {"light": gettext("light", locale), "dark": gettext("dark", locale)}[check.theme]
    if not check.adjusted:
        return gettext("Used as chosen: {ratio} on the {theme} background (at least 4.5:1 needed).", locale).format(
            ratio=ratio(check.accent_contrast, locale), theme=words)
    text = (N_("Adjusted: {chosen} has only {before} on the {theme} background, below the 4.5:1 WCAG 2.2 asks for "
               "text, so the widgets darken it to {accent} ({after}).") if check.theme == "light" else
            N_("Adjusted: {chosen} has only {before} on the {theme} background, below the 4.5:1 WCAG 2.2 asks for "
               "text, so the widgets lighten it to {accent} ({after})."))
    return gettext(text, locale).format(chosen=check.chosen, before=ratio(check.chosen_contrast, locale),
                                        theme=words, accent=check.accent, after=ratio(check.accent_contrast, locale))
