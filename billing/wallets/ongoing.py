"""A wallet's ongoing balance: its balance less the usage and drafts it will pay."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.catalog.taxes import organization_taxes
from billing.db import read_only
from billing.invoicing import totals
from billing.invoicing.models import Invoice
from billing.metering.period_usage import usage_for_current_period
from billing.subscriptions.models import Subscription
from billing.wallets import ledger
from billing.wallets.models import (
    Wallet,
)


@dataclass(frozen=True)
class Ongoing:
    usage_cents: int
    balance_cents: int
    usage_credits: Decimal
    credits: Decimal


def usage_fees(session: Session, subscription: Subscription, org_taxes: list) -> tuple[list[totals.FeeLine],
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


def read_ongoing(session: Session, wallet: Wallet) -> Ongoing:
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
        lines, rates = usage_fees(session, subscription, org_taxes)
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
        return read_ongoing(session, wallet)
