"""The demo organization behind `flask --app wsgi seed-demo` (and `make run`).

Everything is built through the billing services, as an integration would through the API:
metrics, plans, customers, subscriptions that started about two months ago, a few thousand
deterministic events, then the ended periods are billed so that real invoices exist.

Unless TALLY_DEMO_STRIPE is "off", the demo organization is also connected to the local test Stripe that
`make run` starts (localstripe, `python -m tests.servers.stripe --port 8420`): a provider `stripe_test`,
localstripe's webhooks registered to Tally's route, the demo customers linked to Stripe customers, so that
a card (4242 4242 4242 4242) can be added in the portal and an invoice paid. Without localstripe running,
the seed says so and goes on.

Unless TALLY_DEMO_ADYEN / TALLY_DEMO_GOCARDLESS is "off", the demo organization is also connected to the fakes of
Adyen and GoCardless that `make run` starts (`python -m tests.fakes.adyen --port 8421`,
`python -m tests.fakes.gocardless --port 8422`): providers `adyen_demo` and `gocardless_demo`, each fake told Tally's
webhook URL, one customer on each (Atlas on Adyen with a card stored through Adyen's hosted page, Northwind on
GoCardless with a SEPA mandate set up through GoCardless's hosted flow, both read back with refresh_methods) and one
invoice of each collected through its provider. Again on each seed (the fakes forget everything when they restart);
what is there already is kept. A fake that does not answer is said so, and the seed goes on.

Unless TALLY_DEMO_HOST is "off", the demo organization also lets the demo host product of `make run`
(web/demo_host.py, http://localhost:5001) frame its widgets, and that product gets an API key of its own, written
to `instance/demo_host_key` (mode 0600) since Tally keeps only keys' hashes.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from billing import db
from billing.catalog.metrics import create_billable_metric, find_metric
from billing.catalog.services import create_plan, find_plan
from billing.customers.models import Customer
from billing.embedding.services import embed_settings, update_embed_settings
from billing.errors import NotAllowed, ValidationFailed
from billing.invoicing.models import Invoice
from billing.invoicing.runs import bill_subscription
from billing.lifecycle import create_subscription
from billing.metering.services import MAX_BATCH, ingest_events
from billing.metering.store import SQL_STORE_TABLES, event_store
from billing.models import Base
from billing.organizations.models import Organization
from billing.organizations.services import (
    create_admin,
    create_organization,
    find_organization_by_name,
    organization_for_api_key,
    rotate_api_key,
)
from billing.payments.models import Payment
from billing.ports import runtime
from billing.wallets.models import Wallet

DEMO_ORGANIZATION = "Demo SaaS Inc."
DEMO_ADMIN_EMAIL = "admin@demo.tally"
DEMO_ADMIN_PASSWORD = "tally-demo-2026"  # noqa: S105  (a published demo login, printed by the CLI)
DEMO_TIMEZONE = "Europe/Paris"
DEMO_CURRENCY = "EUR"
SEED = 20261124

METRICS = [
    {"name": "API calls", "code": "api_calls", "aggregation_type": "count_agg",
     "description": "One event per API request."},
    {"name": "Storage (GB)", "code": "storage_gb", "aggregation_type": "sum_agg", "field_name": "gb",
     "description": "Gigabytes uploaded, summed over the period."},
]

# code, name, monthly fee in cents, {metric code: unit price}
PLANS = [
    ("starter", "Starter", 2900, {"api_calls": "0.02"}),
    ("pro", "Pro", 9900, {"api_calls": "0.01", "storage_gb": "0.10"}),
    ("scale", "Scale", 29900, {"api_calls": "0.005", "storage_gb": "0.05"}),
]


@dataclass(frozen=True)
class DemoCustomer:
    external_id: str
    name: str
    email: str
    address_line1: str
    zipcode: str
    city: str
    country: str
    plan_code: str
    days_ago: int  # when the subscription started, before the seed time
    calls_per_day: float  # mean API-call events on a weekday
    uploads_per_day: float  # mean storage events per day (0: none)
    billing_time: str = "calendar"
    # How the customer pays when no provider collects: "" (not recorded: the account manager follows it up),
    # "transfer" (each invoice paid by bank transfer a few days after it was issued) or "late" (nothing paid yet:
    # its older invoices are overdue). Such customers have 30 days to pay, and `grace_days` keeps their invoices as
    # drafts that long after a period ends.
    pays: str = ""
    grace_days: int = 0


CUSTOMERS = [
    DemoCustomer("northwind", "Northwind Analytics GmbH", "billing@northwind.example", "Torstraße 49", "10119",
                 "Berlin", "DE", "starter", 68, 12, 0),
    DemoCustomer("lumen", "Lumen Robotics SAS", "compta@lumen-robotics.example", "12 rue de la République", "69002",
                 "Lyon", "FR", "pro", 63, 18, 2),
    DemoCustomer("fjord", "Fjord Data AS", "invoices@fjorddata.example", "Karl Johans gate 22", "0159",
                 "Oslo", "NO", "pro", 57, 14, 3, "anniversary"),
    DemoCustomer("atlas", "Atlas Mobility S.L.", "finance@atlasmobility.example", "Calle de Alcalá 120", "28009",
                 "Madrid", "ES", "scale", 52, 24, 4),
    DemoCustomer("pixelpine", "Pixel & Pine Studio B.V.", "hello@pixelpine.example", "Prinsengracht 263", "1016 GV",
                 "Amsterdam", "NL", "starter", 47, 6, 0),
    # Customers of longer standing, so that the admin's home has half a year to chart (MRR, collected against
    # invoiced) and something to chase: a late payer, invoices still in their grace period.
    DemoCustomer("orbit", "Orbit Logistics Ltd", "accounts@orbitlogistics.example", "30 Finsbury Square", "EC2A 1AG",
                 "London", "GB", "scale", 185, 30, 5, pays="transfer"),
    DemoCustomer("kestrel", "Kestrel Health Oy", "laskutus@kestrelhealth.example", "Mannerheimintie 12", "00100",
                 "Helsinki", "FI", "pro", 160, 16, 2, pays="transfer"),
    DemoCustomer("meridian", "Meridian Media S.r.l.", "amministrazione@meridianmedia.example", "Via Torino 61",
                 "20123", "Milan", "IT", "pro", 140, 20, 3, pays="transfer"),
    DemoCustomer("quill", "Quill & Co. Ltd", "billing@quillco.example", "25 St Stephen's Green", "D02 XF99",
                 "Dublin", "IE", "starter", 120, 8, 0, pays="late"),
    DemoCustomer("tundra", "Tundra Games AB", "ekonomi@tundragames.example", "Götgatan 78", "118 30", "Stockholm",
                 "SE", "scale", 100, 28, 6, pays="transfer", grace_days=10),
    DemoCustomer("harbor", "Harbor Freight Labs BV", "finance@harborlabs.example", "Meir 78", "2000", "Antwerp", "BE",
                 "starter", 90, 5, 0, pays="transfer"),
]


# The local test Stripe of `make run` (localstripe accepts any sk_test_/pk_test_ key; the webhook secret is
# the demo's own). Test data only: nothing here is a real Stripe credential.
DEMO_STRIPE_URL = "http://127.0.0.1:8420"
DEMO_STRIPE_CODE = "stripe_test"
DEMO_STRIPE_SETTINGS = {"secret_key": "sk_test_tally_demo", "publishable_key": "pk_test_demo",  # noqa: S105
                        "webhook_secret": "whsec_tally_demo_webhooks"}
DEMO_STRIPE_WEBHOOK_ID = "tally-demo"


# The fakes of Adyen and GoCardless that `make run` starts (tests/fakes/): they accept any API key or token, and
# learn the HMAC key / webhook secret from the seed. Test data only: nothing here is a real credential.
DEMO_ADYEN_URL = "http://127.0.0.1:8421"
DEMO_ADYEN_CODE = "adyen_demo"
DEMO_ADYEN_SETTINGS = {"api_key": "AQE_tally_demo_key", "merchant_account": "TallyDemoECOM",  # noqa: S105
                       "hmac_key": "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"}
DEMO_ADYEN_CUSTOMER = "atlas"
# Adyen's test Visa, as a shopper types it on the hosted page.
DEMO_ADYEN_CARD = {"number": "4111 1111 4555 1142", "expiryMonth": "03", "expiryYear": "2030", "cvc": "737",
                   "holderName": "Atlas Mobility"}
DEMO_GOCARDLESS_URL = "http://127.0.0.1:8422"
DEMO_GOCARDLESS_CODE = "gocardless_demo"
DEMO_GOCARDLESS_SETTINGS = {"access_token": "sandbox_tally_demo_token",  # noqa: S105
                            "webhook_secret": "tally_demo_gocardless_webhooks", "environment": "sandbox"}
DEMO_GOCARDLESS_CUSTOMER = "northwind"
# GoCardless's sandbox test IBAN (a German account), as a payer types it on the hosted flow.
DEMO_GOCARDLESS_BANK = {"account_holder_name": "Northwind Analytics GmbH", "iban": "DE89 3704 0044 0532 0130 00"}

# The demo wallet of `lumen` (the customer the demo host page shows): free credits, so its wallet widget has a balance.
DEMO_WALLET = {"name": "Prepaid credits", "code": "demo_credits", "rate_amount": "1", "granted_credits": "250.00"}
DEMO_WALLET_CUSTOMER = "lumen"


# The demo host product of `make run` (web/demo_host.py): another origin than Tally's, allowed to frame the widgets.
DEMO_HOST_ORIGIN = "http://localhost:5001"


@dataclass(frozen=True)
class DemoHost:
    origin: str
    key_file: Path
    new_key: bool  # a key was made (the first seed, a reset, the file lost): the host must be (re)started


@dataclass(frozen=True)
class DemoProvider:
    """What became of a demo provider: connected or not, and the line the CLI prints about it."""

    connected: bool
    message: str



@dataclass(frozen=True)
class DemoResult:
    organization_id: str
    organization_name: str
    admin_email: str
    admin_password: str
    portal_url: str
    api_key: str | None  # shown once, on the seed that created the organization
    created: bool
    customers: int
    events: int
    invoices: int
    stripe: DemoProvider | None = None  # None: TALLY_DEMO_STRIPE=off
    host: DemoHost | None = None  # None: TALLY_DEMO_HOST=off
    adyen: DemoProvider | None = None  # None: TALLY_DEMO_ADYEN=off
    gocardless: DemoProvider | None = None  # None: TALLY_DEMO_GOCARDLESS=off


@dataclass(frozen=True)
class _Providers:
    stripe: DemoProvider | None
    adyen: DemoProvider | None
    gocardless: DemoProvider | None


def _connect_providers(organization_id: str, stripe_url: str | None, adyen_url: str | None,
                       gocardless_url: str | None) -> _Providers:
    """Connect the demo's providers that are on; a customer kept for Adyen or GoCardless stays off Stripe."""
    elsewhere = frozenset(external_id for url, external_id in ((adyen_url, DEMO_ADYEN_CUSTOMER),
                                                               (gocardless_url, DEMO_GOCARDLESS_CUSTOMER)) if url)
    return _Providers(
        stripe=connect_demo_stripe(organization_id, stripe_url, elsewhere=elsewhere) if stripe_url else None,
        adyen=connect_demo_adyen(organization_id, adyen_url) if adyen_url else None,
        gocardless=connect_demo_gocardless(organization_id, gocardless_url) if gocardless_url else None)


