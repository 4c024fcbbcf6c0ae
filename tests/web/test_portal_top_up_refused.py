"""A top-up the portal refuses, sent without htmx (no JavaScript): the whole page again, 422, the reason
next to the amount, nothing recorded (issue 12: it answered 500, `'customer' is undefined`)."""

from __future__ import annotations

import pytest

from billing.wallets.services import create_wallet, customer_wallets
from tests.web.conftest import create_catalog, csrf_token_in


@pytest.fixture
def alice(org, billed_customer):
    create_catalog(org.id)
    customer = billed_customer(org.id, "alice", name="Alice Corp", events=3)
    create_wallet(organization_id=org.id, data={"external_customer_id": "alice", "rate_amount": "1",
                                                "granted_credits": "20", "name": "Credits"})
    return customer


def _transactions(org, alice) -> list[str]:
    [view] = customer_wallets(organization_id=org.id, customer_id=alice.id)
    return [t.transaction_status for t in view.transactions]


@pytest.mark.parametrize("credits", ["abc", "1e400", "-1e400", "1e-400", "0", "NaN", "Infinity", "9" * 40, "-3", ""])
def test_a_refused_top_up_without_htmx_shows_the_page_again_with_the_reason(client, org, alice, credits):
    page = client.get(alice.portal_path()).get_data(as_text=True)
    [view] = customer_wallets(organization_id=org.id, customer_id=alice.id)
    wallet_id = view.wallet.id
    refused = client.post(f"{alice.portal_path()}/wallets/{wallet_id}/top-up",
                          data={"csrf_token": csrf_token_in(page), "credits": credits})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422, html
    assert "<html" in html and "Alice Corp" in html and "Current usage" in html  # the whole page
    assert f'id="tx-{wallet_id}-credits-error">' in html and 'aria-invalid="true"' in html
    assert _transactions(org, alice) == ["granted"]


def test_an_accepted_top_up_without_htmx_goes_to_the_wallet_page(client, org, alice):
    page = client.get(alice.portal_path()).get_data(as_text=True)
    [view] = customer_wallets(organization_id=org.id, customer_id=alice.id)
    bought = client.post(f"{alice.portal_path()}/wallets/{view.wallet.id}/top-up",
                         data={"csrf_token": csrf_token_in(page), "credits": "5"})
    assert bought.status_code == 303 and bought.headers["Location"].endswith(f"{alice.portal_path()}/wallet?topped=1")
    assert "the credits are added once it is paid" in client.get(bought.headers["Location"]).get_data(as_text=True)
    assert sorted(_transactions(org, alice)) == ["granted", "purchased"]
