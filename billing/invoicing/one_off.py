"""One-off invoices: bill add-ons to a customer at once (Lago's `POST /invoices`, `invoice_type: one_off`).

The invoice is built, taxed and finalized in one transaction by the same code as every invoice
(`services.finalize`: gap-free number, `invoice.one_off_created` webhook, email and PDF after
commit); nothing is written when any part of the request is refused. The rules are in
docs/billing.md ("Add-ons and one-off invoices").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from billing.catalog.add_ons import find_add_ons
from billing.catalog.models import AddOn, Tax
from billing.catalog.taxes import organization_taxes, taxes_for_codes
from billing.customers.models import Customer
from billing.customers.services import get_customer_in, require_currency
from billing.db import read_only, unit_of_work
from billing.errors import NotFound, ValidationFailed
from billing.invoicing import totals
from billing.invoicing.audited import invoice_terms, record_invoice
from billing.invoicing.discounts import compute_totals
from billing.invoicing.finalization import finalize
from billing.invoicing.models import Fee, Invoice
from billing.invoicing.queries import get_invoice
from billing.invoicing.taxing import record_taxes
from billing.money import round_minor, to_major_precise
from billing.ports import runtime
from billing.subscriptions.periods import local_date
from billing.validation import MAX_AMOUNT_CENTS, Checker

ONE_OFF = "one_off"
UNITS_PLACES = 15  # the scale of NUMERIC(40,15), where units are stored


@dataclass(frozen=True)
class OneOffFee:
    """One fee of the request: an add-on, possibly at another price, for some units."""

    add_on_code: str
    units: Decimal
    unit_amount_cents: int | None = None  # None: the add-on's amount
    description: str | None = None
    invoice_display_name: str | None = None
    tax_codes: tuple[str, ...] | None = None  # None: the add-on's taxes, else the customer's, else the organization's
    from_datetime: datetime | None = None
    to_datetime: datetime | None = None


def parse_fees(raw: object) -> list[OneOffFee]:
    """The request's `fees`, checked; ValidationFailed with Lago's per-item keys (`fees.0`) otherwise."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValidationFailed({"fees": ["invalid_type"]})
    errors: dict[str, object] = {}
    fees = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            errors[f"fees.{index}"] = ["invalid_type"]
            continue
        check = Checker(item)
        code = check.string("add_on_code", required=True)
        unit_amount = check.amount_cents("unit_amount_cents")
        units = check.decimal("units")
        if units is not None and units.normalize().as_tuple().exponent < -UNITS_PLACES:
            check.fail("units", "too_many_decimals")
        elif units is not None and units <= 0:
            # NOTE: a fee of no units bills nothing: it would only number an empty invoice.
            check.fail("units", "value_is_out_of_range")
        description = check.text("description")
        display_name = check.string("invoice_display_name")
        codes = item.get("tax_codes")
        if codes is not None and (not isinstance(codes, list) or not all(isinstance(c, str) for c in codes)):
            check.fail("tax_codes", "invalid_type")
        starts, ends = check.datetime("from_datetime"), check.datetime("to_datetime")
        if starts and ends and ends < starts:
            check.fail("to_datetime", "invalid_date")
        if check.errors:
            errors[f"fees.{index}"] = check.errors
            continue
        fees.append(OneOffFee(add_on_code=code, units=Decimal(1) if units is None else units,
                              unit_amount_cents=unit_amount, description=description,
                              invoice_display_name=display_name,
                              tax_codes=tuple(dict.fromkeys(codes)) if codes is not None else None,
                              from_datetime=starts or ends, to_datetime=ends or starts))
    if errors:
        raise ValidationFailed(errors)
    return fees


