"""Pay-in-advance charges: one fee per (event, charge), billed by a job that follows the events by id.

The job keeps its own id watermark (`rollup_watermarks` row `advance_fees`), with the rollup job's
insert barrier (`rollups.settled_high_id`: ids commit out of order on PostgreSQL, so the job only
reads up to an id below which no insert is in flight). One transaction per batch: the fees, their
invoices and the watermark move together, or none of them. A job killed anywhere reruns the batch
from the old watermark, and the unique constraint on (charge, event) of `fees` lets a rerun or a
concurrent job skip what is billed already: no fee is lost, none is billed twice.

A fee is what the event adds to the charge's price over its period so far: price(usage of the
period's earlier events + this one) − price(usage of the earlier events), "earlier" meaning a
smaller event id (the order the job bills them in, so a rerun computes the same amounts). The
difference is `metering.services.price_difference`, the same pure function as fee estimates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import billing.models  # noqa: F401  (every mapper, so the job runs in any process)
from billing import pricing, serializers
from billing.catalog.models import BillableMetric, Charge
from billing.catalog.taxes import organization_taxes
from billing.db import UnitOfWork, unit_of_work
from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.invoicing import totals
from billing.invoicing.amounts import check_amounts
from billing.invoicing.discounts import apply_coupons_and_taxes, compute_totals
from billing.invoicing.finalization import finalize
from billing.invoicing.models import FEE_PAYMENT_STATUSES, Fee, FeeAppliedTax, Invoice, InvoiceAppliedTax
from billing.invoicing.queries import fee_json, get_fee
from billing.metering import rollups
from billing.metering.aggregation import Fact, GroupUsage, UniqueTally
from billing.metering.aggregation import units as aggregated_units
from billing.metering.estimates import PriceDifference, price_difference
from billing.metering.period_usage import filter_of, metric_spec
from billing.metering.store import EventRecord, event_store
from billing.money import round_minor, to_minor
from billing.ports import runtime
from billing.pricing.prorated import advance_units
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import current_period, local_date, period_at
from billing.subscriptions.services import recurring_since
from billing.webhooks import services as webhooks

WATERMARK = "advance_fees"
BATCH = 1000


def bill_advance_charges(*, limit: int = BATCH) -> int:
    """Bill the pay-in-advance charges of up to `limit` ids' worth of new events; returns the ids passed (0: none)."""
    store = event_store()
    high = store.settled_high_id()
    with unit_of_work() as uow:
        session = uow.session
        low = rollups.watermark(session, name=WATERMARK, for_update=True)  # a second job waits here
        high = min(high, low + limit)
        if high <= low:
            return 0
        due: dict[tuple[str, str], list[EventRecord]] = defaultdict(list)
        events = [e for e in store.events_between(session, low, high)
                  if e.subscription_id is not None and e.error != "metric_not_found"]
        charges_of = _advance_charges(session, {(e.subscription_id, e.code) for e in events})
        for event in events:  # in id order
            for charge_id, from_event_id in charges_of.get((event.subscription_id, event.code), ()):
                if event.id > (from_event_id or 0):
                    due[(event.subscription_id, charge_id)].append(event)
        for (subscription_id, charge_id), events in due.items():
            _bill_events(uow, session.get(Subscription, subscription_id), session.get(Charge, charge_id), events)
        rollups.move_watermark(session, name=WATERMARK, to=high)
        return high - low


def _advance_charges(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], list[tuple[str, int]]]:
    """The live pay-in-advance charges of each (subscription id, metric code): (charge id, from event id) each."""
    if not pairs:
        return {}
    found: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for subscription_id, code, charge_id, from_event_id in session.execute(
            select(Subscription.id, BillableMetric.code, Charge.id, Charge.pay_in_advance_from_event_id)
            .join(Charge, Charge.plan_id == Subscription.plan_id)
            .join(BillableMetric, BillableMetric.id == Charge.billable_metric_id)
            .where(Subscription.id.in_({subscription_id for subscription_id, _ in pairs}),
                   BillableMetric.code.in_({code for _, code in pairs}),
                   BillableMetric.organization_id == Subscription.organization_id,
                   Charge.pay_in_advance.is_(True), Charge.deleted_at.is_(None))
            .order_by(Charge.id)):
        if (subscription_id, code) in pairs:
            found[(subscription_id, code)].append((charge_id, from_event_id))
    return found


