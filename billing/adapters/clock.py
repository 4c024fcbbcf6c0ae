"""The `Clock` port read from the system's clock."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """Tell the time in UTC from the operating system."""

    def now(self) -> datetime:
        return datetime.now(UTC)
