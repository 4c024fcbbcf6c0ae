"""The total a one-off invoice would bill, before taxes, read before issuing it: the admin's confirmation names it.
Exact (each line rounded once, as the invoice rounds it), refused as the invoice would be, and nothing written."""

from __future__ import annotations

import pytest

from billing.catalog.add_ons import create_add_on
from billing.catalog.taxes import create_tax
from billing.customers.services import get_customer, upsert_customer
from billing.errors import NotFound, ValidationFailed
from billing.invoicing.one_off import create_one_off_invoice, quote_one_off_invoice
from billing.invoicing.queries import list_invoices


def _request(**extra: object) -> dict[str, object]:
    return {"external_customer_id": "alice", "fees": [
        {"add_on_code": "hour", "units": "0.333"},  # 120.00 × 0.333 = 39.96
        {"add_on_code": "setup", "unit_amount_cents": 1005, "units": "1.5"},  # 15.075: 15.08, half up
    ], **extra}


def test_the_quote_is_the_invoices_total_before_taxes_and_writes_nothing(org):
    create_tax(organization_id=org.id, data={"name": "VAT", "code": "vat20", "rate": "20"})
    upsert_customer(organization_id=org.id, data={"external_id": "alice", "tax_codes": ["vat20"]})
    create_add_on(organization_id=org.id, data={"name": "Hour", "code": "hour", "amount_cents": 12000,
                                                "amount_currency": "EUR"})
    create_add_on(organization_id=org.id, data={"name": "Setup", "code": "setup", "amount_cents": 5000,
                                                "amount_currency": "EUR"})

    quote = quote_one_off_invoice(organization_id=org.id, data=_request(currency="EUR"))
    assert (quote.currency, quote.subtotal_cents) == ("EUR", 3996 + 1508)
    assert list_invoices(organization_id=org.id).total_count == 0
    assert get_customer(organization_id=org.id, external_id="alice").currency is None  # not given one yet

    invoice = create_one_off_invoice(organization_id=org.id, data=_request(currency="EUR"))
    assert invoice.sub_total_excluding_taxes_amount_cents == quote.subtotal_cents
    assert invoice.taxes_amount_cents == 1101  # 20 % of 55.04, which the question leaves out


def test_the_quote_refuses_what_issuing_refuses(org):
    upsert_customer(organization_id=org.id, data={"external_id": "alice", "currency": "USD"})
    create_add_on(organization_id=org.id, data={"name": "Hour", "code": "hour", "amount_cents": 12000,
                                                "amount_currency": "EUR"})
    with pytest.raises(NotFound):
        quote_one_off_invoice(organization_id=org.id, data={"external_customer_id": "alice", "fees": []})
    with pytest.raises(NotFound):
        quote_one_off_invoice(organization_id=org.id, data=_request())  # "setup" does not exist
    with pytest.raises(ValidationFailed) as refused:
        quote_one_off_invoice(organization_id=org.id, data={
            "external_customer_id": "alice", "currency": "EUR", "fees": [{"add_on_code": "hour"}]})
    assert refused.value.details == {"currency": ["currencies_does_not_match"]}
    with pytest.raises(ValidationFailed) as refused:
        quote_one_off_invoice(organization_id=org.id, data={
            "external_customer_id": "alice", "fees": [{"add_on_code": "hour", "units": "1" + "0" * 20}]})
    assert refused.value.details == {"fees.0": {"units": ["value_is_out_of_range"]}}
