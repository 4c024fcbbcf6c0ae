"""`flask seed-demo` and the demo's local test Stripe: connected when localstripe answers, said so when not."""

from __future__ import annotations

import re
import time

import pytest

from tests.servers import stripe as localstripe_server
from tests.test_cli import Cli


@pytest.fixture
def cli(tmp_path) -> Cli:
    cli = Cli(tmp_path)
    cli("db", "upgrade")
    return cli


def test_the_demo_is_connected_to_the_local_stripe(cli: Cli, localstripe: str):
    cli.env.update(TALLY_DEMO_STRIPE=localstripe, TALLY_BASE_URL="http://127.0.0.1:5999")
    try:
        result = cli("seed-demo")
        assert re.search(rf"^Stripe: local test Stripe at {re.escape(localstripe)} \(code stripe_test\): add the card "
                         r"4242 4242 4242 4242", result.stdout, re.M), result.stdout
        org = "(SELECT id FROM organizations WHERE name = 'Demo SaaS Inc.')"
        assert cli.count(f"SELECT count(*) FROM payment_providers WHERE organization_id = {org} "
                         "AND kind = 'stripe' AND code = 'stripe_test'") == 1
        customers = cli.count(f"SELECT count(*) FROM customers WHERE organization_id = {org}")
        linked = cli.count(f"SELECT count(*) FROM customers WHERE organization_id = {org} AND payment_provider = "
                           "'stripe' AND payment_provider_code = 'stripe_test' AND payment_provider_customer_id LIKE "
                           "'cus_%'")
        assert customers >= 4 and linked == customers
        stored = localstripe_server.get(localstripe, "/v1/customers", {"limit": "100"}, key="sk_test_tally_demo")
        assert {c["metadata"].get("external_customer_id") for c in stored["data"]} >= {"northwind", "lumen"}

        again = cli("seed-demo")  # on every seed (localstripe forgets its webhooks when restarted): no duplicate
        assert "Stripe: local test Stripe" in again.stdout
        assert cli.count(f"SELECT count(*) FROM customers WHERE organization_id = {org} AND "
                         "payment_provider_customer_id LIKE 'cus_%'") == customers
        reset = cli("seed-demo", "--reset")  # the organization's providers go with it, and come back
        assert "Stripe: local test Stripe" in reset.stdout
        assert cli.count("SELECT count(*) FROM payment_providers") == 1
    finally:
        localstripe_server.register_webhook(localstripe, "http://127.0.0.1:9/", "whsec_tally_demo_webhooks",
                                            webhook_id="tally-demo", events=["tally.never"])


def test_the_seed_goes_on_without_a_local_stripe(cli: Cli):
    cli.env.update(TALLY_DEMO_STRIPE="http://127.0.0.1:9")
    started = time.monotonic()
    result = cli("seed-demo")
    assert re.search(r"^Stripe: no local Stripe answers at http://127\.0\.0\.1:9: card payments are off",
                     result.stdout, re.M), result.stdout
    assert "Traceback" not in result.stderr and time.monotonic() - started < 110
    assert cli.count("SELECT count(*) FROM payment_providers") == 0
    assert cli.count("SELECT count(*) FROM invoices WHERE status = 'finalized'") >= 4


def test_off_means_no_stripe(cli: Cli):
    result = cli("seed-demo")  # Cli sets TALLY_DEMO_STRIPE=off
    assert "Stripe:" not in result.stdout
    assert cli.count("SELECT count(*) FROM payment_providers") == 0
