"""A worker killed mid-batch (SIGKILL: no cleanup, no failure recorded) leaves its job "started". Recovery puts it
back on the queue once its heartbeat has expired, a new worker bills the batch, and every invoice exists once.

Real parts throughout: `rq worker -w jobs.worker.TallyWorker` subprocesses (as in production) on the tests'
Redis and database, a row lock held by the test so that the batch is caught mid-way, SIGKILL to the worker.
The one thing not waited for in real time is the heartbeat's expiry (90 s in production, 61 s here):
recovery is asked as of two minutes later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from billing import db
from billing.clock import run_billing_clock
from billing.db import read_only
from billing.invoicing.models import Invoice, InvoiceSubscription
from tests.integration.billing_failure_setup import subscribe_to, two_plans

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: RQ workers")

ROOT = Path(__file__).resolve().parents[2]


def _env(settings) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
            "SECRET_KEY": settings.secret_key, "TALLY_FILES_PATH": str(settings.files_path),
            "TALLY_INSTANCE_PATH": str(settings.instance_path), "TALLY_INVOICE_PDFS": "0"}


def _rq(settings, *args: str, **kwargs) -> subprocess.Popen:
    command = [str(Path(sys.executable).with_name("rq")), "worker", "-w", "jobs.worker.TallyWorker",
               "--url", settings.redis_url, *args, "default"]
    return subprocess.Popen(command, env=_env(settings), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, **kwargs)


def _expiry(redis, started, job_id: str) -> float:
    """When the job's execution, in the started registry, is seen abandoned unless its worker renews it."""
    return max(score for key, score in redis.zrange(started.key, 0, -1, withscores=True)
               if key.decode().split(":")[0] == job_id)


def _wait(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _billed() -> tuple[int, int, int]:
    with read_only() as session:
        return (session.scalar(select(func.count()).select_from(Invoice)),
                session.scalar(select(func.count()).select_from(InvoiceSubscription)),
                session.scalar(select(func.count(func.distinct(InvoiceSubscription.subscription_id)))))


def test_a_batch_abandoned_by_a_killed_worker_is_billed_once_after_recovery(org, clock, settings, app):
    from redis import Redis
    from rq import Queue
    from rq.registry import StartedJobRegistry

    from jobs.recovery import recover_abandoned_jobs

    clock.set("2026-09-01T00:00:00Z")
    two_plans(org.id)
    ids = [subscribe_to(org.id, f"sub-{n}", "startup", at="2026-09-01T00:00:00Z") for n in range(3)]
    clock.set("2026-10-01T01:00:00Z")
    redis = Redis.from_url(settings.redis_url)
    queue = Queue("default", connection=redis)
    started = StartedJobRegistry(queue=queue)

    assert run_billing_clock().jobs == 1  # the batch's job, queued
    [job_id] = [j for j in queue.job_ids if j.startswith("bill-")]
    lock = db.engine().connect()
    transaction = lock.begin()  # the batch's subscriptions locked (SQLite: the whole database, for writing)
    lock.execute(sa.text("SELECT id FROM subscriptions WHERE id IN (:a, :b, :c)" + (
        " FOR UPDATE" if db.engine().dialect.name == "postgresql" else "")), dict(zip("abc", ids, strict=True)))
    if db.engine().dialect.name == "sqlite":
        lock.execute(sa.text("UPDATE subscriptions SET name = name WHERE id = :a"), {"a": ids[0]})
    worker = _rq(settings, "--job-monitoring-interval", "1", start_new_session=True)
    try:
        _wait(lambda: job_id in started.get_job_ids(), timeout=180)  # a worker starts slowly on a busy machine
        first = _expiry(redis, started, job_id)
        assert first - time.time() < 62  # TallyWorker: the interval + 60 s (SimpleWorker: the job's timeout + 60 s)
        _wait(lambda: _expiry(redis, started, job_id) > first, timeout=10)  # renewed while the job waits mid-batch
        assert recover_abandoned_jobs(connection=redis) == []  # alive: its heartbeat is fresh, it is left alone
        os.kill(worker.pid, signal.SIGKILL)  # the job runs in the worker's own process (no fork per job)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:  # the test failed before killing it: a stray worker would take later tests' jobs
            worker.kill()
            worker.wait(timeout=10)
        transaction.rollback()
        lock.close()
    assert job_id in started.get_job_ids()  # abandoned: "started" until its heartbeat expires

    # Without recovery, another worker finds nothing to do: the batch waits (until the next hourly clock run).
    _rq(settings, "--burst").wait(timeout=120)
    assert _billed() == (0, 0, 0)

    recovered = recover_abandoned_jobs(connection=redis, timestamp=time.time() + 120)

    assert recovered == [job_id] and job_id in queue.job_ids and job_id not in started.get_job_ids()
    assert _rq(settings, "--burst").wait(timeout=120) == 0
    assert _billed() == (3, 3, 3)  # each subscription's invoice exactly once
    assert recover_abandoned_jobs(timestamp=time.time() + 120) == []  # nothing left (Redis from REDIS_URL)
