"""`flask --app wsgi billing run` with a subscription that cannot be billed among good ones, as an operator runs it:
a subprocess on the tests' database. No traceback; each failure named with its reason; exit status 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from billing.db import read_only
from billing.invoicing.models import InvoiceSubscription
from tests.integration.billing_failure_setup import corrupt, repair, subscribe_to, two_plans

ROOT = Path(__file__).resolve().parents[1]


def _billing_run(settings, at: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "FLASK_APP")}
    env.update(DATABASE_URL=settings.database_url, SECRET_KEY=settings.secret_key,
               TALLY_INSTANCE_PATH=str(settings.instance_path), TALLY_FILES_PATH=str(settings.files_path),
               TALLY_EMBEDDED_CLOCK="0", PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "billing", "run", "--at", at], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_billing_run_names_what_it_could_not_bill_and_exits_1(org, clock, settings):
    clock.set("2026-09-01T00:00:00Z")
    two_plans(org.id)
    for n in range(2):
        subscribe_to(org.id, f"good-{n}", "startup", at="2026-09-01T00:00:00Z")
    subscribe_to(org.id, "bad", "broken", at="2026-09-01T00:00:00Z")
    corrupt(org.id)

    result = _billing_run(settings, "2026-10-01T01:00:00Z")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("2 invoices issued, 1 subscriptions could not be billed")
    assert lines[1] == ("  could not bill customer cust-bad, subscription bad: InvalidProperties: invalid standard "
                        "properties: {'amount': ['invalid_amount']}")
    with read_only() as session:
        assert session.scalar(select(func.count()).select_from(InvoiceSubscription)) == 2

    repair(org.id)
    fixed = _billing_run(settings, "2026-10-01T02:00:00Z")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert fixed.stdout.splitlines() == ["billing clock at 2026-10-01T02:00:00+00:00: 0 activated, 0 ended, "
                                         "1 invoices issued",
                                         "overdue: 0 invoices marked; dunning: 0 attempts, 0 payment requests, "
                                         "0 campaigns finished, 0 customers started over"]
