"""Bytes per event on disk in the ClickHouse event store (docs/deployment.md's arithmetic).

    .venv/bin/python -m bench.clickhouse_bytes [--events 1000000] [--subscriptions 1000] [--organizations 10]

`--events` rows as bench/rows.py makes them (60 % api_calls, 25 % storage, 15 % compute with a region filter;
their properties), with random UUIDs as transaction ids (what clients send; a sequential id would compress far
better), spread over `--organizations` and `--subscriptions` and over 30 days, loaded into a fresh chDB directory
migrated by the store's own migrations (raw_insert, TabSeparated, 250,000-row blocks), merged (OPTIMIZE FINAL: the
state merges reach), then system.parts and system.projection_parts read: compressed and uncompressed bytes of the
table and of its projection `by_transaction`, per event.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import uuid
from datetime import UTC, datetime, timedelta

from bench.rows import event_row

CH_COLUMNS = ("id", "organization_id", "transaction_id", "external_subscription_id", "subscription_id", "code",
              "timestamp", "properties", "precise_total_amount_cents", "value", "unique_value", "operation",
              "group_key", "error", "created_at", "revision")
BLOCK = 250_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--subscriptions", type=int, default=1_000)
    parser.add_argument("--organizations", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(measure(args.events, args.subscriptions, args.organizations), indent=2))


def measure(events: int, subscriptions: int, organizations: int) -> dict:
    import clickhouse_connect

    from billing.metering.clickhouse_store import ClickHouseEventStore

    directory = tempfile.mkdtemp(prefix="tally-bench-chdb-")
    store = ClickHouseEventStore(f"chdb://{directory}")
    store.migrate()
    client = clickhouse_connect.get_client(dsn=f"chdb://{directory}")
    rng = random.Random(21)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    created_at = "2026-12-01 00:00:00"
    orgs = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(organizations)]
    subs = [(orgs[i % organizations], f"sub_{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}",
             str(uuid.UUID(int=rng.getrandbits(128)))) for i in range(subscriptions)]
    for first in range(0, events, BLOCK):
        count = min(BLOCK, events - first)
        lines = []
        for i in range(first, first + count):
            organization, external, internal = subs[rng.randrange(subscriptions)]
            line = event_row(rng, organization_id=organization, transaction_id=str(uuid.UUID(int=rng.getrandbits(128))),
                             external_subscription_id=external, subscription_id=internal,
                             timestamp=start + timedelta(seconds=rng.random() * 30 * 86_400), created_at=created_at)
            lines.append(b"%d\t%b\t0\n" % (i + 1, line.rstrip("\n").encode()))
        client.raw_insert("events", CH_COLUMNS, insert_block=b"".join(lines), fmt="TabSeparated",
                          settings={"async_insert": 0})
    client.command("OPTIMIZE TABLE events FINAL")
    [(rows, compressed, uncompressed, on_disk, parts)] = client.query(
        "SELECT sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes), sum(bytes_on_disk), count() "
        "FROM system.parts "
        "WHERE table = 'events' AND active").result_rows
    [(projection_compressed, projection_uncompressed)] = client.query(
        "SELECT sum(data_compressed_bytes), sum(data_uncompressed_bytes) FROM system.projection_parts "
        "WHERE table = 'events' AND active").result_rows
    columns = client.query(
        "SELECT column, sum(column_data_compressed_bytes) AS c FROM system.parts_columns "
        "WHERE table = 'events' AND active GROUP BY column ORDER BY c DESC").result_rows
    client.close()
    shutil.rmtree(directory, ignore_errors=True)
    return {
        "events": int(rows), "subscriptions": subscriptions, "organizations": organizations, "active_parts": int(parts),
        "compressed_bytes": int(compressed), "uncompressed_bytes": int(uncompressed), "bytes_on_disk": int(on_disk),
        "projection_compressed_bytes": int(projection_compressed or 0),
        "projection_uncompressed_bytes": int(projection_uncompressed or 0),
        "bytes_per_event_compressed": round(int(compressed) / int(rows), 1),
        "bytes_per_event_uncompressed": round(int(uncompressed) / int(rows), 1),
        "bytes_per_event_on_disk": round(int(on_disk) / int(rows), 1),
        "compressed_bytes_per_event_by_column": {name: round(int(size) / int(rows), 2) for name, size in columns},
    }


if __name__ == "__main__":
    main()
