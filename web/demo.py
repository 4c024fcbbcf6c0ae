"""The demo organization behind `flask --app wsgi seed-demo` (and `make run`).

Everything is built through the billing services, as an integration would through the API:
metrics, plans, customers, subscriptions that started about two months ago, a few thousand
deterministic events, then the ended periods are billed so that real invoices exist.

Unless TALLY_DEMO_STRIPE is "off", the demo organization is also connected to the local test Stripe that
`make run` starts (localstripe, `python -m tests.servers.stripe --port 8420`): a provider `stripe_test`,
localstripe's webhooks registered to Tally's route, the demo customers linked to Stripe customers, so that
a card (4242 4242 4242 4242) can be added in the portal and an invoice paid. Without localstripe running,
the seed says so and goes on.

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
from billing.embedding.services import embed_settings, update_embed_settings
from billing.errors import ValidationFailed
from billing.invoicing.runs import bill_subscription
from billing.lifecycle import create_subscription
from billing.metering.services import MAX_BATCH, ingest_events
from billing.models import Base
from billing.organizations.models import Organization
from billing.organizations.services import (
    create_admin,
    create_organization,
    find_organization_by_name,
    organization_for_api_key,
    rotate_api_key,
)
from billing.ports import runtime

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
]


# The local test Stripe of `make run` (localstripe accepts any sk_test_/pk_test_ key; the webhook secret is
# the demo's own). Test data only: nothing here is a real Stripe credential.
DEMO_STRIPE_URL = "http://127.0.0.1:8420"
DEMO_STRIPE_CODE = "stripe_test"
DEMO_STRIPE_SETTINGS = {"secret_key": "sk_test_tally_demo", "publishable_key": "pk_test_demo",  # noqa: S105
                        "webhook_secret": "whsec_tally_demo_webhooks"}
DEMO_STRIPE_WEBHOOK_ID = "tally-demo"


# The demo host product of `make run` (web/demo_host.py): another origin than Tally's, allowed to frame the widgets.
DEMO_HOST_ORIGIN = "http://localhost:5001"


@dataclass(frozen=True)
class DemoHost:
    origin: str
    key_file: Path
    new_key: bool  # a key was made (the first seed, a reset, the file lost): the host must be (re)started


@dataclass(frozen=True)
class DemoStripe:
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
    stripe: DemoStripe | None = None  # None: TALLY_DEMO_STRIPE=off
    host: DemoHost | None = None  # None: TALLY_DEMO_HOST=off


def seed_demo(*, reset: bool = False, stripe_url: str | None = None, host_origin: str | None = None,
              host_key_file: Path | None = None) -> DemoResult:
    """Create the demo organization unless it exists (with `reset`, delete it and create it again).

    With `stripe_url`, connect it to the local test Stripe there (again on each seed: localstripe forgets
    its webhooks when it restarts). With `host_origin` and `host_key_file`, prepare the demo host product
    (`prepare_demo_host`).
    """
    organization_id = find_organization_by_name(DEMO_ORGANIZATION)
    if organization_id is not None and reset:
        delete_organization_data(organization_id)
        organization_id = None
    if organization_id is not None:
        _ensure_admin(organization_id)
        stripe = connect_demo_stripe(organization_id, stripe_url) if stripe_url else None
        host = prepare_demo_host(organization_id, host_origin, host_key_file) if host_origin and host_key_file \
            else None
        return DemoResult(organization_id=organization_id, organization_name=DEMO_ORGANIZATION,
                          admin_email=DEMO_ADMIN_EMAIL, admin_password=DEMO_ADMIN_PASSWORD,
                          portal_url=_portal_url(organization_id), api_key=None, created=False,
                          customers=_count(organization_id, "customers"), events=_count(organization_id, "events"),
                          invoices=_count(organization_id, "invoices"), stripe=stripe, host=host)

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
    stripe = connect_demo_stripe(organization_id, stripe_url) if stripe_url else None
    host = prepare_demo_host(organization_id, host_origin, host_key_file) if host_origin and host_key_file else None
    return DemoResult(organization_id=organization_id, organization_name=DEMO_ORGANIZATION,
                      admin_email=DEMO_ADMIN_EMAIL, admin_password=DEMO_ADMIN_PASSWORD,
                      portal_url=_portal_url(organization_id), api_key=created.api_key, created=True,
                      customers=len(CUSTOMERS), events=events, invoices=len(invoices), stripe=stripe, host=host)


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
    request = urllib.request.Request(f"{stripe_url}/v1/customers?limit=1",  # noqa: S310 (http only: cli)
                                     headers={"Authorization": f"Bearer {DEMO_STRIPE_SETTINGS['secret_key']}"})
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


def connect_demo_stripe(organization_id: str, stripe_url: str = DEMO_STRIPE_URL, *, wait: float = 5.0) -> DemoStripe:
    """Connect the demo organization to the local test Stripe and link its customers; say why not if it is down."""
    from billing.customers.services import upsert_customer
    from billing.payments.providers import connect_provider

    stripe_url = stripe_url.rstrip("/")
    if not _stripe_answers(stripe_url, wait):
        return DemoStripe(False, f"no local Stripe answers at {stripe_url}: card payments are off in the demo "
                                 f"(start one with `python -m tests.servers.stripe --port 8420`, then seed again)")
    connect_provider(organization_id=organization_id, kind="stripe", code=DEMO_STRIPE_CODE, name="Stripe (local test)",
                     settings={**DEMO_STRIPE_SETTINGS, "api_base": stripe_url})
    try:
        _register_stripe_webhook(stripe_url, organization_id)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return DemoStripe(False, f"the local Stripe at {stripe_url} refused its webhook ({error}): seed again")
    for customer in CUSTOMERS:
        upsert_customer(organization_id=organization_id, data={
            "external_id": customer.external_id,
            "billing_configuration": {"payment_provider": "stripe", "payment_provider_code": DEMO_STRIPE_CODE,
                                      "sync_with_provider": True}})
    _wait_for_jobs()  # the customers created at Stripe
    return DemoStripe(True, f"local test Stripe at {stripe_url} (code {DEMO_STRIPE_CODE}): add the card "
                            f"4242 4242 4242 4242 in the portal and pay an invoice")


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


def _ensure_admin(organization_id: str) -> None:
    try:
        create_admin(email=DEMO_ADMIN_EMAIL, password=DEMO_ADMIN_PASSWORD, organization_id=organization_id)
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
        upsert_customer(organization_id=organization_id, data={
            "external_id": customer.external_id, "name": customer.name, "legal_name": customer.name,
            "email": customer.email, "customer_type": "company", "currency": DEMO_CURRENCY,
            "address_line1": customer.address_line1, "zipcode": customer.zipcode, "city": customer.city,
            "country": customer.country,
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
    from billing.subscriptions.models import Subscription
    from billing.subscriptions.periods import terms_of
    from billing.subscriptions.schedule import billings

    due: dict[datetime, list[str]] = {}
    with db.read_only() as session:
        for subscription in session.scalars(sa.select(Subscription).where(Subscription.id.in_(subscription_ids))):
            for billing in billings(terms_of(subscription), now):
                due.setdefault(billing.boundary, []).append(subscription.id)
    invoices: list[str] = []
    real_clock = runtime.clock
    try:
        for moment in sorted(due):
            runtime.clock = _FixedClock(moment)
            for subscription_id in due[moment]:
                invoices += bill_subscription(subscription_id=subscription_id, at=moment)
    finally:
        runtime.clock = real_clock
    # Whatever is still due (nothing, unless the periods above disagree with the clock's) is billed now.
    for subscription_id in subscription_ids:
        invoices += bill_subscription(subscription_id=subscription_id, at=now)
    return invoices


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


def delete_organization_data(organization_id: str) -> None:
    """Delete an organization and every row that belongs to it, children first (for `seed-demo --reset`)."""
    tables = Base.metadata.sorted_tables
    with db.unit_of_work() as uow:
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
