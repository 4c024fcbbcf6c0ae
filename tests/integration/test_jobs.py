"""Background work through the real job runner: RQ workers on Redis, or the in-process runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from billing.clock import run_billing_clock
from billing.db import read_only
from billing.invoicing.models import Invoice
from billing.ports import runtime
from tests.integration.helpers import monthly_plan, subscribe


def _customer_of(subscription_id: str) -> tuple[str, str]:
    from billing.subscriptions.models import Subscription

    with read_only() as session:
        return session.get(Subscription, subscription_id).customer_id, subscription_id


def _invoices() -> list[Invoice]:
    with read_only() as session:
        return list(session.scalars(select(Invoice).order_by(Invoice.number)))


def test_clock_fans_out_batch_jobs_and_workers_bill_and_render(org, clock, run_jobs, app):
    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id)
    subscribe(org.id, "sub-1", at="2026-09-01T00:00:00Z")
    subscribe(org.id, "sub-2", at="2026-09-16T00:00:00Z")
    clock.set("2026-10-01T00:30:00Z")
    first = run_billing_clock()
    assert len(first.billed_subscriptions) == 2
    assert first.jobs == 1  # one organization, two customers: one batch
    dispatcher = app.extensions["tally_dispatcher"]
    if hasattr(dispatcher, "queue"):
        # A second clock before any worker ran enqueues the same deterministic job id: nothing new.
        again = run_billing_clock()
        assert len(again.billed_subscriptions) == 2 and again.jobs == 0
        [job_id] = [j for j in dispatcher.queue.job_ids if j.startswith("bill-")]
        assert job_id == f"bill-batch-{min(first.billed_subscriptions, key=_customer_of)}-2026100100"
    else:
        run_billing_clock()  # the in-process runner may already be busy with the first run's jobs

    run_jobs()  # bills, and each finalization enqueues its PDF
    run_jobs()  # renders the PDFs
    invoices = _invoices()
    assert sorted(i.fees_amount_cents for i in invoices) == [1500, 3000]
    for invoice in invoices:
        assert invoice.file_key and runtime.files.load(invoice.file_key).startswith(b"%PDF")


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: the embedded mode has no separate worker")
def test_a_separate_rq_worker_process_does_the_billing(org, clock, settings, app):
    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id)
    subscribe(org.id, "sub-1", at="2026-09-01T00:00:00Z")
    clock.set("2026-10-01T00:30:00Z")
    run_billing_clock()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "SECRET_KEY": settings.secret_key, "TALLY_FILES_PATH": str(settings.files_path),
           "TALLY_INSTANCE_PATH": str(settings.instance_path)}
    rq = Path(sys.executable).with_name("rq")
    for _ in range(2):  # the billing job, then the PDF job it enqueued
        subprocess.run([str(rq), "worker", "--burst", "--url", settings.redis_url, "default"], env=env, check=True,
                       capture_output=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    [invoice] = _invoices()
    assert invoice.fees_amount_cents == 3000 and invoice.status == "finalized"
    assert runtime.files.load(invoice.file_key).startswith(b"%PDF")


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="rq cron needs Redis")
def test_rq_cron_schedule_runs_the_billing_clock_hourly(settings):
    from redis import Redis
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=Redis.from_url(settings.redis_url))
    scheduler.load_config_from_file("jobs.cron")
    jobs = {job.func.__name__: job for job in scheduler._cron_jobs}
    assert set(jobs) == {"run_billing_clock", "deliver_due_webhooks", "send_due_emails", "recover_abandoned_jobs",
                         "collect_stalled_payments"}
    job = jobs["run_billing_clock"]
    assert job.func.__module__ == "jobs.tasks"
    assert job.cron == "0 * * * *" and job.queue_name == "default"
    assert jobs["deliver_due_webhooks"].cron == "*/5 * * * *"
    assert jobs["recover_abandoned_jobs"].cron == "*/2 * * * *"  # a killed worker's job runs again within minutes
    assert jobs["collect_stalled_payments"].cron == "*/5 * * * *"  # a charge a dead worker left is finished


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the race needs a shared queue (RQ)")
def test_a_commit_after_a_refused_request_still_gets_a_rollup_run(monkeypatch):
    """Only a run this process was granted stands for its next commits: when its previous run is
    still waiting, the next commit asks again (the last events of a load were left unrolled)."""
    from redis import Redis
    from rq.job import Job, JobStatus

    from billing.metering import rollups
    from jobs.dispatch import RQDispatcher

    Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    dispatcher = RQDispatcher(os.environ["REDIS_URL"])
    monkeypatch.setattr(runtime, "dispatcher", dispatcher)
    monkeypatch.setattr(runtime, "rollup_delay", 0.5)
    monkeypatch.setattr(rollups, "_next_rollup_at", 0.0)
    now = [1_000.0]
    monkeypatch.setattr(rollups.time, "time", lambda: now[0])
    rollups.request_rollup()  # granted: a run starting at 1000.5 at the earliest
    [job_id] = dispatcher.queue.job_ids
    now[0] = 1_000.2
    rollups.request_rollup()  # covered by that run: not even asked
    now[0] = 1_000.6
    rollups.request_rollup()  # the run waits still (a busy worker): it takes this commit, refused
    Job.fetch(job_id, connection=dispatcher.connection).set_status(JobStatus.STARTED)
    dispatcher.queue.remove(job_id)  # a worker takes it, and may pass the next commit
    now[0] = 1_000.7
    rollups.request_rollup()
    assert dispatcher.queue.job_ids == [f"{job_id}+again"]


def test_a_request_while_the_job_runs_queues_one_more_run():
    """The rollup job may already have passed the events of a request made while it runs: never drop it."""
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        from redis import Redis
        from rq.job import Job, JobStatus

        from jobs.dispatch import RQDispatcher

        Redis.from_url(redis_url).flushdb()
        dispatcher = RQDispatcher(redis_url)
        dispatcher.enqueue("roll_up_events", job_id="roll-up-events")
        dispatcher.enqueue("roll_up_events", job_id="roll-up-events")  # still waiting: nothing more
        assert dispatcher.queue.job_ids == ["roll-up-events"]
        Job.fetch("roll-up-events", connection=dispatcher.connection).set_status(JobStatus.STARTED)
        dispatcher.queue.remove("roll-up-events")  # as a worker does when it takes the job
        dispatcher.enqueue("roll_up_events", job_id="roll-up-events")
        dispatcher.enqueue("roll_up_events", job_id="roll-up-events")
        assert dispatcher.queue.job_ids == ["roll-up-events+again"]
        return

    import threading

    from jobs import tasks
    from jobs.dispatch import InProcessDispatcher

    started, release, runs = threading.Event(), threading.Event(), []

    def slow_job() -> None:
        runs.append(1)
        started.set()
        release.wait(5)

    tasks.TASKS["test_slow_job"] = slow_job
    try:
        dispatcher = InProcessDispatcher()
        dispatcher.enqueue("test_slow_job", job_id="slow")
        assert started.wait(5)
        dispatcher.enqueue("test_slow_job", job_id="slow")  # while it runs: one more run
        dispatcher.enqueue("test_slow_job", job_id="slow")  # that one waits: nothing more
        release.set()
        dispatcher.join()
        assert len(runs) == 2
    finally:
        del tasks.TASKS["test_slow_job"]


def test_ingestion_asks_for_the_advance_job_only_for_metrics_with_an_advance_charge(org, clock, run_jobs, app):
    from billing.catalog.services import get_plan, update_plan
    from billing.invoicing.models import Fee
    from billing.metering.services import ingest_events

    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id)
    subscribe(org.id, "sub-1", at="2026-09-01T00:00:00Z")
    dispatcher = app.extensions["tally_dispatcher"]

    def event(transaction_id: str) -> list[dict]:
        return [{"transaction_id": transaction_id, "external_subscription_id": "sub-1", "code": "api_calls",
                 "timestamp": "2026-09-02T00:00:00Z"}]

    ingest_events(organization_id=org.id, raw_events=event("in-arrears"))
    if hasattr(dispatcher, "queue"):
        assert "bill-advance-charges" not in dispatcher.queue.job_ids
    run_jobs()
    # The charge turns pay-in-advance: the plan change invalidates every process's ingest catalog.
    charge = get_plan(organization_id=org.id, code="startup").charges[0]
    update_plan(organization_id=org.id, code="startup", data={"charges": [
        {"id": charge.id, "billable_metric_id": charge.billable_metric_id, "charge_model": "standard",
         "pay_in_advance": True, "invoiceable": False, "properties": {"amount": "0.01"}}]})
    ingest_events(organization_id=org.id, raw_events=event("in-advance"))
    if hasattr(dispatcher, "queue"):
        assert "bill-advance-charges" in dispatcher.queue.job_ids
    run_jobs()
    with read_only() as session:
        fees = list(session.scalars(select(Fee).where(Fee.pay_in_advance.is_(True))))
    assert [(f.event_transaction_id, f.amount_cents, f.invoice_id) for f in fees] == [("in-advance", 1, None)]


def test_enqueue_many_enqueues_each_job_id_once_while_it_waits():
    """The clock's jobs go in two round trips; an id already waiting (or given twice) is not enqueued again."""
    jobs = [("bill-batch-a", {"subscription_ids": ["s1", "s2"], "at": "2026-10-01T00:00:00+00:00"}),
            ("bill-batch-b", {"subscription_ids": ["s3"], "at": "2026-10-01T00:00:00+00:00"}),
            ("bill-batch-a", {"subscription_ids": ["s1", "s2"], "at": "2026-10-01T00:00:00+00:00"})]
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        from redis import Redis
        from rq.job import Job, JobStatus

        from jobs.dispatch import RQDispatcher

        Redis.from_url(redis_url).flushdb()
        dispatcher = RQDispatcher(redis_url)
        assert dispatcher.enqueue_many("bill_subscriptions", jobs) == 2
        assert dispatcher.queue.job_ids == ["bill-batch-a", "bill-batch-b"]
        job = Job.fetch("bill-batch-a", connection=dispatcher.connection)
        assert job.func_name == "jobs.tasks.bill_subscriptions" and job.kwargs == jobs[0][1]
        assert job.retries_left == 3 and job.timeout == 600
        assert dispatcher.enqueue_many("bill_subscriptions", jobs) == 0  # still waiting: nothing more
        job.set_status(JobStatus.STARTED)
        dispatcher.queue.remove("bill-batch-a")  # as a worker does when it takes the job
        # Running: one more run after it (it may have passed what the new request is about), once.
        assert dispatcher.enqueue_many("bill_subscriptions", jobs) == 1
        assert dispatcher.queue.job_ids == ["bill-batch-b", "bill-batch-a+again"]
        return

    from jobs import tasks
    from jobs.dispatch import InProcessDispatcher

    runs: list[tuple] = []
    tasks.TASKS["test_recorded_job"] = lambda **kwargs: runs.append(tuple(kwargs["subscription_ids"]))
    try:
        dispatcher = InProcessDispatcher()
        assert dispatcher.enqueue_many("test_recorded_job", jobs) == 2
        dispatcher.join()
        assert sorted(runs) == [("s1", "s2"), ("s3",)]
    finally:
        del tasks.TASKS["test_recorded_job"]