def create_one_off_invoice(*, organization_id: str, data: Mapping[str, object]) -> Invoice:
    """Bill the add-ons of `data["fees"]` to the customer now: a finalized, numbered `one_off` invoice.

    NOTE: as Lago (lago-api `Invoices::CreateOneOffService`): 404 `customer_not_found`,
    `fees_not_found` (no fee) or `add_on_not_found` (an unknown or deleted code); the currency
    defaults to the customer's, a customer without one takes it, another one is 422
    `currencies_does_not_match`. The invoice is finalized at once (no grace period); coupons,
    credit notes and prepaid credits do not apply to it (docs/billing.md).
    """
    external_customer_id, currency, fees = _read_request(data)
    with unit_of_work() as uow:
        session = uow.session
        customer = get_customer_in(session, organization_id, external_customer_id)
        # One writer of the customer at a time: its currency may be set here.
        session.scalar(select(Customer.id).where(Customer.id == customer.id).with_for_update())
        add_ons = _add_ons_of(session, organization_id, fees)
        currency = _currency_of(customer, currency)
        require_currency(customer, currency)
        invoice = _draft(customer, currency)
        lines, taxes = _add_fees(session, invoice, customer, fees, add_ons)
        session.add(invoice)
        session.flush()
        record_taxes(invoice, lines, [Decimal(0)] * len(lines), taxes)
        compute_totals(invoice)
        session.flush()
        finalize(uow, invoice)
        record_invoice(session, invoice, "invoice.one_off_created", None, {**invoice_terms(invoice), "fees": {
            str(fee.position + 1): {"add_on": fee.item_code, "units": fee.units, "amount_cents": fee.amount_cents}
            for fee in invoice.fees}})
        invoice_id = invoice.id
    return get_invoice(organization_id=organization_id, invoice_id=invoice_id)


@dataclass(frozen=True)
class OneOffQuote:
    """What a one-off request would bill, before taxes: asked before issuing it (the admin's confirmation)."""

    currency: str
    subtotal_cents: int  # the sum of the lines, each rounded as the invoice rounds it


def quote_one_off_invoice(*, organization_id: str, data: Mapping[str, object]) -> OneOffQuote:
    """The total before taxes of the invoice `create_one_off_invoice(data)` would issue now; writes nothing.

    Refused as `create_one_off_invoice` refuses the same request (same errors, nothing written). Taxes are not
    included: they are computed on the invoice being issued (the fee's, the add-on's, the customer's or the
    organization's, per line).
    """
    external_customer_id, currency, fees = _read_request(data)
    with read_only() as session:
        customer = get_customer_in(session, organization_id, external_customer_id)
        add_ons = _add_ons_of(session, organization_id, fees)
        currency = _currency_of(customer, currency)
        if customer.currency is not None and customer.currency != currency:
            raise ValidationFailed({"currency": ["currencies_does_not_match"]})
    amounts = [_precise_amount(wanted, add_ons[wanted.add_on_code]) for wanted in fees]
    too_large = {f"fees.{position}": {"units": ["value_is_out_of_range"]}
                 for position, precise in enumerate(amounts) if precise > MAX_AMOUNT_CENTS}
    if too_large:
        raise ValidationFailed(too_large)
    return OneOffQuote(currency=currency, subtotal_cents=sum(round_minor(precise) for precise in amounts))


def _read_request(data: Mapping[str, object]) -> tuple[str, str | None, list[OneOffFee]]:
    check = Checker(data)
    external_customer_id = check.string("external_customer_id")
    currency = check.currency("currency")
    check.done()
    fees = parse_fees(data.get("fees"))
    if external_customer_id is None:
        raise NotFound("customer")
    return external_customer_id, currency, fees


def _add_ons_of(session, organization_id: str, fees: list[OneOffFee]) -> dict[str, AddOn]:
    if not fees:
        raise NotFound("fees")
    add_ons = find_add_ons(session, organization_id, sorted({f.add_on_code for f in fees}))
    if len(add_ons) != len({f.add_on_code for f in fees}):
        raise NotFound("add_on")
    return add_ons


