"""`flask seed-demo` with every provider of `make run`: localstripe and the fakes of Adyen and GoCardless.

The demo connects all three, gives Atlas a card stored through Adyen's hosted page and Northwind a SEPA mandate set
up through GoCardless's hosted flow, collects one invoice of each through its provider, and gives lumen a wallet.
A second seed changes nothing; `off` leaves a provider out.
"""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.request

import pytest

from tests.fakes import adyen as fake_adyen
from tests.fakes import gocardless as fake_gocardless
from tests.servers import stripe as localstripe_server
from tests.test_cli import Cli

ORG = "(SELECT id FROM organizations WHERE name = 'Demo SaaS Inc.')"
MERCHANT = "TallyDemoECOM"
TOKEN = "sandbox_tally_demo_token"  # noqa: S105 (the demo's, web/demo.py)


@pytest.fixture
def cli(tmp_path) -> Cli:
    cli = Cli(tmp_path)
    cli("db", "upgrade")
    return cli


def _state(cli: Cli) -> dict:
    """What the seed may change, in a comparable form."""
    def rows(sql: str) -> list[tuple]:
        with sqlite3.connect(cli.database) as connection:
            return sorted(connection.execute(sql).fetchall(), key=repr)

    return {
        "providers": rows(f"SELECT code, kind FROM payment_providers WHERE organization_id = {ORG}"),
        "customers": rows(f"SELECT external_id, payment_provider, payment_provider_code, payment_provider_customer_id "
                          f"FROM customers WHERE organization_id = {ORG}"),
        "methods": rows("SELECT c.external_id, m.provider_code, m.method_type, m.provider_method_id, m.last4, "
                        "m.is_default FROM payment_methods m JOIN customers c ON c.id = m.customer_id"),
        "payments": rows("SELECT c.external_id, p.provider_code, p.provider_payment_id, p.status, p.invoice_id "
                         "FROM payments p JOIN customers c ON c.id = p.customer_id WHERE p.payment_type = 'provider'"),
        "wallets": rows("SELECT c.external_id, w.status, w.balance_cents FROM wallets w "
                        "JOIN customers c ON c.id = w.customer_id"),
        "invoices": rows("SELECT id, status, payment_status FROM invoices"),
    }


