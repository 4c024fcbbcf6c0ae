"""An organization's look in its widgets and portal: its accent colour, kept readable in both themes, and its logo.

Pure. Colours are `#rrggbb`. Contrast follows WCAG 2.2 (relative luminance, contrast ratio): an accent used as
text or as a button must reach 4.5:1 against the theme's background, and the text on an accent button 4.5:1
against the accent; an accent that does not is darkened (light theme) or lightened (dark theme) until it does,
so an organization cannot pick a colour that makes its widgets unreadable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_ACCENT = "#1f4fd1"
# The backgrounds of the widgets' themes (static/css/widgets.css uses the same).
LIGHT_BACKGROUND = "#ffffff"
DARK_BACKGROUND = "#14171f"
MIN_CONTRAST = 4.5  # WCAG 2.2, 1.4.3 Contrast (Minimum), normal text
MAX_LOGO_BYTES = 200 * 1024
_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_WHITE, _BLACK = "#ffffff", "#000000"


class InvalidColor(ValueError):
    pass


def parse_color(text: str) -> str:
    """`#RGB`, `#RRGGBB` (the `#` optional) as `#rrggbb`; anything else is refused (InvalidColor)."""
    match = _HEX.match((text or "").strip())
    if not match:
        raise InvalidColor(text)
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return f"#{digits}"


def _channels(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _hex(channels: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in channels)


def luminance(color: str) -> float:
    """WCAG relative luminance, 0 (black) to 1 (white)."""
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in _channels(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio, 1 to 21."""
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _towards(color: str, target: str, share: float) -> str:
    mine, theirs = _channels(color), _channels(target)
    return _hex(tuple(m + (t - m) * share for m, t in zip(mine, theirs, strict=True)))


def readable_on(color: str, background: str) -> str:
    """`color`, mixed with black (on a light background) or white (on a dark one) just enough to reach
    MIN_CONTRAST against `background`."""
    if contrast(color, background) >= MIN_CONTRAST:
        return color
    target = _BLACK if luminance(background) > 0.18 else _WHITE
    for step in range(1, 21):
        mixed = _towards(color, target, step / 20)
        if contrast(mixed, background) >= MIN_CONTRAST:
            return mixed
    return target


def ink_on(color: str) -> str:
    """White or near-black text on a `color` button, whichever contrasts more."""
    return _WHITE if contrast(_WHITE, color) >= contrast("#111111", color) else "#111111"


@dataclass(frozen=True)
class Theme:
    accent: str  # links, bars, buttons
    on_accent: str  # text on an accent button


@dataclass(frozen=True)
class Palette:
    light: Theme
    dark: Theme


def palette(accent: str | None) -> Palette:
    """The accent as each theme uses it, readable on its background (and its text readable on it)."""
    accent = accent or DEFAULT_ACCENT
    light = readable_on(accent, LIGHT_BACKGROUND)
    dark = readable_on(accent, DARK_BACKGROUND)
    return Palette(light=Theme(light, ink_on(light)), dark=Theme(dark, ink_on(dark)))


# The first bytes of each image type a logo may be (magic numbers of the formats' specifications).
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def logo_type(data: bytes) -> str | None:
    """The image type of a logo by its first bytes (PNG, JPEG, GIF, WebP), or None: not an image taken."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _SIGNATURES if data.startswith(magic)), None)
