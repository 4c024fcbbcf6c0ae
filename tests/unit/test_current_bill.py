"""The bill widget's arithmetic (billing.screens.current_bill.estimate): taxes rounded once per tax per invoice, an
advance fee on its own invoice, exact cents; no database."""

from __future__ import annotations

from decimal import Decimal

from billing.invoicing.totals import FeeLine
from billing.screens.current_bill import TaxAmount, estimate

VAT = {"vat": Decimal(20)}
NAMES = {"vat": "VAT"}


def _fee(cents: int, *codes: str) -> FeeLine:
    return FeeLine(amount_cents=cents, plan_code="startup", tax_codes=codes)


def _usage(cents: int, metric: str = "api_calls", *codes: str) -> FeeLine:
    return FeeLine(amount_cents=cents, plan_code="startup", metric_code=metric, tax_codes=codes)


def test_a_fee_and_usage_at_20_percent_to_the_cent():
    # €10.00 fee + €0.15 usage, billed together at the period's end: 20 % of €10.15 = €2.03
    taxes = estimate(fee=_fee(1000, "vat"), fee_in_advance=False, usage=[_usage(15, "api_calls", "vat")],
                     rates=VAT, names=NAMES).taxes
    assert taxes == (TaxAmount(code="vat", name="VAT", rate=Decimal(20), base_cents=1015, amount_cents=203),)


def test_an_arrears_fee_is_taxed_with_the_usage_on_one_invoice():
    # 20 % of €10.02 = €2.004 and of €0.02 = €0.004: together €2.008 → €2.01 (one rounding)
    taxes = estimate(fee=_fee(1002, "vat"), fee_in_advance=False, usage=[_usage(2, "api_calls", "vat")],
                     rates=VAT, names=NAMES).taxes
    assert [(t.base_cents, t.amount_cents) for t in taxes] == [(1004, 201)]


def test_an_advance_fee_is_on_its_own_invoice_and_rounded_there():
    # the fee's invoice: €2.004 → €2.00; the usage's: €0.004 → €0.00
    taxes = estimate(fee=_fee(1002, "vat"), fee_in_advance=True, usage=[_usage(2, "api_calls", "vat")],
                     rates=VAT, names=NAMES).taxes
    assert [(t.base_cents, t.amount_cents) for t in taxes] == [(1004, 200)]


def test_each_fee_has_its_own_taxes_and_usage_charges_add_up_exactly():
    rates = {"vat": Decimal(20), "city": Decimal("1.5")}
    taxes = estimate(fee=_fee(999, "vat"), fee_in_advance=False,
                     usage=[_usage(333, "api_calls", "vat", "city"), _usage(333, "storage", "vat", "city")],
                     rates=rates, names={"vat": "VAT"}).taxes
    # city: 1.5 % of €6.66 = €0.0999 → €0.10; vat: 20 % of €16.65 = €3.33
    assert [(t.code, t.name, t.base_cents, t.amount_cents) for t in taxes] == [
        ("city", "city", 666, 10), ("vat", "VAT", 1665, 333)]


def test_no_fee_and_untaxed_usage_has_no_taxes():
    assert estimate(fee=None, fee_in_advance=False, usage=[_usage(500)], rates={}, names={}).taxes == ()
    assert estimate(fee=None, fee_in_advance=True, usage=[], rates={}, names={}).taxes == ()
