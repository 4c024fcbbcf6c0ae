"""Database plumbing: the declarative Base, portable column types and the unit of work."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Any

from sqlalchemy import JSON, Numeric, String, create_engine, event, exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import DateTime, TypeDecorator

from billing import events
from billing.ports import runtime

log = logging.getLogger(__name__)
# Reading a stored decimal back never rounds it (Python's default context keeps 28 digits; a column holds 40).
_EXACT = Context(prec=1000)


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """Now, as the process's clock says: real time in production, a test's or `billing run --at`'s clock otherwise."""
    return runtime.clock.now()


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone: store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# NUMERIC(40,15) holds 25 digits before the point: a larger number must be refused before it is
# written (PostgreSQL would fail the whole statement with "numeric field overflow").
PRECISE_LIMIT = Decimal(10) ** 25


def fits_precise(value: Decimal) -> bool:
    """Whether a PreciseDecimal column can store `value`."""
    return abs(value) < PRECISE_LIMIT


class PreciseDecimal(TypeDecorator):
    """NUMERIC(40,15) on PostgreSQL; an exact decimal string on SQLite (whose NUMERIC is a float)."""

    impl = Numeric(40, 15)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(40, 15, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = Decimal(value)
        return format(value, "f") if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        # normalize() in a context wide enough never to round (the default's 28 digits would round a 40-digit value)
        return Decimal(value).normalize(_EXACT) if isinstance(value, str) else Decimal(value)


class AggregateDecimal(PreciseDecimal):
    """A sum or other aggregate of PreciseDecimals: NUMERIC without limits on PostgreSQL.

    Any number of storable values must add up without "numeric field overflow", which would stop
    the job folding them for every tenant (the rollups' Σ value × Unix seconds grows 10⁹ times
    faster than the values).
    """

    impl = Numeric()
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(asdecimal=True))


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    type_annotation_map = {
        datetime: UTCDateTime(),
        Decimal: PreciseDecimal(),
        dict: JSONType,
        list: JSONType,
    }


def _lower(value: object) -> str | None:
    return None if value is None else str(value).lower()


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # NOTE: pysqlite's own transaction handling is switched off so that every
            # transaction starts with BEGIN IMMEDIATE: SQLite then serializes writers at
            # BEGIN instead of failing one of them with "database is locked" mid-transaction.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            # NOTE: SQLite's own lower() folds ASCII letters only; PostgreSQL's (in a UTF-8 locale) folds every
            # letter: with this one, a search for "émile" finds "Émile" on both (billing.screens.listing.contains).
            dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # NOTE: no parallel query and no JIT compilation: on a small machine, starting workers costs more
    # (~5 ms) than the short index scans of usage reads they were planned for, and a usage read over a
    # month cut by local days (the charts) is estimated above jit_above_cost, as the watermark is a run-time
    # value: compiling it took 210 ms of its 220 (EXPLAIN ANALYZE, bench/usage_volume.py), running it 5 ms.
    # A server that does not answer fails a new connection after connect_timeout seconds, not the
    # system's TCP timeout (minutes): a request then answers 503 (web.faults) instead of hanging.
    engine = create_engine(url, pool_size=10, max_overflow=20,
                           connect_args={"options": "-c max_parallel_workers_per_gather=0 -c jit=off",
                                         "connect_timeout": 5})
    _ping_idle_connections(engine)
    return engine