def seed_demo(*, reset: bool = False, stripe_url: str | None = None, host_origin: str | None = None,
              host_key_file: Path | None = None, adyen_url: str | None = None,
              gocardless_url: str | None = None) -> DemoResult:
    """Create the demo organization unless it exists (with `reset`, delete it and create it again).

    With `stripe_url`, connect it to the local test Stripe there (again on each seed: localstripe forgets
    its webhooks when it restarts); with `adyen_url` / `gocardless_url`, to the fakes there (likewise). With
    `host_origin` and `host_key_file`, prepare the demo host product (`prepare_demo_host`). `lumen` gets its
    wallet on every seed that finds none.
    """
    organization_id = find_organization_by_name(DEMO_ORGANIZATION)
    if organization_id is not None and reset:
        delete_organization_data(organization_id)
        organization_id = None
    if organization_id is not None:
        _ensure_admin(organization_id)
        ensure_demo_wallet(organization_id)
        connected = _connect_providers(organization_id, stripe_url, adyen_url, gocardless_url)
        host = prepare_demo_host(organization_id, host_origin, host_key_file) if host_origin and host_key_file \
            else None
        return DemoResult(organization_id=organization_id, organization_name=DEMO_ORGANIZATION,
                          admin_email=DEMO_ADMIN_EMAIL, admin_password=DEMO_ADMIN_PASSWORD,
                          portal_url=_portal_url(organization_id), api_key=None, created=False,
                          customers=_count(organization_id, "customers"), events=_count_events(organization_id),
                          invoices=_count(organization_id, "invoices"), stripe=connected.stripe, host=host,
                          adyen=connected.adyen, gocardless=connected.gocardless)

    now = runtime.clock.now()
    created = create_organization(name=DEMO_ORGANIZATION, default_currency=DEMO_CURRENCY, timezone=DEMO_TIMEZONE)
    organization_id = created.organization_id
    _describe_organization(organization_id)
    _ensure_admin(organization_id)
    _seed_catalog(organization_id)
    subscription_ids = _seed_customers(organization_id, now)
    events = _seed_events(organization_id, now)
    invoices = _bill_ended_periods(subscription_ids, now)
    _wait_for_jobs()
    _record_transfers(organization_id, now)
    ensure_demo_wallet(organization_id)  # after the billed periods: the wallet pays from the next invoice on
    connected = _connect_providers(organization_id, stripe_url, adyen_url, gocardless_url)
    host = prepare_demo_host(organization_id, host_origin, host_key_file) if host_origin and host_key_file else None
    return DemoResult(organization_id=organization_id, organization_name=DEMO_ORGANIZATION,
                      admin_email=DEMO_ADMIN_EMAIL, admin_password=DEMO_ADMIN_PASSWORD,
                      portal_url=_portal_url(organization_id), api_key=created.api_key, created=True,
                      customers=len(CUSTOMERS), events=events, invoices=len(invoices), stripe=connected.stripe,
                      host=host, adyen=connected.adyen, gocardless=connected.gocardless)


