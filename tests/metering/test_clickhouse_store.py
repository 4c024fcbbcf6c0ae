"""What only the ClickHouse store has to prove: copies of an event never count twice, its schema migrates once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.db import read_snapshot
from billing.metering.clickhouse_store import MIGRATIONS
from billing.metering.services import ingest_events
from billing.metering.store import CLICKHOUSE, event_store
from billing.metering.usage import UsageQuery

pytestmark = pytest.mark.parametrize("events_store", [CLICKHOUSE], indirect=True)

AT = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def _count_usage(org_id: str) -> int:
    query = UsageQuery(code="calls", start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 12, 1, tzinfo=UTC))
    with read_snapshot() as session:
        [groups] = event_store().subscription_usages(session, organization_id=org_id, requests=[("sub", query)])
    return sum(group.during.events_count for group in groups.values())


def test_a_copy_not_merged_yet_is_read_once(org, clock, events_store):
    """A retried insert (the same rows again) and a re-derivation (a higher revision) leave copies until
    ClickHouse merges them: every read keeps one row per transaction id, of the highest revision."""
    ingest_events(organization_id=org.id, raw_events=[
        {"transaction_id": f"t{i}", "external_subscription_id": "sub", "code": "calls", "timestamp": AT.isoformat()}
        for i in range(3)])
    store = event_store()
    store._command("INSERT INTO events SELECT * FROM events")  # every row twice, as a retried insert leaves them
    store._command("INSERT INTO events SELECT * REPLACE (revision + 1 AS revision, NULL AS error) FROM events "
                   "WHERE transaction_id = 't0' LIMIT 1")  # t0 re-derived: counted now, once
    [(rows,)] = store._rows("SELECT count() FROM events")
    assert rows == 7
    assert store.list_events(organization_id=org.id).total_count == 3
    assert _count_usage(org.id) == 1  # only t0's newest revision has no error (metric_not_found)
    [t0] = store.find_events(org.id, ["t0"])
    assert t0["error"] is None


def test_migrations_apply_once(clickhouse_store, events_store):
    assert clickhouse_store.migrate() == []
    [(applied,)] = clickhouse_store._rows("SELECT count() FROM tally_migrations")
    assert applied == len(list(MIGRATIONS.glob("*.sql")))