# SQLSTATE classes meaning "the server cannot serve this connection now": 08 connection exception,
# 57P operator intervention (terminated by an administrator, crash shutdown, cannot connect now).
_UNAVAILABLE_SQLSTATES = ("08", "57P")


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database could not be reached or dropped the connection (not a bad statement).

    SQLAlchemy marks a lost connection (`connection_invalidated`); a driver error raised on a raw
    connection (billing.db.driver_connection) is read from its SQLSTATE: none at all means the
    connection itself failed (refused, closed by the server).
    """
    if isinstance(error, exc.DisconnectionError):
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig
    psycopg = sys.modules.get("psycopg")  # not imported: the error cannot be one of its
    if psycopg is not None and isinstance(error, psycopg.OperationalError):
        sqlstate = getattr(error, "sqlstate", None)
        return sqlstate is None or sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
    return False


# A pooled connection is pinged before use only when it sat idle this long: pinging every checkout
# (pool_pre_ping) cost a round trip per request, and one in use a moment ago is alive. A server
# restart is still noticed: by the ping after the idle time, or by the failed statement, after
# which SQLAlchemy discards the connection.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
            return  # a new connection, or one in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as failure:
            # The pool discards this connection and checks out another (SQLAlchemy's recipe).
            raise exc.DisconnectionError() from failure


_engine: Engine | None = None
_session_factory: sessionmaker[Session] | None = None


def configure(url: str) -> Engine:
    """Bind the core to a database; called once by the app factory, the worker or the CLI."""
    global _engine, _session_factory
    if _engine is not None:
        _engine.dispose()
    _engine = make_engine(url)
    _session_factory = sessionmaker(bind=_engine, expire_on_commit=False)
    return _engine


def engine() -> Engine:
    if _engine is None:
        raise RuntimeError("billing.db.configure(url) was not called")
    return _engine


def is_configured() -> bool:
    return _engine is not None


_AFTER_COMMIT = "tally_after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the unit of work owning `session` has committed; never if it rolls back.

    For helpers that are handed only a session (billing.webhooks.emit): what they ask for rides on
    the session until `unit_of_work` commits.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@dataclass
class UnitOfWork:
    session: Session

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the transaction has committed (e.g. enqueue a job by id)."""
        after_commit(self.session, callback)

    def publish(self, event: object) -> None:
        """Tell the event's subscribers (billing.events) now, in this transaction, before it commits."""
        events.publish(self.session, event)


@contextmanager
def unit_of_work() -> Iterator[UnitOfWork]:
    """One transaction: commit on success, roll back on any exception, then run after-commit hooks."""
    if _session_factory is None:
        raise RuntimeError("billing.db.configure(url) was not called")
    session = _session_factory()
    uow = UnitOfWork(session=session)
    try:
        yield uow
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        callbacks = session.info.pop(_AFTER_COMMIT, [])
        session.close()
    run_after_commit(callbacks)


def run_after_commit(callbacks: list[Callable[[], None]]) -> None:
    """Run what a committed transaction asked for; a failure is logged, never raised.

    The data is committed whatever happens here: a failed enqueue (Redis down) is logged, and the
    work it asked for is idempotent and picked up again by the clock or on demand.
    """
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("after-commit callback failed")


@contextmanager
def driver_connection() -> Iterator[Any]:
    """A pooled connection of the driver itself (psycopg), for a hot path that speaks SQL directly,
    e.g. one autocommitted statement per request (metering ingestion).

    Back in the pool, a transaction left open is rolled back.
    """
    connection = engine().raw_connection()
    try:
        yield connection.driver_connection
    finally:
        connection.close()


@contextmanager
def read_only() -> Iterator[Session]:
    """A session for queries that change nothing; its objects stay readable after it closes.

    close() (not rollback(), which would expire every loaded object) ends the transaction.
    """
    shared = _page_session.get()
    if shared is not None:
        yield shared
        return
    if _session_factory is None:
        raise RuntimeError("billing.db.configure(url) was not called")
    session = _session_factory()
    try:
        yield session
    finally:
        session.close()


@contextmanager
def read_snapshot() -> Iterator[Session]:
    """A read-only session whose queries all see one snapshot of the database.

    PostgreSQL: REPEATABLE READ, so a usage query combining rollups and raw events cannot see the
    rollup job's commit between two of its statements. SQLite's transactions are serializable.
    """
    shared = _page_session.get()
    if shared is not None:
        yield shared
        return
    if _session_factory is None:
        raise RuntimeError("billing.db.configure(url) was not called")
    session = _session_factory()
    try:
        if session.bind.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield session
    finally:
        session.close()


# The session of the page being read (one_read below), shared by every read_only() and read_snapshot() inside.
_page_session: ContextVar[Session | None] = ContextVar("tally_page_session", default=None)


@contextmanager
def one_read() -> Iterator[None]:
    """Every read_only() and read_snapshot() inside shares one session, one connection and one snapshot.

    For a page that only reads and shows a dozen parts (the portal, a widget): each part kept its own session,
    so its own pooled connection, transaction and customer row (12 sessions, 25 statements for the portal's
    overview); shared, an object read once is found again in the identity map, and every part shows the
    same moment. Writes (unit_of_work) keep their own sessions: nothing written inside is read back here.
    """
    if _page_session.get() is not None:
        yield
        return
    with read_snapshot() as session:
        # The identity map holds objects weakly: a part's customer, gone once the part made its view of it, would be
        # read again by the next part. Held here until the page is done.
        held = session.info.setdefault("held", [])
        event.listen(session, "loaded_as_persistent", lambda _session, instance: held.append(instance))
        token = _page_session.set(session)
        try:
            yield
        finally:
            _page_session.reset(token)
