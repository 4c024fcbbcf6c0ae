"""Taxes and coupons end to end through lago-python-client, every amount to the cent (docs/billing.md).

Every invoice these tests produce is checked against the invariant
total = fees − coupons + taxes − credits (credit notes and wallets are 0 for now).
"""

from __future__ import annotations

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    AppliedCoupon,
    BillableMetric,
    Charge,
    Coupon,
    Customer,
    Event,
    Plan,
    Subscription,
    Tax,
)

from billing.clock import run_billing_clock

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


def _catalog(lago, *, plan_taxes=None, charge_taxes=None) -> None:
    calls = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    lago.plans.create(Plan(name="Pro", code="pro", interval="monthly", amount_cents=10000, amount_currency="EUR",
                           tax_codes=plan_taxes,
                           charges=[Charge(billable_metric_id=calls.lago_id, charge_model="standard",
                                           properties={"amount": "0.10"}, tax_codes=charge_taxes)]))


def _subscribe(lago, customer: str, calls: int = 0, **customer_fields) -> None:
    lago.customers.create(Customer(external_id=customer, currency="EUR", timezone="UTC", **customer_fields))
    lago.subscriptions.create(Subscription(external_customer_id=customer, plan_code="pro",
                                           external_id=f"{customer}-sub"))
    for n in range(calls):
        lago.events.create(Event(transaction_id=f"{customer}-{n}", external_subscription_id=f"{customer}-sub",
                                 code="calls"))


def _invoices(lago, customer: str):
    found = lago.invoices.find_all({"external_customer_id": customer})["invoices"]
    for invoice in found:
        _check_invariant(invoice)
    return sorted(found, key=lambda i: i.issuing_date)


def _check_invariant(invoice) -> None:
    fees = invoice.fees.__root__
    credits = invoice.credits.__root__ if invoice.credits else []
    applied_taxes = invoice.applied_taxes.__root__ if invoice.applied_taxes else []
    assert invoice.fees_amount_cents == sum(f.amount_cents for f in fees)
    assert invoice.coupons_amount_cents == sum(c.amount_cents for c in credits)
    assert invoice.taxes_amount_cents == sum(t.amount_cents for t in applied_taxes)
    assert invoice.sub_total_excluding_taxes_amount_cents == invoice.fees_amount_cents - invoice.coupons_amount_cents
    assert invoice.sub_total_including_taxes_amount_cents == (invoice.sub_total_excluding_taxes_amount_cents
                                                              + invoice.taxes_amount_cents)
    assert invoice.total_amount_cents == (invoice.fees_amount_cents - invoice.coupons_amount_cents
                                          + invoice.taxes_amount_cents - invoice.credit_notes_amount_cents
                                          - invoice.prepaid_credit_amount_cents)
    assert all(c.before_taxes and c.item.type == "coupon" for c in credits)


def _taxes(invoice):
    return [(t.tax_code, t.fees_amount_cents, t.amount_cents) for t in invoice.applied_taxes.__root__]


def _bill(clock, at: str) -> None:
    clock.set(at)
    run_billing_clock(fan_out=False)


