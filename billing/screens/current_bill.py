"""The current bill so far of a customer's live subscriptions, as the bill widget shows it: the subscription fee
of this period, the usage billed in arrears, the taxes as the invoices will compute them, and when it is billed.

An estimate: coupons and prepaid credits (wallets, credit notes) are taken off when the invoice is made, not here.
The arithmetic is pure (`estimate`); `current_bills` reads what it needs in one snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from billing.catalog.models import Tax
from billing.catalog.taxes import organization_taxes
from billing.db import read_snapshot
from billing.invoicing import totals
from billing.invoicing.fees import subscription_fee_cents
from billing.screens.overview import _find_customer
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import current_charges_period, current_period, local_date, terms_of
from billing.subscriptions.schedule import FeePart, billings
from billing.subscriptions.services import customer_subscriptions
from billing.wallets.ongoing import usage_fees


@dataclass(frozen=True)
class UsageCharge:
    """What one charge billed in arrears has cost so far this period."""

    metric_code: str
    metric_name: str
    amount_cents: int


@dataclass(frozen=True)
class TaxAmount:
    """One tax over the bill: its base and its amount, each rounded once per invoice."""

    code: str
    name: str
    rate: Decimal  # percent
    base_cents: int
    amount_cents: int


@dataclass(frozen=True)
class SubscriptionBill:
    subscription_id: str
    external_id: str
    name: str | None
    plan_name: str
    currency: str
    fee_cents: int | None  # the subscription fee of this period; None: none (a free plan, a trial covering it)
    fee_in_advance: bool  # billed at the period's start (already invoiced) rather than at its end
    fee_days: int  # days of the period the fee covers (fewer than the period's: prorated)
    fee_period_days: int
    usage: tuple[UsageCharge, ...]
    taxes: tuple[TaxAmount, ...]
    first_day: date  # of the usage's period, local, inclusive
    last_day: date
    next_invoice_on: date  # the local day the period's usage is invoiced

    @property
    def usage_cents(self) -> int:
        return sum(charge.amount_cents for charge in self.usage)

    @property
    def taxes_cents(self) -> int:
        return sum(tax.amount_cents for tax in self.taxes)

    @property
    def total_cents(self) -> int:
        return (self.fee_cents or 0) + self.usage_cents + self.taxes_cents


@dataclass(frozen=True)
class Estimate:
    taxes: tuple[TaxAmount, ...]


def estimate(*, fee: totals.FeeLine | None, fee_in_advance: bool, usage: Sequence[totals.FeeLine],
             rates: Mapping[str, Decimal], names: Mapping[str, str]) -> Estimate:
    """The taxes of a period's fee and usage, each rounded once per tax per invoice.

    NOTE: an advance fee is on its own invoice (at the period's start), an arrears fee on the period-end invoice
    with the usage; each invoice rounds each of its taxes once on the sum of its exact per-fee amounts
    (`totals.compute_taxes`, docs/billing.md, Taxes). Coupons are not taken off: an estimate before them.
    """
    invoices: list[list[totals.FeeLine]] = [list(usage)]
    if fee is not None:
        if fee_in_advance:
            invoices.append([fee])
        else:
            invoices[0].insert(0, fee)
    bases: dict[str, int] = {}
    amounts: dict[str, int] = {}
    for lines in invoices:
        if not lines:
            continue
        taxed = totals.compute_taxes(lines, [Decimal(0)] * len(lines), dict(rates))
        for code, (base, amount) in taxed.invoice_taxes.items():
            bases[code] = bases.get(code, 0) + base
            amounts[code] = amounts.get(code, 0) + amount
    return Estimate(taxes=tuple(TaxAmount(code=code, name=names.get(code, code), rate=rates[code],
                                          base_cents=bases[code], amount_cents=amounts[code])
                                for code in sorted(amounts)))


def current_fee_part(subscription: Subscription, now: datetime | None = None) -> FeePart | None:
    """The part of the current period the subscription fee is billed for (prorated, after a trial), if any."""
    period = current_period(subscription, now)
    # The schedule's own rule: every billing of this period (and the previous period's end), this period's fee.
    for billing in billings(terms_of(subscription), until=period.end, after=period.start - timedelta(microseconds=1)):
        if billing.fee is not None and billing.fee.period == period:
            return billing.fee
    return None


def current_bills(*, organization_id: str, customer_id: str,
                  external_subscription_id: str | None = None) -> list[SubscriptionBill]:
    """The bill so far of each active subscription of the customer (only `external_subscription_id`'s when
    given), newest first. NotFound for a customer of another organization or deleted."""
    bills = []
    with read_snapshot() as session:
        customer = _find_customer(session, organization_id, customer_id)
        org_taxes = organization_taxes(session, organization_id)
        for subscription in customer_subscriptions(session, customer.id):
            if subscription.status != "active" or subscription.started_at is None:
                continue  # a pending subscription bills nothing yet
            if external_subscription_id is not None and subscription.external_id != external_subscription_id:
                continue
            bills.append(_bill(session, subscription, org_taxes))
    return bills


def _bill(session, subscription: Subscription, org_taxes: list[Tax]) -> SubscriptionBill:
    plan, customer = subscription.plan, subscription.customer
    timezone = customer.applicable_timezone
    lines, rates = usage_fees(session, subscription, org_taxes)
    names = {charge.billable_metric.code: charge.billable_metric.name for charge in plan.charges}
    part = current_fee_part(subscription)
    fee = None
    fee_cents, fee_days = None, 0
    if part is not None and plan.amount_cents:
        fee_cents, _precise, fee_days = subscription_fee_cents(subscription, part)
        # NOTE: the subscription fee has no charge: plan, else customer, else organization taxes
        # (billing.invoicing.discounts.apply_coupons_and_taxes).
        levels = [[], list(plan.taxes), list(customer.taxes), org_taxes]
        rates.update((tax.code, tax.rate) for level in levels for tax in level)
        fee = totals.FeeLine(amount_cents=fee_cents, plan_code=plan.code,
                             tax_codes=totals.taxes_of([[t.code for t in level] for level in levels]))
    tax_names = dict(session.execute(select(Tax.code, Tax.name).where(
        Tax.organization_id == subscription.organization_id, Tax.code.in_(list(rates)))).all()) if rates else {}
    taxes = estimate(fee=fee, fee_in_advance=plan.pay_in_advance, usage=lines, rates=rates, names=tax_names).taxes
    usage_period = current_charges_period(subscription)
    return SubscriptionBill(
        subscription_id=subscription.id, external_id=subscription.external_id, name=subscription.name,
        plan_name=plan.invoice_display_name or plan.name, currency=plan.amount_currency, fee_cents=fee_cents,
        fee_in_advance=plan.pay_in_advance, fee_days=fee_days, fee_period_days=part.period.days if part else 0,
        usage=tuple(UsageCharge(metric_code=line.metric_code or "", metric_name=names.get(line.metric_code or "", ""),
                                amount_cents=line.amount_cents) for line in lines),
        taxes=taxes, first_day=usage_period.first_day, last_day=usage_period.last_day,
        next_invoice_on=local_date(usage_period.end, timezone))
