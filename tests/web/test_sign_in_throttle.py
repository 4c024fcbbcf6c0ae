"""Admin sign-in throttling (web.throttle): per account and per client address, checked before any
password hashing, answered 429 with the sign-in page and Retry-After; the API and the portal never throttled."""

from __future__ import annotations

import re

from tests.web.conftest import PASSWORD, create_catalog, sign_in
from web.extensions import limiter


def _attempt(client, email: str, password: str = "wrong password"):  # noqa: S107 (a test's wrong password)
    return sign_in(client, email, password)


def _client_from(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _is_login_redirect(response) -> bool:
    return response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_after_five_wrong_passwords_even_the_right_one_is_refused_with_429(client, account_manager):
    for _ in range(5):
        assert _attempt(client, account_manager).status_code == 401

    response = _attempt(client, account_manager, PASSWORD)

    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "Too many sign-in attempts; try again in 1 minute." in page
    assert 1 <= int(response.headers["Retry-After"]) <= 61  # the oldest attempt leaves the minute's window
    assert 'name="password"' in page  # the sign-in form is still there, with its email
    assert account_manager in page
    assert _is_login_redirect(client.get("/admin/customers"))


def test_the_account_limit_counts_attempts_from_every_address(app, account_manager):
    for number in range(5):
        client = _client_from(app, f"198.51.100.{number}")
        assert _attempt(client, account_manager).status_code == 401

    client = _client_from(app, "198.51.100.99")
    assert _attempt(client, account_manager.upper(), PASSWORD).status_code == 429  # emails are compared lowercased

    # another account, from the same address, is not held up
    assert _attempt(client, "someone-else@acme.test").status_code == 401


def test_the_address_limit_counts_attempts_at_every_account(app, account_manager):
    attacker = _client_from(app, "203.0.113.7")
    for number in range(20):
        assert _attempt(attacker, f"guess{number}@acme.test").status_code == 401

    assert _attempt(attacker, account_manager, PASSWORD).status_code == 429

    colleague = _client_from(app, "203.0.113.8")
    assert sign_in(colleague, account_manager).status_code == 302


def test_a_throttled_attempt_runs_no_scrypt(client, account_manager, scrypt_calls):
    for _ in range(5):
        _attempt(client, account_manager)
    assert len(scrypt_calls) == 5

    for _ in range(10):
        assert _attempt(client, account_manager).status_code == 429

    assert len(scrypt_calls) == 5


def test_the_api_and_the_portal_are_never_throttled(client, account_manager, org, billed_customer):
    create_catalog(org.id)
    alice = billed_customer(org.id, "alice", name="Alice")
    for _ in range(25):
        _attempt(client, account_manager)
    assert _attempt(client, account_manager).status_code == 429

    for _ in range(150):  # beyond every sign-in limit
        api = client.get("/api/v1/customers", headers={"Authorization": f"Bearer {org.api_key}"})
        assert api.status_code == 200
    assert client.get(alice.portal_path()).status_code == 200
    assert "Retry-After" not in api.headers and not any(h.startswith("X-RateLimit") for h in api.headers.keys())


def test_attempts_are_counted_in_redis_in_production_and_in_memory_when_embedded(settings, client, account_manager):
    _attempt(client, account_manager)

    storage = type(limiter.storage).__name__
    if settings.redis_url:
        from redis import Redis

        assert storage == "RedisStorage"
        assert Redis.from_url(settings.redis_url).keys("*tally-throttle*")
    else:
        assert storage == "MemoryStorage"


def test_a_sign_in_form_without_csrf_token_is_refused_before_counting(client, account_manager):
    for _ in range(8):
        assert client.post("/admin/login", data={"email": account_manager, "password": "x"}).status_code == 400

    response = sign_in(client, account_manager)

    assert response.status_code == 302
    assert re.search(r"/admin/$", response.headers["Location"])  # the home


def test_a_forged_forwarded_for_does_not_escape_the_address_limit(client, account_manager):
    for number in range(20):
        client.environ_base["HTTP_X_FORWARDED_FOR"] = f"192.0.2.{number}"
        assert _attempt(client, f"guess{number}@acme.test").status_code == 401

    assert _attempt(client, "guess-again@acme.test").status_code == 429


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(app_with, account_manager):
    behind_proxy = app_with(trusted_proxies=1)
    client = behind_proxy.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "192.0.2.1"
    for number in range(20):
        assert _attempt(client, f"guess{number}@acme.test").status_code == 401
    assert _attempt(client, "guess-again@acme.test").status_code == 429

    client.environ_base["HTTP_X_FORWARDED_FOR"] = "192.0.2.2"
    assert _attempt(client, "guess-again@acme.test").status_code == 401


def test_with_redis_unreachable_sign_in_works_and_is_still_throttled_in_memory(app_with, account_manager):
    redis_down = app_with(redis_url="redis://127.0.0.1:9/0")  # nothing listens on port 9

    assert sign_in(redis_down.test_client(), account_manager).status_code == 302
    client = redis_down.test_client()
    for _ in range(4):
        assert _attempt(client, account_manager).status_code == 401
    assert _attempt(client, account_manager).status_code == 429
