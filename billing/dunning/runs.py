"""The dunning run: each hour, each customer with overdue invoices gets the next attempt of their campaign
when it is due, once.

NOTE: as lago-api DunningCampaigns::BulkProcessService and ProcessAttemptService (docs/billing.md, Dunning):
a customer's campaign is their own (`applied_dunning_campaign`), else the organization's default, none when
excluded; an attempt is due when, in some currency, the overdue amount reaches the campaign's threshold, the
attempts made are fewer than `max_attempts`, and `days_between_attempts` have passed since the last one.
An attempt makes one payment request per currency that reaches its threshold (charged to the default method
after commit, else emailed with one link that pays all), counts itself, and after the last one
`dunning_campaign.finished` is sent. A customer with nothing overdue any more starts over (a new cycle).

Exactly once: an attempt is a `dunning_attempts` row unique per (customer, cycle, attempt number), written
in the transaction that makes its requests, their emails and their webhooks: two workers or two clock runs
racing collide there and the second does nothing; a worker killed before the commit leaves nothing, and the
next run makes the attempt; one killed after it left the charge to its job (retried, and swept by
`collect_stalled_payments`) with the payment's own idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from billing import links
from billing.customers.models import Customer
from billing.db import read_only, unit_of_work
from billing.dunning.campaigns import campaign_for, restart_counts
from billing.dunning.models import DunningAttempt, DunningCampaign
from billing.dunning.reminders import ReminderContext, render_reminder
from billing.invoicing.models import Invoice
from billing.payments.models import PaymentRequest
from billing.payments.requests import lock_invoices, make_request, overdue_invoices, still_overdue
from billing.ports import runtime
from billing.webhooks import services as webhooks

log = logging.getLogger(__name__)

DUNNING_CAMPAIGN_FINISHED = "dunning_campaign.finished"
BATCH = 200  # customers per job: one transaction each, so a batch is a few seconds of work
TASK = "run_dunning_batch"

# What became of one customer in a run (the CLI's summary counts them).
ATTEMPTED, RESET, NOT_DUE, FAILED = "attempted", "reset", "not_due", "failed"


@dataclass
class DunningRun:
    at: datetime
    attempted: list[str] = field(default_factory=list)  # customers
    requests: int = 0
    finished: int = 0  # customers whose campaign made its last attempt in this run
    reset: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # customer -> reason
    jobs: int = 0

    def add(self, other: DunningRun) -> None:
        self.attempted += other.attempted
        self.requests += other.requests
        self.finished += other.finished
        self.reset += other.reset
        self.failed.update(other.failed)


def due_customers(*, at: datetime | None = None) -> list[tuple[str, str]]:
    """(organization, customer) of everyone a run must look at: overdue invoices, or a cycle to close."""
    with read_only() as session:
        overdue = select(Invoice.organization_id, Invoice.customer_id).where(
            Invoice.status == "finalized", Invoice.payment_overdue.is_(True),
            Invoice.payment_status != "succeeded").distinct()
        started = select(Customer.organization_id, Customer.id).where(
            Customer.last_dunning_campaign_attempt > 0, Customer.deleted_at.is_(None))
        rows = session.execute(overdue.union(started)).all()
    return sorted((org, customer) for org, customer in rows)


def run_dunning(*, at: datetime | None = None, fan_out: bool = False) -> DunningRun:
    """Look at every customer a run must (in jobs of 200 with `fan_out`, inline otherwise)."""
    at = at or runtime.clock.now()
    run = DunningRun(at=at)
    customers = due_customers(at=at)
    batches = [customers[i:i + BATCH] for i in range(0, len(customers), BATCH)]
    if fan_out:
        run.jobs = runtime.dispatcher.enqueue_many(TASK, [
            (f"dunning-{batch[0][1]}-{at:%Y%m%d%H}", {"customers": [list(pair) for pair in batch],
                                                      "at": at.isoformat()}) for batch in batches])
        return run
    for batch in batches:
        run.add(run_dunning_batch(customers=batch, at=at))
    return run


def run_dunning_batch(*, customers: Sequence[Sequence[str]], at: datetime) -> DunningRun:
    """One job's customers, each in its own transaction: one that fails is reported and the others go on."""
    run = DunningRun(at=at)
    for organization_id, customer_id in customers:
        try:
            outcome, requests, finished = attempt(organization_id=organization_id, customer_id=customer_id, at=at)
        except Exception as error:  # one customer never stops the others (issue 12)
            log.exception("dunning customer %s failed; the others go on", customer_id)
            run.failed[customer_id] = type(error).__name__
            continue
        if outcome == ATTEMPTED:
            run.attempted.append(customer_id)
            run.requests += requests
            run.finished += finished
        elif outcome == RESET:
            run.reset += 1
    return run


