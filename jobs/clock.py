"""The embedded billing clock: a daemon thread that runs the clock every minute (no Redis, no cron)."""

from __future__ import annotations

import logging
import threading

from billing.clock import run_billing_clock

log = logging.getLogger(__name__)

_started = threading.Event()


def start_clock_thread(interval_seconds: float = 60.0) -> threading.Thread | None:
    """Start the clock once per process; later calls do nothing."""
    if _started.is_set():
        return None
    _started.set()
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                run_billing_clock()
            except Exception:
                log.exception("billing clock run failed; the next run catches up")
            if stop.wait(interval_seconds):
                return

    thread = threading.Thread(target=loop, name="tally-clock", daemon=True)
    thread.start()
    return thread
