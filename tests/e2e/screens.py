"""Looking at a screen at the two widths the screens are made for: it must not scroll sideways, and with
TALLY_SCREENSHOTS=<dir> it is captured as <name>-1280.png and <name>-390.png."""

from __future__ import annotations

import os

from playwright.sync_api import Page

WIDTHS = (1280, 390)


def look_at(page: Page, name: str) -> None:
    target = os.environ.get("TALLY_SCREENSHOTS")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        scroll = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll[0] <= scroll[1], f"{name} at {width}px scrolls sideways: {scroll}"
        if target:
            page.screenshot(path=os.path.join(target, f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
