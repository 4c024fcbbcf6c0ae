"""`flask --app wsgi payment-provider add|list|remove`, as an operator runs it: a subprocess on the tests' database
(SQLite or PostgreSQL). The secret key is never printed nor stored in clear; bad input is a message and exit
status 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from billing.customers.services import upsert_customer
from billing.db import read_only, unit_of_work
from billing.payments import providers
from billing.payments.models import Payment, PaymentProviderAccount

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk_test_cli_4f9Q2kLmN8pR7sT1vW3x"  # noqa: S105 (a test key)
HOOK_SECRET = "whsec_cli_Zy8Xw7Vu6Ts5"  # noqa: S105


@pytest.fixture
def flask_cli(settings):
    def run(*args: str, secret_key: str | None = None) -> subprocess.CompletedProcess:
        env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "FLASK_APP")}
        env.update(DATABASE_URL=settings.database_url, SECRET_KEY=secret_key or settings.secret_key,
                   TALLY_BASE_URL="https://billing.example.com", TALLY_INSTANCE_PATH=str(settings.instance_path),
                   TALLY_FILES_PATH=str(settings.files_path), TALLY_EMBEDDED_CLOCK="0", PYTHONUNBUFFERED="1")
        return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "payment-provider", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)

    return run


def _account(org_id: str, code: str) -> PaymentProviderAccount:
    with read_only() as session:
        return session.scalar(select(PaymentProviderAccount).where(
            PaymentProviderAccount.organization_id == org_id, PaymentProviderAccount.code == code))


def test_add_prints_the_webhook_url_and_never_the_secret(org, flask_cli):
    added = flask_cli("add", "stripe", "--organization", "Acme Cloud", "--code", "stripe_eu", "--secret-key", SECRET,
                      "--api-base", "http://127.0.0.1:8420/", "--publishable-key", "pk_test_abc")

    output = added.stdout + added.stderr
    assert added.returncode == 0, output
    assert SECRET not in output and SECRET[:-4] not in output
    assert f"secret_key=…{SECRET[-4:]}" in added.stdout
    assert added.stdout.rstrip().splitlines()[-1] == \
        f"https://billing.example.com/webhooks/stripe/{org.id}?code=stripe_eu"
    assert "no webhook signing secret yet" in added.stdout
    row = _account(org.id, "stripe_eu")
    assert (row.kind, row.name) == ("stripe", "Stripe")
    assert SECRET not in row.sealed_settings and SECRET not in json.dumps(row.visible_settings)
    with read_only() as session:
        assert providers.provider_settings(session, org.id, "stripe_eu") == ("stripe", {
            "secret_key": SECRET, "api_base": "http://127.0.0.1:8420", "publishable_key": "pk_test_abc"})

    # Again with the same code: an update that keeps what it does not name.
    again = flask_cli("add", "stripe", "--organization", "Acme Cloud", "--code", "stripe_eu", "--secret-key", SECRET,
                      "--webhook-secret", HOOK_SECRET, "--name", "Stripe EU")
    assert again.returncode == 0 and "stripe_eu updated" in again.stdout
    assert HOOK_SECRET not in again.stdout + again.stderr and "no webhook signing secret" not in again.stdout
    with read_only() as session:
        assert providers.provider_settings(session, org.id, "stripe_eu")[1]["webhook_secret"] == HOOK_SECRET
    assert _account(org.id, "stripe_eu").name == "Stripe EU"

    listed = flask_cli("list", "--organization", "Acme Cloud")
    assert listed.returncode == 0
    assert SECRET not in listed.stdout and HOOK_SECRET not in listed.stdout
    assert listed.stdout.startswith("stripe_eu  stripe  Stripe EU  ")
    assert f"secret_key=…{SECRET[-4:]}" in listed.stdout and f"webhook_secret=…{HOOK_SECRET[-4:]}" in listed.stdout
    assert f"  webhook URL: https://billing.example.com/webhooks/stripe/{org.id}?code=stripe_eu" in listed.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("add", "stripe", "--organization", "Nobody", "--code", "x", "--secret-key", SECRET), "no such organization"),
    (("add", "paypal", "--organization", "Acme Cloud", "--code", "x", "--secret-key", SECRET), "'paypal'"),
    (("add", "stripe", "--organization", "Acme Cloud", "--code", "x"), "--secret-key"),
    (("add", "stripe", "--organization", "Acme Cloud", "--code", "bad code!", "--secret-key", SECRET),
     "--code is not valid"),
    (("add", "stripe", "--organization", "Acme Cloud", "--code", "x", "--secret-key", SECRET, "--api-base",
      "ftp://x/y"), "--api-base must be an http(s) address"),
    (("remove", "--organization", "Acme Cloud", "--code", "missing"), "no payment provider missing in Acme Cloud"),
    (("list", "--organization", "Nobody"), "no such organization"),
])
def test_bad_input_is_a_message_and_exit_status_2(org, flask_cli, args, message):
    result = flask_cli(*args)

    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and SECRET not in result.stdout + result.stderr
    with read_only() as session:
        assert session.scalar(select(PaymentProviderAccount)) is None


def test_remove_is_refused_while_a_payment_is_in_flight(org, flask_cli):
    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_eu", settings={"secret_key": SECRET})
    customer = upsert_customer(organization_id=org.id, data={"external_id": "acme", "currency": "EUR"})
    with unit_of_work() as uow:
        payment = Payment(organization_id=org.id, customer_id=customer.id,
                          payment_type="provider", provider_kind="stripe", provider_code="stripe_eu",
                          amount_cents=100, currency="EUR", status="processing")
        uow.session.add(payment)
        uow.session.flush()
        payment_id = payment.id

    refused = flask_cli("remove", "--organization", "Acme Cloud", "--code", "stripe_eu")
    assert refused.returncode == 1 and "payments in flight" in refused.stderr and "Traceback" not in refused.stderr
    assert _account(org.id, "stripe_eu") is not None

    with unit_of_work() as uow:
        uow.session.get(Payment, payment_id).status = "failed"
    removed = flask_cli("remove", "--organization", "Acme Cloud", "--code", "stripe_eu")
    assert removed.returncode == 0 and "payment provider stripe_eu removed from Acme Cloud" in removed.stdout
    assert _account(org.id, "stripe_eu") is None


def test_list_says_when_the_settings_cannot_be_read(org, flask_cli):
    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_eu", settings={"secret_key": SECRET})

    listed = flask_cli("list", "--organization", "Acme Cloud", secret_key="another-secret-key-after-rotation")

    assert listed.returncode == 0 and "SETTINGS UNREADABLE (SECRET_KEY changed)" in listed.stdout
    assert flask_cli("list", "--organization", "Acme Cloud").stdout.count("UNREADABLE") == 0