def _currency_of(customer: Customer, requested: str | None) -> str:
    currency = requested or customer.currency
    if currency is None:
        raise ValidationFailed({"currency": ["value_is_mandatory"]})
    return currency


def _precise_amount(wanted: OneOffFee, add_on: AddOn) -> Decimal:
    """units × unit amount, exact (rounded once, when the fee is written)."""
    # NOTE: the add-on's amount in cents is used as it is, whatever the invoice's currency (Lago:
    # `unit_amount_cents = fee[:unit_amount_cents] || add_on.amount_cents`, the fee in the invoice's
    # currency). units × unit amount is exact, rounded once, half up (docs/billing.md, Money).
    unit_cents = add_on.amount_cents if wanted.unit_amount_cents is None else wanted.unit_amount_cents
    return Decimal(unit_cents) * wanted.units


def _draft(customer: Customer, currency: str) -> Invoice:
    issuing = local_date(runtime.clock.now(), customer.applicable_timezone)
    term = customer.applicable_net_payment_term
    return Invoice(organization_id=customer.organization_id, customer=customer, invoice_type=ONE_OFF,
                   status="draft", payment_status="pending", currency=currency,
                   number=f"{customer.organization.document_number_prefix}-DRAFT", issuing_date=issuing,
                   net_payment_term=term, payment_due_date=issuing + timedelta(days=term))


def _add_fees(session, invoice: Invoice, customer: Customer, fees: list[OneOffFee],
              add_ons: dict[str, AddOn]) -> tuple[list[totals.FeeLine], dict[str, Tax]]:
    """One fee per line of the request, in its order; returns what taxes each, and the taxes by code."""
    customer_taxes = list(customer.taxes)
    org_taxes = organization_taxes(session, customer.organization_id)
    taxes = {t.code: t for t in [*customer_taxes, *org_taxes]}
    lines = []
    errors: dict[str, object] = {}
    for position, wanted in enumerate(fees):
        add_on = add_ons[wanted.add_on_code]
        unit_cents = add_on.amount_cents if wanted.unit_amount_cents is None else wanted.unit_amount_cents
        precise = _precise_amount(wanted, add_on)
        if precise > MAX_AMOUNT_CENTS:
            errors[f"fees.{position}"] = {"units": ["value_is_out_of_range"]}
            continue
        if wanted.tax_codes is not None:
            own = taxes_for_codes(session, customer.organization_id, list(wanted.tax_codes),
                                  f"fees.{position}.tax_codes")
            taxes.update((t.code, t) for t in own)
            codes = tuple(t.code for t in own)
        else:
            taxes.update((t.code, t) for t in add_on.taxes)
            # NOTE: the first level that has taxes, no stacking: the fee's own `tax_codes` (above, even
            # `[]`: no tax), else the add-on's, else the customer's, else the organization's defaults
            # (lago-api `Fees::ApplyTaxesService`).
            codes = totals.taxes_of([[t.code for t in add_on.taxes], [t.code for t in customer_taxes],
                                     [t.code for t in org_taxes]])
        invoice.fees.append(Fee(
            organization_id=invoice.organization_id, add_on_id=add_on.id, fee_type="add_on", position=position,
            item_code=add_on.code, item_name=add_on.name,
            description=wanted.invoice_display_name or add_on.invoice_name,
            line_description=wanted.description if wanted.description is not None else add_on.description,
            amount_cents=round_minor(precise), precise_amount_cents=precise, amount_currency=invoice.currency,
            units=wanted.units, total_aggregated_units=wanted.units,
            precise_unit_amount=to_major_precise(Decimal(unit_cents), invoice.currency),
            from_datetime=wanted.from_datetime, to_datetime=wanted.to_datetime))
        lines.append(totals.FeeLine(amount_cents=round_minor(precise), tax_codes=codes))
    if errors:
        raise ValidationFailed(errors)
    return lines, taxes
