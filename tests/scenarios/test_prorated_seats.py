"""Prorated seats, end to end through the official lago-python-client (docs/billing.md, "Prorated charges").

Worked example (every amount to the cent). Customer in Asia/Kolkata (UTC+05:30: its midnights fall in
the middle of UTC hours, so the hourly rollups straddle two local days there). Plan "Team": monthly,
calendar, EUR 10.00 in arrears; seats (unique_count_agg on `seat_id`, recurring) at EUR 30.00 per seat,
`prorated: true`. Subscribed 2026-10-01 00:00 local (2026-09-30T18:30:00Z). October: 31 days.

- ann added Oct 1 10:00 local, kept: Oct 1..31 = 31 days.
- bob added Oct 10 23:50 local (18:20Z, the hour cut by midnight), removed Oct 25: Oct 10..25 = 16 days.
- cy added Oct 11 00:10 local (18:40Z, the same UTC hour), removed Oct 20: Oct 11..20 = 10 days.
- October: 57 seat-days / 31 = 1.838709… → 1.83871 (rounded up at 5 decimals) × 30 = 55.1613 → 5516;
  with the fee: 1000 + 5516 = 6516. Unprorated it would be 3 seats × 30 = 90.00.
- Current usage on Oct 15 (a projection to the period's end): units "3" (the full units, as Lago
  shows), ann 31 + bob 22 + cy 21 = 74 days / 31 = 2.38710 × 30 = 71.613 → 7161.
- November (30 days): ann every day → exactly 1 seat → 3000; 1000 + 3000 = 4000.
"""

from __future__ import annotations

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import BillableMetric, Charge, Customer, Event, Plan, Subscription

from billing.clock import run_billing_clock
from billing.metering.rollups import roll_up_events

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


def _seat(lago, tx: str, seat: str, at: str, operation: str = "add") -> None:
    properties = {"seat_id": seat}
    if operation == "remove":
        properties["operation_type"] = "remove"
    lago.events.create(Event(transaction_id=tx, external_subscription_id="team_1", code="seats", timestamp=at,
                             properties=properties))


def test_prorated_seats_are_billed_for_the_days_they_are_held(lago, clock, app):
    clock.set("2026-09-30T18:30:00Z")
    lago.customers.create(Customer(external_id="acme_in", currency="EUR", timezone="Asia/Kolkata"))
    seats = lago.billable_metrics.create(BillableMetric(name="Seats", code="seats", aggregation_type="unique_count_agg",
                                                        field_name="seat_id", recurring=True))
    plan = lago.plans.create(Plan(
        name="Team", code="team", interval="monthly", amount_cents=1000, amount_currency="EUR", pay_in_advance=False,
        charges=[Charge(billable_metric_id=seats.lago_id, charge_model="standard", prorated=True,
                        properties={"amount": "30"})]))
    assert plan.charges.__root__[0].prorated is True
    lago.subscriptions.create(Subscription(external_customer_id="acme_in", plan_code="team", external_id="team_1",
                                           billing_time="calendar"))

    _seat(lago, "ann+", "ann", "2026-10-01T04:30:00Z")
    _seat(lago, "bob+", "bob", "2026-10-10T18:20:00Z")
    _seat(lago, "cy+", "cy", "2026-10-10T18:40:00Z")
    roll_up_events()  # the three additions now come from the hourly rollups (bob and cy: a split hour)

    clock.set("2026-10-15T12:00:00Z")
    usage = lago.customers.current_usage("acme_in", "team_1")
    charge = usage.charges_usage[0]
    assert charge.units == "3" and charge.amount_cents == 7161 and usage.amount_cents == 7161

    _seat(lago, "cy-", "cy", "2026-10-20T06:00:00Z", "remove")
    _seat(lago, "bob-", "bob", "2026-10-25T06:30:00Z", "remove")

    clock.set("2026-12-01T00:00:00Z")
    run_billing_clock(fan_out=False)
    invoices = sorted(lago.invoices.find_all({"external_customer_id": "acme_in"})["invoices"],
                      key=lambda i: i.fees.__root__[0].from_date)  # both issued on the late run
    assert len(invoices) == 2
    october, november = invoices
    fees = {f.item.code: f for f in october.fees.__root__}
    assert fees["seats"].amount_cents == 5516
    assert fees["seats"].units == "1.83871" and fees["seats"].total_aggregated_units == "3"
    assert fees["team"].amount_cents == 1000
    assert october.fees_amount_cents == 6516 and october.total_amount_cents == 6516
    fees = {f.item.code: f for f in november.fees.__root__}
    assert fees["seats"].amount_cents == 3000 and fees["seats"].units == "1"
    assert november.total_amount_cents == 4000


def test_prorated_needs_a_recurring_metric_and_an_allowed_model(lago, clock):
    metered = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    weighted = lago.billable_metrics.create(BillableMetric(name="GB", code="gb", aggregation_type="weighted_sum_agg",
                                                           field_name="gb", recurring=True))
    seats = lago.billable_metrics.create(BillableMetric(name="Seats", code="seats", aggregation_type="unique_count_agg",
                                                        field_name="seat_id", recurring=True))
    refusals = [(metered, "standard", {"amount": "1"}), (weighted, "standard", {"amount": "1"}),
                (seats, "package", {"amount": "1", "package_size": 10, "free_units": 0}),
                (seats, "percentage", {"rate": "1"})]
    for index, (metric, model, properties) in enumerate(refusals):
        with pytest.raises(LagoApiError) as refused:
            lago.plans.create(Plan(name="P", code=f"p{index}", interval="monthly", amount_cents=0,
                                   amount_currency="EUR", charges=[Charge(
                                       billable_metric_id=metric.lago_id, charge_model=model, prorated=True,
                                       properties=properties)]))
        assert refused.value.status_code == 422
        assert refused.value.response["error_details"] == {
            "charges.0": {"prorated": ["invalid_billable_metric_or_charge_model"]}}, (metric.code, model)
    for index, model in enumerate(["standard", "graduated", "volume"]):
        ranges = [{"from_value": 0, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"}]
        properties = {"standard": {"amount": "1"}, "graduated": {"graduated_ranges": ranges},
                      "volume": {"volume_ranges": ranges}}[model]
        plan = lago.plans.create(Plan(name="P", code=f"ok{index}", interval="monthly", amount_cents=0,
                                      amount_currency="EUR", charges=[Charge(
                                          billable_metric_id=seats.lago_id, charge_model=model, prorated=True,
                                          properties=properties)]))
        assert plan.charges.__root__[0].prorated is True
