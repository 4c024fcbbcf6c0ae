"""In a real browser: an account manager sets up embedding: a refused origin shown on its line, then saved; the
accent colour's live preview and the picker and text field kept in step; a logo uploaded and shown; no CSP
refusal or script error anywhere; the page fits 390 px without scrolling sideways."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from billing.embedding import branding
from billing.embedding.services import embed_settings, logo
from billing.organizations.services import create_admin
from billing.ports import runtime
from tests.e2e.screens import open_admin
from tests.web.test_admin_embedding import small_png

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)
SHOTS = os.environ.get("TALLY_SCREENSHOTS")


def _shoot(page: Page, name: str) -> None:
    """At 390 px the page never scrolls sideways (code scrolls in its own box); screenshots when asked."""
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                         && !e.closest('.code-block'))
            .map(e => e.tagName + '.' + e.className).slice(0, 5)""")
        assert wide == [], f"{name} at {width}px overflows: {wide}"
        scroll = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll[0] <= scroll[1], f"{name} at {width}px scrolls sideways: {scroll}"
        if SHOTS:
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}-{scheme}.png"), full_page=True)
            page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_set_up_embedding_with_inline_errors_a_live_preview_and_a_logo(page: Page, live_server, org, monkeypatch,
                                                                       tmp_path):
    monkeypatch.setattr(runtime, "frame_ancestors", ())
    problems: list[str] = []  # a CSP refusal or a script error shows up here, not as a failure
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)

    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    open_admin(page, "Settings", "Embedding")
    expect(page.locator("[data-default-applies]")).to_contain_text("no site can embed the widgets or the portal")
    _shoot(page, "embedding-empty")
    page.evaluate("window.__marker = 'same page'")

    origins = page.get_by_label("Sites that may show the widgets and the portal in a frame")
    origins.fill("https://App.Example.com\nhttps://example.com/dashboard\nhttp://shop.example.com")
    page.get_by_role("button", name="Save origins").click()
    expect(page.locator('.origin-refusals li[data-line="2"]')).to_contain_text("Only the origin: no path")
    expect(origins).to_have_attribute("aria-invalid", "true")
    _shoot(page, "embedding-refused")
    assert embed_settings(organization_id=org.id).own_frame_ancestors == ()

    origins.fill("https://App.Example.com\nhttp://shop.example.com\nhttp://localhost:5001")
    page.get_by_role("button", name="Save origins").click()
    expect(page.locator("#origins-panel").get_by_role("status")).to_contain_text("Allowed origins saved")
    expect(origins).to_have_value("https://app.example.com\nhttp://shop.example.com\nhttp://localhost:5001")
    expect(page.locator("[data-insecure]")).to_contain_text("http://shop.example.com")
    assert page.evaluate("window.__marker") == "same page"  # swapped by htmx, not reloaded

    text = page.locator("#accent_color")
    text.fill("#ffff00")  # yellow: adjusted for the light theme, kept for the dark one
    light = branding.palette("#ffff00").light.accent
    expect(page.locator('svg[data-theme="light"]')).to_have_attribute("data-accent", light)
    expect(page.locator('[data-theme-check="light"]')).to_contain_text(f"darken it to {light}")
    expect(page.locator("#accent_picker")).to_have_value("#ffff00")  # the picker follows the text
    page.locator("#accent_picker").fill("#0a7d4f")
    expect(text).to_have_value("#0a7d4f")  # and the text follows the picker
    expect(page.locator('svg[data-theme="light"]')).to_have_attribute("data-accent", "#0a7d4f")
    text.fill("#ffff00")
    expect(page.locator('[data-theme-check="light"] .badge')).to_have_text("Adjusted")
    page.get_by_role("button", name="Save colour").click()
    expect(page.locator("#accent-panel").get_by_role("status")).to_contain_text("Accent colour saved")
    assert embed_settings(organization_id=org.id).accent_color == "#ffff00"

    image = tmp_path / "logo.png"
    image.write_bytes(small_png(24, 12))
    page.get_by_label("Upload a logo").set_input_files(str(image))
    page.get_by_role("button", name="Save logo").click()
    expect(page.locator("#logo-panel").get_by_role("status")).to_contain_text("Logo saved")
    shown = page.get_by_alt_text("Your logo on the light theme")
    expect(shown).to_be_visible()
    assert shown.evaluate("img => img.naturalWidth") == 24  # served by the admin route, allowed by the CSP
    assert logo(organization_id=org.id) == (image.read_bytes(), "image/png")
    _shoot(page, "embedding-set-up")

    svg = tmp_path / "logo.svg"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")
    page.get_by_label("Replace the logo").set_input_files(str(svg))
    page.get_by_role("button", name="Save logo").click()
    expect(page.locator('[data-field="logo"] .field-error')).to_contain_text("not SVG")
    page.get_by_role("button", name="Remove the logo").click()
    expect(page.locator("#logo-panel").get_by_role("status")).to_have_text("Logo removed.")
    assert logo(organization_id=org.id) is None
    assert problems == []
