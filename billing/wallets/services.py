"""Wallets: create, update, terminate, top up, void; ongoing balance; recurring rules; expiry."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.audit.services import record
from billing.customers.models import Customer
from billing.customers.services import get_customer_in
from billing.db import UnitOfWork, read_only, unit_of_work, utcnow
from billing.errors import NotFound, ValidationFailed
from billing.invoicing import finalization, totals
from billing.invoicing.events import PaymentDue
from billing.invoicing.models import Fee, Invoice
from billing.money import exponent
from billing.pagination import Page, paginate
from billing.ports import runtime
from billing.subscriptions.periods import local_date
from billing.validation import Checker
from billing.wallets import ledger
from billing.wallets.models import (
    RecurringTransactionRule,
    Wallet,
    WalletTransaction,
)
from billing.wallets.ongoing import Ongoing, read_ongoing
from billing.wallets.validation import (
    MAX_PRIORITY,
    check_applies_to,
    check_credits,
    check_in_future,
    check_limits,
    check_metadata,
    check_rule_limits,
    check_rules,
    credits_out_of_range,
    limit_error,
    set_applies_to,
    set_rules,
)


def add_top_up(uow: UnitOfWork, wallet: Wallet, *, paid: Decimal, granted: Decimal, source: str = "manual",
            name: str | None = None, metadata=None, requires_payment: bool = False) -> list[WalletTransaction]:
    """Granted credits settle at once; paid ones are pending on a credit purchase invoice.

    The invoice is finalized at once, or, when `requires_payment` (Lago's
    `invoice_requires_successful_payment`), left `open` until it is paid (docs/billing.md, Wallets).
    Limits are the caller's to check: automatic top-ups skip them.
    """
    session = uow.session
    created = []
    if paid > 0:
        invoice = _purchase_invoice(uow, wallet, paid, name=name, finalize=not requires_payment)
        transaction = ledger.add_credits(session, wallet, credits=paid, granted=False, source=source,
                                         invoice_id=invoice.id, name=name, metadata=metadata)
        transaction.invoice_requires_successful_payment = requires_payment
        created.append(transaction)
    if granted > 0:
        created.append(ledger.add_credits(session, wallet, credits=granted, granted=True, source=source, name=name,
                                          metadata=metadata))
    return created


def _purchase_invoice(uow: UnitOfWork, wallet: Wallet, credits: Decimal, *, name: str | None = None,
                      finalize: bool = True) -> Invoice:
    """A `credit` invoice for purchased credits: finalized at once, or `open` until paid.

    NOTE: a credit purchase is an advance payment: no tax and no coupon on it (Lago changelog "New
    calculation method for invoices": "the tax rate no longer applies to the purchase of credits").
    Its fee is labelled with the transaction's name, else "Prepaid credits – {wallet}" (Lago's
    `transaction_name`).
    """
    session = uow.session
    customer = wallet.customer
    amount = ledger.credits_amount_cents(wallet, credits)
    issuing = local_date(runtime.clock.now(), customer.applicable_timezone)
    invoice = Invoice(organization_id=wallet.organization_id, customer=customer, invoice_type="credit",
                      status="draft" if finalize else "open", payment_status="pending", currency=wallet.currency,
                      number=f"{customer.organization.document_number_prefix}-DRAFT", issuing_date=issuing,
                      net_payment_term=customer.applicable_net_payment_term,
                      payment_due_date=issuing + timedelta(days=customer.applicable_net_payment_term))
    invoice.fees.append(Fee(
        organization_id=wallet.organization_id, fee_type="credit", item_code=wallet.code or "credit",
        description=name or f"Prepaid credits – {wallet.name or 'wallet'}", amount_cents=amount,
        precise_amount_cents=credits * wallet.rate_amount * Decimal(10) ** exponent(wallet.currency),
        amount_currency=wallet.currency, units=credits, total_aggregated_units=credits,
        precise_unit_amount=wallet.rate_amount, amount_details={"wallet_id": wallet.id}))
    result = totals.invoice_totals(fees_amount_cents=amount, coupons_amount_cents=0, taxes_amount_cents=0)
    for key, value in vars(result).items():
        setattr(invoice, key, value)
    session.add(invoice)
    session.flush()
    if finalize:
        finalization.finalize(uow, invoice)
    else:
        uow.publish(PaymentDue(invoice))  # issued once paid: the payment core collects it
    return invoice


def _wallet_in(session: Session, organization_id: str, wallet_id: str, *, lock: bool = False) -> Wallet:
    query = select(Wallet).where(Wallet.organization_id == organization_id, Wallet.id == str(wallet_id))
    if lock:
        query = query.with_for_update(of=Wallet).execution_options(populate_existing=True)
    wallet = session.scalars(query).unique().one_or_none()
    if wallet is None:
        raise NotFound("wallet")
    return wallet


def _wallet_terms(wallet: Wallet) -> dict[str, object]:
    """What the audit trail compares of a wallet: its settings, limits and active rules (numbered)."""
    rules = [r for r in wallet.rules if r.status != "terminated"]  # a new rule has no status until flushed
    return {
        "name": wallet.name, "code": wallet.code, "priority": wallet.priority, "status": wallet.status,
        "rate_amount": wallet.rate_amount, "expiration_at": wallet.expiration_at,
        "paid_top_up_min_amount_cents": wallet.paid_top_up_min_amount_cents,
        "paid_top_up_max_amount_cents": wallet.paid_top_up_max_amount_cents,
        "invoice_requires_successful_payment": wallet.invoice_requires_successful_payment,
        "metadata": dict(wallet.metadata_) if wallet.metadata_ is not None else None,
        "rules": {f"rule {n}": {
            "trigger": r.trigger, "interval": r.interval, "method": r.method, "threshold_credits": r.threshold_credits,
            "target_ongoing_balance": r.target_ongoing_balance, "paid_credits": r.paid_credits,
            "granted_credits": r.granted_credits,
        } for n, r in enumerate(rules, 1)},
    }


def _record_wallet(session: Session, wallet: Wallet, action: str, before: dict | None, after: dict | None) -> None:
    session.flush()
    record(session, organization_id=wallet.organization_id, action=action, object_type="wallet", object_id=wallet.id,
           object_label=wallet.name or wallet.code or f"{wallet.currency} wallet", before=before, after=after,
           currency=wallet.currency)


def _code_taken(session: Session, customer_id: str, code: str) -> bool:
    return session.scalar(select(Wallet.id).where(Wallet.customer_id == customer_id, Wallet.code == code,
                                                  Wallet.status == "active").limit(1)) is not None


def default_code(name: str | None) -> str:
    """Lago's code for a wallet created without one: its name in lower case, words joined by `_`, else `default`."""
    return re.sub(r"[^a-z0-9]+", "_", (name or "").lower()).strip("_") or "default"