def test_taxes_by_level_organization_customer_plan_charge(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    lago.taxes.create(Tax(name="Reduced VAT", code="vat10", rate=10.0))
    lago.taxes.create(Tax(name="Digital", code="dig5_5", rate=5.5))
    _catalog(lago)
    _subscribe(lago, "org-level", calls=7)
    _subscribe(lago, "customer-level", calls=7, tax_codes=["vat10"])
    _bill(clock, "2026-12-01T00:30:00Z")

    # Organization default: 20 % of 10000 + 70.
    (invoice,) = _invoices(lago, "org-level")
    assert (invoice.fees_amount_cents, invoice.taxes_amount_cents, invoice.total_amount_cents) == (10070, 2014, 12084)
    assert _taxes(invoice) == [("vat20", 10070, 2014)]
    fee = {f.item.code: f for f in invoice.fees.__root__}
    assert (fee["pro"].taxes_amount_cents, fee["pro"].taxes_rate, fee["calls"].taxes_amount_cents) == (2000, 20.0, 14)
    assert [t.tax_code for t in fee["pro"].applied_taxes.__root__] == ["vat20"]
    # The customer's tax replaces the organization's.
    (invoice,) = _invoices(lago, "customer-level")
    assert _taxes(invoice) == [("vat10", 10070, 1007)]
    assert invoice.total_amount_cents == 11077
    assert [t.code for t in lago.customers.find("customer-level").taxes.__root__] == ["vat10"]


def test_charge_taxes_replace_plan_and_customer_taxes_for_their_fee(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    lago.taxes.create(Tax(name="Reduced VAT", code="vat10", rate=10.0))
    lago.taxes.create(Tax(name="Digital", code="dig5_5", rate=5.5))
    _catalog(lago, plan_taxes=["vat10"], charge_taxes=["dig5_5"])
    plan = lago.plans.find("pro")
    assert [t.code for t in plan.taxes.__root__] == ["vat10"]
    assert [t.code for t in plan.charges.__root__[0].taxes.__root__] == ["dig5_5"]
    _subscribe(lago, "cust", calls=7, tax_codes=["vat20"])
    _bill(clock, "2026-12-01T00:30:00Z")
    (invoice,) = _invoices(lago, "cust")
    # Plan tax (10 %) on the fee, the charge's own (5.5 %) on usage: 70 × 5.5 % = 3.85 → 4, rounded once per tax.
    assert _taxes(invoice) == [("dig5_5", 70, 4), ("vat10", 10000, 1000)]
    assert (invoice.taxes_amount_cents, invoice.total_amount_cents) == (1004, 11074)


def test_an_edited_tax_bills_at_its_new_rate_and_a_deleted_tax_no_more(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    _catalog(lago)
    _subscribe(lago, "cust")
    _bill(clock, "2026-12-01T00:30:00Z")
    lago.taxes.update(Tax(rate=19.6), "vat20")
    _bill(clock, "2027-01-01T00:30:00Z")
    lago.taxes.destroy("vat20")
    _bill(clock, "2027-02-01T00:30:00Z")
    assert [(i.taxes_amount_cents, i.total_amount_cents) for i in _invoices(lago, "cust")] == [
        (2000, 12000), (1960, 11960), (0, 10000)]
    assert _taxes(_invoices(lago, "cust")[0]) == [("vat20", 10000, 2000)]  # issued invoices keep their copy


def test_unknown_tax_code_is_refused(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    with pytest.raises(LagoApiError) as refused:
        lago.customers.create(Customer(external_id="cust", tax_codes=["nope"]))
    assert refused.value.status_code == 404


def test_fixed_then_percentage_coupon_in_the_order_applied_before_taxes(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    _catalog(lago)
    lago.coupons.create(Coupon(name="Ten euros", code="ten", coupon_type="fixed_amount", amount_cents=1000,
                               amount_currency="EUR", frequency="once", expiration="no_expiration"))
    lago.coupons.create(Coupon(name="Ten percent", code="tenpc", coupon_type="percentage", percentage_rate=10.0,
                               frequency="once", expiration="no_expiration"))
    _subscribe(lago, "cust", calls=7)
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="cust", coupon_code="ten"))
    clock.set("2026-11-02T00:00:00Z")
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="cust", coupon_code="tenpc"))
    _bill(clock, "2026-12-01T00:30:00Z")
    (invoice,) = _invoices(lago, "cust")
    # 10070 − 1000 (applied first) = 9070; then 10 % of 9070 = 907; taxed after: 20 % of 8163 = 1632.6 → 1633.
    assert [(c.item.code, c.amount_cents) for c in invoice.credits.__root__] == [("ten", 1000), ("tenpc", 907)]
    assert (invoice.fees_amount_cents, invoice.coupons_amount_cents, invoice.sub_total_excluding_taxes_amount_cents,
            invoice.taxes_amount_cents, invoice.total_amount_cents) == (10070, 1907, 8163, 1633, 9796)
    assert _taxes(invoice) == [("vat20", 8163, 1633)]
    applied = lago.applied_coupons.find_all({"external_customer_id": "cust"})["applied_coupons"]
    assert sorted((a.coupon_code, a.status) for a in applied) == [("ten", "terminated"), ("tenpc", "terminated")]


def test_percentage_applied_first_takes_its_share_of_the_whole(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    _catalog(lago)
    lago.coupons.create(Coupon(name="Ten percent", code="tenpc", coupon_type="percentage", percentage_rate=10.0,
                               frequency="once", expiration="no_expiration"))
    lago.coupons.create(Coupon(name="Ten euros", code="ten", coupon_type="fixed_amount", amount_cents=1000,
                               amount_currency="EUR", frequency="once", expiration="no_expiration"))
    _subscribe(lago, "cust", calls=7)
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="cust", coupon_code="tenpc"))
    clock.set("2026-11-02T00:00:00Z")
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="cust", coupon_code="ten"))
    _bill(clock, "2026-12-01T00:30:00Z")
    (invoice,) = _invoices(lago, "cust")
    assert [(c.item.code, c.amount_cents) for c in invoice.credits.__root__] == [("tenpc", 1007), ("ten", 1000)]
    assert (invoice.coupons_amount_cents, invoice.total_amount_cents) == (2007, 8063)


