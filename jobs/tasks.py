"""One thin job per service: parse the arguments, call the service. Every one is safe to rerun."""

from __future__ import annotations

import time
from datetime import datetime

from billing import clock
from billing.alerts import evaluation as alerts
from billing.dunning import runs as dunning
from billing.emails import services as emails
from billing.invoicing import advance, credit_notes, documents, progressive, runs
from billing.metering import rollups
from billing.metering.store import event_store
from billing.payments import collection, refunds, requests
from billing.payments import customers as payment_customers
from billing.ports import runtime
from billing.wallets import rules
from billing.webhooks import services as webhooks
from jobs.bootstrap import ensure_configured


def bill_subscription(*, subscription_id: str, at: str) -> list[str]:
    """One subscription (its advance fee at start): like a batch of one, its failure recorded."""
    return bill_subscriptions(subscription_ids=[subscription_id], at=at)


def bill_subscriptions(*, subscription_ids: list[str], at: str) -> list[str]:
    """A batch of one organization's subscriptions (the clock's fan-out); the new invoices' ids.

    A subscription that could not be billed is recorded (the admin's "Could not bill" list) and the others
    are billed all the same. The job fails, to be retried by RQ (3 times, then the next clock run), only
    when the cause may pass (the database or network failed): bad data fails the same way every time,
    so it is not retried in a loop but waits for the next clock run or an account manager's "Retry now".
    """
    ensure_configured()
    try:
        return runs.bill_subscriptions(subscription_ids=subscription_ids, at=datetime.fromisoformat(at))
    except runs.BillingFailed as failed:
        if failed.transient:
            raise
        return failed.created


def render_invoice_pdf(*, invoice_id: str) -> str | None:
    ensure_configured()
    return documents.render_invoice_pdf(invoice_id=invoice_id)


def render_credit_note_pdf(*, credit_note_id: str) -> str | None:
    ensure_configured()
    return credit_notes.render_credit_note_pdf(credit_note_id=credit_note_id)


def run_billing_clock(*, at: str | None = None) -> dict:
    ensure_configured()
    run = clock.run_billing_clock(at=datetime.fromisoformat(at) if at else None)
    return {"at": run.at.isoformat(), "activated": run.activated, "terminated": len(run.terminated),
            "billed_subscriptions": len(run.billed_subscriptions), "jobs": run.jobs, "failed": run.failed,
            "failed_steps": run.step_failures}


def roll_up_events(*, not_before: float | None = None) -> int:
    """Fold new events into the rollups until none is left (a later ingest asks again).

    `not_before` (Unix time): the ingestion that asked promised the job to start no earlier, so
    that the commits which relied on this request (metering.rollups.request_rollup) are taken.
    """
    ensure_configured()
    if not_before is not None:
        time.sleep(min(max(not_before - time.time(), 0.0), 5.0))
    total = 0
    # One pass takes every settled event up to its batch limit; more passes only for a backlog.
    # (Looping until nothing is left would never end under a steady load, each pass a barrier.)
    while (taken := event_store().roll_up(limit=rollups.BATCH)) >= rollups.BATCH:
        total += taken
    total += taken
    if total >= LARGE_BACKLOG:
        rollups.refresh_event_statistics()
    if total:
        # New usage may take a wallet's ongoing balance to a threshold: checked off the ingest path.
        runtime.dispatcher.enqueue("check_wallet_thresholds", job_id="check-wallet-thresholds")
        # ... and a subscription's usage to an alert's threshold: evaluated off the ingest path too.
        alerts.request_run()
        progressive.request_threshold_check()  # new usage may cross a plan's usage threshold
    return total


def bill_advance_charges() -> int:
    """Bill the pay-in-advance charges of every new event (a fee per event; safe to rerun)."""
    ensure_configured()
    total = 0
    while (taken := advance.bill_advance_charges()) >= advance.BATCH:
        total += taken
    return total + taken


def check_wallet_thresholds() -> dict:
    ensure_configured()
    check = rules.check_wallet_thresholds()
    return {"customers": check.customers, "fired": check.fired}


def evaluate_usage_alerts() -> dict:
    """Evaluate the alerts of the subscriptions whose usage moved (or whose alerts changed); safe to rerun."""
    ensure_configured()
    run = alerts.evaluate_usage_alerts()
    return {"subscriptions": run.subscriptions, "triggered": len(run.triggered), "failed": len(run.failed)}
