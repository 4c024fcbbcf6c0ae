"""API keys rotated and revoked from the command line stop working within API_KEY_CACHE_SECONDS, over real
HTTP; a deleted organization's remembered key answers 401; account managers deactivated from the command line."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from billing.organizations import services
from billing.organizations.services import create_admin, create_organization, organization_for_api_key
from tests.web.conftest import PASSWORD, sign_in
from web.demo import delete_organization_data

KEY = re.compile(r"tly_[A-Za-z0-9_-]{20,}")


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(args=list(args))
        if ok:
            assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
        return result

    return run


@pytest.fixture
def short_cache(monkeypatch) -> float:
    monkeypatch.setattr(services, "API_KEY_CACHE_SECONDS", 0.5)
    return 0.5


def _status(live_server: str, key: str) -> int:
    return httpx.get(f"{live_server}/api/v1/customers", headers={"Authorization": f"Bearer {key}"}).status_code


def test_rotate_prints_a_new_key_last_and_the_old_one_stops_within_the_cache_time(live_server, org, cli,
                                                                                   short_cache):
    assert _status(live_server, org.api_key) == 200  # remembered by the server now

    result = cli("api-key", "rotate", "--organization", "Acme Cloud")

    new_key = result.output.rstrip("\n").splitlines()[-1]
    assert KEY.fullmatch(new_key) and new_key != org.api_key
    assert org.api_key[:10] in result.output and "revoked" in result.output
    assert _status(live_server, new_key) == 200
    time.sleep(short_cache + 0.1)
    assert _status(live_server, org.api_key) == 401


def test_rotate_can_leave_the_old_key_working_for_a_while(live_server, org, cli):
    result = cli("api-key", "rotate", "--organization", "Acme Cloud", "--revoke-old-after", "1")
    new_key = result.output.splitlines()[-1]

    assert _status(live_server, org.api_key) == 200 and _status(live_server, new_key) == 200
    time.sleep(1.2)  # the old key was remembered until its revocation time, not for the full cache time
    assert _status(live_server, org.api_key) == 401
    assert _status(live_server, new_key) == 200


def test_rotate_refuses_an_overlap_beyond_thirty_days(org, cli):
    result = cli("api-key", "rotate", "--organization", "Acme Cloud", "--revoke-old-after", str(10**30), ok=False)

    assert result.exit_code == 2 and "--revoke-old-after" in result.output
    assert "live" in cli("api-key", "list", "--organization", "Acme Cloud").output  # nothing rotated


def test_rotate_keep_old_and_list(live_server, org, cli):
    new_key = cli("api-key", "rotate", "--organization", "Acme Cloud", "--keep-old").output.splitlines()[-1]

    assert _status(live_server, org.api_key) == 200 and _status(live_server, new_key) == 200
    listing = cli("api-key", "list", "--organization", "Acme Cloud").output
    lines = listing.strip().splitlines()
    assert len(lines) == 2 and all(line.endswith("live") for line in lines)
    assert lines[0].startswith(org.api_key[:10]) and lines[1].startswith(new_key[:10])
    assert org.api_key not in listing and new_key not in listing  # prefixes only, never the secrets


def test_revoke_by_prefix_or_id_within_the_organization_only(live_server, org, cli, short_cache):
    other = create_organization(name="Globex")
    assert _status(live_server, org.api_key) == 200

    refused = cli("api-key", "revoke", other.api_key[:10], "--organization", "Acme Cloud", ok=False)
    assert refused.exit_code != 0 and "no API key" in refused.output
    cli("api-key", "revoke", org.api_key[:10], "--organization", "Acme Cloud")

    time.sleep(short_cache + 0.1)
    assert _status(live_server, org.api_key) == 401
    assert _status(live_server, other.api_key) == 200
    assert "revoked" in cli("api-key", "list", "--organization", "Acme Cloud").output

    [key_id] = re.findall(r"\s([0-9a-f-]{36})\s", cli("api-key", "list", "--organization", "Globex").output)
    cli("api-key", "revoke", key_id, "--organization", "Globex")
    time.sleep(short_cache + 0.1)
    assert _status(live_server, other.api_key) == 401


def test_an_unknown_organization_is_a_usage_error(cli):
    result = cli("api-key", "list", "--organization", "Nobody Inc", ok=False)

    assert result.exit_code == 2 and "no such organization" in result.output


def test_a_deleted_organizations_remembered_key_answers_401_never_500(live_server, org):
    headers = {"Authorization": f"Bearer {org.api_key}"}
    assert httpx.get(f"{live_server}/api/v1/customers", headers=headers).status_code == 200
    assert organization_for_api_key(org.api_key) == org.id  # remembered by this process

    delete_organization_data(org.id)

    writes = [
        ("/api/v1/customers", {"customer": {"external_id": "c1", "name": "C"}}),
        ("/api/v1/billable_metrics", {"billable_metric": {"name": "M", "code": "m", "aggregation_type": "count_agg"}}),
        ("/api/v1/taxes", {"tax": {"name": "VAT", "code": "vat", "rate": "20"}}),
        ("/api/v1/events", {"event": {"transaction_id": "t1", "external_subscription_id": "s1", "code": "m"}}),
    ]
    for path, body in writes:
        response = httpx.post(f"{live_server}{path}", headers=headers, json=body)
        assert response.status_code == 401, (path, response.text)
        assert response.json() == {"status": 401, "error": "Unauthorized"}
    assert httpx.get(f"{live_server}/api/v1/customers", headers=headers).status_code == 401


def test_deactivate_and_activate_an_account_manager(app, org, cli):
    create_admin(email="ops@acme.test", password=PASSWORD, organization_id=org.id)
    client = app.test_client()
    assert sign_in(client, "ops@acme.test").status_code == 302

    assert "deactivated" in cli("admin", "deactivate", "Ops@Acme.test").output

    assert client.get("/admin/customers").status_code == 302  # the session ended
    assert sign_in(app.test_client(), "ops@acme.test").status_code == 401
    cli("admin", "activate", "ops@acme.test")
    assert sign_in(app.test_client(), "ops@acme.test").status_code == 302

    unknown = cli("admin", "deactivate", "nobody@acme.test", ok=False)
    assert unknown.exit_code == 1 and "no account manager nobody@acme.test" in unknown.output


def test_set_password_ends_sessions(app, org, cli):
    create_admin(email="ops@acme.test", password=PASSWORD, organization_id=org.id)
    client = app.test_client()
    sign_in(client, "ops@acme.test")

    cli("admin", "set-password", "ops@acme.test", "--password", "another long passphrase")

    assert client.get("/admin/customers").status_code == 302
    assert sign_in(app.test_client(), "ops@acme.test", "another long passphrase").status_code == 302
    short = cli("admin", "set-password", "ops@acme.test", "--password", "short", ok=False)
    assert short.exit_code == 1 and "too_short" in short.output
