"""Wallets: create, update, terminate, top up, void; ongoing balance; recurring rules; expiry."""

from __future__ import annotations

import calendar
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from billing.catalog.models import BillableMetric
from billing.catalog.taxes import organization_taxes
from billing.customers.models import Customer
from billing.customers.services import get_customer_in
from billing.db import UnitOfWork, read_only, unit_of_work, utcnow
from billing.emails import services as emails
from billing.errors import NotFound, ValidationFailed
from billing.invoicing import services as invoicing
from billing.invoicing import totals
from billing.invoicing.models import Fee, Invoice
from billing.metering import rollups
from billing.metering.models import Event, RollupWatermark
from billing.metering.services import usage_for_current_period
from billing.money import exponent, round_credits
from billing.pagination import Page, paginate
from billing.ports import runtime
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import local_date
from billing.validation import MAX_AMOUNT_CENTS, Checker
from billing.wallets import ledger
from billing.wallets.models import (
    FEE_TYPES,
    RULE_INTERVALS,
    RecurringTransactionRule,
    Wallet,
    WalletCheckDue,
    WalletTransaction,
)
from billing.webhooks import services as webhooks

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- validation

TOP_UP_LIMITS = ("paid_top_up_min_amount_cents", "paid_top_up_max_amount_cents")
MAX_PRIORITY = 50  # NOTE: Lago's wallet priorities run 1..50, 50 (the lowest) by default


def _credits(check: Checker, data: Mapping[str, object], field: str) -> Decimal:
    value = check.decimal(field) if data.get(field) not in (None, "") else None
    return round_credits(value) if value is not None else Decimal(0)


def _metadata(check: Checker, data: Mapping[str, object], field: str) -> list[dict] | None:
    """Lago's transaction metadata: a list of `{key, value}` strings (None when absent)."""
    raw = data.get(field)
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(
            isinstance(item, Mapping) and isinstance(item.get("key"), str) and isinstance(item.get("value"), str)
            and len(item["key"]) <= 255 and len(item["value"]) <= 255 for item in raw):
        check.fail(field, "invalid_value")
        return None
    return [{"key": item["key"], "value": item["value"]} for item in raw]


def _applies_to(check: Checker, data: Mapping[str, object]) -> tuple[list[str], list[str]] | None:
    """`applies_to: {fee_types, billable_metric_codes}` as (fee types, metric codes); None when absent."""
    raw = data.get("applies_to")
    if raw is None:
        return None
    fee_types = raw.get("fee_types") if isinstance(raw, Mapping) else None
    codes = raw.get("billable_metric_codes") if isinstance(raw, Mapping) else None
    fee_types, codes = fee_types or [], codes or []
    if not isinstance(raw, Mapping) or not isinstance(fee_types, list) or not isinstance(codes, list) \
            or not all(isinstance(value, str) for value in [*fee_types, *codes]) \
            or any(fee_type not in FEE_TYPES for fee_type in fee_types):
        # NOTE: Lago's answer to any invalid limitation (Wallets::ValidateService).
        check.fail("applies_to", "invalid_limitations")
        return None
    return sorted(set(fee_types)), sorted(set(codes))


def _set_applies_to(session: Session, wallet: Wallet, applies_to: tuple[list[str], list[str]]) -> None:
    fee_types, codes = applies_to
    metrics = list(session.scalars(select(BillableMetric).where(
        BillableMetric.organization_id == wallet.organization_id, BillableMetric.code.in_(codes),
        BillableMetric.deleted_at.is_(None)))) if codes else []
    if len(metrics) != len(codes):
        raise ValidationFailed({"applies_to": ["invalid_limitations"]})
    wallet.allowed_fee_types = fee_types
    wallet.billable_metrics = metrics


