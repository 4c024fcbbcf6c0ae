"""Fees of a billed period: the subscription fee (prorated), the charges of its usage, commitments."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.db import new_id
from billing.invoicing.advance import renew_advance_charges
from billing.invoicing.models import (
    Fee,
    Invoice,
)
from billing.metering.period_usage import charge_usage
from billing.money import precise_minor, round_minor, to_major_precise
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import period_at
from billing.subscriptions.schedule import Billing, FeePart, fee_days


def subscription_fee_cents(subscription: Subscription, part: FeePart) -> tuple[int, Decimal, int]:
    """The subscription fee for a part of a period: (cents, precise cents, days billed).

    NOTE: prorated by days, the first and the last day both counted: daily price = fee / days
    of the full period (docs/billing.md, Subscriptions: Proration; Lago's "prorated by day").
    """
    plan = subscription.plan
    days = fee_days(part, subscription.customer.applicable_timezone)
    if days >= part.period.days:
        return plan.amount_cents, Decimal(plan.amount_cents), part.period.days
    precise = Decimal(plan.amount_cents) * days / part.period.days
    return round_minor(precise), precise, days


def build_fees(session: Session, invoice: Invoice, subscription: Subscription, billing: Billing,
                usage_read: Mapping[str, dict] | None = None) -> None:
    """The invoice's fees (`usage_read`: each charge's usage per filter group, by charge id, when read already)."""
    plan = subscription.plan
    currency = plan.amount_currency
    position = 0
    if billing.fee is not None:
        cents, precise, days = subscription_fee_cents(subscription, billing.fee)
        invoice.fees.append(Fee(
            id=new_id(), applied_taxes=[],
            organization_id=invoice.organization_id, subscription_id=subscription.id, fee_type="subscription",
            position=position, item_code=plan.code, description=plan.invoice_display_name or plan.name,
            amount_cents=cents, precise_amount_cents=precise, amount_currency=currency, units=Decimal(1),
            total_aggregated_units=Decimal(1), events_count=0, precise_unit_amount=to_major_precise(precise, currency),
            pay_in_advance=plan.pay_in_advance, from_datetime=billing.fee.start, to_datetime=billing.fee.end,
            amount_details={"days_billed": days, "days_in_period": billing.fee.period.days,
                            "plan_amount_cents": plan.amount_cents}))
    if billing.charges is None:
        return
    start, end = billing.charges
    position = add_charge_fees(session, invoice, subscription, start, end, usage_read, position)
    if plan.minimum_commitment_cents:
        position += 1
        _add_commitment_true_up(session, invoice, subscription, start, end, position)
    # After the true-up: the renewal is the next period's (recurring pay-in-advance charges, in full).
    renew_advance_charges(session, invoice, subscription, billing.boundary, position)


def add_charge_fees(session: Session, invoice: Invoice, subscription: Subscription, start: datetime, end: datetime,
                    usage_read: Mapping[str, dict] | None = None, position: int = 0, *, true_ups: bool = True) -> int:
    """The fees of the usage of [start, end) of the charges billed in arrears (with their minimums' true-ups
    unless `true_ups` is False); returns the last fee's position."""
    plan = subscription.plan
    currency = plan.amount_currency
    for charge in plan.charges:
        # NOTE: a pay-in-advance charge billed each event as it came (billing.invoicing.advance):
        # its usage is not billed again at the period's end (Lago docs "Arrears vs Advance",
        # https://getlago.com/docs/guide/plans/charges/arrears-vs-advance).
        if not charge.invoiceable or charge.pay_in_advance:
            continue
        usage = charge_usage(session, subscription, charge, start, end,
                             None if usage_read is None else usage_read.get(charge.id, {}))
        metric = charge.billable_metric
        # One fee per charge filter, and one for the events that match none (Lago's fees per filter).
        for line in usage.lines:
            if charge.filters and line.events_count == 0 and line.amount_cents == 0:
                continue  # an unused filter of a filtered charge is no line on the invoice
            position += 1
            name = charge.invoice_display_name or metric.name
            if line.charge_filter is not None:
                name = line.charge_filter.invoice_display_name or _filter_label(name, line.charge_filter.values)
            invoice.fees.append(Fee(
                id=new_id(), applied_taxes=[],
                organization_id=invoice.organization_id, subscription_id=subscription.id, charge_id=charge.id,
                charge_filter_id=line.charge_filter.id if line.charge_filter else None, fee_type="charge",
                position=position, item_code=metric.code, description=name, amount_cents=line.amount_cents,
                precise_amount_cents=precise_minor(line.amount, currency), amount_currency=currency,
                # NOTE: a prorated charge's fee counts its prorated units; its full units are the
                # total aggregated (Lago's fee: units = the prorated aggregation, docs/billing.md).
                units=line.units if line.prorated_units is None else line.prorated_units,
                total_aggregated_units=line.units, events_count=line.events_count, pay_in_advance=False,
                precise_unit_amount=line.unit_amount, from_datetime=start, to_datetime=end,
                amount_details={"filters": line.charge_filter.values} if line.charge_filter else {}))
        if charge.min_amount_cents and true_ups:
            # NOTE: a charge's minimum, prorated like the fee for a partial period, is met by a
            # "true-up" fee for what its usage fell short of (docs/billing.md, Pricing: min_amount_cents).
            minimum = _prorated(charge.min_amount_cents, subscription, start, end)
            if usage.amount_cents < minimum:
                position += 1
                invoice.fees.append(Fee(
                    id=new_id(), applied_taxes=[],
                    organization_id=invoice.organization_id, subscription_id=subscription.id, charge_id=charge.id,
                    fee_type="charge", position=position, item_code=metric.code,
                    description=f"{charge.invoice_display_name or metric.name} – minimum",
                    amount_cents=minimum - usage.amount_cents,
                    precise_amount_cents=Decimal(minimum - usage.amount_cents), amount_currency=currency,
                    from_datetime=start, to_datetime=end,
                    amount_details={"true_up": True, "min_amount_cents": minimum}))
    return position


