"""Each field of Lago's `plan_overrides` that Tally honours reaches the subscription's own plan (issue 20)."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from billing.db import read_only
from billing.subscriptions.models import Subscription
from tests.api.honour_world import World


def test_plan_overrides_reach_the_subscriptions_own_plan(live_server, org, clock):
    import httpx

    world = World(httpx.Client(base_url=f"{live_server}/api/v1", timeout=30,
                               headers={"Authorization": f"Bearer {org.api_key}"})).build()
    overrides = {"amount_cents": 4200, "name": "Basic, ours", "invoice_display_name": "Ours", "description": "Ours.",
                 "trial_period": 3, "tax_codes": ["vat"], "minimum_commitment": {"amount_cents": 9000},
                 "charges": [{"id": world.ids["charge"], "min_amount_cents": 700, "invoice_display_name": "GB",
                              "tax_codes": ["vat"], "properties": {"amount": "0.5"},
                              "filters": [{"values": {"region": ["eu"]}, "invoice_display_name": "EU",
                                           "properties": {"amount": "2"}}]}]}
    for method, url, external_id in (("POST", "/subscriptions", "made"), ("PUT", "/subscriptions/made", "made")):
        body = {"subscription": {"external_customer_id": "cust", "plan_code": "basic", "external_id": external_id,
                                 "plan_overrides": overrides}}
        if method == "PUT":
            body = {"subscription": {"plan_overrides": {**overrides, "amount_cents": 4300}}}
        response = world.client.request(method, url, json=body)
        assert response.status_code == 200, response.text
    with read_only() as session:
        subscription = session.scalars(sa.select(Subscription).where(Subscription.external_id == "made")).one()
        plan = subscription.plan
        assert plan.parent_id is not None and plan.code == "basic"
        assert (plan.amount_cents, plan.name, plan.invoice_display_name, plan.description) == (
            4300, "Basic, ours", "Ours", "Ours.")
        assert (plan.trial_period, [t.code for t in plan.taxes], plan.minimum_commitment_cents) == (
            Decimal(3), ["vat"], 9000)
        [charge] = plan.charges
        assert (charge.min_amount_cents, charge.invoice_display_name, [t.code for t in charge.taxes]) == (
            700, "GB", ["vat"])
        assert charge.properties == {"amount": "0.5"}
        [charge_filter] = charge.filters
        assert charge_filter.properties == {"amount": "2"} and charge_filter.invoice_display_name == "EU"
