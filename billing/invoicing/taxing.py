"""Store what `totals.compute_taxes` computed: each fee's taxes and the invoice's, as copies of the taxes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from billing.catalog.models import Tax
from billing.invoicing import totals
from billing.invoicing.models import FeeAppliedTax, Invoice, InvoiceAppliedTax
from billing.money import round_minor


def record_taxes(invoice: Invoice, lines: Sequence[totals.FeeLine], discounts: Sequence[Decimal],
                 taxes: Mapping[str, Tax]) -> None:
    """Tax the invoice's fees (`lines[i]` describes `invoice.fees[i]`) on what coupons left of them.

    NOTE: a fee's own `taxes_amount_cents` is rounded for display; the invoice's amount of each
    tax is the sum of the exact per-fee amounts, rounded once (docs/billing.md, Taxes).
    """
    rates = {code: tax.rate for code, tax in taxes.items()}
    taxed = totals.compute_taxes(lines, discounts, rates)
    for index, fee in enumerate(invoice.fees):
        fee.precise_coupons_amount_cents = discounts[index]
        fee.taxes_precise_amount_cents = sum(taxed.fee_taxes[index].values(), Decimal(0))
        fee.taxes_amount_cents = taxed.fee_total(index)
        fee.taxes_rate = sum((rates[code] for code in lines[index].tax_codes), Decimal(0))
        for code, precise in taxed.fee_taxes[index].items():
            tax = taxes[code]
            fee.applied_taxes.append(FeeAppliedTax(
                tax_id=tax.id, tax_code=tax.code, tax_name=tax.name, tax_rate=tax.rate,
                tax_description=tax.description, amount_cents=round_minor(precise), precise_amount_cents=precise,
                amount_currency=invoice.currency))
    for code, (base, amount) in taxed.invoice_taxes.items():
        tax = taxes[code]
        invoice.applied_taxes.append(InvoiceAppliedTax(
            tax_id=tax.id, tax_code=tax.code, tax_name=tax.name, tax_rate=tax.rate, tax_description=tax.description,
            amount_cents=amount, fees_amount_cents=base, amount_currency=invoice.currency))
