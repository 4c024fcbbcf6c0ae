"""The whole life of a usage-billed customer, driven only through the official lago-python-client.

Worked example (every amount checked to the cent):
- Plan "Startup": monthly, EUR 30.00 in arrears; api_calls at EUR 0.01 per call (count_agg);
  storage at EUR 0.50 per GB (sum_agg on `gb`).
- Subscribed 2026-11-10 12:00 UTC (calendar billing, customer in UTC), terminated 2026-11-20.
- 250 distinct api_calls events (plus 60 retried duplicates), storage 10 + 2.5 + 7.25 = 19.75 GB.
- Subscription fee: November has 30 days; 10th..20th inclusive = 11 days; 3000 × 11 / 30 = 1100.
- api_calls: 250 × 0.01 = 2.50 → 250.  storage: 19.75 × 0.50 = 9.875 → 988 (ROUND_HALF_UP).
- Total 1100 + 250 + 988 = 2338.
"""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    BatchEvent,
    BillableMetric,
    Charge,
    Customer,
    Event,
    Plan,
    Subscription,
)

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)

START = "2026-11-10T12:00:00Z"


def _setup_catalog(lago):
    api_calls = lago.billable_metrics.create(BillableMetric(name="API calls", code="api_calls",
                                                            aggregation_type="count_agg"))
    storage = lago.billable_metrics.create(BillableMetric(name="Storage", code="storage", aggregation_type="sum_agg",
                                                          field_name="gb"))
    plan = lago.plans.create(Plan(
        name="Startup", code="startup", interval="monthly", amount_cents=3000, amount_currency="EUR",
        pay_in_advance=False,
        charges=[
            Charge(billable_metric_id=api_calls.lago_id, charge_model="standard", properties={"amount": "0.01"}),
            Charge(billable_metric_id=storage.lago_id, charge_model="standard", properties={"amount": "0.5"}),
        ]))
    return api_calls, storage, plan


def test_customer_to_final_invoice_through_lago_client(lago, clock, live_server):
    clock.set(START)
    customer = lago.customers.create(Customer(external_id="cust_42", name="BigCustomer Inc.", currency="EUR",
                                              email="billing@bigcustomer.example", timezone="UTC"))
    assert customer.external_id == "cust_42" and customer.applicable_timezone == "UTC"

    _, _, plan = _setup_catalog(lago)
    assert plan.code == "startup" and len(plan.charges.__root__) == 2
    assert plan.charges.__root__[0].properties == {"amount": "0.01"}

    subscription = lago.subscriptions.create(Subscription(external_customer_id="cust_42", plan_code="startup",
                                                          external_id="sub_42"))
    assert subscription.status == "active"
    assert subscription.current_billing_period_started_at == "2026-11-01T00:00:00Z"
    assert subscription.current_billing_period_ending_at == "2026-11-30T23:59:59Z"

    # 250 api calls in batches of 100 (timestamps in Unix seconds, as Lago sends them) ...
    base = 1794312000  # 2026-11-10T12:00:00Z
    calls = [Event(transaction_id=f"call-{i}", external_subscription_id="sub_42", code="api_calls",
                   timestamp=base + 60 + i, properties={}) for i in range(250)]
    for offset in range(0, 250, 100):
        lago.events.batch_create(BatchEvent(events=calls[offset:offset + 100]))
    # ... then a client retries 60 of them (a timeout on its side): accepted, not counted twice.
    lago.events.batch_create(BatchEvent(events=calls[:60]))
    retried = lago.events.create(calls[0])
    assert retried.transaction_id == "call-0"

    for i, gb in enumerate(["10", "2.5", "7.25"]):
        lago.events.create(Event(transaction_id=f"storage-{i}", external_subscription_id="sub_42", code="storage",
                                 timestamp=str(base + 3600 * (i + 1)), properties={"gb": gb}))
    # An ISO timestamp works too (Tally accepts both); this duplicate id is ignored.
    lago.events.create(Event(transaction_id="storage-0", external_subscription_id="sub_42", code="storage",
                             timestamp="2026-11-12T00:00:00Z", properties={"gb": "1000"}))

    clock.set("2026-11-15T09:00:00Z")
    usage = lago.customers.current_usage("cust_42", "sub_42")
    by_code = {c.billable_metric.code: c for c in usage.charges_usage}
    assert by_code["api_calls"].units == "250" and by_code["api_calls"].events_count == 250
    assert by_code["api_calls"].amount_cents == 250
    assert by_code["storage"].units == "19.75" and by_code["storage"].amount_cents == 988
    assert usage.amount_cents == 1238 and usage.total_amount_cents == 1238 and usage.currency == "EUR"
    assert usage.from_datetime == "2026-11-10T12:00:00Z" and usage.to_datetime == "2026-11-30T23:59:59Z"

    clock.set("2026-11-20T08:00:00Z")
    terminated = lago.subscriptions.destroy("sub_42")
    assert terminated.status == "terminated" and terminated.terminated_at == "2026-11-20T08:00:00Z"

    invoices = lago.invoices.find_all({"external_customer_id": "cust_42"})["invoices"]
    assert len(invoices) == 1
    invoice = invoices[0]
    assert invoice.status == "finalized" and invoice.invoice_type == "subscription"
    assert invoice.currency == "EUR" and invoice.payment_status == "pending"
    fees = {f.item.code: f for f in invoice.fees.__root__}
    assert fees["startup"].amount_cents == 1100 and fees["startup"].item.name == "Startup"
    assert fees["api_calls"].amount_cents == 250 and fees["api_calls"].units == "250"
    assert fees["storage"].amount_cents == 988 and fees["storage"].units == "19.75"
    assert invoice.fees_amount_cents == 2338
    assert invoice.sub_total_excluding_taxes_amount_cents == 2338
    assert invoice.taxes_amount_cents == 0 and invoice.coupons_amount_cents == 0
    assert invoice.total_amount_cents == 2338 and invoice.total_due_amount_cents == 2338
    assert invoice.number.endswith("-001-001")

    # Terminating again: nothing live under that id any more.
    with pytest.raises(LagoApiError) as not_found:
        lago.subscriptions.destroy("sub_42")
    assert not_found.value.status_code == 404

    downloaded = lago.invoices.download(invoice.lago_id)
    assert downloaded.file_url and downloaded.file_url.startswith(live_server)
    pdf = httpx.get(downloaded.file_url)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True).stdout
        assert b"23.38" in text and invoice.number.encode() in text
    # A tampered file link is refused.
    assert httpx.get(downloaded.file_url.replace(".pdf", "x.pdf")).status_code == 404


