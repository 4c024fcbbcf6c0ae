"""Configure the billing core from the environment, once per process (workers, cron, CLI)."""

from __future__ import annotations

import threading

from billing import db, ports
from billing.settings import Settings

_lock = threading.Lock()


def configure_core(settings: Settings, dispatcher: ports.Dispatcher | None = None) -> None:
    """Bind the core to the database, the file store and a dispatcher (RQ when Redis is set)."""
    from jobs.dispatch import make_dispatcher

    db.configure(settings.database_url)
    ports.configure(dispatcher=dispatcher or make_dispatcher(settings), files=ports.LocalFileStore(settings.files_path),
                    base_url=settings.base_url, secret_key=settings.secret_key,
                    rollup_delay=settings.rollup_delay)


def ensure_configured() -> None:
    """Configure from the environment unless this process already did (a task's first line)."""
    with _lock:
        if not db.is_configured():
            configure_core(Settings.from_env())
