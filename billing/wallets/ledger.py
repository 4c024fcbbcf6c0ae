"""The wallet ledger inside a caller's transaction: balances, lots, consumption, settlement.

Helpers only flush; the use case owning the transaction (wallets.services, invoicing.runs, invoicing.actions)
locks the wallet row first (`lock_wallets`), so two invoices never consume the same credits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal, localcontext

from sqlalchemy import literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billing import serializers
from billing.db import utcnow
from billing.money import exponent, round_credits, round_minor, to_minor
from billing.wallets.models import Wallet, WalletCheckDue, WalletTransaction
from billing.webhooks import services as webhooks

WALLET_TRANSACTION_CREATED = webhooks.WALLET_TRANSACTION_CREATED
WALLET_TRANSACTION_UPDATED = webhooks.WALLET_TRANSACTION_UPDATED
WALLET_DEPLETED_ONGOING_BALANCE = webhooks.WALLET_DEPLETED_ONGOING_BALANCE
# NOTE: after a declined automatic threshold top-up, the wallet's threshold rules wait an hour
# (lago-api "back off after a declined top-up", https://github.com/getlago/lago-api/pull/6176).
DECLINED_TOP_UP_BACKOFF = timedelta(hours=1)


def request_check(session: Session, *, customer_id: str, organization_id: str) -> None:
    """Ask `check_wallet_thresholds` to look at the customer's wallets again (in the caller's transaction).

    NOTE: the check looks only at customers asked for (docs/billing.md, Wallets): every change of
    an ongoing balance other than new events (found by the check itself) asks here: ledger
    movements, draft invoices, a wallet's settings.
    """
    insert = (sqlite if session.bind.dialect.name == "sqlite" else postgresql).insert
    session.execute(insert(WalletCheckDue).values(customer_id=customer_id, organization_id=organization_id,
                                                  requested_at=utcnow()).on_conflict_do_nothing())


def draft_changed(session: Session, invoice) -> None:
    """A draft invoice was made or recomputed: its total counts in the ongoing balance of the customer's
    wallets, if there are any (one statement, nothing asked for a customer without a wallet)."""
    insert = (sqlite if session.bind.dialect.name == "sqlite" else postgresql).insert
    session.execute(insert(WalletCheckDue).from_select(
        ["customer_id", "organization_id", "requested_at"],
        select(Wallet.customer_id, Wallet.organization_id, literal(utcnow(), type_=WalletCheckDue.requested_at.type))
        .where(Wallet.customer_id == invoice.customer_id, Wallet.status == "active").limit(1),
    ).on_conflict_do_nothing())


def _moved(session: Session, wallet: Wallet) -> None:
    request_check(session, customer_id=wallet.customer_id, organization_id=wallet.organization_id)


def credits_amount_cents(wallet: Wallet, credits: Decimal) -> int:
    """NOTE: amount = credits × rate_amount, rounded once to the currency's minor unit (docs/billing.md, Wallets)."""
    return to_minor(credits * wallet.rate_amount, wallet.currency)


def cents_to_credits(wallet: Wallet, amount_cents: int) -> Decimal:
    """Credits worth `amount_cents` (5 decimals, half up)."""
    return round_credits(Decimal(amount_cents).scaleb(-exponent(wallet.currency)) / wallet.rate_amount)


def lock_wallets(session: Session, *, customer_id: str, currency: str | None = None,
                 wallet_id: str | None = None) -> list[Wallet]:
    """The customer's active wallets, locked (SELECT … FOR UPDATE on PostgreSQL), in consumption order.

    NOTE: wallets are applied by `priority` (1 first) then age (Lago docs, Wallets: "wallet priority").
    """
    query = select(Wallet).where(Wallet.customer_id == customer_id, Wallet.status == "active")
    if currency:
        query = query.where(Wallet.currency == currency)
    if wallet_id:
        query = query.where(Wallet.id == wallet_id)
    query = query.order_by(Wallet.priority, Wallet.created_at, Wallet.id).with_for_update(of=Wallet)
    return list(session.scalars(query.execution_options(populate_existing=True)).unique())


def _lots(session: Session, wallet: Wallet) -> list[WalletTransaction]:
    """Settled inbound transactions with credits left: granted before purchased, oldest first.

    NOTE: granted (free) credits are consumed before purchased ones (docs/billing.md, Wallets:
    "within one, granted before purchased, oldest first").
    """
    lots = session.scalars(select(WalletTransaction).where(
        WalletTransaction.wallet_id == wallet.id, WalletTransaction.transaction_type == "inbound",
        WalletTransaction.status == "settled", WalletTransaction.remaining_credits > 0)).all()
    return sorted(lots, key=lambda t: (t.transaction_status != "granted", t.created_at, t.id))


