"""The billing clock: everything that becomes due with time, run hourly (and on demand as of any time)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select

from billing.alerts.evaluation import evaluate_usage_alerts
from billing.db import read_only, utcnow
from billing.dunning.runs import DunningRun, run_dunning
from billing.emails.services import send_due_emails
from billing.errors import NotAllowed, NotFound
from billing.invoicing import failures
from billing.invoicing.actions import finalize_expired_drafts
from billing.invoicing.overdue import mark_overdue_invoices
from billing.invoicing.runs import BillingFailed, bill_subscriptions, due_batches
from billing.lifecycle import activate_pending_subscriptions, end_due_subscriptions
from billing.metering.rollups import request_rollup
from billing.ports import runtime
from billing.wallets.rules import check_wallet_thresholds, run_wallet_clock
from billing.webhooks.services import deliver_due_webhooks

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ClockRun:
    at: datetime
    activated: int = 0
    terminated: list[str] = field(default_factory=list)
    billed_subscriptions: list[str] = field(default_factory=list)
    jobs: int = 0  # billing jobs enqueued (fan-out)
    invoices: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # subscriptions that could not be billed, started or ended
    could_not_bill: list[failures.CouldNotBill] = field(default_factory=list)  # the same, named, with reasons
    step_failures: dict[str, str] = field(default_factory=dict)  # a step that failed as a whole → its reason
    finalized: list[str] = field(default_factory=list)
    webhooks_requested: int = 0
    wallets_expired: int = 0
    wallet_top_ups: int = 0
    alerts_triggered: int = 0
    emails_requested: int = 0
    overdue_marked: int = 0
    dunning: DunningRun | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and not self.step_failures

    def step(self, name: str, work: Callable[[], T], default: T) -> T:
        """Run one step of the clock; one that fails is logged and reported, and the next steps run."""
        try:
            return work()
        except Exception as error:
            log.exception("billing clock step %r failed; the next steps run all the same", name)
            self.step_failures[name] = failures.reason_of(error)
            return default


def billing_job_id(key: str, at: datetime) -> str:
    """The id of the job billing the batch that starts with subscription `key`, for the clock's hour."""
    return f"bill-batch-{key}-{at:%Y%m%d%H}"


def run_billing_clock(*, at: datetime | None = None, fan_out: bool = True) -> ClockRun:
    """Activate, end and bill what is due at `at`, finalize drafts whose grace period is over, and
    ask again for webhook deliveries and emails that are due.

    With `fan_out`, the due subscriptions are billed by jobs, each a batch of one organization's
    subscriptions (a customer's together), all enqueued at once with deterministic ids, so a second
    clock run while jobs are queued adds nothing; without it, inline (the `billing run` CLI), where a
    subscription that fails is reported in `failed` and does not stop the others.
    Missed runs are caught up: every ended period without an invoice is billed, however old.
    """
    at = at or runtime.clock.now()
    run = ClockRun(at=at)
    # Events the rollup job has not reached count anyway (usage reads them raw); folding them in
    # here only keeps that tail short if no ingestion asked for the job lately.
    run.step("rollup request", request_rollup, None)
    # NOTE: every step, and every subscription, wallet and delivery inside a step, fails alone: one
    # bad subscription never stops the others (issue 12); what failed is recorded and reported.
    failed: dict[str, tuple[str, str]] = {}  # subscription → (step, reason)
    activation = run.step("activation", lambda: activate_pending_subscriptions(at=at), failures.Outcome())
    run.activated = len(activation.done)
    failed.update({i: (failures.ACTIVATION, reason) for i, reason in activation.failed.items()})
    ending = run.step("ending", lambda: end_due_subscriptions(at=at), failures.Outcome())
    run.terminated = ending.done
    failed.update({i: (failures.ENDING, reason) for i, reason in ending.failed.items()})
    batches = run.step("due subscriptions", lambda: due_batches(at=at), [])
    for batch in batches:
        run.billed_subscriptions.extend(batch.subscription_ids)
    if fan_out:
        run.jobs = run.step("billing jobs", lambda: runtime.dispatcher.enqueue_many("bill_subscriptions", [
            (billing_job_id(batch.key, at), {"subscription_ids": batch.subscription_ids, "at": at.isoformat()})
            for batch in batches]), 0)
    else:
        for batch in batches:
            try:
                run.invoices.extend(bill_subscriptions(subscription_ids=batch.subscription_ids, at=at))
            except BillingFailed as failure:
                run.invoices.extend(failure.created)
                failed.update({i: (failures.BILLING, failure.reasons.get(i, "unknown"))
                               for i in failure.subscription_ids})
            except Exception as error:  # not even one by one (the database is gone): the batch waits
                log.exception("billing the batch of %s failed", batch.key)
                failed.update({i: (failures.BILLING, failures.reason_of(error)) for i in batch.subscription_ids})
    run.failed = list(failed)
    run.finalized = run.step("finalizing drafts", lambda: finalize_expired_drafts(at=at), [])
    run.overdue_marked = run.step("overdue invoices", lambda: mark_overdue_invoices(at=at), 0)
    # After the overdue sweep, so that an invoice overdue as of `at` is chased in the same run.
    run.dunning = run.step("dunning", lambda: run_dunning(at=at, fan_out=fan_out), None)
    if run.dunning is not None and run.dunning.failed:
        run.step_failures["dunning"] = f"{len(run.dunning.failed)} customers could not be chased"
    run.wallets_expired, run.wallet_top_ups = run.step("wallet clock", lambda: run_wallet_clock(at=at), (0, 0))
    run.wallet_top_ups += run.step("wallet thresholds", lambda: check_wallet_thresholds().fired, 0)
    # Alerts asked for whose evaluation job was lost (a crash between a commit and its request).
    run.alerts_triggered = run.step("usage alerts", lambda: len(evaluate_usage_alerts().triggered), 0)
    # Webhooks whose delivery request was lost (or whose retry timer died with an embedded process).
    run.webhooks_requested = run.step("webhook sweep", deliver_due_webhooks, 0)
    run.emails_requested = run.step("email sweep", send_due_emails, 0)
    if failed:
        run.could_not_bill = run.step("naming failures", lambda: failures.describe(failed), [])
    return run


@dataclass(frozen=True)
class Retried:
    resolved: bool
    invoices: list[str]
    reason: str | None = None  # why it failed again


def retry_failure(*, organization_id: str, failure_id: str, at: datetime | None = None) -> Retried:
    """Run the step that failed again for that one subscription (an account manager's "Retry now")."""
    with read_only() as session:
        failure = session.scalar(select(failures.BillingFailure).where(
            failures.BillingFailure.id == failure_id, failures.BillingFailure.organization_id == organization_id))
        if failure is None:
            raise NotFound("billing_failure")
        subscription_id, step = failure.subscription_id, failure.step
        if failure.resolved_at is not None:  # billed meanwhile (a later run, another tab): nothing to do
            return Retried(True, [])
    if step not in failures.STEPS:
        raise NotAllowed("unknown_step")
    at = at or utcnow()
    if step == failures.BILLING:
        try:
            return Retried(True, bill_subscriptions(subscription_ids=[subscription_id], at=at))
        except BillingFailed as failed:
            return Retried(False, failed.created, failed.reasons.get(subscription_id))
    run = (activate_pending_subscriptions if step == failures.ACTIVATION else end_due_subscriptions)
    outcome = run(at=at, subscription_ids=[subscription_id])
    reason = outcome.failed.get(subscription_id)
    return Retried(reason is None, [], reason)