def prepare_demo_host(organization_id: str, origin: str, key_file: Path) -> DemoHost:
    """Let `origin` frame the organization's widgets (besides what was allowed) and give the demo host product an
    API key of its own in `key_file` (mode 0600), kept while it still opens this organization. Idempotent."""
    allowed = list(embed_settings(organization_id=organization_id).frame_ancestors)
    if origin not in allowed:
        update_embed_settings(organization_id=organization_id, data={"frame_ancestors": [*allowed, origin]})
    try:
        key = key_file.read_text().strip()
    except OSError:
        key = ""
    if key and organization_for_api_key(key) == organization_id:
        return DemoHost(origin=origin, key_file=key_file, new_key=False)
    # The organization's other keys keep working (the one printed on the first seed, an integration's).
    key = rotate_api_key(organization_id=organization_id, revoke_old_after=None).api_key
    key_file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    key_file.chmod(0o600)  # a file that existed keeps its mode through os.open
    return DemoHost(origin=origin, key_file=key_file, new_key=True)


def _stripe_answers(stripe_url: str, wait: float) -> bool:
    """Whether localstripe answers at `stripe_url`, trying for `wait` seconds (`make run` has just started it)."""
    return _answers(f"{stripe_url}/v1/customers?limit=1", wait,
                    headers={"Authorization": f"Bearer {DEMO_STRIPE_SETTINGS['secret_key']}"})


