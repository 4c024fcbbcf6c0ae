"""Embedding use cases: the organization's settings (frame origins, accent colour, logo) and embed tokens.

An embed token (purpose `embed`, `billing.links`) lets a host product show one customer's widgets in iframes:
it names the organization, the customer, optionally one subscription (by external id, so a plan change keeps
the widget) and the widgets it may show, and expires within 24 hours. The host's backend asks for it with its
API key (`POST /api/v1/customers/:external_customer_id/embed_token`, docs/embedding.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select

from billing import links
from billing.customers.services import get_customer_in
from billing.db import read_only, unit_of_work
from billing.embedding import branding, origins
from billing.embedding.models import EmbedSettings
from billing.errors import NotFound, ValidationFailed
from billing.ports import runtime
from billing.subscriptions.models import LIVE_STATUSES, Subscription
from billing.validation import Checker

PURPOSE = "embed"
WIDGETS = ("usage", "bill", "wallet", "invoices")
DEFAULT_TTL = timedelta(hours=1)
MIN_TTL = timedelta(minutes=1)
MAX_TTL = timedelta(hours=24)


# --- settings ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EmbedSettingsView:
    """What an organization's screens are allowed and look like when embedded."""

    own_frame_ancestors: tuple[str, ...]  # the organization's own list
    default_frame_ancestors: tuple[str, ...]  # the installation's (TALLY_FRAME_ANCESTORS)
    accent_color: str | None
    logo_content_type: str | None
    updated_at: datetime | None

    @property
    def frame_ancestors(self) -> tuple[str, ...]:
        """The origins that may frame the widgets and the portal: the organization's, else the installation's."""
        return self.own_frame_ancestors or self.default_frame_ancestors

    @property
    def uses_installation_default(self) -> bool:
        return not self.own_frame_ancestors

    @property
    def has_logo(self) -> bool:
        return self.logo_content_type is not None

    @property
    def palette(self) -> branding.Palette:
        return branding.palette(self.accent_color)

    @property
    def version(self) -> str:
        """Changes whenever the settings do: a cache key for the logo and theme files."""
        return str(int(self.updated_at.timestamp())) if self.updated_at else "0"


def _view(row: EmbedSettings | None) -> EmbedSettingsView:
    default = tuple(runtime.frame_ancestors)
    if row is None:
        return EmbedSettingsView((), default, None, None, None)
    return EmbedSettingsView(tuple(row.frame_ancestors or ()), default, row.accent_color, row.logo_content_type,
                             row.updated_at)


def embed_settings(*, organization_id: str) -> EmbedSettingsView:
    with read_only() as session:
        return _view(session.get(EmbedSettings, organization_id))


def allowed_origins(*, organization_id: str) -> tuple[str, ...]:
    """The origins that may frame this organization's widgets and portal (none: no one may)."""
    return embed_settings(organization_id=organization_id).frame_ancestors


def update_embed_settings(*, organization_id: str, data: Mapping[str, object]) -> EmbedSettingsView:
    """Change what is given: `frame_ancestors` (a list of origins, or text with one per line), `accent_color`
    ("" or None: the default), `logo` (image bytes) or `remove_logo`. Refused as a whole (ValidationFailed):
    an origin that is not one, more than MAX_ORIGINS, a colour that is not `#rrggbb`, a logo that is not a PNG,
    JPEG, WebP or GIF image or is larger than MAX_LOGO_BYTES."""
    errors: dict[str, list[str]] = {}
    changes: dict[str, object] = {}
    if "frame_ancestors" in data:
        raw = data["frame_ancestors"]
        values = origins.split_origins(raw) if isinstance(raw, str) else raw
        if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
            errors["frame_ancestors"] = ["invalid_type"]
        else:
            valid, refused = origins.parse_origins(values)
            if refused:
                errors["frame_ancestors"] = ["invalid_origin"]
            elif len(valid) > origins.MAX_ORIGINS:
                errors["frame_ancestors"] = ["too_many_origins"]
            else:
                changes["frame_ancestors"] = valid
    if "accent_color" in data:
        color = data["accent_color"]
        if color in (None, ""):
            changes["accent_color"] = None
        elif not isinstance(color, str):
            errors["accent_color"] = ["invalid_type"]
        else:
            try:
                changes["accent_color"] = branding.parse_color(color)
            except branding.InvalidColor:
                errors["accent_color"] = ["invalid_color"]
    logo = data.get("logo")
    if logo is not None:
        kind = branding.logo_type(logo) if isinstance(logo, bytes) else None
        if kind is None:
            errors["logo"] = ["invalid_image"]
        elif len(logo) > branding.MAX_LOGO_BYTES:
            errors["logo"] = ["file_too_large"]
        else:
            changes["logo"], changes["logo_content_type"] = logo, kind
    elif data.get("remove_logo"):
        changes["logo"], changes["logo_content_type"] = None, None
    if errors:
        raise ValidationFailed(errors)
    with unit_of_work() as uow:
        row = uow.session.get(EmbedSettings, organization_id)
        if row is None:
            row = EmbedSettings(organization_id=organization_id, frame_ancestors=[])
            uow.session.add(row)
        for name, value in changes.items():
            setattr(row, name, value)
        row.updated_at = runtime.clock.now()  # the logo alone changing must change the version too
        uow.session.flush()
        return _view(row)


