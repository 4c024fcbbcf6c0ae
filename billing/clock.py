"""The billing clock: everything that becomes due with time, run hourly (and on demand as of any time)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from billing.emails.services import send_due_emails
from billing.invoicing.services import BillingFailed, bill_subscriptions, due_batches, finalize_expired_drafts
from billing.metering.rollups import request_rollup
from billing.ports import runtime
from billing.subscriptions.services import activate_pending_subscriptions, end_due_subscriptions
from billing.wallets.services import check_wallet_thresholds, run_wallet_clock
from billing.webhooks.services import deliver_due_webhooks


@dataclass
class ClockRun:
    at: datetime
    activated: int = 0
    terminated: list[str] = field(default_factory=list)
    billed_subscriptions: list[str] = field(default_factory=list)
    jobs: int = 0  # billing jobs enqueued (fan-out)
    invoices: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # subscriptions that could not be billed (inline)
    finalized: list[str] = field(default_factory=list)
    webhooks_requested: int = 0
    wallets_expired: int = 0
    wallet_top_ups: int = 0
    emails_requested: int = 0


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
    request_rollup()
    run.activated = activate_pending_subscriptions(at=at)
    run.terminated = end_due_subscriptions(at=at)
    batches = due_batches(at=at)
    for batch in batches:
        run.billed_subscriptions.extend(batch.subscription_ids)
    if fan_out:
        run.jobs = runtime.dispatcher.enqueue_many("bill_subscriptions", [
            (billing_job_id(batch.key, at), {"subscription_ids": batch.subscription_ids, "at": at.isoformat()})
            for batch in batches])
    else:
        for batch in batches:
            try:
                run.invoices.extend(bill_subscriptions(subscription_ids=batch.subscription_ids, at=at))
            except BillingFailed as failure:
                run.invoices.extend(failure.created)
                run.failed.extend(failure.subscription_ids)
    run.finalized = finalize_expired_drafts(at=at)
    run.wallets_expired, run.wallet_top_ups = run_wallet_clock(at=at)
    run.wallet_top_ups += check_wallet_thresholds().fired
    # Webhooks whose delivery request was lost (or whose retry timer died with an embedded process).
    run.webhooks_requested = deliver_due_webhooks()
    run.emails_requested = send_due_emails()
    return run