def _limits(check: Checker, data: Mapping[str, object], wallet: Wallet | None = None) -> dict[str, int | None]:
    """The paid top-up limits given (minor units, > 0; the maximum not below the minimum)."""
    values = {field: check.amount_cents(field, minimum=1) for field in TOP_UP_LIMITS if field in data}
    low = values.get("paid_top_up_min_amount_cents", wallet.paid_top_up_min_amount_cents if wallet else None)
    high = values.get("paid_top_up_max_amount_cents", wallet.paid_top_up_max_amount_cents if wallet else None)
    if low is not None and high is not None and high < low:
        check.fail("paid_top_up_max_amount_cents", "must_be_greater_than_or_equal_min")
    return values


def _credits_out_of_range(wallet: Wallet, credits: dict[str, Decimal]) -> dict[str, list[str]]:
    """Credits whose worth (with the wallet's balance) would pass MAX_AMOUNT_CENTS: no amount column could hold it."""
    held = wallet.credits_balance or Decimal(0)
    return {field: ["value_is_out_of_range"] for field, value in credits.items()
            if value > 0 and ledger.credits_amount_cents(wallet, held + value) > MAX_AMOUNT_CENTS}


def _in_future(check: Checker, field: str, moment: datetime | None) -> datetime | None:
    """NOTE: Lago refuses a wallet expiration in the past (`expiration_at: invalid_date`)."""
    if moment is not None and moment <= runtime.clock.now():
        check.fail(field, "invalid_date")
        return None
    return moment


def limit_error(wallet: Wallet, paid: Decimal) -> str | None:
    """Why a paid top-up of `paid` credits is refused by the wallet's limits; None when it is within them.

    NOTE: its amount (credits × rate, rounded once) is compared with `paid_top_up_min_amount_cents`
    and `paid_top_up_max_amount_cents` (Lago's `amount_below_minimum` / `amount_above_maximum`).
    """
    if paid <= 0:
        return None
    amount = ledger.credits_amount_cents(wallet, paid)
    if wallet.paid_top_up_min_amount_cents is not None and amount < wallet.paid_top_up_min_amount_cents:
        return "amount_below_minimum"
    if wallet.paid_top_up_max_amount_cents is not None and amount > wallet.paid_top_up_max_amount_cents:
        return "amount_above_maximum"
    return None


def _rules(check: Checker, data: Mapping[str, object]) -> list[dict] | None:
    raw = data.get("recurring_transaction_rules")
    if raw is None:
        return None
    if not isinstance(raw, list):
        check.fail("recurring_transaction_rules", "invalid_value")
        return []
    rules = []
    for item in raw:
        if not isinstance(item, dict):
            check.fail("recurring_transaction_rules", "invalid_value")
            continue
        rc = Checker(item)
        trigger = rc.choice("trigger", ("interval", "threshold"), required=True)
        method = rc.choice("method", ("fixed", "target")) or "fixed"
        rule = {"trigger": trigger, "method": method, "interval": None, "threshold_credits": None,
                "target_ongoing_balance": None, "paid_credits": _credits(rc, item, "paid_credits"),
                "granted_credits": _credits(rc, item, "granted_credits"),
                "started_at": rc.datetime("started_at"), "expiration_at": rc.datetime("expiration_at"),
                "transaction_name": rc.string("transaction_name"),
                "transaction_metadata": _metadata(rc, item, "transaction_metadata") or [],
                "ignore_paid_top_up_limits": bool(rc.boolean("ignore_paid_top_up_limits")),
                "invoice_requires_successful_payment": bool(rc.boolean("invoice_requires_successful_payment")),
                "grants_target_top_up": None}
        if trigger == "interval":
            rule["interval"] = rc.choice("interval", RULE_INTERVALS, required=True)
        if trigger == "threshold":
            rule["threshold_credits"] = rc.decimal("threshold_credits", required=True)
        if method == "target":
            rule["target_ongoing_balance"] = rc.decimal("target_ongoing_balance", required=True)
            rule["grants_target_top_up"] = bool(rc.boolean("grants_target_top_up"))
        try:
            rc.done()
        except ValidationFailed as error:
            for key, reasons in error.details.items():
                for reason in reasons:
                    check.fail(f"recurring_transaction_rules.{key}", reason)
        rules.append(rule)
    return rules


