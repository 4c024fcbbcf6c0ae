"""Embedding's pure rules: which origins a frame-ancestors directive may name, the accent colour's contrast in
both themes, the logo's type by its bytes, and the embed token's claims (signed, scoped, expiring)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing import links
from billing.embedding import branding, origins
from billing.embedding.services import read_embed_token
from billing.ports import runtime


@pytest.mark.parametrize(("typed", "origin"), [
    ("https://App.Example.com", "https://app.example.com"),
    ("https://app.example.com:443/", "https://app.example.com"),
    ("http://localhost:5001", "http://localhost:5001"),
    ("http://127.0.0.1:80", "http://127.0.0.1"),
    ("https://*.example.com", "https://*.example.com"),
    ("https://[::1]:8443", "https://[::1]:8443"),
])
def test_origins_are_normalized(typed, origin):
    assert origins.parse_origin(typed) == origin


@pytest.mark.parametrize("typed", [
    "", "example.com", "ftp://example.com", "https://example.com/path", "https://example.com?x=1",
    "https://user:pw@example.com", "https://*.com", "https://a.*.example.com", "'self'", "'none'", "*",
    "https://example.com; script-src *", "javascript:alert(1)", "https://exa mple.com", "https://-bad-.com",
    "https://example.com#top", "data:text/html,x", "https://" + "a" * 300 + ".com",
])
def test_anything_but_an_origin_is_refused(typed):
    with pytest.raises(origins.InvalidOrigin):
        origins.parse_origin(typed)


def test_origins_are_listed_once_and_refusals_kept_as_typed():
    valid, refused = origins.parse_origins(origins.split_origins(
        "https://a.example.com, https://A.example.com\nnot an origin  http://localhost:5001"))
    assert valid == ["https://a.example.com", "http://localhost:5001"]
    assert refused == ["not", "an", "origin"]


def test_frame_ancestors_names_exactly_the_origins_or_none():
    assert origins.frame_ancestors(["https://a.example.com", "http://localhost:5001"]) == \
        "https://a.example.com http://localhost:5001"
    assert origins.frame_ancestors([]) == "'none'"


def test_a_page_origin_matches_as_csp_matches_it():
    allowed = ["https://app.example.com", "https://*.example.org", "http://localhost:5001"]
    assert origins.allows(allowed, "https://app.example.com")
    assert origins.allows(allowed, "https://shop.example.org")
    assert not origins.allows(allowed, "https://example.org")  # a wildcard is for subdomains only
    assert not origins.allows(allowed, "http://app.example.com")  # another scheme
    assert not origins.allows(allowed, "http://localhost:5002")  # another port
    assert not origins.allows(allowed, "https://*.example.org")
    assert not origins.allows(allowed, None)
    assert not origins.allows(allowed, "https://evil.com/https://app.example.com")


@pytest.mark.parametrize(("typed", "color"), [("#ABC", "#aabbcc"), ("12ab3F", "#12ab3f"), (" #1f4fd1 ", "#1f4fd1")])
def test_colors_are_normalized(typed, color):
    assert branding.parse_color(typed) == color


@pytest.mark.parametrize("typed", ["red", "#12345", "#1234567", "rgb(1,2,3)", "#ggg", "", "#fff;}body{"])
def test_anything_but_a_hex_color_is_refused(typed):
    with pytest.raises(branding.InvalidColor):
        branding.parse_color(typed)


@pytest.mark.parametrize("accent", ["#ffff00", "#000000", "#ffffff", "#1f4fd1", "#7fdbff", "#222222", None])
def test_every_accent_keeps_its_contrast_in_both_themes(accent):
    palette = branding.palette(accent)
    assert branding.contrast(palette.light.accent, branding.LIGHT_BACKGROUND) >= branding.MIN_CONTRAST
    assert branding.contrast(palette.dark.accent, branding.DARK_BACKGROUND) >= branding.MIN_CONTRAST
    for theme in (palette.light, palette.dark):
        assert branding.contrast(theme.on_accent, theme.accent) >= branding.MIN_CONTRAST


def test_a_readable_accent_is_kept_as_chosen():
    assert branding.palette("#1f4fd1").light.accent == "#1f4fd1"
    assert branding.contrast("#000000", "#ffffff") == pytest.approx(21)


def test_a_logo_is_taken_by_its_bytes_only():
    assert branding.logo_type(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert branding.logo_type(b"\xff\xd8\xff\xe0....") == "image/jpeg"
    assert branding.logo_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert branding.logo_type(b"GIF89a...") == "image/gif"
    assert branding.logo_type(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>") is None
    assert branding.logo_type(b"") is None


@pytest.fixture
def signing(monkeypatch):
    monkeypatch.setattr(runtime, "secret_key", "unit-test-secret")


def _token(ttl=timedelta(hours=1), extra=None, purpose="embed"):
    return links.sign(purpose=purpose, subject="cust-1", organization_id="org-1", ttl=ttl,
                      extra={"w": ["usage", "wallet"]} if extra is None else extra)


def test_an_embed_token_carries_its_customer_widgets_and_expiry(signing):
    grant = read_embed_token(_token())
    assert grant is not None and not grant.expired
    assert (grant.organization_id, grant.customer_id, grant.widgets) == ("org-1", "cust-1", ("usage", "wallet"))
    assert grant.allows("usage") and not grant.allows("invoices")
    assert grant.expires_at - datetime.now(UTC) <= timedelta(hours=1)


def test_an_expired_token_is_read_but_allows_nothing(signing):
    grant = read_embed_token(_token(ttl=timedelta(seconds=-5)))
    assert grant is not None and grant.expired and not grant.allows("usage")
    assert links.verify(_token(ttl=timedelta(seconds=-5)), purpose="embed") is None


def test_a_tampered_foreign_or_malformed_token_is_nothing(signing):
    token = _token()
    payload, mac = token.split(".")
    assert read_embed_token(f"{payload}.{mac[:-2]}AA") is None
    assert read_embed_token(_token(purpose="portal")) is None  # a portal link is no embed token
    assert read_embed_token(_token(extra={"w": ["admin"]})) is None
    assert read_embed_token(_token(extra={"w": "usage"})) is None
    assert read_embed_token("not-a-token") is None
    assert read_embed_token("a.b.c") is None


def test_a_form_token_is_bound_to_its_embed_token(signing):
    """What a widget's form carries (portal.link_forms): made from the embed token with the secret key."""
    first, second = _token(), _token(extra={"w": ["usage"]})
    made = links.derived_token(first, purpose="embed_form")
    assert links.derived_token_matches(first, made, purpose="embed_form")
    assert not links.derived_token_matches(second, made, purpose="embed_form")
    assert not links.derived_token_matches(first, made, purpose="portal_form")
    assert not links.derived_token_matches(first, None, purpose="embed_form")
    assert not links.derived_token_matches(first, "", purpose="embed_form")