def _bill_events(uow: UnitOfWork, subscription: Subscription, charge: Charge, events: list[EventRecord]) -> None:
    session = uow.session
    billed = set(session.scalars(select(Fee.pay_in_advance_event_id).where(
        Fee.charge_id == charge.id, Fee.pay_in_advance_event_id.in_([e.id for e in events]))))
    by_period: dict[tuple[datetime, datetime], list[EventRecord]] = defaultdict(list)
    for event in events:
        if event.id not in billed:
            period = current_period(subscription, event.timestamp)
            by_period[(max(period.start, subscription.started_at), period.end)].append(event)
    for (start, end), todo in by_period.items():
        _bill_period(uow, subscription, charge, start, end, todo)


def _bill_period(uow: UnitOfWork, subscription: Subscription, charge: Charge, start: datetime, end: datetime,
                 todo: list[EventRecord]) -> None:
    """Walk the period's events in id order, pricing each event to bill against those before it."""
    session = uow.session
    metric = charge.billable_metric
    spec = metric_spec(metric)
    currency = subscription.plan.amount_currency
    wanted = {e.id for e in todo}
    # A recurring metric carries what was added since the subscription (or the one it replaced) started.
    since = recurring_since(subscription) if metric.recurring else start
    rows = event_store().metric_events(
        session, organization_id=subscription.organization_id, external_subscription_id=subscription.external_id,
        code=metric.code, start=since, end=end, up_to_id=max(wanted))
    groups: dict[str | None, GroupUsage] = defaultdict(GroupUsage)
    # NOTE: the highest total of the period so far per filter: only what an event raises the total
    # above it is billed (a sum lowered then raised again, a unique value removed then added back,
    # bill nothing new). docs/billing.md, Pricing (pay in advance).
    peaks: dict[str | None, Decimal] = {}
    inputs: dict[str | None, dict[str, list[Decimal]]] = {}
    filters = {f.id: f for f in charge.filters}
    for row in rows:
        fact = Fact(id=row.id, timestamp=row.timestamp, value=row.value, unique_value=row.unique_value,
                    operation=row.operation, group_key=row.group_key)
        filter_id = filter_of(charge, row.group_key)
        group = groups[filter_id]
        properties = filters[filter_id].properties if filter_id else charge.properties
        needed = sorted(pricing.required_inputs(charge.charge_model, properties)
                        & {pricing.EVENT_VALUES, pricing.EVENT_AMOUNTS_CENTS})
        mine = inputs.setdefault(filter_id, {name: [] for name in needed})
        own = {name: _event_input(name, metric, row) for name in needed}
        if row.timestamp < start:
            group.before.add(fact)
            if fact.unique_value is not None:
                group.unique_before.setdefault(fact.unique_value, UniqueTally()).add(fact)
            continue
        if filter_id not in peaks:
            peaks[filter_id] = aggregated_units(spec, group, start, end)  # what the period starts from
        if row.id in wanted:
            difference = price_difference(charge_model=charge.charge_model, spec=spec, properties=properties,
                                          group=group, fact=fact, start=start, end=end, currency=currency,
                                          inputs=mine, event_inputs=own, paid_units=peaks[filter_id])
            details = None
            if charge.prorated:
                difference, details = _prorated(subscription, difference, row.timestamp, start, properties,
                                                currency)
            _record_fee(uow, subscription, charge, filters.get(filter_id), row, difference, start, end, details)
        group.during.add(fact)
        if fact.unique_value is not None:
            group.unique_during.setdefault(fact.unique_value, UniqueTally()).add(fact)
        for name in needed:
            mine[name].append(own[name])
        peaks[filter_id] = max(peaks[filter_id], aggregated_units(spec, group, start, end))


