"""The pool pings a connection only after it sat idle (billing.db): a server that dropped it is noticed
there, or by the first statement, and the connection is replaced either way."""

from __future__ import annotations

import os

import psycopg
import pytest
from sqlalchemy import exc, text

from billing import db

pytestmark = pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgresql"),
                                reason="SQLite has no server to drop a connection")


@pytest.fixture(autouse=True)
def fresh_pool_after(app):
    yield
    db.engine().dispose()  # the other dropped connections must not meet the next test


def _drop_every_pooled_connection() -> None:
    """What a server restart does to the pool's connections (this one is not the pool's)."""
    url = db.engine().url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def _backend_pid() -> int:
    with db.engine().connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_dropped_while_idle_is_pinged_and_replaced(app, monkeypatch):
    before = _backend_pid()  # a connection now idle in the pool
    _drop_every_pooled_connection()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # it sat idle long enough
    assert _backend_pid() != before  # the ping failed, the pool took a new connection: no error


def test_a_connection_dropped_a_moment_ago_fails_once_then_is_replaced(app, monkeypatch):
    _backend_pid()
    _drop_every_pooled_connection()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)  # in use a moment ago: not pinged
    with pytest.raises(exc.OperationalError):
        _backend_pid()
    assert _backend_pid() > 0  # discarded after its failure: the next checkout connects again