def _free_code(session: Session, customer_id: str, code: str | None, name: str | None) -> str:
    """The code a new wallet takes: the one sent (refused when an active wallet of the customer has it), else
    Lago's default, made unique with a number (Lago: a timestamp) when taken."""
    if code is not None:
        if _code_taken(session, customer_id, code):
            raise ValidationFailed({"code": ["value_already_exist"]})
        return code
    base = candidate = default_code(name)
    number = 1
    while _code_taken(session, customer_id, candidate):
        number += 1
        candidate = f"{base}_{number}"
    return candidate


def create_wallet(*, organization_id: str, data: Mapping[str, object]) -> Wallet:
    check = Checker(data)
    external_customer_id = check.string("external_customer_id", required=True)
    rate = check.decimal("rate_amount", required=True)
    if rate is not None and rate <= 0:
        check.fail("rate_amount", "value_must_be_positive")
    currency = check.currency("currency")
    paid, granted = check_credits(check, data, "paid_credits"), check_credits(check, data, "granted_credits")
    expiration_at = check_in_future(check, "expiration_at", check.datetime("expiration_at"))
    priority = check.integer("priority", minimum=1, maximum=MAX_PRIORITY)
    name, code = check.string("name"), check.string("code")
    item_metadata = check.item_metadata("metadata")
    transaction_name = check.string("transaction_name")
    metadata = check_metadata(check, data, "transaction_metadata")
    applies_to = check_applies_to(check, data)
    limits = check_limits(check, data)
    requires_payment = bool(check.boolean("invoice_requires_successful_payment"))
    ignore_limits = bool(check.boolean("ignore_paid_top_up_limits_on_creation"))
    rules = check_rules(check, data)
    check.done()
    with unit_of_work() as uow:
        customer = get_customer_in(uow.session, organization_id, external_customer_id)
        currency = currency or customer.currency or customer.organization.default_currency
        if customer.currency and currency != customer.currency:
            raise ValidationFailed({"currency": ["currencies_does_not_match"]})
        if customer.currency is None:
            customer.currency = currency
        code = _free_code(uow.session, customer.id, code, name)
        wallet = Wallet(organization_id=organization_id, customer=customer, customer_id=customer.id, name=name,
                        code=code, metadata_=item_metadata, priority=priority or 50, currency=currency,
                        rate_amount=rate, expiration_at=expiration_at,
                        invoice_requires_successful_payment=requires_payment, **limits)
        too_large = credits_out_of_range(wallet, {"paid_credits": paid, "granted_credits": granted})
        if too_large:
            raise ValidationFailed(too_large)
        uow.session.add(wallet)
        uow.session.flush()
        if applies_to is not None:
            set_applies_to(uow.session, wallet, applies_to)
        # NOTE: the first top-up is held to the limits too, unless `ignore_paid_top_up_limits_on_creation`.
        error = None if ignore_limits else limit_error(wallet, paid)
        if error:
            raise ValidationFailed({"paid_credits": [error]})
        if rules:
            set_rules(wallet, rules)
        add_top_up(uow, wallet, paid=paid, granted=granted, name=transaction_name, metadata=metadata,
                requires_payment=requires_payment)
        _record_wallet(uow.session, wallet, "wallet.created", None,
                       {**_wallet_terms(wallet), "paid_credits": paid, "granted_credits": granted})
        # A wallet that starts empty (its paid credits pending) has not been depleted: nothing to report yet.
        wallet.depleted_notified = wallet.balance_cents <= 0
        ledger.request_check(uow.session, customer_id=customer.id, organization_id=organization_id)
        wallet_id = wallet.id
    return get_wallet(organization_id=organization_id, wallet_id=wallet_id)