def _refresh_balance(session: Session, wallet: Wallet) -> None:
    session.flush()
    lots = session.scalars(select(WalletTransaction.remaining_credits).where(
        WalletTransaction.wallet_id == wallet.id, WalletTransaction.transaction_type == "inbound",
        WalletTransaction.status == "settled")).all()
    wallet.credits_balance = sum(lots, Decimal(0))
    wallet.balance_cents = credits_amount_cents(wallet, wallet.credits_balance)
    wallet.last_balance_sync_at = utcnow()


def _draw(session: Session, wallet: Wallet, credits: Decimal) -> None:
    """Take `credits` from the wallet's lots in consumption order."""
    left = credits
    for lot in _lots(session, wallet):
        if left <= 0:
            break
        taken = min(lot.remaining_credits, left)
        lot.remaining_credits -= taken
        left -= taken


def emit_transaction(session: Session, transaction: WalletTransaction, webhook_type: str) -> None:
    def payload():
        session.flush()
        return serializers.wallet_transaction(transaction)

    webhooks.emit(session, transaction.organization_id, webhook_type, "wallet_transaction", payload,
                  object_id=transaction.id)


def add_credits(session: Session, wallet: Wallet, *, credits: Decimal, granted: bool, source: str = "manual",
                invoice_id: str | None = None, name: str | None = None,
                metadata: Sequence[dict] | None = None) -> WalletTransaction:
    """An inbound transaction: granted credits settle at once; purchased ones wait for their invoice."""
    now = utcnow()
    transaction = WalletTransaction(
        organization_id=wallet.organization_id, wallet_id=wallet.id, wallet=wallet, invoice_id=invoice_id,
        transaction_type="inbound", transaction_status="granted" if granted else "purchased",
        status="settled" if granted else "pending", source=source, credit_amount=credits,
        amount_cents=credits_amount_cents(wallet, credits), remaining_credits=credits if granted else Decimal(0),
        name=name, metadata_=list(metadata or []), settled_at=now if granted else None)
    session.add(transaction)
    if granted:
        _refresh_balance(session, wallet)
    _moved(session, wallet)
    emit_transaction(session, transaction, WALLET_TRANSACTION_CREATED)
    return transaction


def void_credits(session: Session, wallet: Wallet, *, credits: Decimal, source: str = "manual",
                 name: str | None = None) -> WalletTransaction:
    """An outbound `voided` transaction taking `credits` out of the balance (at most what is there)."""
    credits = min(credits, wallet.credits_balance)
    _draw(session, wallet, credits)
    transaction = WalletTransaction(
        organization_id=wallet.organization_id, wallet_id=wallet.id, wallet=wallet, transaction_type="outbound",
        transaction_status="voided", status="settled", source=source, credit_amount=credits,
        amount_cents=credits_amount_cents(wallet, credits), name=name, settled_at=utcnow())
    session.add(transaction)
    _refresh_balance(session, wallet)
    _moved(session, wallet)
    emit_transaction(session, transaction, WALLET_TRANSACTION_CREATED)
    return transaction


def consume(session: Session, wallet: Wallet, *, amount_cents: int, invoice_id: str) -> int:
    """Pay up to `amount_cents` of an invoice from a locked wallet; returns what it paid (≥ 0).

    NOTE: never below zero: the wallet pays min(amount, balance_cents); when it pays its whole
    balance every credit goes, else the credits taken are amount / rate_amount (5 decimals, half
    up), so rate_amount ≠ 1 costs no fraction of a cent on the invoice (docs/billing.md, Wallets).
    """
    if amount_cents <= 0 or wallet.balance_cents <= 0:
        return 0
    paid = min(amount_cents, wallet.balance_cents)
    credits = wallet.credits_balance if paid == wallet.balance_cents else min(
        cents_to_credits(wallet, paid), wallet.credits_balance)
    _draw(session, wallet, credits)
    now = utcnow()
    transaction = WalletTransaction(
        organization_id=wallet.organization_id, wallet_id=wallet.id, wallet=wallet, invoice_id=invoice_id,
        transaction_type="outbound", transaction_status="invoiced", status="settled", source="manual",
        credit_amount=credits, amount_cents=paid, settled_at=now)
    session.add(transaction)
    wallet.consumed_credits += credits
    wallet.last_consumed_credit_at = now
    _refresh_balance(session, wallet)
    _moved(session, wallet)
    emit_transaction(session, transaction, WALLET_TRANSACTION_CREATED)
    return paid