def logo(*, organization_id: str) -> tuple[bytes, str] | None:
    """The organization's logo and its type, if it has one."""
    with read_only() as session:
        row = session.get(EmbedSettings, organization_id)
        if row is None or row.logo is None or row.logo_content_type is None:
            return None
        return row.logo, row.logo_content_type


# --- embed tokens -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EmbedToken:
    token: str
    expires_at: datetime
    urls: dict[str, str]


@dataclass(frozen=True)
class EmbedGrant:
    """What a signed embed token names. `expired`: it may show the "link expired" view, nothing else."""

    organization_id: str
    customer_id: str
    external_subscription_id: str | None
    widgets: tuple[str, ...]
    expires_at: datetime
    expired: bool = False

    def allows(self, widget: str) -> bool:
        return not self.expired and widget in self.widgets


def widget_url(token: str, widget: str) -> str:
    return f"{runtime.base_url}/embed/{token}/{widget}"


def script_url() -> str:
    """The host page's script that turns `<div data-tally-widget>` into resizing iframes."""
    return f"{runtime.base_url}/static/embed.js"


def issue_embed_token(*, organization_id: str, external_customer_id: str,
                      data: Mapping[str, object] | None = None) -> EmbedToken:
    """A token for the customer's widgets: `widgets` (default all of WIDGETS), `external_subscription_id`
    (default: every live subscription), `expires_in` seconds (default 1 hour, 60 to 86,400)."""
    data = data or {}
    check = Checker(data)
    widgets = _widgets(check, data.get("widgets"))
    ttl_seconds = check.integer("expires_in", minimum=int(MIN_TTL.total_seconds()),
                                maximum=int(MAX_TTL.total_seconds()))
    external_subscription_id = check.string("external_subscription_id")
    check.done()
    with read_only() as session:
        customer = get_customer_in(session, organization_id, external_customer_id)
        if external_subscription_id is not None:
            found = session.scalar(select(Subscription.id).where(
                Subscription.organization_id == organization_id, Subscription.customer_id == customer.id,
                Subscription.external_id == external_subscription_id, Subscription.status.in_(LIVE_STATUSES)))
            if found is None:
                raise NotFound("subscription")
        customer_id = customer.id
    ttl = timedelta(seconds=ttl_seconds) if ttl_seconds is not None else DEFAULT_TTL
    extra: dict[str, object] = {"w": list(widgets)}
    if external_subscription_id is not None:
        extra["sub"] = external_subscription_id
    token = links.sign(purpose=PURPOSE, subject=customer_id, organization_id=organization_id, ttl=ttl, extra=extra)
    grant = read_embed_token(token)
    assert grant is not None
    return EmbedToken(token=token, expires_at=grant.expires_at, urls={w: widget_url(token, w) for w in widgets})


def _widgets(check: Checker, value: object) -> tuple[str, ...]:
    if value is None:
        return WIDGETS
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        check.fail("widgets", "invalid_type" if not isinstance(value, list) else "invalid_value")
        return WIDGETS
    if any(v not in WIDGETS for v in value):
        check.fail("widgets", "invalid_value")
        return WIDGETS
    return tuple(w for w in WIDGETS if w in value)


