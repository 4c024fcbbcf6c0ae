"""Recurring top-up rules, thresholds, depletion and expiry: what the wallet clock runs."""

from __future__ import annotations

import calendar
import logging
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, or_, select, tuple_
from sqlalchemy.orm import Session

from billing import serializers
from billing.db import UnitOfWork, read_only, unit_of_work, utcnow
from billing.metering import rollups
from billing.metering.store import event_store
from billing.money import round_credits
from billing.subscriptions.models import Subscription
from billing.wallets import ledger
from billing.wallets.events import WalletChecked, WalletDepleted
from billing.wallets.models import (
    RecurringTransactionRule,
    Wallet,
    WalletCheckDue,
    WalletTransaction,
)
from billing.wallets.ongoing import Ongoing, read_ongoing
from billing.wallets.services import add_top_up, end_wallet
from billing.webhooks import services as webhooks

log = logging.getLogger(__name__)


def _pending_credits(session: Session, wallet: Wallet) -> Decimal:
    return sum(session.scalars(select(WalletTransaction.credit_amount).where(
        WalletTransaction.wallet_id == wallet.id, WalletTransaction.status == "pending",
        WalletTransaction.transaction_type == "inbound")).all(), Decimal(0))


def _fire(uow: UnitOfWork, wallet: Wallet, rule: RecurringTransactionRule,
          level: Decimal) -> list[WalletTransaction]:
    """NOTE: `fixed` adds the rule's paid and granted credits; `target` brings the ongoing balance
    (pending top-ups counted) up to `target_ongoing_balance`: bought, raised to the wallet's paid
    top-up minimum unless the rule ignores the limits and never held to the maximum, or granted
    with `grants_target_top_up` (Lago changelog "Recurring wallet top-ups"; lago-api #4316, #5755).
    An automatic top-up is not checked against the limits again (lago-api #5992). Its transactions
    carry the rule's name and metadata; its invoice waits for the payment when the rule or the
    wallet says so (`invoice_requires_successful_payment`)."""
    paid, granted = rule.paid_credits, rule.granted_credits
    if rule.method == "target":
        gap = round_credits(max((rule.target_ongoing_balance or Decimal(0)) - level, Decimal(0)))
        if rule.grants_target_top_up:
            paid, granted = Decimal(0), gap
        else:
            paid, granted = gap, Decimal(0)
            if gap > 0 and not rule.ignore_paid_top_up_limits and wallet.paid_top_up_min_amount_cents is not None:
                paid = max(gap, ledger.cents_to_credits(wallet, wallet.paid_top_up_min_amount_cents))
    return add_top_up(uow, wallet, paid=paid, granted=granted, source=rule.trigger, name=rule.transaction_name,
                   metadata=rule.transaction_metadata,
                   requires_payment=rule.invoice_requires_successful_payment
                   or wallet.invoice_requires_successful_payment)


def _rule_in_force(rule: RecurringTransactionRule, now: datetime) -> bool:
    """Active, started (`started_at`) and not expired (`expiration_at`: it is terminated then)."""
    if rule.status != "active":
        return False
    if rule.expiration_at and rule.expiration_at <= now:
        rule.status = "terminated"
        return False
    return rule.started_at is None or rule.started_at <= now


WATERMARK = "wallet_checks"  # the last event id whose customers were asked for (rollup_watermarks row)


@dataclass(frozen=True)
class WalletCheck:
    customers: int  # customers whose wallets were looked at
    fired: int  # threshold top-ups
    failed: list[str] = dataclass_field(default_factory=list)  # customers whose check failed (it stays due)


def _request_checks_for_new_events() -> None:
    """Ask for the customers with an active wallet whose subscriptions received events since the last time.

    Follows the events by id like the rollup job (its insert barrier: ids commit out of order on
    PostgreSQL), in one transaction with its watermark: a run killed here asks again.
    """
    store = event_store()
    high = store.settled_high_id()
    with unit_of_work() as uow:
        session = uow.session
        low = rollups.watermark(session, name=WATERMARK, for_update=True)  # a second run waits here
        if high <= low:
            return
        moved = store.subscriptions_with_events(session, low, high)
        customers = select(Wallet.customer_id, Wallet.organization_id).join(
            Subscription, Subscription.customer_id == Wallet.customer_id).where(
            tuple_(Subscription.organization_id, Subscription.external_id).in_(list(moved)),
            Wallet.status == "active").distinct()
        for customer_id, organization_id in (session.execute(customers).all() if moved else []):
            ledger.request_check(session, customer_id=customer_id, organization_id=organization_id)
        rollups.move_watermark(session, name=WATERMARK, to=high)


