"""The event store: what Tally needs from wherever its events live, and which store answers.

Two stores implement `EventStore`: the SQL store (`sql_store`, the events table of the ledger's own
database: PostgreSQL, or SQLite in the embedded mode) and the ClickHouse store (`clickhouse_store`),
chosen by TALLY_EVENTS_STORE (docs/metering.md, "ClickHouse event store"). Everything above this port
(usage, invoicing, wallets, alerts, the API and the screens) reads and writes events through it only.

Event ids grow with every stored event, in both stores: the consumers (rollup, pay-in-advance billing,
alerts, wallets, progressive billing) follow them with a watermark up to `settled_high_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple, Protocol

from sqlalchemy.orm import Session

if TYPE_CHECKING:  # the port names types of the modules behind it, which import it
    from billing.catalog.models import BillableMetric  # types only
    from billing.metering.aggregation import GroupUsage  # types only
    from billing.metering.services import StoredEvent  # types only: services imports this port
    from billing.metering.usage import UsageQuery  # types only: the SQL store's usage module
    from billing.pagination import Page  # types only

POSTGRES, CLICKHOUSE = "postgres", "clickhouse"
STORES = (POSTGRES, CLICKHOUSE)
# The SQL store's tables in the ledger's database (its events and their rollups): written and deleted by that store
# only, so that a caller deleting an organization's rows leaves them to `forget_organization`.
SQL_STORE_TABLES = frozenset({"events", "usage_rollups", "usage_daily_rollups", "usage_unique_values"})


class EventRecord(NamedTuple):
    """One stored event with what its metric made of it: what the consumers of new events read."""

    id: int
    organization_id: str
    transaction_id: str
    external_subscription_id: str
    subscription_id: str | None
    code: str
    timestamp: datetime
    precise_total_amount_cents: Decimal | None
    value: Decimal | None
    unique_value: str | None
    operation: str
    group_key: str
    error: str | None


class EventStore(Protocol):
    """Every read and write of events. `session` is the ledger's session of the caller: the SQL store reads
    in it (one snapshot with the ledger), the ClickHouse store uses it only for the ledger's locks and ids."""

    name: str

    def store_events(self, session: Session, organization_id: str, rows: list[dict]) -> dict[str, int]:
        """Store the rows whose transaction id is new to the organization, inside the ingestion's transaction
        (its insert barrier and catalog lock held); returns {transaction_id: id} of the rows stored."""

    def find_events(self, organization_id: str, transaction_ids: Sequence[str]) -> list[StoredEvent]:
        """The stored events of these transaction ids (those that exist)."""

    def list_events(self, *, organization_id: str, external_subscription_ids: Sequence[str] | None = None,
                    code: str | None = None, timestamp_from: datetime | None = None,
                    timestamp_to: datetime | None = None, transaction_id: str | None = None, page: int = 1,
                    per_page: int = 20) -> Page:
        """The organization's events as `StoredEvent`s, latest first (timestamp, then id), filtered."""

    def subscription_usages(self, session: Session, *, organization_id: str,
                            requests: Sequence[tuple[str, UsageQuery]]) -> list[dict[str, GroupUsage]]:
        """Usage per filter group of each (external subscription id, query): see `metering.usage`."""

    def metric_events(self, session: Session, *, organization_id: str, external_subscription_id: str, code: str,
                      start: datetime, end: datetime, up_to_id: int | None = None) -> list[EventRecord]:
        """The counted events of one subscription's metric in [start, end) (ids <= up_to_id), in id order."""

    def settled_high_id(self) -> int:
        """The highest event id below which no insert is still in flight."""

    def events_between(self, session: Session, low: int, high: int) -> list[EventRecord]:
        """The events with low < id <= high, in id order."""

    def subscriptions_with_events(self, session: Session, low: int, high: int) -> set[tuple[str, str]]:
        """(organization id, external subscription id) of the events with low < id <= high."""

    def max_event_id(self, session: Session, organization_id: str) -> int:
        """The organization's highest event id (0: none)."""

    def roll_up(self, *, limit: int) -> int:
        """Fold up to `limit` ids' worth of new events into whatever the store pre-aggregates; the ids passed."""

    def rederive_metric(self, session: Session, metric: BillableMetric | None, *, organization_id: str,
                        code: str) -> int:
        """Recompute what the metric makes of each of its events, in the caller's transaction; how many."""

    def forget_organization(self, session: Session, organization_id: str) -> None:
        """Forget every event of one organization, and whatever the store derived from them (`seed-demo --reset`
        deleting the demo organization). The SQL store deletes in the caller's transaction; the ClickHouse store
        has deleted when the call returns, so a caller does it before its own commit (a retry deletes again)."""

    def clear(self) -> None:
        """Forget every event and what the store folded of them (tests, between two of them)."""


_store: EventStore | None = None


def configure_event_store(store: EventStore) -> None:
    global _store
    _store = store


def event_store() -> EventStore:
    """The configured store; the SQL store when none was configured (a script, the embedded mode)."""
    global _store
    if _store is None:
        _store = make_event_store(POSTGRES, None)
    return _store


def make_event_store(kind: str, clickhouse_url: str | None, clickhouse_cluster: str | None = None) -> EventStore:
    """The store TALLY_EVENTS_STORE names; refuses a ClickHouse store without CLICKHOUSE_URL. On a ClickHouse
    cluster (TALLY_CLICKHOUSE_CLUSTER), its tables are replicated and sharded by organization."""
    if kind == POSTGRES:
        from billing.metering.sql_store import SqlEventStore  # the stores import this port

        return SqlEventStore()
    if kind != CLICKHOUSE:
        raise ValueError(f"TALLY_EVENTS_STORE: {kind!r} is not one of {', '.join(STORES)}")
    if not clickhouse_url:
        raise ValueError("TALLY_EVENTS_STORE=clickhouse needs CLICKHOUSE_URL (e.g. http://127.0.0.1:8123/tally)")
    from billing.metering.clickhouse_store import ClickHouseEventStore  # clickhouse-connect only when chosen

    return ClickHouseEventStore(clickhouse_url, cluster=clickhouse_cluster)
