"""A screen looked at the two widths the screens are made for (1280 and 390 px): nothing but wide tables' own
boxes runs past the viewport, the page never scrolls sideways, and with TALLY_SCREENSHOTS=<folder> a full-page PNG
of each width is saved as <name>-<width>.png for a person to look at. `assert_accessible` runs axe-core in the page
(0 serious or critical violations), `assert_phone_ready` checks a page as a phone and a keyboard use it."""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path

from playwright.sync_api import Page

WIDTHS = (1280, 390)


def look_at(page: Page, name: str) -> None:
    shots = os.environ.get("TALLY_SCREENSHOTS")
    # A locator can find its element before the page's stylesheet has arrived (a loaded machine): measured then,
    # the unstyled page overflows. Its `load` event comes after the stylesheets.
    page.wait_for_load_state("load")
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


# axe-core's own build, as the pinned PyPI package axe-playwright-python ships it (requirements-dev.txt): read from
# site-packages and evaluated in the page, so nothing is downloaded at test time and no CSP is bypassed.
AXE_PACKAGE = "axe_playwright_python"


@functools.cache
def _axe_source() -> str:
    return resources.files(AXE_PACKAGE).joinpath("axe.min.js").read_text(encoding="utf-8")


def assert_accessible(page: Page, *, exclude: tuple[str, ...] = ()) -> None:
    """axe-core's rules on the page as shown now: fails on any serious or critical violation, listed one per line with
    the elements it names and what to fix. `exclude`: CSS selectors of content that is not ours (a test double of a
    provider's card field, which the real provider draws in its own iframe)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    found = page.evaluate("""async (exclude) => {
        const context = exclude.length ? {exclude: exclude.map(s => [s])} : document;
        const result = await axe.run(context, {resultTypes: ['violations']});
        return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
          .map(v => `${v.impact} ${v.id}: ${v.help}\\n` + v.nodes.slice(0, 6).map(n => `    ${n.target.join(' ')}: `
              + (n.failureSummary || '').split('\\n').slice(1).join(' ').trim()).join('\\n'));
    }""", list(exclude))
    assert not found, f"{page.url}: axe-core found serious violations:\n" + "\n".join(found)


# What a finger or a keyboard reaches: links, buttons, fields, and a disclosure's summary.
INTERACTIVE = "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex='-1'])"


def assert_no_sideways_scroll(page: Page) -> None:
    sizes = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1], f"{page.url}: scrolls sideways ({sizes[0]}px wide in {sizes[1]}px)"


def assert_tap_targets(page: Page, minimum: int = 44, *, exclude: tuple[str, ...] = ()) -> None:
    """Every visible control offers a tap area of at least `minimum` x `minimum` CSS px (a checkbox or radio: its
    label's). A link inside a sentence is exempt, as WCAG 2.5.5 allows; so is what `exclude` selects."""
    small = page.evaluate("""([selector, minimum, exclude]) => [...document.querySelectorAll(selector)]
        .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
        .filter(e => !exclude.some(s => e.closest(s)))
        .filter(e => !(e.tagName === 'A' && getComputedStyle(e).display === 'inline'
                       && e.parentElement.textContent.trim().length > e.textContent.trim().length + 2))
        .map(e => {
          const area = (e.type === 'checkbox' || e.type === 'radio') && e.closest('label') ? e.closest('label') : e;
          const box = area.getBoundingClientRect();
          return [(e.textContent.trim() || e.getAttribute('aria-label') || e.name || e.outerHTML).slice(0, 50),
                  Math.round(box.width), Math.round(box.height)];
        })
        .filter(([, w, h]) => w < minimum - 0.5 || h < minimum - 0.5)""", [INTERACTIVE, minimum, list(exclude)])
    assert not small, f"{page.url}: tap targets under {minimum}x{minimum}px (text, width, height): {small}"


def assert_focus_visible(page: Page, limit: int = 80) -> None:
    """Tab through the page from its start until the focus leaves it or comes back round (`limit` stops at most):
    every element that takes the focus shows it, by an outline or a box-shadow that differs from the same element's
    look unfocused."""
    reachable = page.evaluate("""(selector) => {
        window.__unfocused = new Map();
        for (const e of document.querySelectorAll(selector)) {
          const s = getComputedStyle(e);
          window.__unfocused.set(e, [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow].join('|'));
        }
        document.activeElement && document.activeElement.blur();
        window.scrollTo(0, 0);
        return [...window.__unfocused.keys()].filter(e => e.getClientRects().length && !e.disabled).length;
    }""", INTERACTIVE)
    page.locator("body").focus()
    hidden, seen = [], 0
    for _ in range(limit):
        page.keyboard.press("Tab")
        state = page.evaluate("""(seen) => {
            const e = document.activeElement;
            if (!e || e === document.body) return null;
            const s = getComputedStyle(e);
            const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
            const now = [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow].join('|');
            const before = window.__unfocused.get(e);
            const changed = before === undefined || before !== now;
            const first = window.__firstFocused || (window.__firstFocused = e);
            return {label: (e.textContent.trim() || e.getAttribute('aria-label') || e.name || e.tagName).slice(0, 50),
                    visible: changed && (outline || s.boxShadow !== 'none'), again: seen > 0 && e === first};
        }""", seen)
        if state is None or state["again"]:
            break
        seen += 1
        if not state["visible"]:
            hidden.append(state["label"])
    page.evaluate("delete window.__firstFocused")
    assert seen or not reachable, f"{page.url}: the keyboard reaches none of its {reachable} controls"
    assert not hidden, f"{page.url}: no visible focus on {hidden}"


def assert_phone_ready(page: Page, *, exclude: tuple[str, ...] = ()) -> None:
    """At the viewport's current width: axe-core clean, no sideways scrolling, a visible focus on every stop of the
    keyboard, and (at phone widths) 44 px tap targets."""
    assert_accessible(page, exclude=exclude)
    assert_no_sideways_scroll(page)
    if page.viewport_size and page.viewport_size["width"] < 640:
        assert_tap_targets(page, exclude=exclude)
    assert_focus_visible(page)