def update_wallet(*, organization_id: str, wallet_id: str, data: Mapping[str, object]) -> Wallet:
    check = Checker(data)
    values: dict[str, object] = {}
    for field in ("name", "code"):
        if field in data:
            values[field] = check.string(field)
    if "metadata" in data:  # NOTE: Lago's wallet update replaces the metadata with what is sent
        values["metadata_"] = check.item_metadata("metadata")
    if "expiration_at" in data:
        values["expiration_at"] = check_in_future(check, "expiration_at", check.datetime("expiration_at"))
    if "priority" in data:
        values["priority"] = check.integer("priority", minimum=1, maximum=MAX_PRIORITY) or MAX_PRIORITY
    if "invoice_requires_successful_payment" in data:
        values["invoice_requires_successful_payment"] = bool(check.boolean("invoice_requires_successful_payment"))
    applies_to = check_applies_to(check, data)
    rules = check_rules(check, data)
    check.done()
    with unit_of_work() as uow:
        wallet = _wallet_in(uow.session, organization_id, wallet_id, lock=True)
        if wallet.status != "active":
            raise ValidationFailed({"wallet": ["is_terminated"]})
        before = _wallet_terms(wallet)
        if values.get("code") is None:
            values.pop("code", None)  # a wallet always has a code: none sent keeps it
        elif values["code"] != wallet.code and _code_taken(uow.session, wallet.customer_id, values["code"]):
            raise ValidationFailed({"code": ["value_already_exist"]})
        limits = Checker(data)
        values.update(check_limits(limits, data, wallet))
        limits.done()
        for key, value in values.items():
            setattr(wallet, key, value)
        if applies_to is not None:
            set_applies_to(uow.session, wallet, applies_to)
        if rules is not None:
            set_rules(wallet, rules)
        else:
            # New limits hold for the rules already there.
            check_rule_limits(wallet, [{"method": r.method, "paid_credits": r.paid_credits,
                                         "ignore_paid_top_up_limits": r.ignore_paid_top_up_limits}
                                        for r in wallet.rules if r.status == "active"])
        _record_wallet(uow.session, wallet, "wallet.rules_changed" if rules is not None else "wallet.updated",
                       before, _wallet_terms(wallet))
        # New rules or a new scope: the wallet is looked at again by the next check.
        ledger.request_check(uow.session, customer_id=wallet.customer_id, organization_id=organization_id)
    return get_wallet(organization_id=organization_id, wallet_id=wallet_id)