def check_usage_thresholds() -> dict:
    """Issue the progressive billing invoices of the usage thresholds that new events made subscriptions cross."""
    ensure_configured()
    check = progressive.check_usage_thresholds()
    return {"subscriptions": check.subscriptions, "invoices": len(check.invoices), "failed": len(check.failed)}


def evaluate_usage_thresholds(*, subscription_id: str) -> str | None:
    """One subscription's usage thresholds (after its historical usage changed); the invoice issued, if any."""
    ensure_configured()
    invoice = progressive.evaluate_usage_thresholds(subscription_id=subscription_id)
    return invoice.id if invoice else None


def deliver_webhook(*, delivery_id: str) -> str | None:
    """One attempt of one webhook delivery (nothing when it is already sent, failed or in flight)."""
    ensure_configured()
    result = webhooks.deliver_webhook(delivery_id=delivery_id)
    return result.status if result else None


def deliver_due_webhooks() -> int:
    """Ask for every webhook delivery that is due (retries whose job was lost, dead workers)."""
    ensure_configured()
    return webhooks.deliver_due_webhooks()


def send_email(*, delivery_id: str) -> str | None:
    """One attempt of one customer email (nothing when it is already sent, failed or in flight)."""
    ensure_configured()
    result = emails.send_email(delivery_id=delivery_id)
    return result.status if result else None


def send_due_emails() -> int:
    """Ask for every customer email that is due (retries whose job was lost, dead workers)."""
    ensure_configured()
    return emails.send_due_emails()


def collect_invoice_payment(*, organization_id: str, invoice_id: str) -> str:
    """Charge an invoice's amount due to the customer's default method; a provider's transient failure
    raises, so RQ retries it with the same idempotency key (the pending payment row is reused)."""
    ensure_configured()
    return collection.collect_invoice(organization_id=organization_id, invoice_id=invoice_id).status


def sync_provider_customer(*, organization_id: str, customer_id: str) -> str | None:
    """Create (or update) the customer at their payment provider and read back their saved methods."""
    ensure_configured()
    return payment_customers.sync_provider_customer(organization_id=organization_id, customer_id=customer_id)


def refund_credit_note(*, organization_id: str, credit_note_id: str) -> str | None:
    """Refund a credit note through the provider that took the invoice's payment."""
    ensure_configured()
    return refunds.refund_credit_note(organization_id=organization_id, credit_note_id=credit_note_id)


def collect_payment_request(*, organization_id: str, payment_request_id: str) -> str:
    """Charge a payment request's total (every invoice it groups) to the customer's default method."""
    ensure_configured()
    return requests.collect_payment_request(organization_id=organization_id,
                                            payment_request_id=payment_request_id).status


def run_dunning_batch(*, customers: list[list[str]], at: str) -> dict:
    """One batch of the hourly dunning run: each customer's next attempt, if due, made once."""
    ensure_configured()
    run = dunning.run_dunning_batch(customers=customers, at=datetime.fromisoformat(at))
    return {"attempted": len(run.attempted), "requests": run.requests, "failed": len(run.failed)}


def collect_stalled_payments() -> int:
    """Ask again for charges left pending without the provider's answer (a worker killed mid-charge)."""
    ensure_configured()
    return collection.ask_stalled_collections()


LARGE_BACKLOG = 50_000  # events: below this, autovacuum's own analyze keeps up


TASKS = {
    "roll_up_events": roll_up_events,
    "bill_subscription": bill_subscription,
    "bill_subscriptions": bill_subscriptions,
    "bill_advance_charges": bill_advance_charges,
    "render_invoice_pdf": render_invoice_pdf,
    "render_credit_note_pdf": render_credit_note_pdf,
    "run_billing_clock": run_billing_clock,
    "deliver_webhook": deliver_webhook,
    "deliver_due_webhooks": deliver_due_webhooks,
    "check_wallet_thresholds": check_wallet_thresholds,
    "evaluate_usage_alerts": evaluate_usage_alerts,
    "check_usage_thresholds": check_usage_thresholds,
    "evaluate_usage_thresholds": evaluate_usage_thresholds,
    "send_email": send_email,
    # The name it had when emails were invoices only: jobs queued before an upgrade still run.
    "send_invoice_email": send_email,
    "send_due_emails": send_due_emails,
    "collect_invoice_payment": collect_invoice_payment,
    "sync_provider_customer": sync_provider_customer,
    "refund_credit_note": refund_credit_note,
    "collect_stalled_payments": collect_stalled_payments,
    "collect_payment_request": collect_payment_request,
    "run_dunning_batch": run_dunning_batch,
}