def _check_rule_limits(wallet: Wallet, rules: list[dict]) -> None:
    for rule in rules:
        if rule["method"] == "fixed" and not rule["ignore_paid_top_up_limits"]:
            error = limit_error(wallet, rule["paid_credits"])
            if error:
                raise ValidationFailed({"recurring_transaction_rules.paid_credits": [error]})


def _set_rules(wallet: Wallet, rules: list[dict]) -> None:
    """Replace the wallet's rules (Lago's update sends the whole list).

    NOTE: a `fixed` rule's paid credits must be within the wallet's paid top-up limits unless the
    rule ignores them (Lago: rules are checked against the limits when created or updated;
    https://github.com/getlago/lago-api/pull/4316, /pull/4344). A `target` rule's amount is known
    only when it fires.
    """
    _check_rule_limits(wallet, rules)
    too_large = {f"recurring_transaction_rules.{field}": reasons for rule in rules
                 for field, reasons in _credits_out_of_range(wallet, {
                     field: rule[field] or Decimal(0)
                     for field in ("paid_credits", "granted_credits", "target_ongoing_balance")}).items()}
    if too_large:
        raise ValidationFailed(too_large)
    wallet.rules.clear()
    now = utcnow()
    for rule in rules:
        started = rule["started_at"] or now
        # An interval rule's next top-up; a threshold rule's start, when the clock asks for a check.
        next_run = started if rule["trigger"] == "interval" or started > now else None
        wallet.rules.append(RecurringTransactionRule(**rule, next_run_at=next_run, armed=True))


# ---------------------------------------------------------------- use cases