def attempt(*, organization_id: str, customer_id: str, at: datetime) -> tuple[str, int, bool]:
    """The customer's next attempt if it is due at `at`: (outcome, requests made, campaign finished)."""
    with unit_of_work() as uow:
        session = uow.session
        customer = session.scalar(select(Customer).where(
            Customer.organization_id == organization_id, Customer.id == customer_id, Customer.deleted_at.is_(None))
            .with_for_update(of=Customer))
        if customer is None:
            return NOT_DUE, 0, False
        overdue = overdue_invoices(session, customer)
        if not overdue:
            if customer.last_dunning_campaign_attempt > 0:  # everything paid: the next overdue starts over
                restart_counts(session, Customer.id == customer.id)
                return RESET, 0, False
            return NOT_DUE, 0, False
        campaign = campaign_for(session, customer)
        if campaign is None or customer.last_dunning_campaign_attempt >= campaign.max_attempts:
            return NOT_DUE, 0, False
        last = customer.last_dunning_campaign_attempt_at
        if last is not None and at < last + timedelta(days=campaign.days_between_attempts):
            return NOT_DUE, 0, False
        thresholds = {t.currency: t.amount_cents for t in campaign.thresholds}
        by_currency: dict[str, list[Invoice]] = {}
        for invoice in overdue:
            by_currency.setdefault(invoice.currency, []).append(invoice)
        reaching = {currency: invoices for currency, invoices in by_currency.items()
                    if currency in thresholds
                    and sum(i.total_due_amount_cents for i in invoices) >= thresholds[currency]}
        if not reaching:
            return NOT_DUE, 0, False
        number = customer.last_dunning_campaign_attempt + 1
        record = DunningAttempt(organization_id=organization_id, customer_id=customer.id,
                                dunning_campaign_id=campaign.id, cycle=customer.dunning_cycle, attempt=number)
        try:
            with session.begin_nested():
                session.add(record)
                session.flush()
        except IntegrityError:  # another worker or clock run made this attempt: nothing more to do
            return NOT_DUE, 0, False
        made: list[PaymentRequest] = []
        for currency in sorted(reaching):
            invoices = still_overdue(lock_invoices(session, organization_id, [i.id for i in reaching[currency]]))
            if not invoices:
                continue  # paid between the read and the lock
            made.append(make_request(uow, customer, invoices, dunning_attempt_id=record.id,
                                     reminder=_reminder(campaign, customer, invoices), bcc=campaign.bcc_emails or ()))
        customer.last_dunning_campaign_attempt = number
        customer.last_dunning_campaign_attempt_at = at
        finished = number >= campaign.max_attempts
        if finished:
            webhooks.emit(session, organization_id, DUNNING_CAMPAIGN_FINISHED, "dunning_campaign_finished",
                          {"external_customer_id": customer.external_id, "dunning_campaign_code": campaign.code,
                           "overdue_balances": [{"currency": r.currency, "amount_cents": r.amount_cents}
                                                for r in made]},
                          object_id=customer.id)
        return ATTEMPTED, len(made), finished


def _reminder(campaign: DunningCampaign, customer: Customer,
              invoices: Sequence[Invoice]) -> Callable[[PaymentRequest], tuple[str, str]]:
    """The campaign's words for one request's reminder, its placeholders filled in (billing.dunning.reminders)."""
    def write(request: PaymentRequest) -> tuple[str, str]:
        context = ReminderContext(
            customer_name=customer.name or customer.external_id, organization_name=customer.organization.name,
            amount_cents=request.amount_cents, currency=request.currency,
            invoice_numbers=tuple(i.number for i in invoices),
            pay_link=links.payment_request_url(payment_request_id=request.id, organization_id=request.organization_id),
            due_date=min(i.payment_due_date for i in invoices))
        reminder = render_reminder(campaign.reminder_subject, campaign.reminder_message, context)
        return reminder.subject, reminder.message
    return write
