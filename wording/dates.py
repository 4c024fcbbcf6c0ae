"""The one way every screen, email and PDF writes a day and a moment: "1 Dec 2026" and "1 Dec 2026, 14:05 UTC" in
English, the language's medium date elsewhere (billing.i18n.day_text; templates reach them through the `day` macro
and the `datetime` filter; Python wording calls them)."""

from __future__ import annotations

from datetime import date, datetime

from billing.i18n import day_text as _day_text


def day_text(day: date | datetime, locale: str | None = None) -> str:
    return _day_text(day, locale)


def moment_text(moment: datetime | None, seconds: bool = False, locale: str | None = None) -> str:
    """A moment (UTC) with its day as `day_text` writes it; `seconds` where they matter (events, webhook tries)."""
    if not moment:
        return ""
    clock = moment.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{day_text(moment, locale)}, {clock} UTC"