def _answers(url: str, wait: float, headers: dict[str, str] | None = None) -> bool:
    """Whether a local server answers a GET of `url` with JSON, trying for `wait` seconds (it may be starting)."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (http only: cli)
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 (a local URL of the operator's)
                json.loads(response.read())
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)


def _register_stripe_webhook(stripe_url: str, organization_id: str) -> None:
    """Tell localstripe to post its signed events to Tally's route (localstripe has no WebhookEndpoints API)."""
    url = f"{runtime.base_url}/webhooks/stripe/{organization_id}?code={DEMO_STRIPE_CODE}"
    data = urllib.parse.urlencode({"url": url, "secret": DEMO_STRIPE_SETTINGS["webhook_secret"]}).encode()
    request = urllib.request.Request(f"{stripe_url}/_config/webhooks/{DEMO_STRIPE_WEBHOOK_ID}",  # noqa: S310
                                     data=data, method="POST")
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310 (a local URL of the operator's)
        pass


def connect_demo_stripe(organization_id: str, stripe_url: str = DEMO_STRIPE_URL, *, wait: float = 5.0,
                        elsewhere: frozenset[str] = frozenset()) -> DemoProvider:
    """Connect the demo organization to the local test Stripe and link its customers (but those `elsewhere`: the
    external ids kept for another provider); say why not if it is down."""
    from billing.customers.services import upsert_customer
    from billing.payments.providers import connect_provider

    stripe_url = stripe_url.rstrip("/")
    if not _stripe_answers(stripe_url, wait):
        return DemoProvider(False, f"no local Stripe answers at {stripe_url}: card payments are off in the demo "
                                 f"(start one with `python -m tests.servers.stripe --port 8420`, then seed again)")
    connect_provider(organization_id=organization_id, kind="stripe", code=DEMO_STRIPE_CODE, name="Stripe (local test)",
                     settings={**DEMO_STRIPE_SETTINGS, "api_base": stripe_url})
    try:
        _register_stripe_webhook(stripe_url, organization_id)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return DemoProvider(False, f"the local Stripe at {stripe_url} refused its webhook ({error}): seed again")
    for customer in CUSTOMERS:
        if customer.external_id in elsewhere:
            continue
        upsert_customer(organization_id=organization_id, data={
            "external_id": customer.external_id,
            "billing_configuration": {"payment_provider": "stripe", "payment_provider_code": DEMO_STRIPE_CODE,
                                      "sync_with_provider": True}})
    _wait_for_jobs()  # the customers created at Stripe
    return DemoProvider(True, f"local test Stripe at {stripe_url} (code {DEMO_STRIPE_CODE}): add the card "
                            f"4242 4242 4242 4242 in the portal and pay an invoice")


def connect_demo_adyen(organization_id: str, adyen_url: str = DEMO_ADYEN_URL, *, wait: float = 5.0) -> DemoProvider:
    """Connect the fake Adyen, store a card for Atlas through its hosted page and collect an invoice with it."""
    adyen_url = adyen_url.rstrip("/")
    merchant = DEMO_ADYEN_SETTINGS["merchant_account"]
    probe = f"{adyen_url}/_fake/notifications?{urllib.parse.urlencode({'merchantAccount': merchant})}"
    if not _answers(probe, wait):
        return DemoProvider(False, f"no fake Adyen answers at {adyen_url}: the demo has no Adyen customer (start it "
                                   f"with `python -m tests.fakes.adyen --port 8421`, then seed again)")
    return _connect_fake(organization_id, kind="adyen", code=DEMO_ADYEN_CODE, name="Local fake",
                         settings={**DEMO_ADYEN_SETTINGS, "api_base": adyen_url}, external_id=DEMO_ADYEN_CUSTOMER,
                         method_types=["card"], register=(f"{adyen_url}/_fake/merchants", {
                             "merchantAccount": merchant, "hmacKey": DEMO_ADYEN_SETTINGS["hmac_key"]}, "webhookUrl"),
                         hosted_form=DEMO_ADYEN_CARD, where=f"fake Adyen at {adyen_url}")


def connect_demo_gocardless(organization_id: str, gocardless_url: str = DEMO_GOCARDLESS_URL, *,
                            wait: float = 5.0) -> DemoProvider:
    """Connect the fake GoCardless, set up Northwind's SEPA mandate through its hosted flow and collect an invoice."""
    gocardless_url = gocardless_url.rstrip("/")
    token = DEMO_GOCARDLESS_SETTINGS["access_token"]
    probe = f"{gocardless_url}/_fake/webhooks?{urllib.parse.urlencode({'access_token': token})}"
    if not _answers(probe, wait):
        return DemoProvider(False, f"no fake GoCardless answers at {gocardless_url}: the demo has no GoCardless "
                                   f"customer (start it with `python -m tests.fakes.gocardless --port 8422`, then "
                                   f"seed again)")
    connected = _connect_fake(
        organization_id, kind="gocardless", code=DEMO_GOCARDLESS_CODE, name="Local fake",
        settings={**DEMO_GOCARDLESS_SETTINGS, "api_base": gocardless_url}, external_id=DEMO_GOCARDLESS_CUSTOMER,
        method_types=["sepa_debit"], register=(f"{gocardless_url}/_fake/accounts", {
            "access_token": token, "webhook_secret": DEMO_GOCARDLESS_SETTINGS["webhook_secret"]}, "webhook_url"),
        hosted_form=DEMO_GOCARDLESS_BANK, where=f"fake GoCardless at {gocardless_url}")
    payment = _last_payment(organization_id, DEMO_GOCARDLESS_CUSTOMER, DEMO_GOCARDLESS_CODE)
    if connected.connected and payment is not None and payment.status == "processing" and payment.provider_payment_id:
        # GoCardless's payments settle days later; the fake moves one when asked, and its webhook reaches Tally.
        if not _answers(f"{gocardless_url}/payments/{payment.provider_payment_id}", 0,
                        headers={"Authorization": f"Bearer {token}"}):
            return DemoProvider(True, f"{connected.message} (made by a fake GoCardless since restarted, which forgot "
                                      f"it: `seed-demo --reset` for a fresh demo)")
        advance = f"{gocardless_url}/_fake/payments/{payment.provider_payment_id}/advance?to=paid_out"
        return DemoProvider(True, f"{connected.message}; settle it with `curl -X POST '{advance}'`")
    return connected


def _connect_fake(organization_id: str, *, kind: str, code: str, name: str, settings: dict[str, str],
                  external_id: str, method_types: list[str], register: tuple[str, dict[str, str], str],
                  hosted_form: dict[str, str], where: str) -> DemoProvider:
    """Connect a fake provider, tell it Tally's webhook URL, give the customer a method through the provider's
    hosted page (unless it has one there) and collect one invoice through it (unless one was). Idempotent."""
    from billing.payments.providers import connect_provider

    connect_provider(organization_id=organization_id, kind=kind, code=code, name=name, settings=settings)
    register_url, body, url_field = register
    webhook_url = f"{runtime.base_url}/webhooks/{kind}/{organization_id}?code={code}"
    try:
        _post_json(register_url, {**body, url_field: webhook_url})
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return DemoProvider(False, f"the {where} refused its webhook URL ({error}): seed again")
    customer = _demo_customer(organization_id, external_id)
    if customer is None:
        return DemoProvider(False, f"the demo customer {external_id} is missing: seed again with --reset")
    try:
        methods = _ensure_method(organization_id, customer, kind=kind, code=code, method_types=method_types,
                                 hosted_form=hosted_form)
    except _SetupFailed as error:
        return DemoProvider(False, f"{where} (code {code}): {error}")
    method = next((m for m in methods if m.is_default), methods[-1])
    label = _METHOD_LABELS.get(method.method_type, method.method_type)
    shown = f"{label} ({method.brand or label} •••• {method.last4})" if method.last4 else label
    payment = _collect_one_invoice(organization_id, customer.id, code)
    paid = (f"invoice {payment[0]}: payment {payment[1]}" if payment else "no invoice to collect")
    return DemoProvider(True, f"{where} (code {code}): {customer.name} pays by {shown}; {paid}")


_METHOD_LABELS = {"card": "card", "sepa_debit": "SEPA Direct Debit", "bacs_debit": "Bacs Direct Debit"}


class _SetupFailed(Exception):
    """The hosted page did not give the demo customer a payment method."""


def _ensure_method(organization_id: str, customer: Customer, *, kind: str, code: str, method_types: list[str],
                   hosted_form: dict[str, str]) -> list:
    """The customer's methods at `code`: linked to it first, and one set up on the hosted page if it has none."""
    from billing.customers.services import upsert_customer
    from billing.links import setup_url
    from billing.payments.customers import refresh_methods, start_setup

    billing = {"payment_provider": kind, "payment_provider_code": code, "sync_with_provider": True,
               "provider_payment_methods": method_types}
    if customer.payment_provider_code != code:
        upsert_customer(organization_id=organization_id, data={"external_id": customer.external_id,
                                                               "billing_configuration": billing})
        _wait_for_jobs()  # the customer created at the provider
    methods = refresh_methods(organization_id=organization_id, customer_id=customer.id)
    if methods:
        return methods
    return_url = setup_url(customer_id=customer.id, organization_id=organization_id)
    for relinked in (False, True):
        try:
            setup = start_setup(organization_id=organization_id, customer_id=customer.id, return_url=return_url,
                                attempt=f"demo-{time.time_ns()}")
            break
        except NotAllowed as error:
            if relinked:
                raise _SetupFailed(f"the set-up did not start ({error})") from error
            # The fake restarted and forgot the customer it linked: a new one is created at the provider.
            relink = {**billing, "provider_customer_id": None}
            upsert_customer(organization_id=organization_id,
                            data={"external_id": customer.external_id, "billing_configuration": relink})
            _wait_for_jobs()
    _submit_hosted_page(setup.session.redirect_url or "", hosted_form)
    methods = refresh_methods(organization_id=organization_id, customer_id=customer.id)
    if not methods:
        raise _SetupFailed("the hosted page stored no payment method")
    return methods


def _submit_hosted_page(url: str, form: dict[str, str]) -> None:
    """What the customer does on the provider's hosted page: post the form; the provider sends them back (303)."""
    class _Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None  # Tally's return page need not be served during the seed

    if not url.startswith("http"):
        raise _SetupFailed("the provider gave no hosted page")
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), method="POST")  # noqa: S310
    try:
        with urllib.request.build_opener(_Stay).open(request, timeout=10) as response:
            page = response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        if error.code == 303:
            return
        raise _SetupFailed(f"the hosted page answered {error.code}") from error
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        raise _SetupFailed(f"the hosted page did not answer ({error})") from error
    raise _SetupFailed(f"the hosted page refused the details: {page[:200]}")


