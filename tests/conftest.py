"""Shared fixtures: a real database (PostgreSQL when DATABASE_URL says so, else SQLite), real Redis
when REDIS_URL is set, the app served over real HTTP, an organization with an API key, and a
controllable clock.

Each test starts from empty tables; the schema is built once per run by the Alembic migrations,
so the migrations themselves are tested on both databases.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from billing import db, ports
from billing.adapters.clock import SystemClock
from billing.metering.sql_store import SqlEventStore
from billing.metering.store import CLICKHOUSE, POSTGRES, configure_event_store
from billing.models import Base
from billing.settings import Settings


def pytest_sessionstart(session) -> None:
    """The translation catalogs are compiled by `make install`; a plain pytest run compiles what is missing."""
    from billing.i18n import compile_catalogs

    compile_catalogs()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tmp_instance() -> Path:
    return Path(tempfile.mkdtemp(prefix="tally-test-"))


@pytest.fixture(scope="session")
def database_url(tmp_instance: Path) -> str:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_instance / 'test.db'}"
    if url.startswith("postgresql"):
        engine = db.make_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()
    from web.cli import upgrade_database

    upgrade_database(url)
    return url


@pytest.fixture(scope="session")
def server_port() -> int:
    return _free_port()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_instance: Path, server_port: int) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=os.environ.get("REDIS_URL") or None,
        secret_key="test-secret-key-not-for-production",
        base_url=f"http://127.0.0.1:{server_port}",
        instance_path=tmp_instance,
        files_path=tmp_instance / "files",
        embedded_clock=False,
        rollup_delay=0,
        scrypt_n=2**14,  # a sign-in per test at OWASP's 2**17 (≈ 0.3 s each) would slow the suite down
    )


@pytest.fixture(scope="session")
def app(settings: Settings):
    from web import create_app

    app = create_app(settings, start_clock=False)
    app.config.update(TESTING=True)
    return app


@pytest.fixture(scope="session")
def live_server(app, server_port: int) -> str:
    """The app served over real HTTP on 127.0.0.1 (threaded werkzeug), for clients and the browser."""
    server = make_server("127.0.0.1", server_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def localstripe() -> str:
    """localstripe, the local test Stripe (tests/servers/stripe.py), on 127.0.0.1: its base URL."""
    from tests.servers.stripe import start_localstripe

    return start_localstripe()


@pytest.fixture(scope="session")
def adyen_server() -> str:
    """The fake of Adyen's Checkout API (tests/fakes/adyen.py), on 127.0.0.1: its base URL (the api_base)."""
    from tests.fakes.adyen import start_adyen

    return start_adyen()


@pytest.fixture(scope="session")
def gocardless_server() -> str:
    """The fake of GoCardless's API (tests/fakes/gocardless.py), on 127.0.0.1: its base URL (the api_base)."""
    from tests.fakes.gocardless import start_gocardless

    return start_gocardless()


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "both_stores: run the test on the SQL event store and again on the ClickHouse "
                                       "store (chDB in-process): the store's tests, metering, usage and invoicing")


def pytest_generate_tests(metafunc) -> None:
    """A test marked `both_stores` runs once per event store (the `events_store` fixture's parameter)."""
    if "events_store" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_stores"):
        metafunc.parametrize("events_store", [POSTGRES, CLICKHOUSE], indirect=True)


@pytest.fixture(scope="session")
def clickhouse_store(tmp_instance: Path):
    """The ClickHouse event store on chDB (ClickHouse in this process), its tables made by its migrations."""
    from billing.metering.clickhouse_store import ClickHouseEventStore

    store = ClickHouseEventStore(f"chdb://{tmp_instance / 'chdb'}")
    store.migrate()
    return store


@pytest.fixture(autouse=True)
def events_store(request):
    """The event store the test runs on: the SQL store, or the ClickHouse store for a `both_stores` test's
    second run (emptied first; the SQL store is put back after)."""
    kind = getattr(request, "param", POSTGRES)
    if kind != CLICKHOUSE:
        yield kind
        return
    request.getfixturevalue("app")
    store = request.getfixturevalue("clickhouse_store")
    store.clear()
    configure_event_store(store)
    yield kind
    configure_event_store(SqlEventStore())


@pytest.fixture(autouse=True)
def clean_state(request):
    """Empty every table (and the Redis queue) before each test that uses the database."""
    if "app" not in request.fixturenames and "database_url" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("app")
    engine = db.engine()
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    # DELETE, children first, on PostgreSQL too: a test leaves a few rows, and a TRUNCATE of every table (new
    # files for each) took 0.25-1 s per test against 0.01 s. Only the append-only audit log, whose trigger
    # refuses a DELETE, is truncated. Identities go on counting, as on SQLite.
    with engine.begin() as connection:
        for table in tables:
            if engine.dialect.name == "postgresql" and table == "audit_log":
                connection.execute(sa.text("TRUNCATE audit_log"))
            else:
                connection.execute(sa.text(f"DELETE FROM {table}"))
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        from redis import Redis

        Redis.from_url(redis_url).flushdb()
    from web.extensions import limiter

    limiter.reset()  # sign-in attempts counted by earlier tests
    yield
    ports.configure(clock=SystemClock())


class FrozenClock:
    """A clock the test moves by hand; every layer (API, jobs, clock) reads time through it."""

    def __init__(self, now: datetime):
        self.current = now

    def now(self) -> datetime:
        return self.current

    def set(self, moment: datetime | str) -> None:
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        self.current = moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@pytest.fixture
def clock(app) -> FrozenClock:
    frozen = FrozenClock(datetime(2026, 11, 10, 12, 0, tzinfo=UTC))
    ports.configure(clock=frozen)
    return frozen


@pytest.fixture
def allow_private_webhooks(app, monkeypatch):
    """Let webhooks go to 127.0.0.1 (the tests' receivers), as TALLY_WEBHOOK_ALLOW_PRIVATE_NETWORKS=1 does."""
    monkeypatch.setattr(ports.runtime, "webhook_allow_private_networks", True)


@dataclass(frozen=True)
class Org:
    id: str
    api_key: str


@pytest.fixture
def org(app) -> Org:
    from billing.organizations.services import create_organization

    created = create_organization(name="Acme Cloud", default_currency="EUR")
    return Org(id=created.organization_id, api_key=created.api_key)


@pytest.fixture
def lago(live_server: str, org: Org):
    """The official lago-python-client, talking to Tally over HTTP."""
    from lago_python_client.client import Client

    return Client(api_key=org.api_key, api_url=live_server)


@pytest.fixture
def run_jobs(app):
    """Run every queued background job to completion: a real RQ worker (burst) when Redis is configured,
    else the in-process runner."""

    def run() -> None:
        dispatcher = app.extensions["tally_dispatcher"]
        if hasattr(dispatcher, "queue"):
            from rq import SimpleWorker

            SimpleWorker([dispatcher.queue], connection=dispatcher.connection).work(burst=True)
        else:
            dispatcher.join()

    return run
