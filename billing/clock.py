"""The billing clock: everything that becomes due with time, run hourly (and on demand as of any time)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from billing.emails.services import send_due_emails
from billing.invoicing.services import bill_subscription, finalize_expired_drafts, subscriptions_due
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
    invoices: list[str] = field(default_factory=list)
    finalized: list[str] = field(default_factory=list)
    webhooks_requested: int = 0
    wallets_expired: int = 0
    wallet_top_ups: int = 0
    emails_requested: int = 0


def run_billing_clock(*, at: datetime | None = None, fan_out: bool = True) -> ClockRun:
    """Activate, end and bill what is due at `at`, finalize drafts whose grace period is over, and
    ask again for webhook deliveries and emails that are due.

    With `fan_out`, each subscription is billed by its own job (deterministic id, so a second
    clock run while jobs are queued adds nothing); without it, inline (the `billing run` CLI).
    Missed runs are caught up: every ended period without an invoice is billed, however old.
    """
    at = at or runtime.clock.now()
    run = ClockRun(at=at)
    # Events the rollup job has not reached count anyway (usage reads them raw); folding them in
    # here only keeps that tail short if no ingestion asked for the job lately.
    request_rollup()
    run.activated = activate_pending_subscriptions(at=at)
    run.terminated = end_due_subscriptions(at=at)
    for subscription_id in subscriptions_due(at=at):
        run.billed_subscriptions.append(subscription_id)
        if fan_out:
            runtime.dispatcher.enqueue("bill_subscription", job_id=f"bill-{subscription_id}-{at:%Y%m%d%H}",
                                       subscription_id=subscription_id, at=at.isoformat())
        else:
            run.invoices.extend(bill_subscription(subscription_id=subscription_id, at=at))
    run.finalized = finalize_expired_drafts(at=at)
    run.wallets_expired, run.wallet_top_ups = run_wallet_clock(at=at)
    run.wallet_top_ups += check_wallet_thresholds().fired
    # Webhooks whose delivery request was lost (or whose retry timer died with an embedded process).
    run.webhooks_requested = deliver_due_webhooks()
    run.emails_requested = send_due_emails()
    return run
