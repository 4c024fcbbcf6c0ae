"""`flask --app wsgi payment-provider add gocardless`, as an operator runs it: the access token and webhook secret
sealed and never printed, the webhook URL printed, bad input a message and exit status 2."""

from __future__ import annotations

from sqlalchemy import select

from billing.db import read_only
from billing.payments import providers
from billing.payments.models import PaymentProviderAccount
from tests.test_cli_payment_providers import flask_cli  # noqa: F401 (the fixture)

TOKEN = "sandbox_cli_test_token_Zk2q"  # noqa: S105 (a test token)
SECRET = "whsec_gc_cli_test_Yy7"  # noqa: S105 (a test secret)


def test_add_gocardless_seals_its_secrets_and_prints_the_webhook_url(org, flask_cli):  # noqa: F811
    added = flask_cli("add", "gocardless", "--organization", "Acme Cloud", "--code", "gc_eu", "--access-token", TOKEN,
                      "--webhook-secret", SECRET, "--environment", "sandbox", "--api-base", "http://127.0.0.1:8422")
    output = added.stdout + added.stderr
    assert added.returncode == 0, output
    assert TOKEN not in output and SECRET not in output
    assert "environment=sandbox" in added.stdout and "GoCardless" in added.stdout
    assert added.stdout.rstrip().splitlines()[-1] == \
        f"https://billing.example.com/webhooks/gocardless/{org.id}?code=gc_eu"
    with read_only() as session:
        row = session.scalar(select(PaymentProviderAccount).where(PaymentProviderAccount.code == "gc_eu"))
        assert (row.kind, row.name) == ("gocardless", "GoCardless") and TOKEN not in row.sealed_settings
        assert providers.provider_settings(session, org.id, "gc_eu") == ("gocardless", {
            "access_token": TOKEN, "webhook_secret": SECRET, "environment": "sandbox",
            "api_base": "http://127.0.0.1:8422"})


def test_add_gocardless_refuses_bad_input_without_a_traceback(org, flask_cli):  # noqa: F811
    missing = flask_cli("add", "gocardless", "--organization", "Acme Cloud", "--code", "g", "--access-token", TOKEN)
    assert missing.returncode == 2 and "--webhook-secret" in missing.stderr
    wrong = flask_cli("add", "gocardless", "--organization", "Acme Cloud", "--code", "g", "--access-token", TOKEN,
                      "--webhook-secret", SECRET, "--environment", "staging")
    assert wrong.returncode == 2 and "staging" in wrong.stderr and "Traceback" not in wrong.stderr
    mixed = flask_cli("add", "gocardless", "--organization", "Acme Cloud", "--code", "g", "--access-token", TOKEN,
                      "--webhook-secret", SECRET, "--hmac-key", "00")
    assert mixed.returncode == 2 and "--hmac-key: not an option of gocardless" in mixed.stderr
    assert TOKEN not in mixed.stderr + mixed.stdout
