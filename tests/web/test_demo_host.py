"""The demo host product of `make run` (web/demo_host.py) against a real Tally over HTTP, and what seed-demo prepares
for it (web/demo.py `prepare_demo_host`): the origin allowed to frame the widgets, an API key of its own."""

from __future__ import annotations

import re
import stat

import pytest
from lago_python_client.models import Customer

from billing.embedding.services import embed_settings, read_embed_token, update_embed_settings
from billing.organizations.services import create_organization, list_api_keys, organization_for_api_key
from web.demo import prepare_demo_host
from web.demo_host import create_demo_host

ORIGIN = "http://localhost:5001"


@pytest.fixture
def host(org, lago, live_server):
    lago.customers.create(Customer(external_id="lumen", name="Lumen Robotics SAS"))
    return create_demo_host(tally_url=live_server, api_key=org.api_key, customer="lumen").test_client()


def test_the_dashboard_pastes_every_widget_with_a_token_and_tallys_script(host, org, live_server):
    page = host.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Acme Cloud — your account" in html and "Lumen Robotics SAS" in html
    assert f'<script src="{live_server}/static/embed.js" defer></script>' in html
    widgets = re.findall(r'<div data-tally-widget="(\w+)" data-token="([^"]+)" data-theme="(\w+)"\s+'
                         r'data-token-url="/embed-token"', html)
    assert [(w, theme) for w, _, theme in widgets] == [("usage", "auto"), ("bill", "auto"), ("wallet", "dark"),
                                                       ("invoices", "auto")]
    grant = read_embed_token(widgets[0][1])
    assert grant.organization_id == org.id and not grant.expired
    assert grant.widgets == ("usage", "bill", "wallet", "invoices")
    assert page.headers["Cache-Control"] == "no-store"


def test_its_token_endpoint_mints_a_fresh_token_for_its_customer(host, org):
    answer = host.get("/embed-token")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    grant = read_embed_token(answer.json["token"])
    assert grant.organization_id == org.id and not grant.expired
    assert answer.json["expires_at"].endswith("Z")


def test_a_token_lifetime_may_be_set(org, lago, live_server, clock):
    lago.customers.create(Customer(external_id="lumen", name="Lumen"))
    host = create_demo_host(tally_url=live_server, api_key=org.api_key, customer="lumen", expires_in=120)
    grant = read_embed_token(host.test_client().get("/embed-token").json["token"])
    assert (grant.expires_at - clock.now()).total_seconds() == 120


def test_a_tally_that_refuses_or_does_not_answer_is_said_plainly(org, live_server):
    unknown = create_demo_host(tally_url=live_server, api_key=org.api_key, customer="nobody").test_client()
    page = unknown.get("/")
    assert page.status_code == 503
    assert "Tally refused the embed token: HTTP 404" in page.get_data(as_text=True)
    assert "data-tally-widget" not in page.get_data(as_text=True)
    assert unknown.get("/embed-token").status_code == 502

    down = create_demo_host(tally_url="http://127.0.0.1:9", api_key="tly_x", customer="lumen").test_client()
    assert "Tally does not answer at http://127.0.0.1:9" in down.get("/").get_data(as_text=True)
    assert down.get("/embed-token").json["error"].startswith("Tally does not answer")


def test_the_seed_allows_the_demo_host_and_gives_it_a_key_of_its_own(app, org, tmp_path):
    update_embed_settings(organization_id=org.id, data={"frame_ancestors": ["https://app.example.com"]})
    key_file = tmp_path / "instance" / "demo_host_key"

    first = prepare_demo_host(org.id, ORIGIN, key_file)
    assert first.new_key and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert organization_for_api_key(key) == org.id
    assert organization_for_api_key(org.api_key) == org.id  # the organization's own key still works
    assert embed_settings(organization_id=org.id).frame_ancestors == ("https://app.example.com", ORIGIN)

    again = prepare_demo_host(org.id, ORIGIN, key_file)  # every `make run` seeds again: nothing changes
    assert not again.new_key and key_file.read_text().strip() == key
    assert embed_settings(organization_id=org.id).frame_ancestors == ("https://app.example.com", ORIGIN)
    assert len(list_api_keys(organization_id=org.id)) == 2


def test_a_lost_or_foreign_key_file_gets_a_new_key(app, org, tmp_path):
    key_file = tmp_path / "demo_host_key"
    other = create_organization(name="Globex")
    key_file.write_text(other.api_key)  # e.g. a key of the demo organization before a `seed-demo --reset`
    key_file.chmod(0o644)
    made = prepare_demo_host(org.id, ORIGIN, key_file)
    assert made.new_key and organization_for_api_key(key_file.read_text().strip()) == org.id
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_file.unlink()
    assert prepare_demo_host(org.id, ORIGIN, key_file).new_key


def test_with_the_installation_default_the_demo_host_is_added_to_it(app, org, tmp_path, monkeypatch):
    from billing.ports import runtime

    monkeypatch.setattr(runtime, "frame_ancestors", ("https://default.example.com",))
    prepare_demo_host(org.id, ORIGIN, tmp_path / "key")
    assert embed_settings(organization_id=org.id).own_frame_ancestors == ("https://default.example.com", ORIGIN)


def test_seed_demo_prepares_the_demo_host_unless_told_off(tmp_path):
    from tests.test_cli import Cli

    cli = Cli(tmp_path)
    cli("db", "upgrade")
    cli.env["TALLY_DEMO_HOST"] = "off"
    first = cli("seed-demo")
    assert "Demo host:" not in first.stdout and not (tmp_path / "demo_host_key").exists()

    del cli.env["TALLY_DEMO_HOST"]
    second = cli("seed-demo")
    key_file = tmp_path / "demo_host_key"
    assert f"Demo host: {ORIGIN} may frame the widgets; its API key is in {key_file} (new)" in second.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and key_file.read_text().startswith("tly_")
    assert cli.count("SELECT count(*) FROM embed_settings WHERE frame_ancestors LIKE ?", f"%{ORIGIN}%") == 1
    third = cli("seed-demo")
    assert f"its API key is in {key_file}\n" in third.stdout
