"""One bad wallet (issue 12: a rate of 0 saved by a failed request) among good ones: the others are still checked,
topped up and expired, and the clock's later steps still run."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select, update

from billing.clock import run_billing_clock
from billing.db import read_only, unit_of_work
from billing.wallets.models import Wallet, WalletCheckDue, WalletTransaction
from billing.wallets.services import check_wallet_thresholds, create_wallet, run_wallet_clock
from tests.integration.billing_failure_setup import subscribe_to, two_plans

NOW = "2026-11-10T12:00:00Z"


def _wallets(organization_id: str, rule: dict) -> list[str]:
    """Three customers, each with a subscription and a 10-credit wallet with `rule`; the first wallet is bad."""
    two_plans(organization_id)
    ids = []
    for n in range(3):
        subscribe_to(organization_id, f"w-{n}", "startup", at=NOW)
        ids.append(create_wallet(organization_id=organization_id, data={
            "external_customer_id": f"cust-w-{n}", "rate_amount": "1", "granted_credits": "10", "currency": "EUR",
            "recurring_transaction_rules": [rule]}).id)
    with unit_of_work() as uow:
        uow.session.execute(update(Wallet).where(Wallet.id == ids[0]).values(rate_amount=Decimal(0)))
    return ids


def _top_ups(wallet_id: str, source: str) -> list[Decimal]:
    with read_only() as session:
        return list(session.scalars(select(WalletTransaction.credit_amount).where(
            WalletTransaction.wallet_id == wallet_id, WalletTransaction.source == source)))


def test_one_bad_wallet_does_not_stop_the_threshold_checks_of_the_others(org, clock):
    clock.set(NOW)
    bad, *good = _wallets(org.id, {"trigger": "threshold", "threshold_credits": "20", "method": "fixed",
                                   "granted_credits": "5"})

    check = check_wallet_thresholds()

    assert [_top_ups(w, "threshold") for w in good] == [[Decimal(5)], [Decimal(5)]] and check.fired == 2
    with read_only() as session:
        bad_customer = session.get(Wallet, bad).customer_id
        assert list(session.scalars(select(WalletCheckDue.customer_id))) == [bad_customer]  # asked again next run
    assert check.failed == [bad_customer] and check.customers == 2


def test_one_bad_wallet_does_not_stop_the_wallet_clock_nor_the_later_steps(org, clock):
    clock.set(NOW)
    bad, *good = _wallets(org.id, {"trigger": "interval", "interval": "monthly", "method": "fixed",
                                   "granted_credits": "3"})
    with unit_of_work() as uow:  # every wallet expires too, after its interval top-up
        uow.session.execute(update(Wallet).values(expiration_at=datetime(2026, 12, 20, tzinfo=UTC)))
    clock.set("2026-12-11T00:00:00Z")

    expired, topped = run_wallet_clock(at=clock.now())

    assert (expired, topped) == (0, 2)
    assert [_top_ups(w, "interval") for w in good] == [[Decimal(3)], [Decimal(3)]] and _top_ups(bad, "interval") == []
    clock.set("2026-12-21T00:00:00Z")
    run = run_billing_clock(fan_out=False)
    assert run.wallets_expired == 3 and not run.step_failures  # expiring needs no rate: the bad one ends too
