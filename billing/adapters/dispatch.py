"""The `Dispatcher` a process has before it configures one: it refuses every job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any


class ImmediateDispatcher:
    """Runs nothing: used before the process has configured a real dispatcher."""

    # The real ones (RQ, or a thread when embedded) live in jobs/dispatch.py: they import rq and redis,
    # which billing/ may not.

    def enqueue(self, task: str, *, job_id: str | None = None, **kwargs: Any) -> bool:
        raise RuntimeError(f"no dispatcher configured to run {task}")

    def enqueue_many(self, task: str, jobs: Sequence[tuple[str | None, Mapping[str, Any]]]) -> int:
        raise RuntimeError(f"no dispatcher configured to run {task}")

    def enqueue_in(self, delay: timedelta, task: str, *, job_id: str | None = None, **kwargs: Any) -> None:
        raise RuntimeError(f"no dispatcher configured to run {task}")
