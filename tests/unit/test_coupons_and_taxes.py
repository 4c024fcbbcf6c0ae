"""The pure computations of coupons, taxes and totals (billing/invoicing/totals.py), with worked examples."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing.invoicing.totals import (
    CouponTerms,
    FeeLine,
    apply_coupons,
    compute_taxes,
    coupon_order_key,
    invoice_totals,
    taxes_of,
)

FIXED_1000 = CouponTerms(coupon_type="fixed_amount", amount_cents=1000)
TEN_PERCENT = CouponTerms(coupon_type="percentage", percentage_rate=Decimal(10))


def test_coupons_apply_in_the_order_given_each_on_what_is_left():
    fees = [FeeLine(10000), FeeLine(70)]
    assert apply_coupons(fees, [FIXED_1000, TEN_PERCENT]).amounts == [1000, 907]
    assert apply_coupons(fees, [TEN_PERCENT, FIXED_1000]).amounts == [1007, 1000]


def test_a_coupon_is_spread_over_its_fees_pro_rata_and_exactly():
    result = apply_coupons([FeeLine(300), FeeLine(100)], [CouponTerms(coupon_type="fixed_amount", amount_cents=100)])
    assert result.fee_discounts == [Decimal(75), Decimal(25)]
    thirds = apply_coupons([FeeLine(100)] * 3, [FIXED_1000.__class__(coupon_type="fixed_amount", amount_cents=100)])
    assert sum(thirds.fee_discounts) == Decimal(100)  # never rounded per fee


def test_a_fixed_coupon_takes_at_most_what_is_owed_and_nothing_from_a_zero_invoice():
    assert apply_coupons([FeeLine(600)], [CouponTerms(coupon_type="fixed_amount", amount_cents=1500)]).amounts == [600]
    assert apply_coupons([FeeLine(0)], [FIXED_1000, TEN_PERCENT]).amounts == [0, 0]
    assert apply_coupons([FeeLine(600)], [FIXED_1000, TEN_PERCENT]).amounts == [600, 0]


def test_a_percentage_coupon_is_rounded_once_half_up():
    assert apply_coupons([FeeLine(1005)], [TEN_PERCENT]).amounts == [101]  # 100.5 → 101
    assert apply_coupons([FeeLine(1004)], [TEN_PERCENT]).amounts == [100]  # 100.4 → 100


def test_limited_coupons_cover_only_their_fees():
    fees = [FeeLine(10000, plan_code="pro"), FeeLine(70, plan_code="pro", metric_code="calls"),
            FeeLine(500, plan_code="other")]
    by_metric = CouponTerms(coupon_type="fixed_amount", amount_cents=5000, metric_codes=frozenset({"calls"}))
    by_plan = CouponTerms(coupon_type="percentage", percentage_rate=Decimal(50), plan_codes=frozenset({"other"}))
    result = apply_coupons(fees, [by_metric, by_plan])
    assert result.amounts == [70, 250]
    assert result.fee_discounts == [Decimal(0), Decimal(70), Decimal(250)]


def test_order_metric_limited_then_plan_limited_then_the_rest_oldest_first():
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    coupons = {
        "plain-early": coupon_order_key(limited_billable_metrics=False, limited_plans=False, applied_at=early),
        "plain-late": coupon_order_key(limited_billable_metrics=False, limited_plans=False, applied_at=late),
        "plan-late": coupon_order_key(limited_billable_metrics=False, limited_plans=True, applied_at=late),
        "metric-late": coupon_order_key(limited_billable_metrics=True, limited_plans=False, applied_at=late),
    }
    assert sorted(coupons, key=coupons.get) == ["metric-late", "plan-late", "plain-early", "plain-late"]


def test_the_first_level_with_taxes_wins_without_stacking():
    assert taxes_of([["charge"], ["plan"], ["customer"], ["org"]]) == ("charge",)
    assert taxes_of([[], [], ["customer"], ["org"]]) == ("customer",)
    assert taxes_of([[], [], [], ["org1", "org2"]]) == ("org1", "org2")
    assert taxes_of([[], [], [], []]) == ()


def test_taxes_are_rounded_once_per_tax_on_the_invoice_not_per_fee():
    # Three fees of 9 cents at 5.5 %: 0.495 each; per fee that would be 0 + 0 + 0, per invoice 1.485 → 1.
    fees = [FeeLine(9, tax_codes=("t",))] * 3
    result = compute_taxes(fees, [Decimal(0)] * 3, {"t": Decimal("5.5")})
    assert result.invoice_taxes == {"t": (27, 1)}
    assert [result.fee_total(i) for i in range(3)] == [0, 0, 0]
    # Two fees of 5 cents at 10 %: 0.5 each: 1 on the invoice (not 1 + 1).
    result = compute_taxes([FeeLine(5, tax_codes=("t",))] * 2, [Decimal(0)] * 2, {"t": Decimal(10)})
    assert result.invoice_taxes == {"t": (10, 1)} and result.total == 1


def test_taxes_apply_to_the_amount_after_coupons_and_several_taxes_add_up():
    fees = [FeeLine(10000, tax_codes=("vat", "city")), FeeLine(70, tax_codes=("vat",))]
    coupons = apply_coupons(fees, [FIXED_1000, TEN_PERCENT])
    result = compute_taxes(fees, coupons.fee_discounts, {"vat": Decimal(20), "city": Decimal(1)})
    discounted_fee = Decimal(10000) - coupons.fee_discounts[0]
    assert result.invoice_taxes["vat"] == (8163, 1633)  # 20 % of 8163 = 1632.6
    assert result.invoice_taxes["city"] == (round(discounted_fee), 81)  # 1 % of 8106.3… = 81.06…
    assert result.total == 1633 + 81


def test_totals_in_order_and_never_negative():
    totals = invoice_totals(fees_amount_cents=10070, coupons_amount_cents=1907, taxes_amount_cents=1633)
    assert (totals.sub_total_excluding_taxes_amount_cents, totals.sub_total_including_taxes_amount_cents,
            totals.total_amount_cents) == (8163, 9796, 9796)
    assert invoice_totals(fees_amount_cents=100, coupons_amount_cents=0, taxes_amount_cents=20,
                          prepaid_credit_amount_cents=500).total_amount_cents == 0


amounts = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=6)
coupon_terms = st.one_of(
    st.builds(CouponTerms, coupon_type=st.just("fixed_amount"), amount_cents=st.integers(0, 10**9)),
    st.builds(CouponTerms, coupon_type=st.just("percentage"),
              percentage_rate=st.decimals(min_value=0, max_value=100, places=2)))


@given(amounts, st.lists(coupon_terms, max_size=4), st.decimals(min_value=0, max_value=100, places=3))
def test_invariant_for_any_fees_coupons_and_rate(fee_amounts, coupons, rate):
    fees = [FeeLine(a, tax_codes=("t",)) for a in fee_amounts]
    applied = apply_coupons(fees, coupons)
    assert 0 <= applied.total <= sum(fee_amounts)
    assert all(d <= a for d, a in zip(applied.fee_discounts, fee_amounts, strict=True))
    assert abs(sum(applied.fee_discounts) - applied.total) < Decimal("1e-6")
    taxes = compute_taxes(fees, applied.fee_discounts, {"t": rate})
    totals = invoice_totals(fees_amount_cents=sum(fee_amounts), coupons_amount_cents=applied.total,
                            taxes_amount_cents=taxes.total)
    assert totals.total_amount_cents == sum(fee_amounts) - applied.total + taxes.total
    # One rounding per tax: within half a cent of the exact tax on the discounted total.
    exact = (Decimal(sum(fee_amounts)) - applied.total) * rate / 100
    assert abs(taxes.total - exact) <= Decimal("0.5") + Decimal("1e-6")