def _prorated(subscription: Subscription, difference: PriceDifference, timestamp: datetime, start: datetime,
              properties, currency: str) -> tuple[PriceDifference, dict]:
    """A prorated pay-in-advance fee: what the event adds, for the days left in the period (its day included).

    NOTE: Lago prorates a pay-in-advance charge (standard only, on a recurring metric) by the days from the
    event to the end of the period over the period's days, rounded up at 5 decimals, then prices those
    units (lago-api `ProratedAggregations::BaseService#compute_pay_in_advance_aggregation`; Lago's scenario
    "Recurring Non Invoiceable Fees": EUR 30 seats added 11–15 June bill 20.00, 19.00 ... 16.00). The
    divisor is the full period's days, also for a partial first period. The next periods bill the units
    in full at their start (`renew_advance_charges`).
    """
    period = current_period(subscription, start)
    days_left = (period.last_day - local_date(timestamp, subscription.customer.applicable_timezone)).days + 1
    units = advance_units(difference.units, days_left, period.days)
    priced = pricing.price("standard", units, properties, currency=currency)
    return (PriceDifference(units=difference.units, amount_cents=to_minor(priced.amount, currency),
                            unit_amount=difference.unit_amount),
            {"prorated_units": str(units), "days_left": days_left, "days_in_period": period.days})


def _event_input(name: str, metric: BillableMetric, row) -> Decimal:
    if name == pricing.EVENT_AMOUNTS_CENTS:
        return row.precise_total_amount_cents or Decimal(0)
    return Decimal(1) if metric.aggregation_type == "count_agg" else (row.value or Decimal(0))


def _record_fee(uow: UnitOfWork, subscription: Subscription, charge: Charge, charge_filter, row, difference,
                start: datetime, end: datetime, details: dict | None = None) -> None:
    session = uow.session
    metric = charge.billable_metric
    currency = subscription.plan.amount_currency
    name = charge.invoice_display_name or metric.name
    if charge_filter is not None:
        name = charge_filter.invoice_display_name or name
    check_amounts([difference], subscription.id)
    fee = Fee(organization_id=subscription.organization_id, subscription_id=subscription.id, charge_id=charge.id,
              charge_filter_id=charge_filter.id if charge_filter else None, fee_type="charge", item_code=metric.code,
              description=name, amount_cents=difference.amount_cents,
              precise_amount_cents=Decimal(difference.amount_cents), amount_currency=currency,
              units=difference.units, total_aggregated_units=difference.units, events_count=1,
              precise_unit_amount=difference.unit_amount, pay_in_advance=True, invoiceable=charge.invoiceable,
              pay_in_advance_event_id=row.id, event_transaction_id=row.transaction_id,
              from_datetime=start, to_datetime=end,
              amount_details={**({"filters": charge_filter.values} if charge_filter else {}), **(details or {})})
    try:
        with session.begin_nested():
            session.add(fee)
            session.flush()
    except IntegrityError:
        return  # billed by a concurrent job
    # NOTE: an invoiceable charge issues an invoice for each fee at once, finalized with its own
    # number; a non-invoiceable one records the fee only (Lago docs "Invoiceable vs Uninvoiceable",
    # https://getlago.com/docs/guide/plans/charges/invoiceable-vs-noninvoiceable). A fee of 0 (free
    # units) is recorded without an invoice: an empty invoice per free event is only noise.
    if charge.invoiceable and difference.amount_cents > 0:
        _invoice_fee(uow, session, subscription, fee)
    elif not charge.invoiceable:
        tax_fee(session, subscription, charge, fee)
        # NOTE: a fee without invoice is reported by `fee.created` (same Lago page).
        webhooks.emit(session, subscription.organization_id, webhooks.FEE_CREATED, "fee",
                      lambda: serializers.fee(fee, None, {subscription.id: subscription}), object_id=fee.id)


def _invoice_fee(uow: UnitOfWork, session: Session, subscription: Subscription, fee: Fee) -> None:
    customer = subscription.customer
    invoice = Invoice(
        organization_id=subscription.organization_id, customer=customer, invoice_type="subscription",
        status="draft", payment_status="pending", currency=fee.amount_currency,
        number=f"{customer.organization.document_number_prefix}-DRAFT",
        issuing_date=local_date(runtime.clock.now(), customer.applicable_timezone),
        net_payment_term=customer.applicable_net_payment_term)
    invoice.payment_due_date = invoice.issuing_date + timedelta(days=invoice.net_payment_term)
    session.add(invoice)
    invoice.fees.append(fee)
    apply_coupons_and_taxes(session, invoice, subscription)
    compute_totals(invoice)
    session.flush()
    finalize(uow, invoice)