def test_billing_clock_issues_each_period_once(lago, clock, app):
    from billing.clock import run_billing_clock

    clock.set("2026-10-01T00:00:00Z")
    lago.customers.create(Customer(external_id="cust_a", currency="EUR", timezone="Europe/Paris"))
    _setup_catalog(lago)
    lago.subscriptions.create(Subscription(external_customer_id="cust_a", plan_code="startup", external_id="sub_a",
                                           subscription_at="2026-10-15T10:00:00Z"))
    lago.events.create(Event(transaction_id="e1", external_subscription_id="sub_a", code="api_calls",
                             timestamp="2026-10-20T10:00:00Z", properties={}))

    clock.set("2026-12-01T05:00:00Z")
    first = run_billing_clock(fan_out=False)
    again = run_billing_clock(fan_out=False)
    assert len(first.invoices) == 2 and again.invoices == []  # October (partial) and November, once each

    invoices = sorted(lago.invoices.find_all({"external_customer_id": "cust_a"})["invoices"],
                      key=lambda i: i.number)
    assert [i.number[-3:] for i in invoices] == ["001", "002"]
    # Paris time: October 15..31 = 17 of 31 days → 3000 × 17 / 31 = 1645.16 → 1645; plus one call.
    assert invoices[0].fees_amount_cents == 1645 + 1
    assert invoices[1].fees_amount_cents == 3000


def test_api_errors_use_lagos_format(lago, live_server, org):
    with pytest.raises(LagoApiError) as missing:
        lago.customers.find("nobody")
    assert missing.value.status_code == 404
    assert missing.value.response["code"] == "customer_not_found"

    with pytest.raises(LagoApiError) as invalid:
        lago.billable_metrics.create(BillableMetric(name="Bytes", code="bytes", aggregation_type="sum_agg"))
    assert invalid.value.status_code == 422
    assert invalid.value.response["error_details"] == {"field_name": ["value_is_mandatory"]}

    headers = {"Authorization": f"Bearer {org.api_key}"}
    no_root = httpx.post(f"{live_server}/api/v1/customers", json={"external_id": "x"}, headers=headers)
    assert no_root.status_code == 400 and no_root.json()["status"] == 400

    bad_key = httpx.get(f"{live_server}/api/v1/customers", headers={"Authorization": "Bearer nope"})
    assert bad_key.status_code == 401 and bad_key.json() == {"status": 401, "error": "Unauthorized"}

    batch = httpx.post(f"{live_server}/api/v1/events/batch", headers=headers, json={"events": [
        {"transaction_id": "ok-1", "external_subscription_id": "s", "code": "c"},
        {"transaction_id": "bad", "external_subscription_id": "s", "code": "c", "timestamp": "yesterday"},
    ]})
    assert batch.status_code == 422
    assert batch.json()["error_details"] == {"1": {"timestamp": ["invalid_format"]}}
    # All or nothing: the valid event of the rejected batch was not stored.
    assert httpx.get(f"{live_server}/api/v1/events/ok-1", headers=headers).status_code == 404