def read_embed_token(token: str) -> EmbedGrant | None:
    """The grant of an embed token Tally signed, expired or not (see `EmbedGrant.expired`); None if tampered
    or not an embed token. Whether its customer still exists is the caller's to check."""
    claim = links.signed_claim(token, purpose=PURPOSE)
    if claim is None:
        return None
    widgets = claim.extra.get("w")
    subscription = claim.extra.get("sub")
    if not isinstance(widgets, list) or not all(w in WIDGETS for w in widgets) or \
            (subscription is not None and not isinstance(subscription, str)):
        return None
    return EmbedGrant(organization_id=claim.organization_id, customer_id=claim.subject,
                      external_subscription_id=subscription, widgets=tuple(widgets), expires_at=claim.expires_at,
                      expired=claim.expired)


# --- what the settings screen explains -------------------------------------------------------------------------

# NOTE: browsers treat these as secure contexts even over plain http (W3C Secure Contexts, "potentially
# trustworthy origin"): a host page there is a developer's machine, not a site the token travels from.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


@dataclass(frozen=True)
class OriginRefusal:
    """A value of a typed list of origins that `update_embed_settings` refuses: its line (from 1), as typed, and
    why (a reason code: missing_scheme, unsupported_scheme, has_credentials, has_path, invalid_port,
    misplaced_wildcard, keyword, too_long, invalid_host)."""

    line: int
    value: str
    reason: str


def origin_refusals(text: str) -> list[OriginRefusal]:
    """The values of `text` (one origin per line, as `update_embed_settings` reads it) that are no origin, each
    with its line and the reason."""
    refusals = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        for value in origins.split_origins(line):
            try:
                origins.parse_origin(value)
            except origins.InvalidOrigin:
                refusals.append(OriginRefusal(line=number, value=value, reason=_origin_problem(value)))
    return refusals


def _origin_problem(value: str) -> str:
    """Why `parse_origin` refused `value`, as a reason code (the first problem found, in the order typed)."""
    raw = value.strip()
    if len(raw) > origins.MAX_ORIGIN_LENGTH:
        return "too_long"
    if raw in ("*", "'self'", "'none'", "self", "none") or raw.startswith("'"):
        return "keyword"
    if "://" not in raw:
        return "missing_scheme"
    parts = urlsplit(raw)
    if parts.scheme.lower() not in ("http", "https"):
        return "unsupported_scheme"
    if "@" in parts.netloc:
        return "has_credentials"
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in raw or "#" in raw:
        return "has_path"
    try:
        parts.port  # noqa: B018 (raises on a port that is not one)
    except ValueError:
        return "invalid_port"
    if "*" in (parts.hostname or parts.netloc):
        return "misplaced_wildcard"
    return "invalid_host"


def insecure_origins(values: Sequence[str]) -> list[str]:
    """The origins among `values` served over plain http, other than the local machine: a page there is not a
    secure context, and whatever it holds (the embed token too) travels unencrypted."""
    insecure = []
    for value in values:
        scheme, _, rest = value.partition("://")
        host = rest.rsplit(":", 1)[0] if not rest.endswith("]") else rest
        if scheme == "http" and host not in LOCAL_HOSTS:
            insecure.append(value)
    return insecure


@dataclass(frozen=True)
class AccentCheck:
    """The accent as one theme uses it: the colour chosen, the one used (made readable), and their contrasts."""

    theme: str  # "light" or "dark"
    background: str
    chosen: str
    accent: str  # what the widgets use: `chosen`, or mixed with black (light) or white (dark) for contrast
    on_accent: str  # the text on an accent button
    chosen_contrast: float  # of `chosen` on the background
    accent_contrast: float  # of `accent` on the background
    on_accent_contrast: float  # of the button's text on `accent`

    @property
    def adjusted(self) -> bool:
        return self.accent != self.chosen


def accent_checks(accent: str | None) -> tuple[AccentCheck, AccentCheck]:
    """The light and the dark theme's accent for `accent` (`#rrggbb`; None: the default), as `branding.palette`
    makes them, with the contrasts that explain an adjustment (WCAG 2.2's 4.5:1, `branding.MIN_CONTRAST`)."""
    chosen = accent or branding.DEFAULT_ACCENT
    made = branding.palette(chosen)
    return tuple(
        AccentCheck(theme=name, background=background, chosen=chosen, accent=theme.accent, on_accent=theme.on_accent,
                    chosen_contrast=branding.contrast(chosen, background),
                    accent_contrast=branding.contrast(theme.accent, background),
                    on_accent_contrast=branding.contrast(theme.on_accent, theme.accent))
        for name, background, theme in (("light", branding.LIGHT_BACKGROUND, made.light),
                                        ("dark", branding.DARK_BACKGROUND, made.dark)))  # type: ignore[return-value]
