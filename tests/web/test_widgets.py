"""The embeddable widgets over HTTP (`/embed/<token>/<widget>`): each shows its token's customer only, live, framed
by the organization's allowed origins only, with no cookie; expired, tampered and misused tokens are refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from billing.db import read_only
from billing.embedding.services import issue_embed_token, update_embed_settings
from billing.wallets.models import WalletTransaction
from billing.wallets.services import create_wallet, customer_wallets
from tests.web.conftest import create_catalog, csrf_token_in, send_events

HTMX = {"HX-Request": "true"}


@pytest.fixture
def alice(org, billed_customer):
    create_catalog(org.id)
    return billed_customer(org.id, "alice", name="Alice Corp", events=3)


@pytest.fixture
def bob(org, alice, billed_customer):
    return billed_customer(org.id, "bob", name="Bob Ltd", events=7)


def _path(token: str, widget: str, **query) -> str:
    suffix = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/embed/{token}/{widget}" + (f"?{suffix}" if suffix else "")


def _token(org_id: str, external_customer_id: str, **data) -> str:
    return issue_embed_token(organization_id=org_id, external_customer_id=external_customer_id, data=data).token


def test_usage_shows_the_customers_meters(client, org, alice, bob):
    response = client.get(_path(_token(org.id, "alice"), "usage"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert '<span class="units">3</span>' in html and '<span class="amount">€0.15</span>' in html
    assert '<span class="units">7</span>' not in html