def _fake_gocardless(base_url: str, path: str) -> dict:
    request = urllib.request.Request(f"{base_url}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the local fake)
        return json.loads(response.read())


def test_the_demo_shows_every_provider_at_work(cli: Cli, localstripe: str, adyen_server: str,
                                               gocardless_server: str):
    cli.env.update(TALLY_DEMO_STRIPE=localstripe, TALLY_DEMO_ADYEN=adyen_server,
                   TALLY_DEMO_GOCARDLESS=gocardless_server, TALLY_BASE_URL="http://127.0.0.1:5999")
    try:
        result = cli("seed-demo")
        out = result.stdout
        assert re.search(r"^Stripe: local test Stripe at ", out, re.M), out
        assert re.search(rf"^Adyen: fake Adyen at {re.escape(adyen_server)} \(code adyen_demo\): Atlas Mobility S\.L\. "
                         r"pays by card \(visa •••• 1142\); invoice \S+: payment succeeded$", out, re.M), out
        assert re.search(rf"^GoCardless: fake GoCardless at {re.escape(gocardless_server)} \(code gocardless_demo\): "
                         r"Northwind Analytics GmbH pays by SEPA Direct Debit \(DEUTSCHE BANK AG •••• 00\); invoice "
                         r"\S+: payment processing; settle it with `curl -X POST '.*/_fake/payments/PM\d+/advance"
                         r"\?to=paid_out'`$", out, re.M), out

        state = _state(cli)
        assert state["providers"] == [("adyen_demo", "adyen"), ("gocardless_demo", "gocardless"),
                                      ("stripe_test", "stripe")]
        links = {c[0]: c[1:3] for c in state["customers"]}
        # Every other customer is linked to the local Stripe (those who pay by transfer too: a card may come).
        assert links == {"atlas": ("adyen", "adyen_demo"), "northwind": ("gocardless", "gocardless_demo"),
                         **{c: ("stripe", "stripe_test") for c in ("lumen", "fjord", "pixelpine", "orbit", "kestrel",
                                                                   "meridian", "quill", "tundra", "harbor")}}
        methods = {m[0]: m[1:] for m in state["methods"]}
        assert set(methods) == {"atlas", "northwind"}
        assert methods["atlas"][:2] == ("adyen_demo", "card") and methods["atlas"][3:] == ("1142", 1)
        assert methods["northwind"][:2] == ("gocardless_demo", "sepa_debit") and methods["northwind"][4] == 1
        payments = {p[0]: p[1:] for p in state["payments"]}
        assert set(payments) == {"atlas", "northwind"}
        assert payments["atlas"][0] == "adyen_demo" and payments["atlas"][2] == "succeeded"
        assert payments["northwind"][0] == "gocardless_demo" and payments["northwind"][2] == "processing"
        assert state["wallets"] == [("lumen", "active", 25_000)]
        paid = cli.count("SELECT count(*) FROM invoices WHERE id = ? AND payment_status = 'succeeded'",
                         payments["atlas"][3])
        assert paid == 1

        # At the providers: the card Adyen stored for Atlas's shopperReference, the mandate and payment GoCardless
        # holds for Northwind, each fake told Tally's webhook URL (its notifications went there).
        atlas_id = next(c[3] for c in state["customers"] if c[0] == "atlas")
        notified = fake_adyen.notifications(adyen_server, MERCHANT)
        assert {"AUTHORISATION", "RECURRING_CONTRACT"} <= {n["eventCode"] for n in notified}
        assert f'"shopperReference": "{atlas_id}"' in next(n["body"] for n in notified
                                                            if n["eventCode"] == "RECURRING_CONTRACT")
        northwind_gc = next(c[3] for c in state["customers"] if c[0] == "northwind")
        mandates = _fake_gocardless(gocardless_server, f"/mandates?customer={northwind_gc}")["mandates"]
        assert [(m["id"], m["scheme"]) for m in mandates] == [(methods["northwind"][2], "sepa_core")]
        payment = _fake_gocardless(gocardless_server, f"/payments/{payments['northwind'][1]}")["payments"]
        assert (payment["status"], payment["links"]["mandate"]) == ("pending_submission", mandates[0]["id"])
        sent = fake_gocardless.webhooks(gocardless_server, TOKEN)
        assert any("payments.created" in w["events"] for w in sent)

        again = cli("seed-demo")  # a re-run: nothing new, nothing duplicated, at Tally or at the fakes
        assert "Adyen: fake Adyen" in again.stdout and "GoCardless: fake GoCardless" in again.stdout
        assert _state(cli) == state
        assert len(fake_adyen.notifications(adyen_server, MERCHANT)) == len(notified)
        assert len(_fake_gocardless(gocardless_server, f"/mandates?customer={northwind_gc}")["mandates"]) == 1
        assert len(fake_gocardless.webhooks(gocardless_server, TOKEN)) == len(sent)
        assert [p["links"]["mandate"] for p in _fake_gocardless(gocardless_server, "/payments")["payments"]
                if p["links"]["mandate"] == mandates[0]["id"]] == [mandates[0]["id"]]
    finally:  # the fakes and localstripe outlive this test: they post nowhere after it
        fake_adyen.register_merchant(adyen_server, MERCHANT, "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2A"
                                     "CF6BA056", None)
        fake_gocardless.register_account(gocardless_server, TOKEN, "tally_demo_gocardless_webhooks", None)
        localstripe_server.register_webhook(localstripe, "http://127.0.0.1:9/", "whsec_tally_demo_webhooks",
                                            webhook_id="tally-demo", events=["tally.never"])


def test_off_leaves_the_fakes_out(cli: Cli, adyen_server: str, gocardless_server: str):
    # Cli sets TALLY_DEMO_STRIPE, TALLY_DEMO_ADYEN and TALLY_DEMO_GOCARDLESS to off.
    result = cli("seed-demo")
    assert "Adyen:" not in result.stdout and "GoCardless:" not in result.stdout
    assert cli.count("SELECT count(*) FROM payment_providers") == 0
    assert cli.count("SELECT count(*) FROM customers WHERE payment_provider IS NOT NULL") == 0
    assert cli.count("SELECT count(*) FROM payments WHERE payment_type = 'provider'") == 0
    # The customers who pay by bank transfer have (manual payments); the late payer has not.
    assert cli.count("SELECT count(*) FROM payments p JOIN customers c ON c.id = p.customer_id "
                     "WHERE p.payment_type = 'manual' AND c.external_id = 'orbit'") >= 5
    assert cli.count("SELECT count(*) FROM payments p JOIN customers c ON c.id = p.customer_id "
                     "WHERE c.external_id = 'quill'") == 0
    assert cli.count("SELECT count(*) FROM wallets w JOIN customers c ON c.id = w.customer_id "
                     "WHERE c.external_id = 'lumen' AND w.status = 'active'") == 1


def test_the_seed_goes_on_without_the_fakes(cli: Cli):
    cli.env.update(TALLY_DEMO_ADYEN="http://127.0.0.1:9", TALLY_DEMO_GOCARDLESS="http://127.0.0.1:9")
    result = cli("seed-demo")
    assert re.search(r"^Adyen: no fake Adyen answers at http://127\.0\.0\.1:9: ", result.stdout, re.M), result.stdout
    assert re.search(r"^GoCardless: no fake GoCardless answers at http://127\.0\.0\.1:9: ", result.stdout, re.M)
    assert "Traceback" not in result.stderr
    assert cli.count("SELECT count(*) FROM payment_providers") == 0
    assert cli.count("SELECT count(*) FROM invoices WHERE status = 'finalized'") >= 4