def check_wallet_thresholds(*, organization_id: str | None = None) -> WalletCheck:
    """Fire threshold rules whose wallet's ongoing balance fell to their threshold; report depletions.

    NOTE: only the customers asked for are looked at (`wallet_checks_due`): those whose
    subscriptions received events since the last run (found here, off the ingest path), and those
    whose wallets or draft invoices changed (`ledger.request_check`); each customer's request is
    taken, and its wallets evaluated, under their row locks, so a request written meanwhile waits
    and is looked at by the next run (docs/billing.md, Wallets).

    Once per crossing: a rule fires when ongoing credits + pending top-ups ≤ threshold_credits
    while armed, and is armed again when that level is above the threshold (docs/billing.md, Wallets);
    it is re-armed at once when its own top-up lifts the level above it. The wallet's depletion
    (`wallet.depleted_ongoing_balance`, and its email) is reported once each time the ongoing
    balance, after the credits granted here, reaches 0.
    """
    _request_checks_for_new_events()
    with read_only() as session:
        query = select(WalletCheckDue.customer_id).order_by(WalletCheckDue.requested_at, WalletCheckDue.customer_id)
        if organization_id:
            query = query.where(WalletCheckDue.organization_id == organization_id)
        due = list(session.scalars(query))
    fired = checked = 0
    failed: list[str] = []
    for customer_id in due:
        try:
            with unit_of_work() as uow:
                session = uow.session
                wallets = ledger.lock_wallets(session, customer_id=customer_id)
                taken = session.scalar(select(WalletCheckDue.customer_id).where(
                    WalletCheckDue.customer_id == customer_id).with_for_update())
                if taken is None:
                    continue  # another run took it
                found = sum(_check_wallet(uow, wallet) for wallet in wallets)
                # What this check itself moved (its top-ups) it has taken into account already.
                session.execute(delete(WalletCheckDue).where(WalletCheckDue.customer_id == customer_id))
            checked += 1
            fired += found
        except Exception:
            # NOTE: one customer's bad wallet must not stop the others' checks (issue 12): its request
            # stays, so every run tries it again, and the failure is in the log with the customer's id.
            log.exception("checking the wallets of customer %s failed", customer_id)
            failed.append(customer_id)
    return WalletCheck(customers=checked, fired=fired, failed=failed)


def _check_wallet(uow: UnitOfWork, wallet: Wallet) -> int:
    """Evaluate one locked wallet: its threshold rules and its depletion; returns how many rules fired."""
    session = uow.session
    ongoing = read_ongoing(session, wallet)
    level = ongoing.credits + _pending_credits(session, wallet)
    now = utcnow()
    wallet.last_ongoing_balance_sync_at = now
    fired = 0
    granted_cents = 0
    for rule in wallet.rules:
        if rule.trigger != "threshold" or rule.threshold_credits is None or not _rule_in_force(rule, now):
            continue
        if rule.backoff_until and rule.backoff_until > now:
            continue  # a top-up of it was declined: it waits (docs/billing.md, Wallets)
        if level <= rule.threshold_credits:
            if rule.armed:
                created = _fire(uow, wallet, rule, level)
                fired += 1
                added = sum((t.credit_amount for t in created), Decimal(0))
                granted_cents += sum(t.amount_cents for t in created if t.status == "settled")
                level += added
                # Its own top-up may lift the level above the threshold: that is the next crossing's start.
                rule.armed = level > rule.threshold_credits
        else:
            rule.armed = True
    balance = ongoing.balance_cents + granted_cents
    credits = ongoing.credits + ledger.cents_to_credits(wallet, granted_cents)
    after = Ongoing(usage_cents=ongoing.usage_cents, balance_cents=balance, usage_credits=ongoing.usage_credits,
                    credits=credits)
    if balance <= 0 and not wallet.depleted_notified:
        # NOTE: one crossing, one webhook and one email (docs/billing.md, Wallets).
        wallet.depleted_notified = True
        wallet.depletions += 1
        _emit_wallet(session, wallet, ledger.WALLET_DEPLETED_ONGOING_BALANCE, after)
        uow.publish(WalletDepleted(wallet, ongoing_balance_cents=balance, credits_ongoing_balance=credits))
    elif balance > 0 and wallet.depleted_notified:
        wallet.depleted_notified = False
    uow.publish(WalletChecked(wallet, after))  # its alerts follow (billing.alerts.handlers)
    return fired


