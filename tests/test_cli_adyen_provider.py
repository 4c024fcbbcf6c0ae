"""`flask --app wsgi payment-provider add adyen`, as an operator runs it: the API key and HMAC key sealed and never
printed, the notification URL printed, bad input a message and exit status 2."""

from __future__ import annotations

import json

from sqlalchemy import select

from billing.db import read_only
from billing.payments import providers
from billing.payments.models import PaymentProviderAccount
from tests.test_cli_payment_providers import flask_cli  # noqa: F401 (the fixture)

API_KEY = "AQEyhmfxL4_cli_test_key_9Zk2"  # noqa: S105 (a test key)
HMAC = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"


def test_add_adyen_seals_its_keys_and_prints_the_notification_url(org, flask_cli):  # noqa: F811
    added = flask_cli("add", "adyen", "--organization", "Acme Cloud", "--code", "adyen_eu", "--api-key", API_KEY,
                      "--merchant-account", "AcmeECOM", "--hmac-key", HMAC, "--api-base", "http://127.0.0.1:8421")
    output = added.stdout + added.stderr
    assert added.returncode == 0, output
    assert API_KEY not in output and HMAC not in output
    assert "merchant_account=AcmeECOM" in added.stdout and "[accepted]" not in added.stdout
    assert added.stdout.rstrip().splitlines()[-1] == \
        f"https://billing.example.com/webhooks/adyen/{org.id}?code=adyen_eu"
    with read_only() as session:
        row = session.scalar(select(PaymentProviderAccount).where(PaymentProviderAccount.code == "adyen_eu"))
        assert (row.kind, row.name) == ("adyen", "Adyen")
        assert API_KEY not in row.sealed_settings and API_KEY not in json.dumps(row.visible_settings)
        assert providers.provider_settings(session, org.id, "adyen_eu") == ("adyen", {
            "api_key": API_KEY, "merchant_account": "AcmeECOM", "hmac_key": HMAC, "api_base": "http://127.0.0.1:8421"})


def test_add_adyen_refuses_bad_input_without_a_traceback(org, flask_cli):  # noqa: F811
    missing = flask_cli("add", "adyen", "--organization", "Acme Cloud", "--code", "a", "--api-key", API_KEY)
    assert missing.returncode == 2 and "--merchant-account" in missing.stderr and "--hmac-key" in missing.stderr
    not_hex = flask_cli("add", "adyen", "--organization", "Acme Cloud", "--code", "a", "--api-key", API_KEY,
                        "--merchant-account", "AcmeECOM", "--hmac-key", "not-hex")
    assert not_hex.returncode == 2 and "--hmac-key is not valid" in not_hex.stderr
    assert "not-hex" not in not_hex.stderr and "Traceback" not in not_hex.stderr
    mixed = flask_cli("add", "adyen", "--organization", "Acme Cloud", "--code", "a", "--api-key", API_KEY,
                      "--merchant-account", "AcmeECOM", "--hmac-key", HMAC, "--secret-key", "sk_test_x")
    assert mixed.returncode == 2 and "--secret-key: not an option of adyen" in mixed.stderr