def _collect_one_invoice(organization_id: str, customer_id: str, code: str) -> tuple[str, str] | None:
    """Collect the customer's latest unpaid invoice through `code`, unless a payment went through it already:
    (invoice number, payment status), or None when there is nothing to collect."""
    from billing.payments.collection import collect_invoice

    with db.read_only() as session:
        paid = session.scalar(sa.select(Payment).where(
            Payment.organization_id == organization_id, Payment.customer_id == customer_id,
            Payment.provider_code == code).order_by(Payment.created_at.desc()).limit(1))
        if paid is None:
            invoices = session.scalars(sa.select(Invoice).where(
                Invoice.organization_id == organization_id, Invoice.customer_id == customer_id,
                Invoice.status == "finalized", Invoice.payment_status != "succeeded")
                .order_by(Invoice.issuing_date.desc(), Invoice.created_at.desc()))
            invoice = next((i for i in invoices if i.total_due_amount_cents > 0), None)
            if invoice is None:
                return None
            invoice_id = invoice.id
        else:
            invoice_id = paid.invoice_id
    if paid is None:
        collect_invoice(organization_id=organization_id, invoice_id=invoice_id)
        _wait_for_jobs()
    with db.read_only() as session:
        payment = session.scalar(sa.select(Payment).where(
            Payment.organization_id == organization_id, Payment.customer_id == customer_id,
            Payment.provider_code == code).order_by(Payment.created_at.desc()).limit(1))
        invoice = session.get(Invoice, invoice_id) if invoice_id else None
        if payment is None:
            return None
        return (invoice.number if invoice is not None else "-"), payment.status