# ---------------------------------------------------------------- renewals


def renew_advance_charges(session: Session, invoice: Invoice, subscription: Subscription, boundary: datetime,
                          position: int) -> None:
    """At a new period's start, bill the units a recurring pay-in-advance charge carries into it, in full.

    NOTE: Lago bills a pay-in-advance charge on a recurring metric (seats) at each renewal for the units
    held when the period starts, unprorated ("for charges that are pay in advance on billing date we always
    bill full amount"): an invoiceable charge on the renewal invoice, another one as a fee without invoice
    (`fee.created`); never for a subscription terminated by then. Lago's scenarios "Recurring Pay In
    Advance Charges" (a seat at 12.00 bills 12.00 again on 1 April) and "Recurring Non Invoiceable Fees"
    (5 seats at 30.00: 150.00 on 1 July), lago-api `Invoices::CalculateFeesService` (pay-in-advance charges
    of recurring metrics are billed at the billing date; `should_not_create_charge_fee?` skips them once
    terminated). The events of the new period then bill only what raises the total above those units.
    """
    period = period_at(subscription, boundary)
    if period.start != boundary or boundary <= subscription.started_at or (
            subscription.terminated_at is not None and subscription.terminated_at <= boundary):
        return  # not a renewal: the first period, a trial's end, a termination
    charges = [c for c in subscription.plan.charges if c.pay_in_advance and c.billable_metric.recurring]
    for charge in charges:
        for charge_filter, units, amount, unit_amount in _carried(session, subscription, charge, boundary, period.end):
            if units <= 0:
                continue
            metric = charge.billable_metric
            name = charge.invoice_display_name or metric.name
            if charge_filter is not None:
                name = charge_filter.invoice_display_name or name
            fee = Fee(organization_id=subscription.organization_id, subscription_id=subscription.id,
                      charge_id=charge.id, charge_filter_id=charge_filter.id if charge_filter else None,
                      fee_type="charge", item_code=metric.code, description=name, amount_cents=amount,
                      precise_amount_cents=Decimal(amount), amount_currency=subscription.plan.amount_currency,
                      units=units, total_aggregated_units=units, events_count=0, precise_unit_amount=unit_amount,
                      pay_in_advance=True, invoiceable=charge.invoiceable, from_datetime=boundary,
                      to_datetime=period.end,
                      amount_details={"renewal": True, **({"filters": charge_filter.values} if charge_filter else {})})
            if charge.invoiceable:
                position += 1
                fee.position = position
                invoice.fees.append(fee)
            elif not _renewed_already(session, subscription, charge, charge_filter, boundary):
                session.add(fee)
                tax_fee(session, subscription, charge, fee)
                session.flush()
                webhooks.emit(session, subscription.organization_id, webhooks.FEE_CREATED, "fee",
                              lambda fee=fee: serializers.fee(fee, None, {subscription.id: subscription}),
                              object_id=fee.id)


def _renewed_already(session: Session, subscription: Subscription, charge: Charge, charge_filter,
                     boundary: datetime) -> bool:
    """A renewal fee without invoice exists (a draft refreshed bills its renewal again: not this one)."""
    same_filter = (Fee.charge_filter_id.is_(None) if charge_filter is None
                   else Fee.charge_filter_id == charge_filter.id)
    return session.scalar(select(func.count()).select_from(Fee).where(
        Fee.subscription_id == subscription.id, Fee.charge_id == charge.id, Fee.invoice_id.is_(None),
        Fee.pay_in_advance_event_id.is_(None), Fee.from_datetime == boundary, same_filter)) > 0


