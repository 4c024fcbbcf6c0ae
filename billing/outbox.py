"""The outbox webhook deliveries and customer emails both go through.

A row is written in the transaction of the change it announces (a rolled-back change sends
nothing; a committed one is never lost) and a job is asked for after commit. The job claims the row
under a lease (two workers never both send it; a worker that died mid-send loses it once the lease
expires), sends it, and records the outcome: done, failed for good, or due again after a back-off.
The billing clock and cron sweep up rows whose job was lost.

Each kind of row (`WebhookDelivery`, `EmailDelivery`) has the same lifecycle columns: `status`
(`pending` → `sending` → its final status, or back to `pending` for a retry), `attempts`,
`next_attempt_at`, `lease_expires_at` and `updated_at`. An `Outbox` names the model, the job that
sends one row and the retry policy; what sending means and what a final status is called stay
with the module that owns the rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from billing.db import UnitOfWork, after_commit, read_only
from billing.ports import runtime

log = logging.getLogger(__name__)

# NOTE: 5 attempts over about 3 hours (Lago tries a webhook 3 times), so that a receiver down for a
# deploy, a short outage or an SMTP server greylisting still gets everything (docs/webhooks.md).
MAX_ATTEMPTS = 5
BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=15), timedelta(hours=2))
# A job may start a little before the instant it was scheduled for (clocks of different hosts).
EARLY_TOLERANCE = timedelta(seconds=5)

SUCCEEDED, FAILED, RETRY = "succeeded", "failed", "retry"


@dataclass(frozen=True)
class Outbox:
    model: Any  # the row's mapped class
    job: str  # the jobs.tasks task that sends one row, called with `delivery_id`
    job_prefix: str  # job ids: "<prefix>-<row id>-<attempt>", so each attempt is enqueued once
    lease: timedelta  # longer than one attempt can take
    max_attempts: int = MAX_ATTEMPTS
    backoff: tuple[timedelta, ...] = BACKOFF

    def job_id(self, delivery_id: str, attempt: int) -> str:
        return f"{self.job_prefix}-{delivery_id}-{attempt}"

    def ask(self, delivery_id: str, attempt: int = 1) -> None:
        """Ask for the job that sends this row's `attempt`."""
        runtime.dispatcher.enqueue(self.job, job_id=self.job_id(delivery_id, attempt), delivery_id=delivery_id)

    def ask_after_commit(self, session: Session, delivery_ids: Sequence[str]) -> None:
        """Ask for the first attempt of each row once the caller's unit of work commits."""
        ids = list(delivery_ids)

        def ask_each() -> None:
            for delivery_id in ids:
                self.ask(delivery_id)

        after_commit(session, ask_each)

    def _due(self, pending_by: datetime, lease_by: datetime):
        model = self.model
        return or_(and_(model.status == "pending", model.next_attempt_at <= pending_by),
                   and_(model.status == "sending", model.lease_expires_at <= lease_by))

    def claim(self, session: Session, delivery_id: str) -> int | None:
        """Take a due row for one attempt, atomically; returns the attempt's number, None when not due
        (done, failed, in flight under another worker's lease, or not yet due)."""
        now = runtime.clock.now()
        model = self.model
        taken = session.execute(update(model).where(
            model.id == delivery_id, self._due(now + EARLY_TOLERANCE, now),
        ).values(status="sending", attempts=model.attempts + 1, lease_expires_at=now + self.lease,
                 updated_at=now).execution_options(synchronize_session=False))
        if taken.rowcount != 1:
            return None
        return session.scalar(select(model.attempts).where(model.id == delivery_id))

    def settle(self, uow: UnitOfWork, delivery: Any, attempt: int, *, succeeded: bool,
               final: bool = False) -> str | None:
        """The outcome of `attempt` on a row the caller locked: SUCCEEDED or FAILED (the caller sets its
        final status), or RETRY (due again after the back-off; its job asked for after commit).

        None when this worker's lease ran out and another worker took the row over: it decides.
        `final`: no retry could succeed (e.g. the webhook endpoint was deleted).
        """
        if delivery.status != "sending" or delivery.attempts != attempt:
            return None
        delivery.lease_expires_at = None
        delivery.next_attempt_at = None
        if succeeded:
            return SUCCEEDED
        if final or attempt >= self.max_attempts:
            return FAILED
        wait = self.backoff[min(attempt - 1, len(self.backoff) - 1)]
        delivery.status, delivery.next_attempt_at = "pending", runtime.clock.now() + wait
        delivery_id = delivery.id
        uow.after_commit(lambda: runtime.dispatcher.enqueue_in(
            wait, self.job, job_id=self.job_id(delivery_id, attempt + 1), delivery_id=delivery_id))
        return RETRY

    def sweep(self, *, at: datetime | None = None, limit: int = 1000) -> int:
        """Ask for every row that is due and not in flight: what a lost enqueue, a dead worker or a
        restarted embedded process left behind. Returns how many were asked for."""
        at = at or runtime.clock.now()
        model = self.model
        with read_only() as session:
            due = list(session.execute(select(model.id, model.attempts).where(self._due(at, at))
                                       .order_by(model.next_attempt_at).limit(limit)))
        asked = 0
        for delivery_id, attempts in due:
            try:
                self.ask(delivery_id, attempts + 1)
                asked += 1
            except Exception:
                # One row whose job cannot be asked for (or, run in process, fails) must not keep the
                # others waiting: it stays due and the next sweep asks again.
                log.exception("asking for %s %s failed; the sweep goes on", self.job, delivery_id)
        return asked
