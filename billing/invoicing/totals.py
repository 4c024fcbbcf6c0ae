"""Coupons, taxes and an invoice's totals: pure functions over integer cents and exact Decimals.

The invoicing service gathers the fees, the customer's applied coupons and the taxes that apply,
calls these, and stores what they return. Every rounding goes through `billing.money.round_minor`:
a coupon's amount is rounded once (a percentage of its base), each tax of the invoice is rounded
once (on the sum of its exact per-fee amounts); nothing else is rounded (docs/billing.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal, localcontext

from billing.money import round_minor

HUNDRED = Decimal(100)
PRECISE = Decimal("1e-15")  # the scale of NUMERIC(40,15), where precise amounts are stored


@dataclass(frozen=True)
class FeeLine:
    """What the computations need of a fee: its amount and what coupons and taxes look at."""

    amount_cents: int
    plan_code: str | None = None
    metric_code: str | None = None  # charge fees only
    tax_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CouponTerms:
    """An applied coupon as it stands before this invoice.

    `amount_cents` is what a fixed coupon may take now: what remains of a `once` coupon, or the
    coupon's amount for each period of a `recurring` or `forever` one.
    """

    coupon_type: str  # fixed_amount | percentage
    amount_cents: int | None = None
    percentage_rate: Decimal | None = None
    plan_codes: frozenset[str] | None = None  # limited to these plans
    metric_codes: frozenset[str] | None = None  # limited to these billable metrics

    def covers(self, fee: FeeLine) -> bool:
        if self.metric_codes is not None:
            return fee.metric_code is not None and fee.metric_code in self.metric_codes
        if self.plan_codes is not None:
            return fee.plan_code is not None and fee.plan_code in self.plan_codes
        return True


def coupon_order_key(*, limited_billable_metrics: bool, limited_plans: bool, applied_at: datetime,
                     applied_id: str = "") -> tuple:
    """Sort key of the coupons of one invoice.

    NOTE: coupons limited to billable metrics first, then those limited to plans, then the others;
    within each, in the order they were applied to the customer (docs/billing.md, Coupons; Lago's
    changelog "Apply several coupons": the coupon applied first is deducted first).
    """
    return (not limited_billable_metrics, not limited_plans, applied_at, applied_id)


@dataclass
class CouponsResult:
    amounts: list[int]  # per coupon, in the order given: what it took (0: not used on this invoice)
    fee_discounts: list[Decimal]  # per fee: its exact share of all the coupons

    @property
    def total(self) -> int:
        return sum(self.amounts)


def apply_coupons(fees: Sequence[FeeLine], coupons: Sequence[CouponTerms]) -> CouponsResult:
    """What each coupon takes off the fees, in the order given, and how it is spread over them.

    NOTE: before taxes; each coupon takes at most what its fees still owe: a fixed coupon
    min(amount, rest), a percentage coupon round(rest × rate / 100); its amount is spread over
    the fees it covers pro rata to what they still owe, exactly (no rounding per fee), so that
    taxes are computed on each fee's discounted amount. No coupon is used on fees that owe
    nothing (docs/billing.md, Coupons; Lago docs "Coupons": deducted before tax).
    """
    discounts = [Decimal(0)] * len(fees)
    amounts: list[int] = []
    for coupon in coupons:
        covered = [i for i, fee in enumerate(fees) if coupon.covers(fee)]
        rest = {i: Decimal(fees[i].amount_cents) - discounts[i] for i in covered}
        base = sum(rest.values(), Decimal(0))
        if base <= 0:
            amounts.append(0)
            continue
        if coupon.coupon_type == "percentage":
            amount = round_minor(base * (coupon.percentage_rate or Decimal(0)) / HUNDRED)
        else:
            # The floor keeps a fixed coupon within what is owed when earlier coupons left a fraction.
            amount = min(coupon.amount_cents or 0, int(base.to_integral_value(rounding=ROUND_FLOOR)))
        amount = max(amount, 0)
        amounts.append(amount)
        if amount:
            for i, share in _spread(amount, [(i, rest[i]) for i in covered if rest[i] > 0], base).items():
                discounts[i] += share
    return CouponsResult(amounts=amounts, fee_discounts=discounts)


def _spread(amount: int, owed: list[tuple[int, Decimal]], base: Decimal) -> dict[int, Decimal]:
    """`amount` over the fees pro rata to what they owe; the shares add up to `amount` exactly.

    Shares are kept to 15 decimals of a cent (the precision `precise_*` columns store) and the last
    fee takes what the others leave, so no fraction of a cent is lost or made up by the spread.
    """
    if amount >= base:
        return dict(owed)
    shares: dict[int, Decimal] = {}
    with localcontext() as context:
        context.prec = 60
        for i, rest in owed[:-1]:
            shares[i] = (Decimal(amount) * rest / base).quantize(PRECISE, rounding=ROUND_FLOOR)
        last, rest = owed[-1]
        shares[last] = min(Decimal(amount) - sum(shares.values(), Decimal(0)), rest)
    return shares


def taxes_of(levels: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """The tax codes of a fee: those of the first level that has any, most specific first.

    NOTE: no stacking across levels: charge, then plan, then customer, then the organization's
    defaults (docs/billing.md, Taxes; Lago changelog "Taxes defined at plan and charge level").
    """
    for codes in levels:
        if codes:
            return tuple(codes)
    return ()


@dataclass
class TaxesResult:
    # per fee, per tax code: the exact tax in minor units
    fee_taxes: list[dict[str, Decimal]]
    # per tax code: (taxable base in cents, tax amount in cents), each rounded once
    invoice_taxes: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(amount for _, amount in self.invoice_taxes.values())

    def fee_total(self, index: int) -> int:
        return round_minor(sum(self.fee_taxes[index].values(), Decimal(0)))


def compute_taxes(fees: Sequence[FeeLine], fee_discounts: Sequence[Decimal],
                  rates: dict[str, Decimal]) -> TaxesResult:
    """Taxes per fee on its amount after coupons, and per tax on the invoice, rounded once per tax.

    NOTE: each fee's tax is exact, (amount − its share of the coupons) × rate / 100; the invoice's
    amount of a tax is the sum of those exact amounts over the fees it applies to, rounded once
    (docs/billing.md, Taxes; Lago rounds VAT at the invoice level from unrounded fee amounts:
    https://github.com/getlago/lago-api/pull/821). Several taxes on one fee add up, each on the
    same base (no tax on tax).
    """
    fee_taxes: list[dict[str, Decimal]] = []
    bases: dict[str, Decimal] = {}
    exact: dict[str, Decimal] = {}
    for fee, discount in zip(fees, fee_discounts, strict=True):
        taxable = Decimal(fee.amount_cents) - discount
        mine: dict[str, Decimal] = {}
        for code in fee.tax_codes:
            mine[code] = taxable * rates[code] / HUNDRED
            bases[code] = bases.get(code, Decimal(0)) + taxable
            exact[code] = exact.get(code, Decimal(0)) + mine[code]
        fee_taxes.append(mine)
    invoice_taxes = {code: (round_minor(bases[code]), round_minor(exact[code])) for code in sorted(exact)}
    return TaxesResult(fee_taxes=fee_taxes, invoice_taxes=invoice_taxes)


@dataclass(frozen=True)
class Totals:
    fees_amount_cents: int
    coupons_amount_cents: int
    progressive_billing_credit_amount_cents: int
    sub_total_excluding_taxes_amount_cents: int
    taxes_amount_cents: int
    sub_total_including_taxes_amount_cents: int
    credit_notes_amount_cents: int
    prepaid_credit_amount_cents: int
    total_amount_cents: int


def invoice_totals(*, fees_amount_cents: int, coupons_amount_cents: int, taxes_amount_cents: int,
                   credit_notes_amount_cents: int = 0, prepaid_credit_amount_cents: int = 0,
                   progressive_billing_credit_amount_cents: int = 0) -> Totals:
    """An invoice's totals in the order of docs/billing.md (Invoices); sums of already rounded amounts.

    NOTE: what earlier progressive billing invoices of the period billed comes off before coupons and taxes,
    like a coupon but not counted as one (Lago's `progressive_billing_credit_amount_cents`; docs/billing.md,
    Progressive billing).
    """
    excluding = fees_amount_cents - progressive_billing_credit_amount_cents - coupons_amount_cents
    including = excluding + taxes_amount_cents
    return Totals(
        fees_amount_cents=fees_amount_cents, coupons_amount_cents=coupons_amount_cents,
        progressive_billing_credit_amount_cents=progressive_billing_credit_amount_cents,
        sub_total_excluding_taxes_amount_cents=excluding, taxes_amount_cents=taxes_amount_cents,
        sub_total_including_taxes_amount_cents=including, credit_notes_amount_cents=credit_notes_amount_cents,
        prepaid_credit_amount_cents=prepaid_credit_amount_cents,
        total_amount_cents=max(including - credit_notes_amount_cents - prepaid_credit_amount_cents, 0))


# ---------------------------------------------------------------- credit notes


@dataclass(frozen=True)
class CreditedItem:
    """What a credit note gives back on one fee, and what the fee carried (coupons, taxes)."""

    amount_cents: int
    fee_amount_cents: int
    fee_coupons_precise_cents: Decimal  # the fee's exact share of its invoice's coupons
    tax_rates: dict[str, Decimal]  # the fee's taxes, by code


@dataclass
class CreditNoteAmounts:
    sub_total_excluding_taxes_amount_cents: int
    coupons_adjustment_amount_cents: int
    taxes_amount_cents: int
    total_amount_cents: int
    # per tax code: (base in cents, amount in cents), each rounded once
    taxes: dict[str, tuple[int, int]] = field(default_factory=dict)


def credit_note_amounts(items: Sequence[CreditedItem]) -> CreditNoteAmounts:
    """A credit note's coupons adjustment, taxes and total from its items.

    NOTE: each item carries the part of its fee's coupon share proportional to the part of the
    fee it credits (item / fee × the fee's coupons), exactly; its taxes are the fee's rates on
    the item less that adjustment; like an invoice, the adjustment is rounded once and each tax
    once over all items (Lago's credit note: `coupons_adjustment_amount_cents`, taxes on the
    credited amounts; https://getlago.com/docs/api-reference/credit-notes/estimate).
    """
    adjustment = Decimal(0)
    bases: dict[str, Decimal] = {}
    exact: dict[str, Decimal] = {}
    with localcontext() as context:
        context.prec = 60
        for item in items:
            share = (item.fee_coupons_precise_cents * item.amount_cents / item.fee_amount_cents
                     if item.fee_amount_cents else Decimal(0))
            adjustment += share
            taxable = Decimal(item.amount_cents) - share
            for code, rate in item.tax_rates.items():
                bases[code] = bases.get(code, Decimal(0)) + taxable
                exact[code] = exact.get(code, Decimal(0)) + taxable * rate / HUNDRED
    taxes = {code: (round_minor(bases[code]), round_minor(exact[code])) for code in sorted(exact)}
    items_total = sum(item.amount_cents for item in items)
    sub_total = items_total - round_minor(adjustment)
    taxes_total = sum(amount for _, amount in taxes.values())
    return CreditNoteAmounts(sub_total_excluding_taxes_amount_cents=sub_total,
                             coupons_adjustment_amount_cents=round_minor(adjustment),
                             taxes_amount_cents=taxes_total, total_amount_cents=sub_total + taxes_total,
                             taxes=taxes)


def consume_credit_balances(balances: Sequence[int], amount_due: int) -> list[int]:
    """What each credit-note balance (oldest first) takes off an invoice that owes `amount_due`.

    NOTE: credit notes apply after taxes, oldest first, each taking what it has or what is still
    due (docs/billing.md, Credit notes; Lago docs "Credit notes": the credit is deducted from the
    customer's next invoices).
    """
    taken: list[int] = []
    rest = max(amount_due, 0)
    for balance in balances:
        amount = min(max(balance, 0), rest)
        taken.append(amount)
        rest -= amount
    return taken