def _carried(session: Session, subscription: Subscription, charge: Charge, start: datetime, end: datetime):
    """Per charge filter (None: the events matching none): the units held at `start`, and their full price."""
    metric = charge.billable_metric
    spec = metric_spec(metric)
    currency = subscription.plan.amount_currency
    rows = event_store().metric_events(
        session, organization_id=subscription.organization_id, external_subscription_id=subscription.external_id,
        code=metric.code, start=recurring_since(subscription), end=start)
    groups: dict[str | None, GroupUsage] = defaultdict(GroupUsage)
    inputs: dict[str | None, dict[str, list[Decimal]]] = defaultdict(lambda: defaultdict(list))
    filters = {f.id: f for f in charge.filters}
    for row in rows:
        fact = Fact(id=row.id, timestamp=row.timestamp, value=row.value, unique_value=row.unique_value,
                    operation=row.operation, group_key=row.group_key)
        filter_id = filter_of(charge, row.group_key)
        group = groups[filter_id]
        group.before.add(fact)
        if fact.unique_value is not None:
            group.unique_before.setdefault(fact.unique_value, UniqueTally()).add(fact)
        for name in (pricing.EVENT_VALUES, pricing.EVENT_AMOUNTS_CENTS):
            inputs[filter_id][name].append(_event_input(name, metric, row))
    for filter_id, group in groups.items():
        properties = filters[filter_id].properties if filter_id else charge.properties
        units = aggregated_units(spec, group, start, end)
        needed = pricing.required_inputs(charge.charge_model, properties) & {
            pricing.EVENT_VALUES, pricing.EVENT_AMOUNTS_CENTS}
        priced = pricing.price(charge.charge_model, units, properties, currency=currency,
                               **{name: inputs[filter_id][name] for name in needed})
        yield filters.get(filter_id), units, to_minor(priced.amount, currency), priced.unit_amount


# ---------------------------------------------------------------- fees without invoice: taxes, payment, regrouping


def tax_fee(session: Session, subscription: Subscription, charge: Charge, fee: Fee) -> None:
    """Tax a fee billed without invoice as an invoice would (no coupon: none applies to it).

    NOTE: Lago taxes a pay-in-advance fee without invoice when it is created (its `fee.created` carries
    the taxes: what the customer pays for it); the level rule is the invoices' (docs/billing.md, Taxes:
    charge, plan, customer, organization, the first that has taxes).
    """
    plan = subscription.plan
    levels = [list(charge.taxes), list(plan.taxes), list(subscription.customer.taxes),
              organization_taxes(session, subscription.organization_id)]
    by_code = {t.code: t for level in levels for t in level}
    codes = totals.taxes_of([[t.code for t in level] for level in levels])
    rates = {code: by_code[code].rate for code in codes}
    exact = totals.compute_taxes([totals.FeeLine(amount_cents=fee.amount_cents, tax_codes=codes)], [Decimal(0)],
                                 rates).fee_taxes[0]
    fee.taxes_precise_amount_cents = sum(exact.values(), Decimal(0))
    fee.taxes_amount_cents = round_minor(fee.taxes_precise_amount_cents)
    fee.taxes_rate = sum(rates.values(), Decimal(0))
    for code, precise in exact.items():
        tax = by_code[code]
        fee.applied_taxes.append(FeeAppliedTax(
            tax_id=tax.id, tax_code=tax.code, tax_name=tax.name, tax_rate=tax.rate, tax_description=tax.description,
            amount_cents=round_minor(precise), precise_amount_cents=precise, amount_currency=fee.amount_currency))


def update_fee(*, organization_id: str, fee_id: str, data: Mapping[str, object]) -> dict:
    """Record a fee's payment (Lago's `PUT /fees/:id` with `payment_status`); only a fee without invoice.

    NOTE: lago-api `Fees::UpdateService`: a fee on an invoice follows its invoice (405 `invoiced_fee`);
    statuses pending, succeeded, failed, refunded (else 422 `payment_status: value_is_invalid`); only the
    current status keeps its timestamp (`succeeded_at`, `failed_at`, `refunded_at`).
    """
    with unit_of_work() as uow:
        fee = uow.session.scalar(select(Fee).where(Fee.organization_id == organization_id, Fee.id == str(fee_id))
                                 .with_for_update(of=Fee))
        if fee is None:
            raise NotFound("fee")
        if "payment_status" in data:
            if fee.invoice_id is not None:
                raise NotAllowed("invoiced_fee")
            status = data["payment_status"]
            if status not in FEE_PAYMENT_STATUSES:
                raise ValidationFailed({"payment_status": ["value_is_invalid"]})
            if status != fee.payment_status:
                now = runtime.clock.now()
                fee.payment_status = status
                fee.succeeded_at = now if status == "succeeded" else None
                fee.failed_at = now if status == "failed" else None
                fee.refunded_at = now if status == "refunded" else None
    return get_fee(organization_id=organization_id, fee_id=fee_id)