def _emit_wallet(session: Session, wallet: Wallet, webhook_type: str, ongoing: Ongoing) -> None:
    webhooks.emit(session, wallet.organization_id, webhook_type, "wallet",
                  lambda: serializers.wallet(wallet, ongoing), object_id=wallet.id)


def _add_interval(moment: datetime, interval: str, count: int) -> datetime:
    if interval == "weekly":
        return moment + timedelta(weeks=count)
    months = count * {"monthly": 1, "quarterly": 3, "yearly": 12}[interval]
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def run_wallet_clock(*, at: datetime) -> tuple[int, int]:
    """Expire wallets whose `expiration_at` has passed, run interval rules that are due, and ask for
    a check of the wallets whose threshold rules started or whose back-off ended (time alone moved them).

    Returns (wallets expired, interval top-ups). Each wallet in its own transaction, its row locked: one
    that fails is logged with its id and the others go on (it is tried again on the next run).
    """
    expired = topped = 0
    with read_only() as session:
        due = list(session.scalars(select(Wallet.id).where(Wallet.status == "active", Wallet.expiration_at <= at)))
        interval = list(session.scalars(select(RecurringTransactionRule.wallet_id).where(
            RecurringTransactionRule.trigger == "interval", RecurringTransactionRule.status == "active",
            RecurringTransactionRule.next_run_at <= at).distinct()))
        waking = list(session.scalars(select(RecurringTransactionRule.id).where(
            RecurringTransactionRule.trigger == "threshold", RecurringTransactionRule.status == "active",
            or_(RecurringTransactionRule.next_run_at <= at, RecurringTransactionRule.backoff_until <= at))))
    for rule_id in waking:
        _alone("waking threshold rule", rule_id, lambda rule_id=rule_id: _wake_rule(rule_id, at))
    for wallet_id in due:
        expired += _alone("expiring wallet", wallet_id, lambda wallet_id=wallet_id: _expire(wallet_id, at)) or 0
    for wallet_id in interval:
        topped += _alone("interval top-ups of wallet", wallet_id,
                         lambda wallet_id=wallet_id: _run_interval_rules(wallet_id, at)) or 0
    return expired, topped


def _alone(what: str, item_id: str, work: Callable[[], int | None]) -> int | None:
    """Run one item of the wallet clock in its own transaction; one that fails is logged, not raised."""
    try:
        return work()
    except Exception:
        log.exception("%s %s failed; the others go on", what, item_id)
        return None


def _wake_rule(rule_id: str, at: datetime) -> None:
    with unit_of_work() as uow:
        rule = uow.session.get(RecurringTransactionRule, rule_id)
        wallet = uow.session.get(Wallet, rule.wallet_id)
        rule.next_run_at = rule.next_run_at if rule.next_run_at and rule.next_run_at > at else None
        rule.backoff_until = rule.backoff_until if rule.backoff_until and rule.backoff_until > at else None
        ledger.request_check(uow.session, customer_id=wallet.customer_id, organization_id=wallet.organization_id)


def _locked_wallet(session: Session, wallet_id: str) -> Wallet:
    return session.scalars(select(Wallet).where(Wallet.id == wallet_id).with_for_update(of=Wallet)
                           .execution_options(populate_existing=True)).unique().one()


def _expire(wallet_id: str, at: datetime) -> int:
    with unit_of_work() as uow:
        wallet = _locked_wallet(uow.session, wallet_id)
        # NOTE: expiry ends the wallet and voids what remains (docs/billing.md, Wallets).
        if wallet.status == "active" and wallet.expiration_at and wallet.expiration_at <= at:
            end_wallet(uow.session, wallet)
            return 1
    return 0


def _run_interval_rules(wallet_id: str, at: datetime) -> int:
    topped = 0
    with unit_of_work() as uow:
        wallet = _locked_wallet(uow.session, wallet_id)
        if wallet.status != "active":
            return 0
        for rule in wallet.rules:
            if rule.trigger != "interval" or rule.status != "active" or rule.next_run_at is None:
                continue
            if rule.expiration_at and rule.expiration_at <= at:
                rule.status = "terminated"
                continue
            if rule.next_run_at > at:
                continue
            # Missed runs are not repeated: one top-up, and the next date after `at`.
            ongoing = read_ongoing(uow.session, wallet)
            _fire(uow, wallet, rule, ongoing.credits + _pending_credits(uow.session, wallet))
            topped += 1
            runs = 1
            while _add_interval(rule.next_run_at, rule.interval, runs) <= at:
                runs += 1
            rule.next_run_at = _add_interval(rule.next_run_at, rule.interval, runs)
    return topped