def test_recurring_coupon_over_three_periods(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    _catalog(lago)
    lago.coupons.create(Coupon(name="Welcome", code="welcome", coupon_type="fixed_amount", amount_cents=500,
                               amount_currency="EUR", frequency="recurring", frequency_duration=2,
                               expiration="no_expiration"))
    _subscribe(lago, "cust")
    applied = lago.applied_coupons.create(AppliedCoupon(external_customer_id="cust", coupon_code="welcome"))
    assert (applied.frequency_duration, applied.frequency_duration_remaining) == (2, 2)
    for at in ("2026-12-01T00:30:00Z", "2027-01-01T00:30:00Z", "2027-02-01T00:30:00Z"):
        _bill(clock, at)
    invoices = _invoices(lago, "cust")
    assert [(i.coupons_amount_cents, i.taxes_amount_cents, i.total_amount_cents) for i in invoices] == [
        (500, 1900, 11400), (500, 1900, 11400), (0, 2000, 12000)]
    (applied,) = lago.applied_coupons.find_all({"external_customer_id": "cust"})["applied_coupons"]
    assert (applied.status, applied.frequency_duration_remaining) == ("terminated", 0)


def test_fixed_coupon_larger_than_the_invoice_carries_over(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    _catalog(lago)
    lago.coupons.create(Coupon(name="Big", code="big", coupon_type="fixed_amount", amount_cents=15000,
                               amount_currency="EUR", frequency="once", expiration="no_expiration"))
    _subscribe(lago, "cust")
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="cust", coupon_code="big"))
    _bill(clock, "2026-12-01T00:30:00Z")
    (applied,) = lago.applied_coupons.find_all({"external_customer_id": "cust"})["applied_coupons"]
    assert (applied.status, applied.amount_cents_remaining) == ("active", 5000)
    _bill(clock, "2027-01-01T00:30:00Z")
    _bill(clock, "2027-02-01T00:30:00Z")
    invoices = _invoices(lago, "cust")
    assert [(i.coupons_amount_cents, i.taxes_amount_cents, i.total_amount_cents, i.payment_status)
            for i in invoices] == [(10000, 0, 0, "succeeded"), (5000, 1000, 6000, "pending"),
                                   (0, 2000, 12000, "pending")]
    (applied,) = lago.applied_coupons.find_all({"external_customer_id": "cust"})["applied_coupons"]
    assert (applied.status, applied.amount_cents_remaining) == ("terminated", 0)


def test_expired_coupon_is_not_applied(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    _catalog(lago)
    lago.coupons.create(Coupon(name="Early bird", code="early", coupon_type="percentage", percentage_rate=50.0,
                               frequency="forever", expiration="time_limit",
                               expiration_at="2026-11-15T00:00:00Z"))
    _subscribe(lago, "early-cust")
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="early-cust", coupon_code="early"))
    clock.set("2026-11-20T00:00:00Z")
    _subscribe(lago, "late-cust")
    with pytest.raises(LagoApiError) as refused:
        lago.applied_coupons.create(AppliedCoupon(external_customer_id="late-cust", coupon_code="early"))
    assert refused.value.status_code == 404
    _bill(clock, "2026-12-01T00:30:00Z")
    (late,) = _invoices(lago, "late-cust")
    assert (late.coupons_amount_cents, late.total_amount_cents) == (0, 3667)  # 10000 × 11 / 30 days
    # Applied before it expired, it keeps its terms: the expiry ends redemption, not a given coupon.
    (early,) = _invoices(lago, "early-cust")
    assert (early.coupons_amount_cents, early.total_amount_cents) == (5000, 5000)


def test_terminated_applied_coupon_and_non_reusable_coupon(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    _catalog(lago)
    lago.coupons.create(Coupon(name="Once only", code="once", coupon_type="percentage", percentage_rate=10.0,
                               frequency="forever", expiration="no_expiration", reusable=False))
    _subscribe(lago, "cust")
    applied = lago.applied_coupons.create(AppliedCoupon(external_customer_id="cust", coupon_code="once"))
    with pytest.raises(LagoApiError) as refused:
        lago.applied_coupons.create(AppliedCoupon(external_customer_id="cust", coupon_code="once"))
    assert refused.value.status_code == 422
    ended = lago.applied_coupons.destroy("cust", applied.lago_id)
    assert ended.status == "terminated"
    _bill(clock, "2026-12-01T00:30:00Z")
    (invoice,) = _invoices(lago, "cust")
    assert (invoice.coupons_amount_cents, invoice.total_amount_cents) == (0, 10000)


def test_coupon_limited_to_a_metric_covers_only_its_fees(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    _catalog(lago)
    lago.coupons.create(Coupon(name="Calls", code="calls-off", coupon_type="fixed_amount", amount_cents=5000,
                               amount_currency="EUR", frequency="once", expiration="no_expiration",
                               applies_to={"billable_metric_codes": ["calls"]}))
    coupon = lago.coupons.find("calls-off")
    assert (coupon.limited_billable_metrics, coupon.billable_metric_codes) == (True, ["calls"])
    _subscribe(lago, "cust", calls=7)
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="cust", coupon_code="calls-off"))
    _bill(clock, "2026-12-01T00:30:00Z")
    (invoice,) = _invoices(lago, "cust")
    # Only the usage fee (70) is covered; 4930 stays for later invoices.
    assert (invoice.coupons_amount_cents, invoice.taxes_amount_cents, invoice.total_amount_cents) == (70, 2000, 12000)
    (applied,) = lago.applied_coupons.find_all({"external_customer_id": "cust"})["applied_coupons"]
    assert applied.amount_cents_remaining == 4930