def delete_fee(*, organization_id: str, fee_id: str) -> dict:
    """Delete a fee that is on no invoice (a pay-in-advance fee not invoiced); answers it as it was.

    NOTE: lago-api `Fees::DestroyService`: a fee on an invoice is refused (405 `invoiced_fee`). Its event stays
    billed: the job follows events by id and never bills an event below its watermark again.
    """
    with unit_of_work() as uow:
        fee = uow.session.scalar(select(Fee).where(Fee.organization_id == organization_id, Fee.id == str(fee_id))
                                 .with_for_update(of=Fee))
        if fee is None:
            raise NotFound("fee")
        if fee.invoice_id is not None:
            raise NotAllowed("invoiced_fee")
        answer = fee_json(uow.session, fee)
        uow.session.delete(fee)
        return answer


def regroup_paid_fees(uow: UnitOfWork, subscription: Subscription, *, at: datetime, ending: bool = False
                      ) -> Invoice | None:
    """Group the subscription's paid fees of `regroup_paid_fees: invoice` charges on one paid invoice.

    NOTE: Lago's `Invoices::AdvanceChargesService` (run when a subscription is billed and when it ends):
    the fees without invoice whose `payment_status` is `succeeded` (since before `at`) and, for a periodic
    billing, whose period has ended by `at`, go on one `advance_charges` invoice, finalized, `succeeded`,
    not emailed; its taxes are the fees' own (what was paid), not computed again. A fee paid later goes on a
    later one. Lago docs "Invoiceable vs Uninvoiceable"
    (https://getlago.com/docs/guide/plans/charges/invoiceable-vs-noninvoiceable). Exactly once: a fee moves
    to an invoice once (its row locked, `invoice_id` set in the same transaction); with none, no invoice.
    """
    session = uow.session
    if not any(c.regroup_paid_fees == "invoice" for c in subscription.plan.charges):
        return None  # the common case, without a query (Lago also looks at the plan's charges first)
    query = select(Fee).join(Charge, Charge.id == Fee.charge_id).where(
        Fee.subscription_id == subscription.id, Fee.invoice_id.is_(None), Fee.payment_status == "succeeded",
        Fee.succeeded_at <= at, Charge.regroup_paid_fees == "invoice")
    if not ending:
        query = query.where(Fee.to_datetime <= at)
    fees = list(session.scalars(query.order_by(Fee.created_at, Fee.id).with_for_update(of=Fee)))
    if not fees:
        return None
    customer = subscription.customer
    invoice = Invoice(
        organization_id=subscription.organization_id, customer=customer, invoice_type="advance_charges",
        status="draft", payment_status="pending", currency=subscription.plan.amount_currency,
        number=f"{customer.organization.document_number_prefix}-DRAFT",
        issuing_date=local_date(max(runtime.clock.now(), at), customer.applicable_timezone),
        net_payment_term=customer.applicable_net_payment_term)
    invoice.payment_due_date = invoice.issuing_date + timedelta(days=invoice.net_payment_term)
    session.add(invoice)
    bases: dict[str, int] = defaultdict(int)
    amounts: dict[str, int] = defaultdict(int)
    taxes: dict[str, FeeAppliedTax] = {}
    for position, fee in enumerate(fees):
        fee.position = position
        invoice.fees.append(fee)
        for applied in fee.applied_taxes:
            bases[applied.tax_code] += fee.amount_cents
            amounts[applied.tax_code] += applied.amount_cents  # what the fee's payment included
            taxes.setdefault(applied.tax_code, applied)
    for code in sorted(taxes):
        tax = taxes[code]
        invoice.applied_taxes.append(InvoiceAppliedTax(
            tax_id=tax.tax_id, tax_code=code, tax_name=tax.tax_name, tax_rate=tax.tax_rate,
            tax_description=tax.tax_description, amount_cents=amounts[code], fees_amount_cents=bases[code],
            amount_currency=invoice.currency))
    compute_totals(invoice)
    session.flush()
    finalize(uow, invoice, paid=True)
    return invoice
