"""Event rows as Tally stores them (derived columns included), in COPY text format.

Used to load events fast (the usage benchmark) and to build the COPY references of the ingest
benchmark. The mix matches bench/wrk/events.lua: api_calls 60 %, storage 25 %, compute 15 %.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from billing.metering.aggregation import group_key

COLUMNS = ("organization_id", "transaction_id", "external_subscription_id", "subscription_id", "code", "timestamp",
           "properties", "precise_total_amount_cents", "value", "unique_value", "operation", "group_key", "error",
           "created_at")
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
PATHS = ["/v1/items", "/v1/orders", "/v1/users/me", "/v1/search", "/v1/reports/daily"]
REGIONS = ["eu-west-1", "us-east-1", "ap-south-1"]
INSTANCES = ["m5.large", "c6g.xlarge", "t3.micro"]
GROUP_KEYS = {region: group_key({"region": region}, ["region"]) for region in REGIONS}


def _naive(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def event_row(rng: random.Random, *, organization_id: str, transaction_id: str, external_subscription_id: str,
              subscription_id: str | None, timestamp: datetime, created_at: str, code: str | None = None) -> str:
    """One COPY line (tab separated, \\N for NULL)."""
    r = rng.random()
    if code == "api_calls" or (code is None and r < 0.60):
        code = "api_calls"
        properties = {"method": rng.choice(METHODS), "path": rng.choice(PATHS),
                      "status": 200 if rng.random() < 0.97 else 500, "latency_ms": rng.randint(1, 900)}
        value, key = None, ""
    elif code == "storage" or (code is None and r < 0.85):
        code = "storage"
        value = f"{rng.randint(0, 50)}.{rng.randint(0, 99):02d}"
        properties = {"gb": value, "bucket": f"b-{rng.randint(1, 20)}"}
        key = ""
    else:
        code = "compute"
        region = rng.choice(REGIONS)
        seconds = rng.randint(1, 3600)
        properties = {"region": region, "seconds": seconds, "instance": rng.choice(INSTANCES)}
        value, key = str(seconds), GROUP_KEYS[region]
    return "\t".join((
        organization_id, transaction_id, external_subscription_id, subscription_id or r"\N", code,
        _naive(timestamp), json.dumps(properties, separators=(",", ":")), r"\N", value if value is not None else r"\N",
        r"\N", "add", key, r"\N", created_at)) + "\n"


def copy_text(n: int, *, organization_id: str, subscriptions: dict[str, str | None], start: datetime, end: datetime,
              prefix: str, seed: int = 42, ordered: bool = True) -> bytes:
    """`n` events spread over [start, end) (in timestamp order when `ordered`, as they arrive in real life)."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    offsets = [rng.random() * span for _ in range(n)]
    if ordered:
        offsets.sort()
    created_at = _naive(datetime.now(UTC))
    externals = list(subscriptions)
    lines = []
    for i, offset in enumerate(offsets):
        external = externals[i % len(externals)] if len(externals) > 1 else externals[0]
        lines.append(event_row(rng, organization_id=organization_id, transaction_id=f"{prefix}-{i}",
                               external_subscription_id=external, subscription_id=subscriptions[external],
                               timestamp=start + timedelta(seconds=offset), created_at=created_at))
    return "".join(lines).encode()


def column_list() -> str:
    return ", ".join(f'"{c}"' for c in COLUMNS)


def copy_into(conn, table: str, data: bytes, chunk: int = 1 << 20) -> None:
    """COPY `data` (from copy_text) into `table` on an open psycopg connection (the caller commits)."""
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({column_list()}) FROM STDIN") as copy:
        for offset in range(0, len(data), chunk):
            copy.write(data[offset:offset + chunk])
