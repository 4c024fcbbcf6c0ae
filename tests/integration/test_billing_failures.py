"""One bad subscription never stops the others (issue 12): every failure is caught per subscription, recorded
with its reason (billing_failures), reported, tried again by later runs and cleared once billed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from billing.catalog.services import create_plan
from billing.clock import run_billing_clock
from billing.db import read_only, unit_of_work
from billing.invoicing import failures
from billing.invoicing import services as invoicing
from billing.invoicing.failures import BillingFailure
from billing.invoicing.models import InvoiceSubscription
from billing.organizations.services import create_organization
from billing.subscriptions.models import Subscription
from billing.subscriptions.services import create_subscription
from jobs import tasks
from tests.integration.billing_failure_setup import corrupt, repair, subscribe_to, two_plans

SEPTEMBER = "2026-09-01T00:00:00Z"
OCTOBER = datetime(2026, 10, 1, 1, tzinfo=UTC)


def _invoiced(subscription_id: str) -> int:
    with read_only() as session:
        return session.scalar(select(func.count()).select_from(InvoiceSubscription).where(
            InvoiceSubscription.subscription_id == subscription_id))


def _failures() -> list[BillingFailure]:
    with read_only() as session:
        return list(session.scalars(select(BillingFailure).order_by(BillingFailure.first_failed_at)))


def _bad_among_good(organization_id: str, clock) -> tuple[list[str], str]:
    clock.set(SEPTEMBER)
    two_plans(organization_id)
    good = [subscribe_to(organization_id, f"good-{n}", "startup", at=SEPTEMBER) for n in range(3)]
    bad = subscribe_to(organization_id, "bad", "broken", at=SEPTEMBER)
    corrupt(organization_id)
    return good, bad


def test_the_good_subscriptions_are_billed_and_the_bad_one_recorded_until_a_run_bills_it(org, clock):
    good, bad = _bad_among_good(org.id, clock)
    clock.set(OCTOBER)

    run = run_billing_clock(fan_out=False)

    assert run.failed == [bad] and not run.step_failures and not run.ok
    assert [_invoiced(s) for s in good] == [1, 1, 1] and _invoiced(bad) == 0
    [named] = run.could_not_bill
    assert (named.external_customer_id, named.external_subscription_id, named.step) == ("cust-bad", "bad", "billing")
    assert named.reason.startswith("InvalidProperties: invalid standard properties")
    [failure] = _failures()
    assert (failure.organization_id, failure.subscription_id, failure.step, failure.attempts) == (
        org.id, bad, "billing", 1)
    assert (failure.period_from, failure.period_to) == (datetime(2026, 9, 1, tzinfo=UTC),
                                                        datetime(2026, 10, 1, tzinfo=UTC))
    assert failure.first_failed_at == failure.last_failed_at == OCTOBER and failure.resolved_at is None

    clock.set("2026-10-01T02:00:00Z")  # the next run tries it again, on its own: counted, nothing else billed
    again = run_billing_clock(fan_out=False)
    assert again.failed == [bad] and again.invoices == []
    [failure] = _failures()
    assert failure.attempts == 2 and failure.first_failed_at == OCTOBER
    assert failure.last_failed_at == datetime(2026, 10, 1, 2, tzinfo=UTC)

    repair(org.id)  # the account manager fixes the plan: the next run bills it and clears the failure
    clock.set("2026-10-01T03:00:00Z")
    fixed = run_billing_clock(fan_out=False)
    assert fixed.ok and len(fixed.invoices) == 1 and _invoiced(bad) == 1
    [failure] = _failures()
    assert failure.resolved_at == datetime(2026, 10, 1, 3, tzinfo=UTC)
    assert failures.open_failures(organization_id=org.id) == []


def test_a_batch_of_one_that_fails_is_reported_like_a_larger_batch(org, clock):
    _, bad = _bad_among_good(org.id, clock)

    with pytest.raises(invoicing.BillingFailed) as failed:
        invoicing.bill_subscriptions(subscription_ids=[bad], at=OCTOBER)

    assert failed.value.subscription_ids == [bad] and failed.value.created == []
    assert failed.value.reasons[bad].startswith("InvalidProperties") and not failed.value.transient
    assert [f.subscription_id for f in _failures()] == [bad]


def test_a_batch_of_one_failing_does_not_stop_the_clocks_later_batches(org, clock):
    """Before: the raw error of a batch of one escaped the clock, and every later batch waited."""
    _, bad = _bad_among_good(org.id, clock)  # Acme: its batch holds the bad subscription...
    other = create_organization(name="Zeta", default_currency="EUR").organization_id
    two_plans(other)
    later = subscribe_to(other, "zeta-1", "startup", at=SEPTEMBER)  # ...Zeta's batch comes after it
    with unit_of_work() as uow:  # Acme's batch is the bad subscription alone
        uow.session.execute(update(Subscription).where(Subscription.organization_id == org.id,
                                                       Subscription.id != bad).values(status="terminated"))
    clock.set(OCTOBER)

    run = run_billing_clock(fan_out=False)

    assert run.failed == [bad] and _invoiced(later) == 1 and not run.step_failures


def test_the_billing_job_does_not_loop_on_bad_data(org, clock):
    """The job fails (to be retried) only for what may pass: bad data waits for the next run or "Retry now"."""
    good, bad = _bad_among_good(org.id, clock)

    created = tasks.bill_subscriptions(subscription_ids=[*good, bad], at=OCTOBER.isoformat())

    assert len(created) == 3 and _invoiced(bad) == 0
    assert [(f.subscription_id, f.attempts) for f in _failures()] == [(bad, 1)]
    assert tasks.bill_subscription(subscription_id=bad, at=OCTOBER.isoformat()) == []  # the one-subscription job
    assert [(f.subscription_id, f.attempts) for f in _failures()] == [(bad, 2)]


def test_what_counts_as_transient():
    from sqlalchemy.exc import IntegrityError, OperationalError

    assert failures.is_transient(OperationalError("SELECT 1", {}, Exception("server closed the connection")))
    assert not failures.is_transient(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not failures.is_transient(ValueError("twelve"))
    assert failures.reason_of(ValueError("a\x00b\n  c" + "x" * 600)).startswith("ValueError: ab c")
    assert len(failures.reason_of(ValueError("x" * 600))) == failures.REASON_LENGTH


def test_ending_fails_per_subscription(org, clock):
    """Ending ran every due subscription in one transaction: one bad one stopped them all, and the clock."""
    clock.set(SEPTEMBER)
    two_plans(org.id)
    ending = [subscribe_to(org.id, f"ending-{n}", "startup" if n else "broken", at=SEPTEMBER,
                           ending_at="2026-09-20T00:00:00Z") for n in range(3)]
    corrupt(org.id)  # the final invoice of ending-0 cannot be priced
    clock.set("2026-09-21T00:00:00Z")

    run = run_billing_clock(fan_out=False)

    assert _statuses() == {"ending-0": "active", "ending-1": "terminated", "ending-2": "terminated"}
    assert sorted(run.terminated) == sorted(ending[1:]) and run.failed == ending[:1]
    [failure] = _failures()
    assert (failure.subscription_id, failure.step) == (ending[0], "ending")
    assert [(n.external_subscription_id, n.step) for n in run.could_not_bill] == [("ending-0", "ending")]

    repair(org.id)
    retried = failures.retry_failure(organization_id=org.id, failure_id=failure.id)
    assert retried.resolved and retried.reason is None and _statuses()["ending-0"] == "terminated"
    assert _invoiced(ending[0]) == 1 and failures.open_failures(organization_id=org.id) == []


def test_activation_fails_per_subscription(org, clock):
    """Two downgrades take over at the period end; the old plan of one cannot be billed: the other starts."""
    clock.set(SEPTEMBER)
    two_plans(org.id)
    create_plan(organization_id=org.id, data={"name": "Small", "code": "small", "interval": "monthly",
                                              "amount_cents": 1000, "amount_currency": "EUR"})
    for n, plan in enumerate(("broken", "startup")):
        subscribe_to(org.id, f"down-{n}", plan, at=SEPTEMBER)
        clock.set("2026-09-10T00:00:00Z")
        create_subscription(organization_id=org.id, data={  # Lago's plan change: the same external id
            "external_customer_id": f"cust-down-{n}", "plan_code": "small", "external_id": f"down-{n}"})
    corrupt(org.id)
    clock.set(OCTOBER)

    run = run_billing_clock(fan_out=False)

    with read_only() as session:
        plans = {(s.external_id, s.plan.code): s.status for s in session.scalars(select(Subscription))}
        pending = session.scalar(select(Subscription.id).where(Subscription.status == "pending"))
    assert plans == {("down-0", "broken"): "active", ("down-0", "small"): "pending",
                     ("down-1", "startup"): "terminated", ("down-1", "small"): "active"}
    assert run.activated == 1 and (pending, "activation") in {(f.subscription_id, f.step) for f in _failures()}


def _statuses() -> dict[str, str]:
    with read_only() as session:
        return {s.external_id: s.status for s in session.scalars(select(Subscription))}


def test_a_failure_is_seen_by_its_organization_only(org, clock):
    _, bad = _bad_among_good(org.id, clock)
    other = create_organization(name="Zeta", default_currency="EUR").organization_id
    clock.set(OCTOBER)
    run_billing_clock(fan_out=False)

    [mine] = failures.open_failures(organization_id=org.id)
    assert mine.subscription_id == bad and failures.count_open_failures(organization_id=org.id) == 1
    assert failures.open_failures(organization_id=other) == []
    assert failures.count_open_failures(organization_id=other) == 0
    from billing.errors import NotFound

    with pytest.raises(NotFound):
        failures.retry_failure(organization_id=other, failure_id=mine.id)