def _last_payment(organization_id: str, external_id: str, code: str) -> Payment | None:
    with db.read_only() as session:
        customer = _find_customer(session, organization_id, external_id)
        if customer is None:
            return None
        return session.scalar(sa.select(Payment).where(
            Payment.organization_id == organization_id, Payment.customer_id == customer.id,
            Payment.provider_code == code).order_by(Payment.created_at.desc()).limit(1))


def _demo_customer(organization_id: str, external_id: str) -> Customer | None:
    with db.read_only() as session:
        return _find_customer(session, organization_id, external_id)


def _find_customer(session, organization_id: str, external_id: str) -> Customer | None:
    from billing.customers.services import find_customer

    return find_customer(session, organization_id, external_id)


def _post_json(url: str, body: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",  # noqa: S310 (cli)
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310 (a local URL of the operator's)
        pass


def ensure_demo_wallet(organization_id: str) -> None:
    """Give `lumen` a wallet of free credits, unless it has an active one (its wallet widget shows a balance)."""
    from billing.wallets.services import create_wallet

    with db.read_only() as session:
        customer = _find_customer(session, organization_id, DEMO_WALLET_CUSTOMER)
        if customer is None:
            return
        active = session.scalar(sa.select(sa.func.count()).select_from(Wallet).where(
            Wallet.organization_id == organization_id, Wallet.customer_id == customer.id,
            Wallet.status == "active"))
    if not active:
        create_wallet(organization_id=organization_id,
                      data={**DEMO_WALLET, "external_customer_id": DEMO_WALLET_CUSTOMER})


def _describe_organization(organization_id: str) -> None:
    """The seller's details shown on invoices (no service sets them yet)."""
    with db.unit_of_work() as uow:
        org = uow.session.get(Organization, organization_id)
        org.email = "billing@demo-saas.example"
        org.legal_name = DEMO_ORGANIZATION
        org.address_line1 = "8 rue du Faubourg Saint-Denis"
        org.zipcode = "75010"
        org.city = "Paris"
        org.country = "FR"
        org.tax_identification_number = "FR40123456789"


# The demo's account managers, one per role (admin/roles.py), all with the demo password: sign in as the manager or
# the finance member to see what their role opens.
DEMO_MEMBERS = ((DEMO_ADMIN_EMAIL, "admin"), ("manager@demo.tally", "manager"), ("finance@demo.tally", "finance"))


def _ensure_admin(organization_id: str) -> None:
    for email, role in DEMO_MEMBERS:
        try:
            create_admin(email=email, password=DEMO_ADMIN_PASSWORD, organization_id=organization_id, role=role)
        except ValidationFailed as error:
            if error.details != {"email": ["value_already_exist"]}:
                raise


def _seed_catalog(organization_id: str) -> None:
    metric_ids = {}
    for data in METRICS:
        with db.read_only() as session:
            metric = find_metric(session, organization_id, data["code"])
        metric = metric or create_billable_metric(organization_id=organization_id, data=data)
        metric_ids[metric.code] = metric.id
    for code, name, amount_cents, prices in PLANS:
        with db.read_only() as session:
            if find_plan(session, organization_id, code) is not None:
                continue
        create_plan(organization_id=organization_id, data={
            "name": name, "code": code, "interval": "monthly", "amount_cents": amount_cents,
            "amount_currency": DEMO_CURRENCY, "pay_in_advance": False,
            "description": f"{name}: monthly fee in arrears plus usage.",
            "charges": [{"billable_metric_id": metric_ids[metric_code], "charge_model": "standard",
                         "properties": {"amount": price}} for metric_code, price in prices.items()],
        })


def _seed_customers(organization_id: str, now: datetime) -> list[str]:
    from billing.customers.services import upsert_customer

    subscription_ids = []
    for customer in CUSTOMERS:
        terms = {"net_payment_term": 30} if customer.pays else {}
        if customer.grace_days:
            terms["billing_configuration"] = {"invoice_grace_period": customer.grace_days}
        upsert_customer(organization_id=organization_id, data={
            "external_id": customer.external_id, "name": customer.name, "legal_name": customer.name,
            "email": customer.email, "customer_type": "company", "currency": DEMO_CURRENCY,
            "address_line1": customer.address_line1, "zipcode": customer.zipcode, "city": customer.city,
            "country": customer.country, **terms,
        })
        # Subscribed back then, not backdated now: a backdated subscription bills only from the period of its
        # creation (docs/billing.md, Limits), and the demo's history starts at the subscription.
        real_clock, runtime.clock = runtime.clock, _FixedClock(_start_of(customer, now))
        try:
            subscription = create_subscription(organization_id=organization_id, data={
                "external_customer_id": customer.external_id, "plan_code": customer.plan_code,
                "external_id": f"sub_{customer.external_id}", "billing_time": customer.billing_time,
                "subscription_at": _start_of(customer, now).isoformat(),
            })
        finally:
            runtime.clock = real_clock
        subscription_ids.append(subscription.id)
    return subscription_ids


def _start_of(customer: DemoCustomer, now: datetime) -> datetime:
    """09:00 Paris time, `days_ago` days before `now`."""
    local = (now - timedelta(days=customer.days_ago)).astimezone(ZoneInfo(DEMO_TIMEZONE))
    return local.replace(hour=9, minute=0, second=0, microsecond=0).astimezone(UTC)


def _demo_events(now: datetime) -> Iterator[dict]:
    """Deterministic usage for every demo subscription, from its start until `now`."""
    rng = random.Random(SEED)
    for customer in CUSTOMERS:
        start = _start_of(customer, now)
        subscription = f"sub_{customer.external_id}"
        number = 0
        day = start
        while day < now:
            local_day = day.astimezone(ZoneInfo(DEMO_TIMEZONE))
            weekend = local_day.weekday() >= 5
            growth = 1 + 0.5 * (day - start) / (now - start)  # usage grows over the two months
            calls = _poisson(rng, customer.calls_per_day * growth * (0.35 if weekend else 1.0))
            uploads = _poisson(rng, customer.uploads_per_day) if customer.uploads_per_day else 0
            for code in ["api_calls"] * calls + ["storage_gb"] * uploads:
                timestamp = day + timedelta(seconds=rng.randrange(86_400))
                if code == "storage_gb":
                    properties = {"gb": str(round(rng.lognormvariate(1.2, 0.8), 2)), "bucket": "assets"}
                else:
                    properties = {"endpoint": rng.choice(["/v1/search", "/v1/items", "/v1/reports", "/v1/export"])}
                if timestamp >= now:
                    continue  # (after drawing, so that the rest of the data does not depend on `now`)
                number += 1
                yield {"transaction_id": f"demo_{customer.external_id}_{number:05d}",
                       "external_subscription_id": subscription, "code": code,
                       "timestamp": int(timestamp.timestamp()), "properties": properties}
            day += timedelta(days=1)


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    if mean <= 0:
        return 0
    limit, k, product = pow(2.718281828459045, -mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _seed_events(organization_id: str, now: datetime) -> int:
    batch: list[dict] = []
    total = 0
    for event in _demo_events(now):
        batch.append(event)
        if len(batch) == MAX_BATCH:
            total += len(ingest_events(organization_id=organization_id, raw_events=batch))
            batch = []
    if batch:
        total += len(ingest_events(organization_id=organization_id, raw_events=batch))
    return total


@dataclass(frozen=True)
class _FixedClock:
    moment: datetime

    def now(self) -> datetime:
        return self.moment


def _bill_ended_periods(subscription_ids: list[str], now: datetime) -> list[str]:
    """Issue each billing when the billing clock would have, so invoices carry real dates."""
    from billing.invoicing.actions import finalize_expired_drafts
    from billing.subscriptions.models import Subscription
    from billing.subscriptions.periods import terms_of
    from billing.subscriptions.schedule import billings

    grace_of = {f"sub_{customer.external_id}": customer.grace_days for customer in CUSTOMERS}
    due: dict[datetime, list[str]] = {}
    grace_ends: set[datetime] = set()  # when drafts kept for a grace period are finalized, as the clock would
    with db.read_only() as session:
        for subscription in session.scalars(sa.select(Subscription).where(Subscription.id.in_(subscription_ids))):
            for billing in billings(terms_of(subscription), now):
                due.setdefault(billing.boundary, []).append(subscription.id)
                if grace_of.get(subscription.external_id):
                    grace_ends.add(billing.boundary + timedelta(days=grace_of[subscription.external_id]))
    invoices: list[str] = []
    real_clock = runtime.clock
    try:
        for moment in sorted(due.keys() | {end for end in grace_ends if end <= now}):
            runtime.clock = _FixedClock(moment)
            if moment in grace_ends:
                finalize_expired_drafts(at=moment)
            for subscription_id in due.get(moment, ()):
                invoices += bill_subscription(subscription_id=subscription_id, at=moment)
    finally:
        runtime.clock = real_clock
    # Whatever is still due (nothing, unless the periods above disagree with the clock's) is billed now.
    for subscription_id in subscription_ids:
        invoices += bill_subscription(subscription_id=subscription_id, at=now)
    return invoices


def _record_transfers(organization_id: str, now: datetime) -> None:
    """The bank transfers of the customers who pay that way: each finalized invoice paid in full a few days after it
    was issued (one still within those days is not paid yet); then the overdue invoices are marked, as the clock's
    daily run would have."""
    from billing.invoicing.overdue import mark_overdue_invoices
    from billing.payments.collection import record_manual_payment

    payers = [customer.external_id for customer in CUSTOMERS if customer.pays == "transfer"]
    rng = random.Random(SEED)
    with db.read_only() as session:
        invoices = session.execute(
            sa.select(Invoice.id, Invoice.number, Invoice.issuing_date, Invoice.total_amount_cents)
            .join(Customer, Customer.id == Invoice.customer_id)
            .where(Invoice.organization_id == organization_id, Customer.external_id.in_(payers),
                   Invoice.status == "finalized", Invoice.total_amount_cents > 0)
            .order_by(Invoice.issuing_date, Invoice.number)).all()
    for invoice_id, number, issued, amount_cents in invoices:
        paid_on = datetime(issued.year, issued.month, issued.day, 10, tzinfo=UTC) + timedelta(days=rng.randint(3, 12))
        if paid_on >= now:
            continue
        record_manual_payment(organization_id=organization_id, data={
            "invoice_id": invoice_id, "amount_cents": amount_cents, "reference": f"SEPA transfer {number}",
            "paid_at": paid_on.isoformat()})
    mark_overdue_invoices(at=now)


def _wait_for_jobs() -> None:
    """Let the in-process runner finish the invoice PDFs before a short-lived CLI process exits."""
    join = getattr(runtime.dispatcher, "join", None)
    if callable(join):
        join()


def _portal_url(organization_id: str) -> str:
    """A signed portal link for one demo customer (valid 12 hours, like every portal link)."""
    from billing.customers.services import find_customer
    from billing.links import portal_url

    with db.read_only() as session:
        customer = find_customer(session, organization_id, CUSTOMERS[1].external_id)
        customer_id = customer.id if customer is not None else None
    if customer_id is None:
        return f"{runtime.base_url}/admin/login"
    return portal_url(customer_id=customer_id, organization_id=organization_id)


def _count(organization_id: str, table: str) -> int:
    target = Base.metadata.tables[table]
    with db.read_only() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(target).where(
            target.c.organization_id == organization_id)) or 0


def _count_events(organization_id: str) -> int:
    """The organization's events in the configured store (the ledger's database holds none on ClickHouse's)."""
    return event_store().list_events(organization_id=organization_id, per_page=1).total_count


def delete_organization_data(organization_id: str) -> None:
    """Delete an organization and every row that belongs to it, children first (for `seed-demo --reset`).

    Its events go through the configured store, first: ClickHouse's are deleted when the call returns, so a ledger
    transaction that fails after it leaves the organization to delete again, never its events behind a new one."""
    tables = [table for table in Base.metadata.sorted_tables if table.name not in SQL_STORE_TABLES]
    with db.unit_of_work() as uow:
        event_store().forget_organization(uow.session, organization_id)
        conditions: dict[str, sa.ColumnElement[bool]] = {}
        for table in tables:  # parents before children, so a child can select through its parent
            condition = _belongs_to(table, organization_id, conditions)
            if condition is not None:
                conditions[table.name] = condition
        customer_ids = [str(i) for i in uow.session.scalars(
            sa.select(Base.metadata.tables["customers"].c.id).where(conditions["customers"]))]
        for table in reversed(tables):
            if table.name == "sequences":
                scopes = [f"customer:{organization_id}", f"invoice:{organization_id}"]
                scopes += [f"invoice:{customer_id}" for customer_id in customer_ids]
                uow.session.execute(sa.delete(table).where(table.c.scope.in_(scopes)))
            elif table.name == "audit_log":
                continue  # goes with the organization (ON DELETE CASCADE): its trigger refuses any other delete
            elif table.name in conditions:
                uow.session.execute(sa.delete(table).where(conditions[table.name]))


def _belongs_to(table: sa.Table, organization_id: str,
                conditions: dict[str, sa.ColumnElement[bool]]) -> sa.ColumnElement[bool] | None:
    """Which rows of `table` belong to the organization: by its own column, else through a parent."""
    if table.name == "organizations":
        return table.c.id == organization_id
    if "organization_id" in table.c:
        return table.c.organization_id == organization_id
    for foreign_key in table.foreign_keys:
        parent = foreign_key.column.table
        if parent is not table and parent.name in conditions and not foreign_key.parent.nullable:
            return foreign_key.parent.in_(sa.select(foreign_key.column).where(conditions[parent.name]))
    return None
