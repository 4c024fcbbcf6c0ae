"""Admin sessions end for real (sign-out, password change, deactivation: a replayed cookie from before
opens nothing), sign-in costs one scrypt at today's parameters whatever the email, old hashes are
upgraded, and cookies are Secure with HSTS when Tally is served over https."""

from __future__ import annotations

import re

import httpx

from billing.db import unit_of_work
from billing.organizations import passwords
from billing.organizations.models import User
from billing.organizations.services import (
    activate_user,
    authenticate_user,
    change_password,
    create_admin,
    deactivate_user,
)
from tests.web.conftest import PASSWORD, csrf_token_in, sign_in


def _browser_sign_in(live_server: str, email: str, password: str = PASSWORD) -> httpx.Client:
    browser = httpx.Client(base_url=live_server)
    token = csrf_token_in(browser.get("/admin/login").text)
    response = browser.post("/admin/login", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.text
    return browser


def _replay(live_server: str, browser: httpx.Client, cookie: str) -> httpx.Response:
    """GET /admin/customers with a copied session cookie, from the same client (same address and User-Agent)."""
    return httpx.get(f"{live_server}/admin/customers", headers={
        "Cookie": f"session={cookie}", "User-Agent": browser.headers["User-Agent"]})


def _is_login_redirect(response: httpx.Response) -> bool:
    return response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_a_cookie_copied_before_sign_out_opens_nothing_after(live_server, account_manager):
    browser = _browser_sign_in(live_server, account_manager)
    cookie = browser.cookies["session"]
    assert _replay(live_server, browser, cookie).status_code == 200

    token = csrf_token_in(browser.get("/admin/customers").text)
    assert _is_login_redirect(browser.post("/admin/logout", data={"csrf_token": token}))

    assert _is_login_redirect(_replay(live_server, browser, cookie))
    assert _is_login_redirect(browser.get("/admin/customers"))


def test_deactivating_an_account_manager_ends_their_sessions_and_refuses_their_password(live_server, app,
                                                                                          account_manager):
    browser = _browser_sign_in(live_server, account_manager)
    cookie = browser.cookies["session"]

    deactivate_user(email=account_manager)

    assert _is_login_redirect(_replay(live_server, browser, cookie))
    assert _is_login_redirect(browser.get("/admin/customers"))
    refused = sign_in(app.test_client(), account_manager)
    assert refused.status_code == 401 and "Wrong email or password." in refused.get_data(as_text=True)

    activate_user(email=account_manager)
    assert _is_login_redirect(_replay(live_server, browser, cookie))  # no session comes back
    assert sign_in(app.test_client(), account_manager).status_code == 302


def test_changing_a_password_ends_the_sessions_signed_in_with_the_old_one(live_server, app, account_manager):
    browser = _browser_sign_in(live_server, account_manager)
    cookie = browser.cookies["session"]

    change_password(email=account_manager, password="a brand new passphrase")

    assert _is_login_redirect(_replay(live_server, browser, cookie))
    assert sign_in(app.test_client(), account_manager).status_code == 401
    assert sign_in(app.test_client(), account_manager, "a brand new passphrase").status_code == 302


def test_a_session_from_before_revocable_sessions_asks_to_sign_in_again(app, client, account_manager):
    sign_in(client, account_manager)
    with client.session_transaction() as session:
        user_id = session["_user_id"].split(":")[0]
        session["_user_id"] = user_id  # as flask-login stored it before migration 0021

    assert client.get("/admin/customers").status_code == 302


def test_a_known_and_an_unknown_email_cost_one_scrypt_each_at_the_same_parameters(account_manager, scrypt_calls):
    authenticate_user(email="nobody@acme.test", password="guess")  # makes the per-process dummy hash, once
    scrypt_calls.clear()

    assert authenticate_user(email=account_manager, password="guess") is None
    assert authenticate_user(email="nobody@acme.test", password="guess") is None
    assert authenticate_user(email="nobody-else@acme.test", password="guess") is None
    deactivate_user(email=account_manager)
    assert authenticate_user(email=account_manager, password=PASSWORD) is None

    assert len(scrypt_calls) == 4
    assert len(set(scrypt_calls)) == 1  # the same N for every path


def test_a_hash_with_older_parameters_is_replaced_at_the_next_sign_in(org, scrypt_calls):
    create_admin(email="old@acme.test", password=PASSWORD, organization_id=org.id)
    with unit_of_work() as uow:
        user = uow.session.query(User).filter_by(email="old@acme.test").one()
        user.password_hash = passwords.hash_password(PASSWORD, n=2**10)  # as a former release stored it
        user_id = user.id

    assert authenticate_user(email="old@acme.test", password="wrong") is None
    with unit_of_work() as uow:
        assert uow.session.get(User, user_id).password_hash.startswith("scrypt$1024$8$1$")  # not on a failure

    assert authenticate_user(email="old@acme.test", password=PASSWORD) is not None

    with unit_of_work() as uow:
        stored = uow.session.get(User, user_id).password_hash
    assert stored.startswith(f"scrypt${passwords._cost['n']}$8$1$")
    assert passwords.check_password(stored, PASSWORD)
    assert not passwords.needs_rehash(stored)
    scrypt_calls.clear()
    assert authenticate_user(email="old@acme.test", password=PASSWORD) is not None
    assert len(scrypt_calls) == 1  # no second rehash


def test_new_hashes_use_owasps_minimum_in_production():
    from billing.settings import Settings

    assert Settings.from_env({"SECRET_KEY": "x"}).scrypt_n == 2**17
    assert passwords.OWASP_N == 2**17 and passwords.OWASP_R == 8 and passwords.OWASP_P == 1
    stored = passwords.hash_password("correct horse", n=passwords.OWASP_N)  # hashlib's default maxmem is too small

    assert stored.startswith("scrypt$131072$8$1$")
    assert passwords.check_password(stored, "correct horse")
    assert not passwords.check_password(stored, "wrong horse")


def test_a_stored_hash_asking_for_gigabytes_is_refused_without_running():
    assert not passwords.check_password("scrypt$1073741824$8$1$AAAA$AAAA", "x")


# ---------------------------------------------------------------- cookies


def _session_cookie(response) -> str:
    [cookie] = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("session=")]
    return cookie


def test_over_https_the_session_cookie_is_secure_and_hsts_is_sent(app_with, account_manager):
    client = app_with(base_url="https://billing.example.com").test_client()

    response = sign_in(client, account_manager)

    cookie = _session_cookie(response)
    assert re.search(r"; Secure", cookie) and "; HttpOnly" in cookie and "; SameSite=Lax" in cookie
    for path in ("/admin/login", "/api/v1/customers", "/health"):
        assert client.get(path).headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_over_plain_http_the_cookie_is_not_secure_and_no_hsts(app_with, account_manager):
    client = app_with(base_url="http://127.0.0.1:5000").test_client()

    response = sign_in(client, account_manager)

    cookie = _session_cookie(response)
    assert "; Secure" not in cookie and "; HttpOnly" in cookie and "; SameSite=Lax" in cookie
    assert "Strict-Transport-Security" not in client.get("/admin/login").headers
