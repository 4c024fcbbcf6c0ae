"""Page-numbered lists with Lago's `meta` block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Page:
    items: list[Any]
    current_page: int
    per_page: int
    total_count: int

    @property
    def total_pages(self) -> int:
        return -(-self.total_count // self.per_page) if self.total_count else 0

    @property
    def meta(self) -> dict[str, int | None]:
        if not self.total_count:
            return {"current_page": 0, "next_page": None, "prev_page": None, "total_pages": 0, "total_count": 0}
        return {
            "current_page": self.current_page,
            "next_page": self.current_page + 1 if self.current_page < self.total_pages else None,
            "prev_page": self.current_page - 1 if self.current_page > 1 else None,
            "total_pages": self.total_pages,
            "total_count": self.total_count,
        }


def like_escaped(text: str) -> str:
    """`text` for a LIKE pattern: `%`, `_` and `\\` typed in a search are literal characters, not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def paginate(session: Session, query: Select, *, page: int, per_page: int) -> Page:
    page = max(page, 1)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(session.scalars(query.limit(per_page).offset((page - 1) * per_page)).unique())
    return Page(items=items, current_page=page, per_page=per_page, total_count=total)
