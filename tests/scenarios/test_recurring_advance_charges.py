"""Pay-in-advance charges on recurring metrics (seats): prorated fees per event, renewals in full.

Lago's own scenarios, replayed through lago-python-client (docs/billing.md, Pay-in-advance charges):
- "Recurring Non Invoiceable Fees": EUR 30 seats, prorated, subscription 5 June 2026 (calendar months);
  a seat added on each of 11–15 June bills 20/30, 19/30 ... 16/30 of 30.00 = 20.00, 19.00, 18.00, 17.00,
  16.00; on 1 July the 5 seats renew in full, 150.00; two seats added 12 July bill 20/31 of 30.00 each
  (ceil(20/31, 5 decimals) = 0.64517 × 30 = 19.3551 → 19.36); on 1 August 7 seats renew, 210.00.
- "Recurring Pay In Advance Charges": a seat at 12.00, not prorated: 12.00 when added, 12.00 again on
  the next period's first day.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import BillableMetric, Charge, Customer, Event, Plan, Subscription

from billing.clock import run_billing_clock

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


def _setup(lago, clock, *, start: str, invoiceable: bool, prorated: bool, amount: str = "30",
           ending_at: str | None = None) -> None:
    clock.set(start)
    seats = lago.billable_metrics.create(BillableMetric(
        name="Seats", code="seats", aggregation_type="unique_count_agg", field_name="user", recurring=True))
    lago.plans.create(Plan(name="Team", code="team", interval="monthly", amount_cents=4999, amount_currency="EUR",
                           pay_in_advance=True, charges=[Charge(
                               billable_metric_id=seats.lago_id, charge_model="standard", pay_in_advance=True,
                               invoiceable=invoiceable, prorated=prorated, properties={"amount": amount})]))
    lago.customers.create(Customer(external_id="cust", currency="EUR", timezone="UTC"))
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="team", external_id="sub",
                                           ending_at=ending_at))


def _seat(lago, user: str, at: str, operation: str | None = None) -> None:
    properties = {"user": user, **({"operation_type": operation} if operation else {})}
    lago.events.create(Event(transaction_id=f"{user}-{at}-{operation}", external_subscription_id="sub", code="seats",
                             timestamp=datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp(),
                             properties=properties))


def _charge_fees(lago):
    """(from, amount, on an invoice?) of the seats fees, oldest first."""
    fees = lago.fees.find_all({"external_customer_id": "cust", "per_page": 100})["fees"]
    return sorted(((f.from_date[:10], f.amount_cents, f.lago_invoice_id is not None, f.created_at, f.lago_id)
                   for f in fees if f.item.code == "seats"), key=lambda f: (f[3], f[0], f[4]))


def _bill(clock, run_jobs, at: str) -> None:
    clock.set(at)
    run_billing_clock(fan_out=False)
    run_jobs()


def test_prorated_seats_without_invoice_then_renewed_in_full(lago, clock, run_jobs):
    _setup(lago, clock, start="2026-06-05T12:12:00Z", invoiceable=False, prorated=True)
    run_jobs()
    for day in range(11, 16):
        clock.set(f"2026-06-{day}T10:00:00Z")
        _seat(lago, f"user_{day}", f"2026-06-{day}T10:00:00")
        run_jobs()
    assert [(f[0], f[1], f[2]) for f in _charge_fees(lago)] == [
        ("2026-06-05", 2000, False), ("2026-06-05", 1900, False), ("2026-06-05", 1800, False),
        ("2026-06-05", 1700, False), ("2026-06-05", 1600, False)]
    fee = lago.fees.find(_charge_fees(lago)[0][4])
    assert (fee.units, fee.amount_details["prorated_units"], fee.amount_details["days_left"]) in (
        ("1", "0.66667", 20), ("1.0", "0.66667", 20))

    _bill(clock, run_jobs, "2026-07-01T00:10:00Z")
    renewal = _charge_fees(lago)[5:]
    assert [(f[0], f[1], f[2]) for f in renewal] == [("2026-07-01", 15000, False)]
    assert float(lago.fees.find(renewal[0][4]).units) == 5

    clock.set("2026-07-12T01:10:00Z")
    _seat(lago, "user_july_1", "2026-07-12T01:10:00")
    _seat(lago, "user_july_2", "2026-07-12T01:10:00")
    run_jobs()
    assert [(f[0], f[1]) for f in _charge_fees(lago)[6:]] == [("2026-07-01", 1936), ("2026-07-01", 1936)]

    _bill(clock, run_jobs, "2026-08-01T01:10:00Z")
    assert [(f[0], f[1], f[2]) for f in _charge_fees(lago)[8:]] == [("2026-08-01", 21000, False)]
    # A rerun of the clock renews nothing twice.
    _bill(clock, run_jobs, "2026-08-01T02:00:00Z")
    assert len(_charge_fees(lago)) == 9


def test_prorated_invoiceable_seats_renew_on_the_renewal_invoice(lago, clock, run_jobs):
    _setup(lago, clock, start="2026-06-05T12:12:00Z", invoiceable=True, prorated=True)
    run_jobs()
    for day in range(11, 16):
        clock.set(f"2026-06-{day}T10:00:00Z")
        _seat(lago, f"user_{day}", f"2026-06-{day}T10:00:00")
        run_jobs()
    invoices = lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]
    per_event = sorted(i.fees_amount_cents for i in invoices if i.issuing_date != "2026-06-05")
    assert per_event == [1600, 1700, 1800, 1900, 2000]  # one invoice per seat, prorated
    _bill(clock, run_jobs, "2026-07-01T00:10:00Z")
    (renewal,) = [i for i in lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]
                  if i.issuing_date == "2026-07-01"]
    # July's fee in advance, and the 5 seats for July in full.
    assert sorted((f.item.code, f.amount_cents, f.from_date[:10]) for f in renewal.fees.__root__) == [
        ("seats", 15000, "2026-07-01"), ("team", 4999, "2026-07-01")]
    assert renewal.fees_amount_cents == 19999


def test_a_seat_not_prorated_bills_its_full_price_again_each_period(lago, clock, run_jobs):
    _setup(lago, clock, start="2026-03-05T12:12:00Z", invoiceable=False, prorated=False, amount="12")
    run_jobs()
    clock.set("2026-03-15T10:00:00Z")
    _seat(lago, "id_1", "2026-03-15T10:00:00")
    run_jobs()
    _bill(clock, run_jobs, "2026-04-01T00:12:00Z")
    assert [(f[0], f[1], f[2]) for f in _charge_fees(lago)] == [("2026-03-05", 1200, False),
                                                               ("2026-04-01", 1200, False)]
    # A seat removed in April is not renewed in May. Another one added in April bills 12.00: both were held
    # during April, which counts 2 seats (Tally's unique count of a period), one more than renewed.
    clock.set("2026-04-20T10:00:00Z")
    _seat(lago, "id_1", "2026-04-20T10:00:00", operation="remove")
    _seat(lago, "id_2", "2026-04-20T11:00:00")
    run_jobs()
    _bill(clock, run_jobs, "2026-05-01T00:12:00Z")
    assert sorted((f[0], f[1]) for f in _charge_fees(lago)[2:]) == [("2026-04-01", 0), ("2026-04-01", 1200),
                                                                    ("2026-05-01", 1200)]


def test_no_renewal_once_terminated(lago, clock, run_jobs):
    _setup(lago, clock, start="2026-03-05T12:12:00Z", invoiceable=True, prorated=False, amount="12",
           ending_at="2026-04-01T00:00:00Z")
    run_jobs()
    clock.set("2026-03-15T10:00:00Z")
    _seat(lago, "id_1", "2026-03-15T10:00:00")
    run_jobs()
    _bill(clock, run_jobs, "2026-04-01T00:12:00Z")
    assert lago.subscriptions.find("sub").status == "terminated"
    assert [f[1] for f in _charge_fees(lago)] == [1200]


@pytest.mark.parametrize("charge", [
    {"charge_model": "graduated", "properties": {"graduated_ranges": [
        {"from_value": 0, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"}]}},
    {"charge_model": "standard", "properties": {"amount": "1"}, "metric": "count"},
])
def test_prorated_in_advance_is_standard_on_a_recurring_metric_only(lago, clock, charge):
    seats = lago.billable_metrics.create(BillableMetric(
        name="Seats", code="seats", aggregation_type="unique_count_agg", field_name="user", recurring=True))
    calls = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    charge = dict(charge)  # the parameter is shared by this test's run on each event store
    metric = calls if charge.pop("metric", None) else seats
    with pytest.raises(LagoApiError) as refused:
        lago.plans.create(Plan(name="Team", code="team", interval="monthly", amount_cents=0, amount_currency="EUR",
                               charges=[Charge(billable_metric_id=metric.lago_id, pay_in_advance=True, prorated=True,
                                               **charge)]))
    assert refused.value.status_code == 422
    assert refused.value.response["error_details"] == {
        "charges.0": {"prorated": ["invalid_billable_metric_or_charge_model"]}}
