"""A screen looked at the two widths the screens are made for (1280 and 390 px): nothing but wide tables' own
boxes runs past the viewport, the page never scrolls sideways, and with TALLY_SCREENSHOTS=<folder> a full-page PNG
of each width is saved as <name>-<width>.png for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page

WIDTHS = (1280, 390)


def look_at(page: Page, name: str) -> None:
    shots = os.environ.get("TALLY_SCREENSHOTS")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                         && !e.closest('.table-scroll'))
            .map(e => e.tagName + '.' + e.className).slice(0, 5)""")
        assert wide == [], f"{name} at {width}px overflows: {wide}"
        scroll = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll[0] <= scroll[1], f"{name} at {width}px scrolls sideways: {scroll}"
        if shots:
            page.screenshot(path=str(Path(shots) / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def open_admin(page: Page, section: str, entry: str | None = None) -> None:
    """Open an admin page as a person does: its section in the main navigation, then the page among the section's
    (admin/navigation.py)."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=section).click()
    if entry is not None:
        page.get_by_role("navigation", name=section).get_by_role("link", name=entry, exact=True).click()
