"""The one way every screen, email and PDF writes a day and a moment: "1 Dec 2026" and "1 Dec 2026, 14:05 UTC"
(templates reach them through the `day` macro and the `datetime` filter; Python wording calls them)."""

from __future__ import annotations

from datetime import date, datetime


def day_text(day: date | datetime) -> str:
    return f"{day.day} {day:%b %Y}"


def moment_text(moment: datetime | None, seconds: bool = False) -> str:
    """A moment (UTC) with its day as `day_text` writes it; `seconds` where they matter (events, webhook tries)."""
    if not moment:
        return ""
    clock = moment.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{day_text(moment)}, {clock} UTC"