def _prorated(amount_cents: int, subscription: Subscription, start: datetime, end: datetime) -> int:
    """`amount_cents` for the days of [start, end) of its full period (both ends counted), rounded once."""
    part = FeePart(period_at(subscription, start), start, end)
    days = fee_days(part, subscription.customer.applicable_timezone)
    if days >= part.period.days:
        return amount_cents
    return round_minor(Decimal(amount_cents) * days / part.period.days)


def _add_commitment_true_up(session: Session, invoice: Invoice, subscription: Subscription, start: datetime,
                            end: datetime, position: int) -> None:
    """The plan's minimum commitment for the period, less what the period was billed (docs/billing.md).

    NOTE: true-up = max(0, prorated commitment − the period's subscription, charge and true-up
    fees); an advance fee billed on an earlier invoice counts for the period it paid for.
    """
    plan = subscription.plan
    commitment = _prorated(plan.minimum_commitment_cents, subscription, start, end)
    period = period_at(subscription, start)
    billed_here = sum(f.amount_cents for f in invoice.fees
                      if f.fee_type == "charge" or (f.fee_type == "subscription" and f.from_datetime < end
                                                    and f.to_datetime > start))
    billed_before = session.scalar(select(func.coalesce(func.sum(Fee.amount_cents), 0)).where(
        Fee.subscription_id == subscription.id, Fee.fee_type == "subscription",
        Fee.from_datetime >= period.start, Fee.to_datetime <= period.end, Fee.invoice_id != invoice.id)) or 0
    # The period's pay-in-advance fees count too (invoiced or not): docs/billing.md, Subscriptions.
    billed_before += session.scalar(select(func.coalesce(func.sum(Fee.amount_cents), 0)).where(
        Fee.subscription_id == subscription.id, Fee.pay_in_advance.is_(True), Fee.fee_type == "charge",
        Fee.from_datetime >= start, Fee.to_datetime <= end)) or 0
    shortfall = commitment - billed_here - billed_before
    if shortfall > 0:
        invoice.fees.append(Fee(
            id=new_id(), applied_taxes=[],
            organization_id=invoice.organization_id, subscription_id=subscription.id, fee_type="commitment",
            position=position, item_code=plan.code, description=f"{plan.invoice_display_name or plan.name} – "
            "minimum commitment", amount_cents=shortfall, precise_amount_cents=Decimal(shortfall),
            amount_currency=plan.amount_currency, from_datetime=start, to_datetime=end,
            amount_details={"minimum_commitment_cents": commitment}))


def _filter_label(name: str, values: dict[str, list[str]]) -> str:
    return f"{name} · " + ", ".join(f"{key}: {'/'.join(allowed)}" for key, allowed in sorted(values.items()))
