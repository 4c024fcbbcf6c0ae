"""Admin taxes and coupons: list and create them (htmx blocks, CSRF), apply a coupon from the customer page."""

from __future__ import annotations

from billing.catalog.coupons import create_coupon, list_applied_coupons
from billing.catalog.taxes import get_tax
from billing.customers.services import upsert_customer
from tests.web.conftest import csrf_token_in

HTMX = {"HX-Request": "true"}


def test_create_a_tax_and_a_coupon(signed_in, org):
    page = signed_in.get("/admin/discounts")
    assert page.status_code == 200 and "No tax yet." in page.get_data(as_text=True)
    token = csrf_token_in(page.get_data(as_text=True))
    created = signed_in.post("/admin/discounts/taxes", headers=HTMX, data={
        "csrf_token": token, "tax-csrf_token": token, "tax-name": "VAT", "tax-code": "vat20", "tax-rate": "20",
        "tax-applied_to_organization": "y"})
    assert created.status_code == 200
    assert 'data-tax="vat20"' in created.get_data(as_text=True)
    assert '<td class="num">20 %</td>' in created.get_data(as_text=True)  # the exact rate, not a float's "20.0"
    tax = get_tax(organization_id=org.id, code="vat20")
    assert (tax.rate, tax.applied_to_organization) == (20, True)
    refused = signed_in.post("/admin/discounts/taxes", data={
        "tax-csrf_token": token, "tax-name": "VAT", "tax-code": "vat20", "tax-rate": "20"})
    assert refused.status_code == 422  # the code is taken
    coupon = signed_in.post("/admin/discounts/coupons", headers=HTMX, data={
        "coupon-csrf_token": token, "coupon-name": "Ten euros", "coupon-code": "ten",
        "coupon-coupon_type": "fixed_amount", "coupon-value": "10.50", "coupon-currency": "eur",
        "coupon-frequency": "once", "coupon-reusable": "y"})
    html = coupon.get_data(as_text=True)
    assert coupon.status_code == 200 and 'data-coupon="ten"' in html and "€10.50" in html


def test_a_form_without_csrf_token_is_refused(signed_in):
    refused = signed_in.post("/admin/discounts/taxes", data={"tax-name": "VAT", "tax-code": "v", "tax-rate": "20"})
    assert refused.status_code in (400, 422)


def test_apply_a_coupon_from_the_customer_page(signed_in, org):
    customer = upsert_customer(organization_id=org.id, data={"external_id": "alice", "name": "Alice",
                                                             "currency": "EUR"})
    create_coupon(organization_id=org.id, data={"name": "Half", "code": "half", "coupon_type": "percentage",
                                                "percentage_rate": "50", "frequency": "once",
                                                "expiration": "no_expiration"})
    page = signed_in.get(f"/admin/customers/{customer.id}")
    html = page.get_data(as_text=True)
    assert "No coupon applied." in html and 'value="half"' in html
    applied = signed_in.post(f"/admin/customers/{customer.id}/coupons", headers=HTMX,
                             data={"csrf_token": csrf_token_in(html), "coupon_code": "half"})
    assert applied.status_code == 200
    assert "data-applied-coupon=" in applied.get_data(as_text=True)
    (row,) = list_applied_coupons(organization_id=org.id, external_customer_id="alice").items
    assert (row.coupon.code, row.status) == ("half", "active")