def _top_up(uow: UnitOfWork, wallet: Wallet, *, paid: Decimal, granted: Decimal, source: str = "manual",
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
        invoicing.finalize(uow, invoice)
    return invoice


def _wallet_in(session: Session, organization_id: str, wallet_id: str, *, lock: bool = False) -> Wallet:
    query = select(Wallet).where(Wallet.organization_id == organization_id, Wallet.id == str(wallet_id))
    if lock:
        query = query.with_for_update(of=Wallet).execution_options(populate_existing=True)
    wallet = session.scalars(query).unique().one_or_none()
    if wallet is None:
        raise NotFound("wallet")
    return wallet


def create_wallet(*, organization_id: str, data: Mapping[str, object]) -> Wallet:
    check = Checker(data)
    external_customer_id = check.string("external_customer_id", required=True)
    rate = check.decimal("rate_amount", required=True)
    if rate is not None and rate <= 0:
        check.fail("rate_amount", "value_must_be_positive")
    currency = check.currency("currency")
    paid, granted = _credits(check, data, "paid_credits"), _credits(check, data, "granted_credits")
    expiration_at = _in_future(check, "expiration_at", check.datetime("expiration_at"))
    priority = check.integer("priority", minimum=1, maximum=MAX_PRIORITY)
    name, code = check.string("name"), check.string("code")
    transaction_name = check.string("transaction_name")
    metadata = _metadata(check, data, "transaction_metadata")
    applies_to = _applies_to(check, data)
    limits = _limits(check, data)
    requires_payment = bool(check.boolean("invoice_requires_successful_payment"))
    ignore_limits = bool(check.boolean("ignore_paid_top_up_limits_on_creation"))
    rules = _rules(check, data)
    check.done()
    with unit_of_work() as uow:
        customer = get_customer_in(uow.session, organization_id, external_customer_id)
        currency = currency or customer.currency or customer.organization.default_currency
        if customer.currency and currency != customer.currency:
            raise ValidationFailed({"currency": ["currencies_does_not_match"]})
        if customer.currency is None:
            customer.currency = currency
        wallet = Wallet(organization_id=organization_id, customer=customer, customer_id=customer.id, name=name,
                        code=code, priority=priority or 50, currency=currency, rate_amount=rate,
                        expiration_at=expiration_at, invoice_requires_successful_payment=requires_payment, **limits)
        too_large = _credits_out_of_range(wallet, {"paid_credits": paid, "granted_credits": granted})
        if too_large:
            raise ValidationFailed(too_large)
        uow.session.add(wallet)
        uow.session.flush()
        if applies_to is not None:
            _set_applies_to(uow.session, wallet, applies_to)
        # NOTE: the first top-up is held to the limits too, unless `ignore_paid_top_up_limits_on_creation`.
        error = None if ignore_limits else limit_error(wallet, paid)
        if error:
            raise ValidationFailed({"paid_credits": [error]})
        if rules:
            _set_rules(wallet, rules)
        _top_up(uow, wallet, paid=paid, granted=granted, name=transaction_name, metadata=metadata,
                requires_payment=requires_payment)
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
    if "expiration_at" in data:
        values["expiration_at"] = _in_future(check, "expiration_at", check.datetime("expiration_at"))
    if "priority" in data:
        values["priority"] = check.integer("priority", minimum=1, maximum=MAX_PRIORITY) or MAX_PRIORITY
    if "invoice_requires_successful_payment" in data:
        values["invoice_requires_successful_payment"] = bool(check.boolean("invoice_requires_successful_payment"))
    applies_to = _applies_to(check, data)
    rules = _rules(check, data)
    check.done()
    with unit_of_work() as uow:
        wallet = _wallet_in(uow.session, organization_id, wallet_id, lock=True)
        if wallet.status != "active":
            raise ValidationFailed({"wallet": ["is_terminated"]})
        limits = Checker(data)
        values.update(_limits(limits, data, wallet))
        limits.done()
        for key, value in values.items():
            setattr(wallet, key, value)
        if applies_to is not None:
            _set_applies_to(uow.session, wallet, applies_to)
        if rules is not None:
            _set_rules(wallet, rules)
        else:
            # New limits hold for the rules already there.
            _check_rule_limits(wallet, [{"method": r.method, "paid_credits": r.paid_credits,
                                         "ignore_paid_top_up_limits": r.ignore_paid_top_up_limits}
                                        for r in wallet.rules if r.status == "active"])
        # New rules or a new scope: the wallet is looked at again by the next check.
        ledger.request_check(uow.session, customer_id=wallet.customer_id, organization_id=organization_id)
    return get_wallet(organization_id=organization_id, wallet_id=wallet_id)


def terminate_wallet(*, organization_id: str, wallet_id: str) -> Wallet:
    """End the wallet: what it holds is voided (Lago: a terminated wallet's credits are lost)."""
    with unit_of_work() as uow:
        wallet = _wallet_in(uow.session, organization_id, wallet_id, lock=True)
        _terminate(uow.session, wallet)
    return get_wallet(organization_id=organization_id, wallet_id=wallet_id)


def _terminate(session: Session, wallet: Wallet) -> None:
    if wallet.status != "active":
        return
    if wallet.credits_balance > 0:
        ledger.void_credits(session, wallet, credits=wallet.credits_balance)
    wallet.status, wallet.terminated_at = "terminated", utcnow()
    for rule in wallet.rules:
        rule.status = "terminated"


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
    paid, granted = _credits(check, data, "paid_credits"), _credits(check, data, "granted_credits")
    voided = _credits(check, data, "voided_credits")
    name = check.string("name")
    metadata = _metadata(check, data, "metadata")
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
        too_large = _credits_out_of_range(wallet, {"paid_credits": paid, "granted_credits": granted})
        if too_large:
            raise ValidationFailed(too_large)
        created = _top_up(uow, wallet, paid=paid, granted=granted, name=name, metadata=metadata,
                          requires_payment=bool(requires_payment) or wallet.invoice_requires_successful_payment)
        if voided > 0:
            created.append(ledger.void_credits(uow.session, wallet, credits=voided, name=name))
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
            ongoing = _ongoing(session, wallet) if wallet.status == "active" else Ongoing(
                0, wallet.balance_cents, Decimal(0), wallet.credits_balance)
            views.append(WalletView(wallet=wallet, ongoing=ongoing, transactions=latest, rules=list(wallet.rules)))
    return views


def wallet_of_customer(*, organization_id: str, customer_id: str, wallet_id: str) -> Wallet:
    wallet = get_wallet(organization_id=organization_id, wallet_id=wallet_id)
    if wallet.customer_id != customer_id:
        raise NotFound("wallet")
    return wallet


# ---------------------------------------------------------------- ongoing balance


@dataclass(frozen=True)
class Ongoing:
    usage_cents: int
    balance_cents: int
    usage_credits: Decimal
    credits: Decimal


def _usage_fees(session: Session, subscription: Subscription, org_taxes: list) -> tuple[list[totals.FeeLine],
                                                                                         dict[str, Decimal]]:
    """The fees the subscription's current usage would bill at the period's end, with their taxes' codes and rates.

    NOTE: only charges billed in arrears: a pay-in-advance charge billed each event on its own
    invoice, which the wallets paid (or will pay, a draft) already (docs/billing.md, Wallets). A
    charge's taxes are chosen as on its invoice: charge, else plan, else customer, else organization.
    """
    plan, customer = subscription.plan, subscription.customer
    usage = usage_for_current_period(session, subscription)
    rates: dict[str, Decimal] = {}
    lines = []
    for charge_usage in usage.charges:
        charge = charge_usage.charge
        if charge.pay_in_advance or not charge.invoiceable:
            continue
        levels = [list(charge.taxes), list(plan.taxes), list(customer.taxes), org_taxes]
        rates.update((tax.code, tax.rate) for level in levels for tax in level)
        lines.append(totals.FeeLine(amount_cents=charge_usage.amount_cents, plan_code=plan.code,
                                    metric_code=charge.billable_metric.code,
                                    tax_codes=totals.taxes_of([[t.code for t in level] for level in levels])))
    return lines, rates


def _usage_wallet(wallets: list[Wallet], metric_code: str | None) -> Wallet | None:
    """The wallet a charge's usage counts against (`wallets` in consumption order).

    NOTE: a wallet limited to the charge's billable metric, else one limited to charges, else one
    without limits; the first of each kind (Lago's `Wallets::FindApplicableOnFeesService`: metric
    targets, then fee types, then unrestricted wallets; docs/billing.md, Wallets).
    """
    for wallet in wallets:
        if metric_code in {metric.code for metric in wallet.billable_metrics}:
            return wallet
    for wallet in wallets:
        if "charge" in (wallet.allowed_fee_types or []):
            return wallet
    for wallet in wallets:
        if not wallet.allowed_fee_types and not wallet.billable_metrics:
            return wallet
    return None


def _ongoing(session: Session, wallet: Wallet) -> Ongoing:
    """NOTE: ongoing usage = the current usage not yet invoiced, taxes included, + the totals of the
    customer's draft invoices; ongoing balance = balance − ongoing usage. Usage counts each active
    subscription in the wallet's currency, the charges this wallet is the one to pay (`_usage_wallet`);
    its taxes are rounded once per tax per subscription, as its invoice will be (Lago's wallet
    object: "all current usage and draft invoices including taxes"; docs/billing.md, Wallets).
    Computed when read."""
    usage = 0
    org_taxes = organization_taxes(session, wallet.organization_id)
    subscriptions = session.scalars(select(Subscription).where(
        Subscription.customer_id == wallet.customer_id, Subscription.status == "active")).all()
    wallets = None
    for subscription in subscriptions:
        if subscription.started_at is None or subscription.plan.amount_currency != wallet.currency:
            continue
        lines, rates = _usage_fees(session, subscription, org_taxes)
        if lines and wallets is None:
            wallets = list(session.scalars(select(Wallet).where(
                Wallet.customer_id == wallet.customer_id, Wallet.status == "active",
                Wallet.currency == wallet.currency).order_by(Wallet.priority, Wallet.created_at, Wallet.id)).unique())
        lines = [line for line in lines
                 if getattr(_usage_wallet(wallets or [wallet], line.metric_code), "id", None) == wallet.id]
        taxes = totals.compute_taxes(lines, [Decimal(0)] * len(lines), rates)
        usage += sum(line.amount_cents for line in lines) + taxes.total
    usage += session.scalar(select(func.coalesce(func.sum(Invoice.total_amount_cents), 0)).where(
        Invoice.customer_id == wallet.customer_id, Invoice.status == "draft",
        Invoice.currency == wallet.currency)) or 0
    usage_credits = ledger.cents_to_credits(wallet, usage)
    return Ongoing(usage_cents=usage, balance_cents=wallet.balance_cents - usage, usage_credits=usage_credits,
                   credits=wallet.credits_balance - usage_credits)


def ongoing_balance(wallet: Wallet) -> Ongoing:
    if wallet.status != "active":
        return Ongoing(0, wallet.balance_cents, Decimal(0), wallet.credits_balance)
    with read_only() as session:
        return _ongoing(session, wallet)


# ---------------------------------------------------------------- rules and expiry


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
    return _top_up(uow, wallet, paid=paid, granted=granted, source=rule.trigger, name=rule.transaction_name,
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
    high = rollups.settled_high_id()
    with unit_of_work() as uow:
        session = uow.session
        low = rollups.watermark(session, name=WATERMARK, for_update=True)  # a second run waits here
        if high <= low:
            return
        customers = select(Wallet.customer_id, Wallet.organization_id).join(
            Subscription, Subscription.customer_id == Wallet.customer_id).join(
            Event, and_(Event.organization_id == Subscription.organization_id,
                        Event.external_subscription_id == Subscription.external_id)).where(
            Event.id > low, Event.id <= high, Wallet.status == "active").distinct()
        for customer_id, organization_id in session.execute(customers).all():
            ledger.request_check(session, customer_id=customer_id, organization_id=organization_id)
        session.execute(update(RollupWatermark).where(RollupWatermark.name == WATERMARK)
                        .values(last_event_id=high))


def check_wallet_thresholds(*, organization_id: str | None = None) -> WalletCheck:
    """Fire threshold rules whose wallet's ongoing balance fell to their threshold; report depletions.

    NOTE: only the customers asked for are looked at (`wallet_checks_due`): those whose
    subscriptions received events since the last run (found here, off the ingest path), and those
    whose wallets or draft invoices changed (`ledger.request_check`); each customer's request is
    taken, and its wallets evaluated, under their row locks, so a request written meanwhile waits
    and is looked at by the next run (docs/billing.md, Wallets).

    Once per crossing: a rule fires when ongoing credits + pending top-ups ≤ threshold_credits
    while armed, and is armed again when that level is above the threshold (BILLING.md, Wallets);
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
    ongoing = _ongoing(session, wallet)
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
    if balance <= 0 and not wallet.depleted_notified:
        # NOTE: one crossing, one webhook and one email (docs/billing.md, Wallets).
        wallet.depleted_notified = True
        wallet.depletions += 1
        credits = ongoing.credits + ledger.cents_to_credits(wallet, granted_cents)
        after = Ongoing(usage_cents=ongoing.usage_cents, balance_cents=balance, usage_credits=ongoing.usage_credits,
                        credits=credits)
        _emit_wallet(session, wallet, ledger.WALLET_DEPLETED_ONGOING_BALANCE, after)
        emails.queue_wallet_depleted_email(session, wallet, ongoing_balance_cents=balance,
                                           credits_ongoing_balance=credits)
    elif balance > 0 and wallet.depleted_notified:
        wallet.depleted_notified = False
    return fired


def _emit_wallet(session: Session, wallet: Wallet, webhook_type: str, ongoing: Ongoing) -> None:
    from billing import serializers

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
        # NOTE: expiry ends the wallet and voids what remains (BILLING.md, Wallets).
        if wallet.status == "active" and wallet.expiration_at and wallet.expiration_at <= at:
            _terminate(uow.session, wallet)
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
            ongoing = _ongoing(uow.session, wallet)
            _fire(uow, wallet, rule, ongoing.credits + _pending_credits(uow.session, wallet))
            topped += 1
            runs = 1
            while _add_interval(rule.next_run_at, rule.interval, runs) <= at:
                runs += 1
            rule.next_run_at = _add_interval(rule.next_run_at, rule.interval, runs)
    return topped