def terminate_wallet(*, organization_id: str, wallet_id: str) -> Wallet:
    """End the wallet: what it holds is voided (Lago: a terminated wallet's credits are lost)."""
    with unit_of_work() as uow:
        wallet = _wallet_in(uow.session, organization_id, wallet_id, lock=True)
        before = {"status": wallet.status, "credits_balance": wallet.credits_balance}
        end_wallet(uow.session, wallet)
        if before["status"] != wallet.status:
            _record_wallet(uow.session, wallet, "wallet.terminated", before,
                           {"status": wallet.status, "credits_balance": wallet.credits_balance})
    return get_wallet(organization_id=organization_id, wallet_id=wallet_id)


def end_wallet(session: Session, wallet: Wallet) -> None:
    if wallet.status != "active":
        return
    if wallet.credits_balance > 0:
        ledger.void_credits(session, wallet, credits=wallet.credits_balance)
    wallet.status, wallet.terminated_at = "terminated", utcnow()
    for rule in wallet.rules:
        rule.status = "terminated"


def change_wallet_metadata(*, organization_id: str, wallet_id: str,
                           change: Callable[[dict | None], dict | None]) -> Wallet:
    """Replace, merge or remove the wallet's metadata (`billing.validation.item_metadata_change` and its kin)."""
    with unit_of_work() as uow:
        wallet = _wallet_in(uow.session, organization_id, wallet_id, lock=True)
        before = wallet.metadata_
        wallet.metadata_ = change(before)
        if wallet.metadata_ != before:
            _record_wallet(uow.session, wallet, "wallet.updated", {"metadata": before}, {"metadata": wallet.metadata_})
    return get_wallet(organization_id=organization_id, wallet_id=wallet_id)


def wallet_id_by_code(*, organization_id: str, external_customer_id: str, code: str) -> str:
    """The id of the customer's wallet of this code: the active one, else the latest terminated (404 otherwise)."""
    with read_only() as session:
        customer = get_customer_in(session, organization_id, external_customer_id)
        wallet_id = session.scalar(select(Wallet.id).where(
            Wallet.organization_id == organization_id, Wallet.customer_id == customer.id, Wallet.code == code)
            .order_by((Wallet.status == "active").desc(), Wallet.created_at.desc(), Wallet.id).limit(1))
    if wallet_id is None:
        raise NotFound("wallet")
    return wallet_id


def get_wallet(*, organization_id: str, wallet_id: str) -> Wallet:
    with read_only() as session:
        wallet = _wallet_in(session, organization_id, wallet_id)
        _ = wallet.rules  # loaded while the session is open
        return wallet


def list_wallets(*, organization_id: str, external_customer_id: str | None = None, customer_id: str | None = None,
                 page: int = 1, per_page: int = 20) -> Page:
    query = select(Wallet).where(Wallet.organization_id == organization_id)
    if external_customer_id:
        query = query.join(Customer, Wallet.customer_id == Customer.id).where(
            Customer.external_id == external_customer_id)
    if customer_id:
        query = query.where(Wallet.customer_id == customer_id)
    with read_only() as session:
        return paginate(session, query.order_by(Wallet.created_at.desc(), Wallet.id), page=page, per_page=per_page)