def applies(wallet: Wallet, fee_type: str, metric_code: str | None) -> bool:
    """Whether the wallet pays a fee of that type (and billable metric, for a charge).

    NOTE: a wallet without `applies_to` pays every fee; else a fee whose type is listed in
    `fee_types`, or a charge fee of a metric listed in `billable_metric_codes` (Lago docs "Wallet
    and prepaid credits": credits limited to fee types and billable metrics; selecting every item
    is the same as selecting none).
    """
    codes = {metric.code for metric in wallet.billable_metrics}
    if not wallet.allowed_fee_types and not codes:
        return True
    return fee_type in wallet.allowed_fee_types or (fee_type == "charge" and metric_code in codes)


def _fee_shares(invoice) -> dict[tuple[str, str | None], Decimal]:
    """What the invoice's total owes for each (fee type, metric code), adding up to the total exactly.

    NOTE: a fee owes its amount − its coupons + its taxes, exactly; the shares are those in
    proportion to what the invoice owes after credit notes (which are not per fee).
    """
    owed: dict[tuple[str, str | None], Decimal] = {}
    for fee in invoice.fees:
        key = (fee.fee_type, fee.item_code if fee.fee_type == "charge" else None)
        owed[key] = owed.get(key, Decimal(0)) + Decimal(fee.amount_cents) - (
            fee.precise_coupons_amount_cents or 0) + (fee.taxes_precise_amount_cents or 0)
    total = sum(owed.values(), Decimal(0))
    if total <= 0:
        return {}
    with localcontext() as context:
        context.prec = 60
        return {key: value * invoice.total_amount_cents / total for key, value in owed.items() if value > 0}


def apply_prepaid_credits(session: Session, invoice) -> int:
    """Let the customer's wallets pay a finalizing invoice's total; returns the amount they paid.

    NOTE: after taxes, coupons and credit notes (docs/billing.md, Wallets; Lago changelog "New
    calculation method for invoices": prepaid credits are deducted after tax). A credit purchase
    (top-up) invoice is never paid with credits, nor a one-off invoice (Lago docs "One-off
    invoices": coupons and prepaid credits do not apply to them). A wallet limited by `applies_to`
    pays at most the share of the fees it applies to (rounded half up once), what is left of it after
    the wallets before it; the others pay what the invoice still owes (docs/billing.md, Wallets).
    """
    if invoice.invoice_type in ("credit", "one_off") or invoice.total_amount_cents <= 0:
        return 0
    due = invoice.total_amount_cents
    paid = 0
    shares = None
    wallets = lock_wallets(session, customer_id=invoice.customer_id, currency=invoice.currency)
    if wallets:  # a draft leaves the ongoing usage, or an invoice is issued at once: the balance moves
        _moved(session, wallets[0])
    for wallet in wallets:
        if due - paid <= 0:
            break
        if wallet.balance_cents <= 0:
            continue
        shares = _fee_shares(invoice) if shares is None else shares
        keys = sorted((key for key in shares if applies(wallet, *key)), key=lambda key: -shares[key])
        can_pay = due - paid
        if wallet.allowed_fee_types or wallet.billable_metrics:
            can_pay = min(can_pay, round_minor(sum((shares[key] for key in keys), Decimal(0))))
        amount = consume(session, wallet, amount_cents=can_pay, invoice_id=invoice.id)
        rest = Decimal(amount)
        for key in keys:  # what it paid is no longer owed: the largest shares first
            taken = min(shares[key], rest)
            shares[key] -= taken
            rest -= taken
        paid += amount
    return paid


def settle_invoice_transactions(session: Session, invoice, *, succeeded: bool) -> list[WalletTransaction]:
    """The purchased credits of a paid (or failed) top-up invoice: settled into the balance (or failed).

    The caller holds the invoice's row lock, so a transaction is settled once.
    """
    pending = session.scalars(select(WalletTransaction).where(
        WalletTransaction.invoice_id == invoice.id, WalletTransaction.status == "pending",
        WalletTransaction.transaction_type == "inbound")).all()
    done = []
    for transaction in pending:
        [wallet] = lock_wallets(session, customer_id=invoice.customer_id, wallet_id=transaction.wallet_id) or [None]
        if wallet is None:
            continue  # terminated meanwhile: nothing to credit
        if succeeded:
            transaction.status, transaction.settled_at = "settled", utcnow()
            transaction.remaining_credits = transaction.credit_amount
            # A paid top-up went through: payments work again, the back-off ends.
            for rule in wallet.rules:
                rule.backoff_until = None
        else:
            transaction.status = "failed"
            if transaction.source == "threshold":
                # The credits never come: the rules fire again, but not before the back-off.
                for rule in wallet.rules:
                    if rule.trigger == "threshold":
                        rule.backoff_until, rule.armed = utcnow() + DECLINED_TOP_UP_BACKOFF, True
        _refresh_balance(session, wallet)
        _moved(session, wallet)
        emit_transaction(session, transaction, WALLET_TRANSACTION_UPDATED)
        done.append(transaction)
    return done
