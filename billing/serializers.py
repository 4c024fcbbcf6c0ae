"""Tally's records as Lago's JSON shapes (the lago-python-client models say which fields are required).

The API answers with them and outgoing webhooks carry them (billing.webhooks), so they live in the core.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from billing import links
from billing.money import decimal_str, exponent, round_minor


def iso(moment) -> str | None:
    """ISO 8601 UTC with a Z, as Lago writes times."""
    if moment is None:
        return None
    return moment.isoformat()[:19] + "Z"  # YYYY-MM-DDTHH:MM:SS, then the zone or fraction dropped


def customer(c) -> dict[str, Any]:
    return {
        "lago_id": c.id,
        "external_id": c.external_id,
        "sequential_id": c.sequential_id,
        "slug": f"{c.organization.document_number_prefix}-{c.sequential_id:03d}",
        "name": c.name,
        "firstname": c.firstname,
        "lastname": c.lastname,
        "customer_type": c.customer_type,
        "email": c.email,
        "phone": c.phone,
        "url": c.url,
        "currency": c.currency,
        "timezone": c.timezone,
        "applicable_timezone": c.applicable_timezone,
        "address_line1": c.address_line1,
        "address_line2": c.address_line2,
        "city": c.city,
        "state": c.state,
        "zipcode": c.zipcode,
        "country": c.country,
        "legal_name": c.legal_name,
        "legal_number": c.legal_number,
        "tax_identification_number": c.tax_identification_number,
        "shipping_address": {"address_line1": c.shipping_address_line1, "address_line2": c.shipping_address_line2,
                             "city": c.shipping_city, "state": c.shipping_state, "zipcode": c.shipping_zipcode,
                             "country": c.shipping_country},
        "net_payment_term": c.net_payment_term,
        "finalize_zero_amount_invoice": c.finalize_zero_amount_invoice,
        "billing_configuration": {"invoice_grace_period": c.invoice_grace_period,
                                  "document_locale": c.document_locale,
                                  "payment_provider": c.payment_provider,
                                  "payment_provider_code": c.payment_provider_code,
                                  "provider_customer_id": c.payment_provider_customer_id,
                                  "sync_with_provider": bool(c.sync_with_provider),
                                  "provider_payment_methods": list(c.provider_payment_methods or [])},
        # NOTE: Lago's customer input fields, answered back as they are written (lago-openapi's CustomerObject has
        # neither; Lago's GraphQL answers the campaign as an object).
        "applied_dunning_campaign_code": c.applied_dunning_campaign.code if c.applied_dunning_campaign else None,
        "exclude_from_dunning_campaign": bool(c.exclude_from_dunning_campaign),
        "metadata": [dict(m) for m in (c.metadata_ or [])],
        "taxes": [tax(t) for t in c.taxes],
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    }


def billable_metric(m) -> dict[str, Any]:
    return {
        "lago_id": m.id,
        "name": m.name,
        "code": m.code,
        "description": m.description,
        "aggregation_type": m.aggregation_type,
        "field_name": m.field_name,
        "weighted_interval": m.weighted_interval,
        "expression": m.expression,
        "recurring": m.recurring,
        "rounding_function": m.rounding_function,
        "rounding_precision": m.rounding_precision,
        "filters": [{"key": f.key, "values": list(f.values)} for f in m.filters],
        "created_at": iso(m.created_at),
    }


def charge(c) -> dict[str, Any]:
    return {
        "lago_id": c.id,
        "lago_billable_metric_id": c.billable_metric_id,
        "code": c.code,
        "billable_metric_code": c.billable_metric.code,
        "lago_parent_id": c.parent_id,
        "charge_model": c.charge_model,
        "pay_in_advance": c.pay_in_advance,
        "invoiceable": c.invoiceable,
        "prorated": c.prorated,
        "regroup_paid_fees": c.regroup_paid_fees,
        "min_amount_cents": c.min_amount_cents,
        "invoice_display_name": c.invoice_display_name,
        "properties": dict(c.properties or {}),
        "filters": [{"lago_id": f.id, "invoice_display_name": f.invoice_display_name, "properties": f.properties,
                     "values": f.values, "created_at": iso(f.created_at)} for f in c.filters],
        "taxes": [tax(t) for t in c.taxes],
        "created_at": iso(c.created_at),
    }


def charge_filter(f, charge_code: str | None) -> dict[str, Any]:
    """A charge filter on its own (Lago's /charges/{code}/filters), naming its charge."""
    return {"lago_id": f.id, "charge_code": charge_code, "invoice_display_name": f.invoice_display_name,
            "properties": dict(f.properties or {}), "values": dict(f.values or {}), "created_at": iso(f.created_at)}


def plan(p, *, entitlements=None) -> dict[str, Any]:
    """A plan; `entitlements` (billing.entitlements GrantedFeature) its features, as Lago's `entitlements`."""
    return {
        "lago_id": p.id,
        "name": p.name,
        "invoice_display_name": p.invoice_display_name,
        "code": p.code,
        "description": p.description,
        "interval": p.interval,
        "amount_cents": p.amount_cents,
        "amount_currency": p.amount_currency,
        "trial_period": float(p.trial_period or 0),
        "pay_in_advance": p.pay_in_advance,
        "bill_charges_monthly": p.bill_charges_monthly,
        "charges": [charge(c) for c in p.charges],
        "minimum_commitment": ({"lago_id": p.id, "amount_cents": p.minimum_commitment_cents, "interval": p.interval,
                                "invoice_display_name": None, "taxes": []}
                               if p.minimum_commitment_cents else None),
        "taxes": [tax(t) for t in p.taxes],
        "entitlements": [plan_entitlement(g) for g in entitlements or ()],
        "usage_thresholds": [usage_threshold(t) for t in p.usage_thresholds if t.deleted_at is None],
        "metadata": p.metadata_,
        "created_at": iso(p.created_at),
    }


def usage_threshold(t) -> dict[str, Any]:
    """Lago's UsageThresholdObject."""
    return {"lago_id": t.id, "threshold_display_name": t.threshold_display_name, "amount_cents": t.amount_cents,
            "recurring": t.recurring, "created_at": iso(t.created_at), "updated_at": iso(t.updated_at)}


def applicable_usage_threshold(t) -> dict[str, Any]:
    """Lago's ApplicableUsageThreshold (a subscription's thresholds, as its plan gives them)."""
    return {"threshold_display_name": t.threshold_display_name, "amount_cents": t.amount_cents,
            "recurring": t.recurring}


def lifetime_usage(report) -> dict[str, Any]:
    """Lago's LifetimeUsageObject (its `usage_thresholds` only when the plan has some, as Lago)."""
    u = report.usage
    s = u.subscription
    data: dict[str, Any] = {
        "lago_id": s.id,  # Tally keeps the lifetime usage on the subscription: one each
        "lago_subscription_id": s.id,
        "external_subscription_id": s.external_id,
        "external_historical_usage_amount_cents": u.historical_usage_amount_cents,
        "invoiced_usage_amount_cents": u.invoiced_usage_amount_cents,
        "current_usage_amount_cents": u.current_usage_amount_cents,
        "from_datetime": iso(s.subscription_at),
        "to_datetime": iso(u.at),
    }
    if report.progress:
        data["usage_thresholds"] = [{"amount_cents": p.amount_cents, "completion_ratio": p.completion_ratio,
                                     "reached_at": iso(p.reached_at)} for p in report.progress]
    return data


def subscription(s, *, period=None, change=None) -> dict[str, Any]:
    data = {
        "lago_id": s.id,
        "external_id": s.external_id,
        "lago_customer_id": s.customer_id,
        "external_customer_id": s.customer.external_id,
        "name": s.name,
        "plan_code": s.plan.code,
        "plan_amount_cents": s.plan.amount_cents,
        "plan_amount_currency": s.plan.amount_currency,
        "status": s.status,
        "billing_time": s.billing_time,
        "subscription_at": iso(s.subscription_at),
        "started_at": iso(s.started_at),
        "ending_at": iso(s.ending_at),
        "terminated_at": iso(s.terminated_at),
        "canceled_at": iso(s.canceled_at),
        "trial_ended_at": iso(s.trial_ended_at),
        "previous_plan_code": change.previous_plan_code if change else None,
        "next_plan_code": change.next_plan_code if change else None,
        "downgrade_plan_date": change.downgrade_plan_date.isoformat() if change and change.downgrade_plan_date
        else None,
        "on_termination_credit_note": s.on_termination_credit_note,
        "on_termination_invoice": s.on_termination_invoice,
        "current_billing_period_started_at": None,
        "current_billing_period_ending_at": None,
        "created_at": iso(s.created_at),
    }
    if period is not None:
        data["current_billing_period_started_at"] = iso(period.start)
        data["current_billing_period_ending_at"] = iso(period.display_end)
    return data


def event(e: Mapping[str, Any]) -> dict[str, Any]:
    """An event as Lago shows it, from its stored fields (metering.services.StoredEvent)."""
    precise = e["precise_total_amount_cents"]
    return {
        "lago_id": str(e["id"]),
        "transaction_id": e["transaction_id"],
        "lago_subscription_id": e["subscription_id"],
        "external_subscription_id": e["external_subscription_id"],
        "code": e["code"],
        "timestamp": iso_precise(e["timestamp"]),
        "precise_total_amount_cents": decimal_str(precise) if precise is not None else None,
        "properties": e["properties"],
        "created_at": iso(e["created_at"]),
        # Tally's additions: what the metric made of the event, and why it may not be billed.
        "error": e["error"] or (None if e["subscription_id"] else "no_active_subscription"),
    }


def iso_precise(moment) -> str:
    """Event timestamps keep their fraction of a second (Lago writes milliseconds)."""
    text = moment.isoformat()  # YYYY-MM-DDTHH:MM:SS[.ffffff][+00:00]
    return (text[:23] if moment.microsecond else text[:19]) + "Z"


def fee(f, invoice, subscriptions_by_id) -> dict[str, Any]:
    """A fee as Lago shows it; `invoice` None: a pay-in-advance fee without invoice (its subscription's customer)."""
    sub = subscriptions_by_id.get(f.subscription_id)
    customer = invoice.customer if invoice is not None else (sub.customer if sub else None)
    item_type = {"subscription": "Subscription", "charge": "BillableMetric", "add_on": "AddOn"}.get(f.fee_type,
                                                                                                   f.fee_type)
    return {
        "lago_id": f.id,
        "lago_charge_id": f.charge_id,
        "lago_charge_filter_id": f.charge_filter_id,
        "lago_invoice_id": f.invoice_id,
        "lago_subscription_id": f.subscription_id,
        "external_subscription_id": sub.external_id if sub else None,
        "lago_customer_id": customer.id if customer else None,
        "external_customer_id": customer.external_id if customer else None,
        "amount_cents": f.amount_cents,
        "precise_amount": decimal_str(f.precise_amount_cents.scaleb(-2)) if f.amount_currency else None,
        "amount_currency": f.amount_currency,
        "taxes_amount_cents": f.taxes_amount_cents,
        "taxes_precise_amount": decimal_str(f.taxes_precise_amount_cents.scaleb(-2)),
        "taxes_rate": float(f.taxes_rate),
        "precise_coupons_amount_cents": decimal_str(f.precise_coupons_amount_cents),
        "sub_total_excluding_taxes_amount_cents": round_minor(f.sub_total_excluding_taxes_precise_amount_cents),
        "sub_total_excluding_taxes_precise_amount_cents": decimal_str(f.sub_total_excluding_taxes_precise_amount_cents),
        "total_amount_cents": f.amount_cents + f.taxes_amount_cents,
        "total_amount_currency": f.amount_currency,
        "units": decimal_str(f.units),
        "total_aggregated_units": decimal_str(f.total_aggregated_units),
        "precise_unit_amount": decimal_str(f.precise_unit_amount),
        "events_count": f.events_count,
        "pay_in_advance": f.pay_in_advance,
        "invoiceable": f.invoiceable,
        "event_transaction_id": f.event_transaction_id,
        "pay_in_advance_event_id": f.pay_in_advance_event_id,
        "from_date": iso(f.from_datetime),
        "to_date": iso(f.to_datetime),
        "payment_status": invoice.payment_status if invoice is not None else f.payment_status,
        "succeeded_at": iso(f.succeeded_at) if invoice is None else None,
        "failed_at": iso(f.failed_at) if invoice is None else None,
        "refunded_at": iso(f.refunded_at) if invoice is None else None,
        "created_at": iso(f.created_at),
        "amount_details": f.amount_details or {},
        "description": f.line_description,
        "item": {"type": f.fee_type, "code": f.item_code, "name": f.item_name or f.description,
                 "invoice_display_name": f.description, "lago_item_id": f.charge_id or f.add_on_id or f.subscription_id,
                 "item_type": item_type},
        "applied_taxes": [{
            "lago_id": t.id, "lago_fee_id": f.id, "lago_tax_id": t.tax_id, "tax_name": t.tax_name,
            "tax_code": t.tax_code, "tax_rate": float(t.tax_rate), "tax_description": t.tax_description,
            "amount_cents": t.amount_cents, "amount_currency": t.amount_currency, "created_at": iso(t.created_at),
        } for t in f.applied_taxes],
    }


def invoice_base(i, *, with_file_url: bool = True) -> dict[str, Any]:
    """Lago's InvoiceBaseObject: the invoice's own fields, without what it includes (the customer, the fees...);
    also how a payment request lists its invoices."""
    return {
        "lago_id": i.id,
        "sequential_id": i.sequential_id,
        "number": i.number,
        "issuing_date": i.issuing_date.isoformat(),
        "payment_due_date": i.payment_due_date.isoformat(),
        "payment_overdue": bool(i.payment_overdue),
        "net_payment_term": i.net_payment_term,
        "invoice_type": i.invoice_type,
        "status": i.status,
        "payment_status": i.payment_status,
        "currency": i.currency,
        "fees_amount_cents": i.fees_amount_cents,
        "coupons_amount_cents": i.coupons_amount_cents,
        "taxes_amount_cents": i.taxes_amount_cents,
        "credit_notes_amount_cents": i.credit_notes_amount_cents,
        "progressive_billing_credit_amount_cents": i.progressive_billing_credit_amount_cents,
        "sub_total_excluding_taxes_amount_cents": i.sub_total_excluding_taxes_amount_cents,
        "sub_total_including_taxes_amount_cents": i.sub_total_including_taxes_amount_cents,
        "prepaid_credit_amount_cents": i.prepaid_credit_amount_cents,
        "total_amount_cents": i.total_amount_cents,
        "total_due_amount_cents": i.total_due_amount_cents,
        "total_paid_amount_cents": i.total_paid_amount_cents,
        "version_number": 4,
        "self_billed": False,
        "voided_at": iso(i.voided_at),
        "created_at": iso(i.created_at),
        "updated_at": iso(i.updated_at),
        "file_url": (links.invoice_file_url(invoice_id=i.id, organization_id=i.organization_id)
                     if with_file_url and i.file_key else None),
    }


def invoice(i, subscriptions_by_id, *, with_file_url: bool = True) -> dict[str, Any]:
    return {
        **invoice_base(i, with_file_url=with_file_url),
        "customer": customer(i.customer),
        "billing_periods": [{
            "lago_subscription_id": link.subscription_id,
            "external_subscription_id": subscriptions_by_id[link.subscription_id].external_id
            if link.subscription_id in subscriptions_by_id else None,
            "subscription_from_datetime": iso(link.from_datetime),
            "subscription_to_datetime": iso(link.to_datetime),
            # A fee-only billing (an advance fee) has no charges period; the client requires one.
            "charges_from_datetime": iso(link.charges_from_datetime or link.from_datetime),
            "charges_to_datetime": iso(link.charges_to_datetime or link.to_datetime),
            "invoicing_reason": link.invoicing_reason,
            "lago_plan_id": subscriptions_by_id[link.subscription_id].plan_id
            if link.subscription_id in subscriptions_by_id else None,
        } for link in i.invoice_subscriptions],
        "subscriptions": [subscription(s) for s in subscriptions_by_id.values()],
        "fees": [fee(f, i, subscriptions_by_id) for f in i.fees],
        "credits": [{
            "lago_id": c.id, "amount_cents": c.amount_cents, "amount_currency": c.amount_currency,
            "before_taxes": c.before_taxes,
            "item": {"lago_item_id": c.credit_note_id or c.applied_coupon_id or c.progressive_billing_invoice_id,
                     "type": "credit_note" if c.credit_note_id else "invoice" if c.progressive_billing_invoice_id
                     else "coupon", "code": c.coupon_code, "name": c.coupon_name},
            "invoice": {"lago_id": i.id, "payment_status": i.payment_status},
        } for c in i.credits],
        "metadata": [{"lago_id": m["id"], "key": m["key"], "value": m["value"], "created_at": m.get("created_at")}
                     for m in (i.metadata_ or [])],
        "applied_taxes": [{
            "lago_id": t.id, "lago_invoice_id": i.id, "lago_tax_id": t.tax_id, "tax_name": t.tax_name,
            "tax_code": t.tax_code, "tax_rate": float(t.tax_rate), "tax_description": t.tax_description,
            "amount_cents": t.amount_cents, "amount_currency": t.amount_currency,
            "fees_amount_cents": t.fees_amount_cents, "created_at": iso(t.created_at),
        } for t in i.applied_taxes],
        # Only a progressive billing invoice has any (not read for the others).
        "applied_usage_thresholds": [{
            "lifetime_usage_amount_cents": a.lifetime_usage_amount_cents, "created_at": iso(a.created_at),
            "usage_threshold": usage_threshold(a.usage_threshold),
        } for a in (i.applied_usage_thresholds if i.invoice_type == "progressive_billing" else [])],
    }


def credit_note(n, subscriptions_by_id) -> dict[str, Any]:
    return {
        "lago_id": n.id,
        "sequential_id": n.sequential_id,
        "billing_entity_code": None,
        "number": n.number,
        "lago_invoice_id": n.invoice_id,
        "invoice_number": n.invoice.number,
        "purchase_order_number": None,
        "issuing_date": n.issuing_date.isoformat(),
        "credit_status": n.credit_status,
        "refund_status": n.refund_status,
        "reason": n.reason,
        "description": n.description,
        "currency": n.currency,
        "total_amount_cents": n.total_amount_cents,
        "taxes_amount_cents": n.taxes_amount_cents,
        "taxes_rate": float(n.taxes_rate),
        "sub_total_excluding_taxes_amount_cents": n.sub_total_excluding_taxes_amount_cents,
        "balance_amount_cents": n.balance_amount_cents,
        "credit_amount_cents": n.credit_amount_cents,
        "refund_amount_cents": n.refund_amount_cents,
        "offset_amount_cents": n.offset_amount_cents,
        "coupons_adjustment_amount_cents": n.coupons_adjustment_amount_cents,
        "created_at": iso(n.created_at),
        "updated_at": iso(n.updated_at),
        "voided_at": iso(n.voided_at),
        "file_url": (links.credit_note_file_url(credit_note_id=n.id, organization_id=n.organization_id)
                     if n.file_key else None),
        "items": [{
            "lago_id": item.id, "amount_cents": item.amount_cents, "amount_currency": item.amount_currency,
            "fee": fee(item.fee, n.invoice, subscriptions_by_id),
        } for item in n.items],
        "applied_taxes": [{
            "lago_id": t.id, "lago_credit_note_id": n.id, "lago_tax_id": t.tax_id, "tax_name": t.tax_name,
            "tax_code": t.tax_code, "tax_rate": float(t.tax_rate), "tax_description": t.tax_description,
            "amount_cents": t.amount_cents, "amount_currency": t.amount_currency,
            "base_amount_cents": t.base_amount_cents, "created_at": iso(t.created_at),
        } for t in n.applied_taxes],
        "metadata": n.metadata_,
        "customer": customer(n.customer),
    }


def credit_note_estimate(d) -> dict[str, Any]:
    a = d.amounts
    return {
        "lago_invoice_id": d.invoice.id,
        "invoice_number": d.invoice.number,
        "currency": d.invoice.currency,
        "taxes_amount_cents": a.taxes_amount_cents,
        "taxes_rate": float(sum((d.fee_taxes[code].tax_rate for code in a.taxes), 0)),
        "sub_total_excluding_taxes_amount_cents": a.sub_total_excluding_taxes_amount_cents,
        "coupons_adjustment_amount_cents": a.coupons_adjustment_amount_cents,
        "max_creditable_amount_cents": a.total_amount_cents,
        "max_refundable_amount_cents": d.max_refundable_amount_cents,
        "max_offsettable_amount_cents": d.max_offsettable_amount_cents,
        "items": [{"lago_fee_id": fee.id, "amount_cents": amount} for fee, amount in d.items],
        "applied_taxes": [{
            "lago_tax_id": d.fee_taxes[code].tax_id, "tax_name": d.fee_taxes[code].tax_name, "tax_code": code,
            "tax_rate": float(d.fee_taxes[code].tax_rate), "tax_description": d.fee_taxes[code].tax_description,
            "base_amount_cents": base, "amount_cents": amount, "amount_currency": d.invoice.currency,
        } for code, (base, amount) in a.taxes.items()],
    }


def usage(u, *, lago_invoice_id: str | None = None) -> dict[str, Any]:
    return {
        "from_datetime": iso(u.from_datetime),
        "to_datetime": iso(u.to_datetime - _one_second()),
        "issuing_date": (u.to_datetime - _one_second()).date().isoformat(),
        "lago_invoice_id": lago_invoice_id,
        "currency": u.currency,
        "amount_cents": u.amount_cents,
        "taxes_amount_cents": 0,
        "total_amount_cents": u.amount_cents,
        "charges_usage": [charge_usage(c, u.currency) for c in u.charges],
    }


def charge_usage(c, currency: str) -> dict[str, Any]:
    metric = c.charge.billable_metric
    return {
        "units": decimal_str(c.units),
        "total_aggregated_units": decimal_str(c.units),
        "events_count": c.events_count,
        "amount_cents": c.amount_cents,
        "amount_currency": currency,
        "pricing_unit_details": None,
        "charge": {"lago_id": c.charge.id, "charge_model": c.charge.charge_model,
                   "invoice_display_name": c.charge.invoice_display_name},
        "billable_metric": {"lago_id": metric.id, "name": metric.name, "code": metric.code,
                            "aggregation_type": metric.aggregation_type},
        # Lago lists the charge's filters, and the events matching none as a filter without values.
        "filters": [{
            "invoice_display_name": line.charge_filter.invoice_display_name if line.charge_filter else None,
            "values": line.charge_filter.values if line.charge_filter else None,
            "units": decimal_str(line.units),
            "total_aggregated_units": decimal_str(line.units),
            "events_count": line.events_count,
            "amount_cents": line.amount_cents,
        } for line in c.lines] if c.charge.filters else [],
        "grouped_usage": [],
    }


def projected_usage(p) -> dict[str, Any]:
    """Lago's customer_projected_usage: the usage so far with each charge's (and filter's) projection."""
    payload = usage(p.usage)
    payload["projected_amount_cents"] = p.projected_amount_cents
    for shown, projected in zip(payload["charges_usage"], p.charges, strict=True):
        shown["projected_units"] = decimal_str(projected.projected_units)
        shown["projected_amount_cents"] = projected.projected_amount_cents
        shown["groups"] = []
        for line_shown, line in zip(shown["filters"], projected.lines, strict=False):
            line_shown["values"] = line_shown["values"] or {}  # the events matching no filter: no values
            line_shown["projected_units"] = decimal_str(line.projected_units)
            line_shown["projected_amount_cents"] = line.projected_amount_cents
    return payload


def fee_estimate(e) -> dict[str, Any]:
    metric = e.charge.billable_metric
    return {
        "lago_id": None,
        "lago_charge_id": e.charge.id,
        "lago_invoice_id": None,
        "external_subscription_id": e.subscription.external_id,
        "lago_subscription_id": e.subscription.id,
        "amount_cents": e.amount_cents,
        "amount_currency": e.subscription.plan.amount_currency,
        "taxes_amount_cents": 0,
        "total_amount_cents": e.amount_cents,
        "total_amount_currency": e.subscription.plan.amount_currency,
        "units": decimal_str(e.units),
        "precise_unit_amount": decimal_str(e.unit_amount),
        "events_count": e.events_count,
        "pay_in_advance": e.charge.pay_in_advance,
        "invoiceable": e.charge.invoiceable,
        "event_transaction_id": e.transaction_id,
        "lago_customer_id": e.subscription.customer_id,
        "external_customer_id": e.subscription.customer.external_id,
        "item": {"type": "charge", "code": metric.code, "name": metric.name,
                 "invoice_display_name": e.charge.invoice_display_name or metric.name,
                 "lago_item_id": metric.id, "item_type": "BillableMetric"},
    }


def _one_second():
    from datetime import timedelta

    return timedelta(seconds=1)


def webhook_endpoint(w) -> dict[str, Any]:
    return {
        "lago_id": w.id,
        "lago_organization_id": w.organization_id,
        "webhook_url": w.webhook_url,
        "signature_algo": w.signature_algo,
        "name": w.name,
        "event_types": w.event_types,
        "created_at": iso(w.created_at),
    }


def tax(t) -> dict[str, Any]:
    return {
        "lago_id": t.id,
        "name": t.name,
        "code": t.code,
        "rate": float(t.rate),
        "description": t.description,
        "applied_to_organization": t.applied_to_organization,
        "created_at": iso(t.created_at),
    }


def add_on(a) -> dict[str, Any]:
    return {
        "lago_id": a.id,
        "name": a.name,
        "invoice_display_name": a.invoice_display_name,
        "code": a.code,
        "amount_cents": a.amount_cents,
        "amount_currency": a.amount_currency,
        "description": a.description,
        "taxes": [tax(t) for t in a.taxes],
        "created_at": iso(a.created_at),
    }


def coupon(c) -> dict[str, Any]:
    return {
        "lago_id": c.id,
        "name": c.name,
        "code": c.code,
        "description": c.description,
        "coupon_type": c.coupon_type,
        "amount_cents": c.amount_cents,
        "amount_currency": c.amount_currency,
        "percentage_rate": float(c.percentage_rate) if c.percentage_rate is not None else None,
        "frequency": c.frequency,
        "frequency_duration": c.frequency_duration,
        "reusable": c.reusable,
        "limited_plans": c.limited_plans,
        "plan_codes": [p.code for p in c.plans],
        "limited_billable_metrics": c.limited_billable_metrics,
        "billable_metric_codes": [m.code for m in c.billable_metrics],
        "expiration": c.expiration,
        "expiration_at": iso(c.expiration_at),
        "terminated_at": iso(c.terminated_at),
        "created_at": iso(c.created_at),
    }


def applied_coupon(a) -> dict[str, Any]:
    return {
        "lago_id": a.id,
        "lago_coupon_id": a.coupon_id,
        "coupon_code": a.coupon.code,
        "coupon_name": a.coupon.name,
        "lago_customer_id": a.customer_id,
        "external_customer_id": a.customer.external_id,
        "status": a.status,
        "amount_cents": a.amount_cents,
        "amount_cents_remaining": a.amount_cents_remaining,
        "amount_currency": a.amount_currency,
        "percentage_rate": float(a.percentage_rate) if a.percentage_rate is not None else None,
        "frequency": a.frequency,
        "frequency_duration": a.frequency_duration,
        "frequency_duration_remaining": a.frequency_duration_remaining,
        "expiration_at": iso(a.coupon.expiration_at),
        "created_at": iso(a.created_at),
        "terminated_at": iso(a.terminated_at),
    }


def _credits_str(value) -> str:
    return decimal_str(value) if value is not None else None


def recurring_transaction_rule(r) -> dict[str, Any]:
    return {
        "lago_id": r.id, "trigger": r.trigger, "method": r.method, "interval": r.interval,
        "status": r.status, "threshold_credits": _credits_str(r.threshold_credits),
        "target_ongoing_balance": _credits_str(r.target_ongoing_balance),
        "paid_credits": decimal_str(r.paid_credits), "granted_credits": decimal_str(r.granted_credits),
        "started_at": iso(r.started_at), "expiration_at": iso(r.expiration_at), "created_at": iso(r.created_at),
        "transaction_metadata": [dict(m) for m in (r.transaction_metadata or [])],
        "transaction_name": r.transaction_name, "ignore_paid_top_up_limits": r.ignore_paid_top_up_limits,
        "invoice_requires_successful_payment": r.invoice_requires_successful_payment,
        "grants_target_top_up": r.grants_target_top_up,
    }


def wallet(w, ongoing) -> dict[str, Any]:
    """`ongoing`: billing.wallets.services.Ongoing, computed when read."""
    return {
        "lago_id": w.id,
        "lago_customer_id": w.customer_id,
        "external_customer_id": w.customer.external_id,
        "status": w.status,
        "currency": w.currency,
        "name": w.name,
        "code": w.code,
        "priority": w.priority,
        "rate_amount": decimal_str(w.rate_amount),
        "credits_balance": decimal_str(w.credits_balance),
        "balance_cents": w.balance_cents,
        "consumed_credits": decimal_str(w.consumed_credits),
        "created_at": iso(w.created_at),
        "expiration_at": iso(w.expiration_at),
        "last_balance_sync_at": iso(w.last_balance_sync_at),
        "last_consumed_credit_at": iso(w.last_consumed_credit_at),
        "terminated_at": iso(w.terminated_at),
        "recurring_transaction_rules": [recurring_transaction_rule(r) for r in w.rules],
        "ongoing_balance_cents": ongoing.balance_cents,
        "ongoing_usage_balance_cents": ongoing.usage_cents,
        "credits_ongoing_balance": decimal_str(ongoing.credits),
        "credits_ongoing_usage_balance": decimal_str(ongoing.usage_credits),
        "applies_to": {"fee_types": list(w.allowed_fee_types or []),
                       "billable_metric_codes": [m.code for m in w.billable_metrics]},
        "invoice_requires_successful_payment": w.invoice_requires_successful_payment,
        "paid_top_up_min_amount_cents": w.paid_top_up_min_amount_cents,
        "paid_top_up_max_amount_cents": w.paid_top_up_max_amount_cents,
        "metadata": w.metadata_,
    }


def wallet_transaction(t) -> dict[str, Any]:
    return {
        "lago_id": t.id,
        "lago_wallet_id": t.wallet_id,
        "lago_invoice_id": t.invoice_id,
        "lago_credit_note_id": None,
        "lago_voided_invoice_id": None,
        "status": t.status,
        "source": t.source,
        "transaction_status": t.transaction_status,
        "transaction_type": t.transaction_type,
        "amount": decimal_str(Decimal(t.amount_cents).scaleb(-exponent(t.wallet.currency))),
        "credit_amount": decimal_str(t.credit_amount),
        "remaining_amount_cents": None,
        "remaining_credit_amount": decimal_str(t.remaining_credits) if t.transaction_type == "inbound" else None,
        "priority": t.wallet.priority,
        "settled_at": iso(t.settled_at),
        "failed_at": iso(t.updated_at) if t.status == "failed" else None,
        "created_at": iso(t.created_at),
        "metadata": [dict(m) for m in (t.metadata_ or [])],
        "name": t.name,
        "invoice_requires_successful_payment": t.invoice_requires_successful_payment,
    }


# NOTE: Lago's PaymentObject (lago-openapi src/schemas/PaymentObject.yaml). `payment_status` is Lago's
# normalized four: Tally's `requires_action` reads `processing` there, with `next_action` telling what to do.
def payment(p, customer, invoice_numbers: dict[str, str]) -> dict[str, Any]:
    """`invoice_numbers`: the invoice's number, or each number of the invoices a payment request groups, by id."""
    invoice_ids = list(invoice_numbers) if p.payment_request_id else [p.invoice_id] if p.invoice_id else []
    return {
        "lago_id": p.id,
        "lago_customer_id": customer.id,
        "external_customer_id": customer.external_id,
        "invoice_ids": invoice_ids,
        "invoice_numbers": [invoice_numbers.get(i, "") for i in invoice_ids],
        "lago_payable_id": p.payment_request_id or p.invoice_id,
        "payable_type": p.payable_type,
        "amount_cents": p.amount_cents,
        "amount_currency": p.currency,
        "status": p.provider_status or p.status,
        "payment_status": "processing" if p.status == "requires_action" else p.status,
        "type": p.payment_type,
        # NOTE: Lago's PaymentObject requires a string (and lago-python-client refuses null): "" for a charge.
        "reference": p.reference or "",
        "payment_provider_code": p.provider_code,
        "payment_provider_type": p.provider_kind,
        "external_payment_id": p.provider_payment_id,
        "provider_payment_id": p.provider_payment_id,
        "provider_customer_id": p.provider_customer_id,
        "next_action": _next_action(p),
        "created_at": iso(p.created_at),
    }


def _next_action(p) -> dict[str, Any]:
    if p.status != "requires_action" or not p.next_action_url:
        return {}
    return {"type": "redirect_to_url", "redirect_to_url": {"url": p.next_action_url, "return_url": None}}


def payment_requiring_action(p, customer) -> dict[str, Any]:
    """The `payment.requires_action` webhook's object (Lago's PaymentRequiresActionObject)."""
    return {"lago_payable_id": p.payment_request_id or p.invoice_id, "lago_customer_id": customer.id,
            "status": p.provider_status or p.status,
            "external_customer_id": customer.external_id, "provider_customer_id": p.provider_customer_id,
            "payment_provider_code": p.provider_code, "provider_payment_id": p.provider_payment_id,
            "next_action": _next_action(p)}


# NOTE: Lago's answers naming a hosted payment page (lago-api V1::PaymentProviders::CustomerCheckoutSerializer,
# InvoicePaymentSerializer, WalletTransactionPaymentSerializer).
def customer_checkout_url(customer, url: str) -> dict[str, Any]:
    return {"lago_customer_id": customer.id, "external_customer_id": customer.external_id,
            "payment_provider": customer.payment_provider, "payment_provider_code": customer.payment_provider_code,
            "checkout_url": url}


def invoice_payment_details(invoice, customer, url: str) -> dict[str, Any]:
    return {"lago_customer_id": customer.id, "external_customer_id": customer.external_id,
            "payment_provider": customer.payment_provider, "lago_invoice_id": invoice.id, "payment_url": url}


def wallet_transaction_payment_details(transaction, customer, url: str) -> dict[str, Any]:
    return {"lago_customer_id": customer.id, "external_customer_id": customer.external_id,
            "payment_provider": customer.payment_provider, "lago_wallet_transaction_id": transaction.id,
            "payment_url": url}


# NOTE: Lago's PaymentMethodObject (lago-openapi src/schemas/PaymentMethodObject.yaml), with what Tally may
# show of the method (`details`: type, brand, last 4, expiry; never a full number).
def payment_method(m, provider_name: str | None = None) -> dict[str, Any]:
    return {
        "lago_id": m.id,
        "is_default": bool(m.is_default),
        "payment_provider_code": m.provider_code,
        "payment_provider_name": provider_name,
        "payment_provider_type": m.provider_kind,
        "provider_method_id": m.provider_method_id,
        "details": {"type": m.method_type, "brand": m.brand, "last4": m.last4,
                    "expiration_month": m.exp_month, "expiration_year": m.exp_year},
        "created_at": iso(m.created_at),
    }


# NOTE: Lago's PaymentReceiptObject: its number, the payment, and the PDF (Tally renders none yet: null).
def payment_receipt(r, payment_payload: dict[str, Any]) -> dict[str, Any]:
    return {"lago_id": r.id, "number": r.number, "payment": payment_payload, "file_url": None,
            "created_at": iso(r.created_at)}


# NOTE: Lago's PaymentRequestObject (lago-openapi src/schemas/PaymentRequestObject.yaml; lago-api
# V1::PaymentRequestSerializer with its customer and invoices), in the API's answers and the payment_request.created
# and payment_request.payment_status_updated webhooks. Lago writes `email: null` for a customer without one, which
# lago-python-client 1.55 refuses (it requires a string, as for a payment's `reference`): "" here.
def payment_request(r, customer_row) -> dict[str, Any]:
    return {"lago_id": r.id, "email": r.email or "", "amount_cents": r.amount_cents, "amount_currency": r.currency,
            "payment_status": r.payment_status, "created_at": iso(r.created_at), "customer": customer(customer_row),
            "invoices": [invoice_base(i) for i in r.invoices]}


# NOTE: the payment_request.payment_failure webhook's object, `payment_provider_payment_request_payment_error` (lago-api
# V1::PaymentProviders::PaymentRequestPaymentErrorSerializer).
def payment_request_payment_error(r, customer_row, p) -> dict[str, Any]:
    return {"lago_payment_request_id": r.id, "lago_invoice_ids": [i.id for i in r.invoices],
            "lago_customer_id": customer_row.id, "external_customer_id": customer_row.external_id,
            "provider_customer_id": p.provider_customer_id, "payment_provider": p.provider_kind,
            "payment_provider_code": p.provider_code,
            "provider_error": {"message": p.error_message, "error_code": p.error_code}}


def alert_threshold(t) -> dict[str, Any]:
    return {"code": t.code, "value": decimal_str(t.value), "recurring": bool(t.recurring)}


def alert(a) -> dict[str, Any]:
    """Lago's AlertObject (a subscription's) and WalletAlertObject (a wallet's): decimals as strings, as Lago's."""
    return {
        "lago_id": a.id,
        "lago_organization_id": a.organization_id,
        "external_subscription_id": a.subscription_external_id,
        "lago_wallet_id": a.wallet_id,
        "wallet_code": a.wallet.code if a.wallet is not None else None,
        "billable_metric": billable_metric(a.billable_metric) if a.billable_metric is not None else None,
        "alert_type": a.alert_type,
        "code": a.code,
        "name": a.name,
        "direction": a.direction,
        "previous_value": decimal_str(a.previous_value),
        "last_processed_at": iso(a.last_processed_at),
        "thresholds": [alert_threshold(t) for t in sorted(a.thresholds, key=lambda t: t.value)],
        "created_at": iso(a.created_at),
    }


def triggered_alert(t, *, subscription=None, wallet=None) -> dict[str, Any]:
    """Lago's TriggeredAlertObject, the body of `alert.triggered` (a wallet's alert: its wallet instead)."""
    a = t.alert
    customer_row = subscription.customer if subscription is not None else wallet.customer if wallet else None
    return {
        "lago_id": t.id,
        "lago_organization_id": t.organization_id,
        "lago_alert_id": a.id,
        "lago_subscription_id": subscription.id if subscription is not None else None,
        "external_subscription_id": subscription.external_id if subscription is not None else None,
        "lago_wallet_id": wallet.id if wallet is not None else None,
        "wallet_code": wallet.code if wallet is not None else None,
        "external_customer_id": customer_row.external_id if customer_row is not None else None,
        "billable_metric_code": a.billable_metric.code if a.billable_metric is not None else None,
        "alert_type": a.alert_type,
        "alert_code": a.code,
        "alert_name": a.name,
        "current_value": decimal_str(t.current_value),
        "previous_value": decimal_str(t.previous_value),
        "triggered_at": iso(t.triggered_at),
        "crossed_thresholds": [dict(c) for c in t.crossed_thresholds],
    }


def privilege(p) -> dict[str, Any]:
    return {"code": p.code, "name": p.name, "value_type": p.value_type, "config": dict(p.config or {})}


def feature(f) -> dict[str, Any]:
    return {
        "code": f.code,
        "name": f.name,
        "description": f.description,
        "privileges": [privilege(p) for p in f.privileges],
        "created_at": iso(f.created_at),
    }


def plan_entitlement(g) -> dict[str, Any]:
    """A feature as a plan includes it (billing.entitlements.services.GrantedFeature)."""
    return {
        "code": g.code,
        "name": g.name,
        "description": g.description,
        "privileges": [privilege(p) | {"value": p.value} for p in g.privileges],
    }


def subscription_entitlement(g) -> dict[str, Any]:
    """A feature as a subscription has it: each privilege's value, the plan's and the subscription's own."""
    return {
        "code": g.code,
        "name": g.name,
        "description": g.description,
        "privileges": [privilege(p) | {"value": p.value, "plan_value": p.plan_value,
                                       "override_value": p.override_value} for p in g.privileges],
        "overrides": dict(g.overrides),
    }