def create_wallet_transaction(*, organization_id: str, data: Mapping[str, object],
                              customer_id: str | None = None) -> list[WalletTransaction]:
    """Top up (`paid_credits`, `granted_credits`) and/or void (`voided_credits`) one wallet.

    Paid credits are held to the wallet's top-up limits unless `ignore_paid_top_up_limits`; their
    invoice waits for the payment with `invoice_requires_successful_payment` (else the wallet's
    default). `customer_id` limits it to that customer's wallets (the portal and admin screens).
    """
    check = Checker(data)
    wallet_id = check.string("wallet_id", required=True)
    paid, granted = check_credits(check, data, "paid_credits"), check_credits(check, data, "granted_credits")
    voided = check_credits(check, data, "voided_credits")
    name = check.string("name")
    metadata = check_metadata(check, data, "metadata")
    ignore_limits = bool(check.boolean("ignore_paid_top_up_limits"))
    requires_payment = check.boolean("invoice_requires_successful_payment")
    if paid <= 0 and granted <= 0 and voided <= 0 and not check.errors:
        check.fail("credits", "value_must_be_positive")
    check.done()
    with unit_of_work() as uow:
        wallet = _wallet_in(uow.session, organization_id, wallet_id, lock=True)
        if customer_id is not None and wallet.customer_id != customer_id:
            raise NotFound("wallet")
        if wallet.status != "active":
            raise ValidationFailed({"wallet": ["is_terminated"]})
        if voided > wallet.credits_balance:
            raise ValidationFailed({"voided_credits": ["insufficient_credits"]})
        error = None if ignore_limits else limit_error(wallet, paid)
        if error:
            raise ValidationFailed({"paid_credits": [error]})
        too_large = credits_out_of_range(wallet, {"paid_credits": paid, "granted_credits": granted})
        if too_large:
            raise ValidationFailed(too_large)
        created = add_top_up(uow, wallet, paid=paid, granted=granted, name=name, metadata=metadata,
                          requires_payment=bool(requires_payment) or wallet.invoice_requires_successful_payment)
        if voided > 0:
            created.append(ledger.void_credits(uow.session, wallet, credits=voided, name=name))
        action = "wallet.credits_granted" if paid <= 0 and voided <= 0 else "wallet.topped_up"
        moved = {"paid_credits": paid, "granted_credits": granted, "voided_credits": voided}
        _record_wallet(uow.session, wallet, action, None, {name: credits for name, credits in moved.items() if credits})
        return created


def list_wallet_transactions(*, organization_id: str, wallet_id: str, status: str | None = None,
                             transaction_type: str | None = None, page: int = 1, per_page: int = 20) -> Page:
    query = select(WalletTransaction).where(WalletTransaction.organization_id == organization_id,
                                            WalletTransaction.wallet_id == str(wallet_id))
    if status:
        query = query.where(WalletTransaction.status == status)
    if transaction_type:
        query = query.where(WalletTransaction.transaction_type == transaction_type)
    with read_only() as session:
        _wallet_in(session, organization_id, wallet_id)
        return paginate(session, query.order_by(WalletTransaction.created_at.desc(), WalletTransaction.id.desc()),
                        page=page, per_page=per_page)


def get_wallet_transaction(*, organization_id: str, wallet_transaction_id: str) -> WalletTransaction:
    with read_only() as session:
        transaction = session.scalar(select(WalletTransaction).where(
            WalletTransaction.organization_id == organization_id, WalletTransaction.id == str(wallet_transaction_id)))
        if transaction is None:
            raise NotFound("wallet_transaction")
        return transaction


@dataclass(frozen=True)
class WalletView:
    """A wallet as the screens show it: balances (ongoing computed now) and its latest transactions."""

    wallet: Wallet
    ongoing: Ongoing
    transactions: list[WalletTransaction]
    rules: list[RecurringTransactionRule]


def customer_wallets(*, organization_id: str, customer_id: str, transactions: int = 10) -> list[WalletView]:
    """The customer's wallets, active first then newest, each with its last `transactions` movements."""
    views = []
    with read_only() as session:
        wallets = session.scalars(select(Wallet).where(
            Wallet.organization_id == organization_id, Wallet.customer_id == customer_id).order_by(
            Wallet.status, Wallet.created_at.desc(), Wallet.id)).unique().all()
        for wallet in wallets:
            latest = list(session.scalars(select(WalletTransaction).where(WalletTransaction.wallet_id == wallet.id)
                                          .order_by(WalletTransaction.created_at.desc(), WalletTransaction.id.desc())
                                          .limit(transactions)))
            ongoing = read_ongoing(session, wallet) if wallet.status == "active" else Ongoing(
                0, wallet.balance_cents, Decimal(0), wallet.credits_balance)
            views.append(WalletView(wallet=wallet, ongoing=ongoing, transactions=latest, rules=list(wallet.rules)))
    return views


def wallet_of_customer(*, organization_id: str, customer_id: str, wallet_id: str) -> Wallet:
    wallet = get_wallet(organization_id=organization_id, wallet_id=wallet_id)
    if wallet.customer_id != customer_id:
        raise NotFound("wallet")
    return wallet
