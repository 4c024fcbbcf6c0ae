"""Issue 21's benchmark: both event stores, PostgreSQL and ClickHouse, at 1M and 10M events, side by side in one run.

    .venv/bin/python -m bench.events_store [--events 1000000 10000000] [--stores postgres clickhouse]
                                           [--requests 200] [--ingest-seconds 20] [--connections 8]

For each size and each store, on a fresh bench database (and a fresh chDB directory):
 1. the catalog through the API (usage_volume's three metrics and plan) and six subscriptions, anniversary billing
    started 20 days ago: `bench_usage_sub` gets the N events, `bench_sub_1..5` get wrk's;
 2. the N events loaded by the fastest honest path of the store, timed: PostgreSQL `COPY` into `events` with the
    derived columns (as usage_volume), then the rollup job and `VACUUM ANALYZE`; ClickHouse: clickhouse-connect's
    `raw_insert` of the same rows (TabSeparated, the very bytes PostgreSQL copied) with the ids the store takes from
    the ledger's `event_ids` sequence, then the store's rollup (it only moves the watermark);
 3. the raw engine's own aggregate as the reference (`SELECT code, count(), sum(value) … GROUP BY code` on the events
    table, for the subscription and its period: psycopg / clickhouse-connect), and the same per filter group as the
    check: current_usage must equal it (events_count and units of each metric and filter);
 4. current_usage of the subscription over HTTP, sequentially: Tally's server time (Server-Timing) and the round trip;
 5. batch ingestion through the API with wrk (bench/wrk/events.lua: 100 events per request) for S seconds after a 3 s
    warm-up: events/s acknowledged, latency per request, and the rows of the run counted after (none lost, none twice).

chDB (ClickHouse in the process, clickhouse-connect's `chdb://` backend) is the only ClickHouse this machine reaches:
no server binary is installable here. chDB holds one engine per process, so with the ClickHouse store gunicorn runs ONE
process (with BENCH_THREADS threads), and this benchmark reads the chDB directory only in a process of its own while
gunicorn is stopped. The PostgreSQL store is served as shipped (gunicorn.conf.py).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench import common, usage_volume
from bench.common import Row, fmt, log, ms
from bench.rows import COLUMNS, GROUP_KEYS, copy_into, copy_text

SUB, CUSTOMER = usage_volume.SUB, usage_volume.CUSTOMER
POSTGRES, CLICKHOUSE = "postgres", "clickhouse"
TARGET_MS = 50  # issue 21: current usage at 10M events, p95 < 50 ms on the ClickHouse store
ROWS_PER_CHUNK = 250_000  # generated and loaded in chunks: 10M rows never sit in memory at once
READ_BYTES = 64 << 20
# Stand-ins written in the generated file, replaced by the run's organization and subscription ids.
ORG_TOKEN, SUB_TOKEN = "@org@", "@sub@"
CH_COLUMNS = ("id", *COLUMNS, "revision")
REFERENCE = {
    POSTGRES: ('SELECT code, count(*), sum(value) FROM events WHERE organization_id = %(org)s '
               'AND external_subscription_id = %(sub)s AND "timestamp" >= %(start)s AND "timestamp" < %(end)s '
               'GROUP BY code'),
    CLICKHOUSE: ("SELECT code, count(), sum(value) FROM events WHERE organization_id = {org:String} "
                 "AND external_subscription_id = {sub:String} AND timestamp >= {start:DateTime64(6, 'UTC')} "
                 "AND timestamp < {end:DateTime64(6, 'UTC')} GROUP BY code"),
}
BY_GROUP = {
    POSTGRES: ('SELECT code, group_key, count(*), coalesce(sum(value), 0) FROM events WHERE organization_id = %(org)s '
               'AND external_subscription_id = %(sub)s AND "timestamp" >= %(start)s AND "timestamp" < %(end)s '
               'GROUP BY code, group_key'),
    CLICKHOUSE: ("SELECT code, group_key, count(), sum(ifNull(value, toDecimal128(0, 15))) FROM events "
                 "WHERE organization_id = {org:String} AND external_subscription_id = {sub:String} "
                 "AND timestamp >= {start:DateTime64(6, 'UTC')} AND timestamp < {end:DateTime64(6, 'UTC')} "
                 "GROUP BY code, group_key"),
}


def main(argv: list[str]) -> tuple[list[Row], dict]:
    parser = argparse.ArgumentParser(prog="python -m bench.events_store")
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--stores", nargs="+", choices=(POSTGRES, CLICKHOUSE), default=[POSTGRES, CLICKHOUSE])
    parser.add_argument("--requests", type=int, default=200, help="current_usage requests per store and size")
    parser.add_argument("--ingest-seconds", type=int, default=20, help="seconds of wrk load per store and size")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--reference-runs", type=int, default=7)
    args = parser.parse_args(argv)
    common.require_wrk()
    payload: dict = {"environment": common.environment(), "load_average_at_start": os.getloadavg(), "runs": []}
    log(f"events_store: sizes {args.events}, stores {args.stores}; load average {os.getloadavg()[0]:.2f}")
    if CLICKHOUSE in args.stores:
        log("events_store: the ClickHouse store runs on chDB (ClickHouse in the process: no ClickHouse server binary "
            "is reachable from this machine), so its server is ONE gunicorn process with "
            f"{common.THREADS} threads; PostgreSQL's is gunicorn as shipped ({common.WORKERS} x {common.THREADS})")
    for n in args.events:
        n = min(n, 20_000_000)
        events = events_file(n)
        for store in args.stores:
            payload["runs"].append(run_store(store, n, events, args))
            common.save("events_store", payload)
    payload["load_average_at_end"] = os.getloadavg()
    common.save("events_store", payload)
    return rows(payload), payload


# ---------------------------------------------------------------- the events, generated once per size


def events_file(n: int) -> dict:
    """The N events of the usage subscription in COPY text, generated once (reused while still in a 20-day period).

    Chunks of usage_volume's rows (bench.rows.copy_text) over consecutive slices of the 20 days, so the whole stays in
    timestamp order; the organization and subscription ids are tokens replaced when a chunk is loaded.
    """
    path = common.OUT / f"events-{n}.tsv"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text())
        if datetime.fromisoformat(info["subscribed_at"]) > datetime.now(UTC) - timedelta(days=25):
            log(f"events_store: reusing {path} ({n:,} events from {info['subscribed_at']})")
            return info
    subscribed_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
    start, end = subscribed_at + timedelta(seconds=1), datetime.now(UTC) - timedelta(minutes=2)
    chunks = -(-n // ROWS_PER_CHUNK)
    step = (end - start) / chunks
    started = time.perf_counter()
    with path.open("wb") as out:
        for k in range(chunks):
            count = min(ROWS_PER_CHUNK, n - k * ROWS_PER_CHUNK)
            out.write(copy_text(count, organization_id=ORG_TOKEN, subscriptions={SUB: SUB_TOKEN},
                                start=start + k * step, end=start + (k + 1) * step, prefix=f"vol{k}", seed=k))
    info = {"path": str(path), "events": n, "subscribed_at": subscribed_at.isoformat(),
            "generated_s": round(time.perf_counter() - started, 1)}
    meta.write_text(json.dumps(info))
    log(f"events_store: generated {n:,} events in {info['generated_s']} s ({path.stat().st_size >> 20} MiB)")
    return info


def chunks_of(path: str, organization_id: str, subscription_id: str) -> Iterator[bytes]:
    """The file in blocks of whole lines, the tokens replaced by the run's ids."""
    org, sub = organization_id.encode(), subscription_id.encode()
    with open(path, "rb") as source:
        rest = b""
        while block := source.read(READ_BYTES):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            block, rest = block[:cut], block[cut:]
            yield block.replace(ORG_TOKEN.encode(), org).replace(SUB_TOKEN.encode(), sub)
        if rest:
            yield rest.replace(ORG_TOKEN.encode(), org).replace(SUB_TOKEN.encode(), sub)


# ---------------------------------------------------------------- one store at one size


@contextmanager
def store_environment(store: str, n: int):
    """TALLY_EVENTS_STORE (and CLICKHOUSE_URL: a fresh chDB directory) for every process started in the block:
    the flask CLI (migrations, the organization), gunicorn and the chDB side's processes."""
    saved = {key: os.environ.get(key) for key in ("TALLY_EVENTS_STORE", "CLICKHOUSE_URL")}
    os.environ["TALLY_EVENTS_STORE"] = store
    directory = common.OUT / f"chdb-{n}"
    shutil.rmtree(directory, ignore_errors=True)
    if store == CLICKHOUSE:
        os.environ["CLICKHOUSE_URL"] = f"chdb://{directory}"
    else:
        os.environ.pop("CLICKHOUSE_URL", None)
    try:
        yield os.environ.get("CLICKHOUSE_URL")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(directory, ignore_errors=True)


def server_shape(store: str) -> dict[str, int]:
    # chDB: one engine per process, so one gunicorn process (its threads share the engine, one query at a time).
    return {"workers": 1 if store == CLICKHOUSE else common.WORKERS, "threads": common.THREADS}


def run_store(store: str, n: int, events: dict, args) -> dict:
    label = f"{store} {n / 1e6:g}M"
    out: dict = {"store": store, "events": n, "server": server_shape(store), "load_average_start": os.getloadavg()}
    with store_environment(store, n) as clickhouse_url:
        log(f"{label}: fresh database{' and chDB directory' if clickhouse_url else ''}, catalog")
        common.reset_database()
        org_id, key = common.create_organization()
        subscribed_at = datetime.fromisoformat(events["subscribed_at"])
        with common.tally_server(jobs="inprocess", **server_shape(store)) as (base, _):
            subs = common.setup_catalog(base, key, subscriptions=[SUB, *common.SUBSCRIPTIONS],
                                        subscription_at=subscribed_at, billing_time="anniversary")
        sub_id = subs[SUB]["lago_id"]
        period = {"org": org_id, "sub": SUB,
                  "start": datetime.fromisoformat(subs[SUB]["current_billing_period_started_at"]),
                  "end": datetime.fromisoformat(subs[SUB]["current_billing_period_ending_at"])}
        out["period"] = [period["start"].isoformat(), period["end"].isoformat()]

        if store == POSTGRES:
            out["load"] = load_postgres(events["path"], org_id, sub_id, n)
            out["raw"] = postgres_side(period, args.reference_runs)
        else:
            first_id = reserve_ids(n)
            out["load"] = on_chdb(chdb_load, clickhouse_url, events["path"], org_id, sub_id, first_id)
            out["raw"] = on_chdb(chdb_reference, clickhouse_url, period, args.reference_runs)
        log(f"{label}: loaded {n:,} events at {fmt(out['load']['rows_per_s'])} rows/s; raw GROUP BY p50/p95 "
            f"{ms(out['raw']['reference']['p50'])}/{ms(out['raw']['reference']['p95'])}")

        with common.tally_server(jobs="inprocess", **server_shape(store)) as (base, pids):
            out["usage"] = measure_usage(base, key, out["raw"]["groups"], args.requests)
            log(f"{label}: current_usage server p50/p95 {ms(out['usage']['server']['p50'])}/"
                f"{ms(out['usage']['server']['p95'])}, HTTP p95 {ms(out['usage']['http']['p95'])}, "
                f"equal to the raw aggregate: {out['usage']['equal']}")
            out["ingest"] = ingest(base, key, pids, store, args)
        if store == POSTGRES:
            out["ingest"].update(postgres_stored(out["ingest"]["run"]))
        else:
            out["ingest"].update(on_chdb(chdb_stored, clickhouse_url, out["ingest"]["run"]))
            out["profile"] = on_chdb(chdb_profile, clickhouse_url, org_id, period)
        settle_ingest(out["ingest"])
        log(f"{label}: ingest {fmt(out['ingest']['events_per_s'])} events/s, stored {out['ingest']['stored']:,} of "
            f"{out['ingest']['acknowledged']:,} acknowledged (lost {out['ingest']['lost']}, twice "
            f"{out['ingest']['duplicates']})")
    out["load_average_end"] = os.getloadavg()
    return out


# ---------------------------------------------------------------- PostgreSQL: COPY, rollup, VACUUM, raw SQL


def load_postgres(path: str, org_id: str, sub_id: str, n: int) -> dict:
    copying = 0.0
    with common.pg_connect() as conn:
        for block in chunks_of(path, org_id, sub_id):
            started = time.perf_counter()
            copy_into(conn, "events", block)
            copying += time.perf_counter() - started
        started = time.perf_counter()
        conn.commit()
        copying += time.perf_counter() - started
    loaded = common.scalar("SELECT count(*) FROM events")
    usage_volume._analyze()
    rollup = usage_volume._roll_up(n)
    started = time.perf_counter()
    usage_volume._vacuum()
    return {"path": "COPY into events (one transaction)", "rows": loaded, "seconds": round(copying, 1),
            "rows_per_s": loaded / copying, "rollup": rollup, "vacuum_s": round(time.perf_counter() - started, 1)}


def postgres_side(period: dict, runs: int) -> dict:
    params = {**period, "start": naive(period["start"]), "end": naive(period["end"])}
    with common.pg_connect() as conn:
        groups = [list(row) for row in conn.execute(BY_GROUP[POSTGRES], params)]
        conn.execute(REFERENCE[POSTGRES], params).fetchall()  # warm the cache
        reference, answer = common.timed(lambda: conn.execute(REFERENCE[POSTGRES], params).fetchall(), runs)
    return {"groups": groups, "reference": reference, "reference_answer": [list(row) for row in answer]}


def postgres_stored(run: str) -> dict:
    time.sleep(1.0)  # requests in flight when wrk stopped may still commit
    with common.pg_connect() as conn:
        stored, distinct = conn.execute("SELECT count(*), count(DISTINCT transaction_id) FROM events "
                                        "WHERE transaction_id LIKE %s", (f"{run}m-%",)).fetchone()
    return {"stored": stored, "distinct": distinct}


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


# ---------------------------------------------------------------- ClickHouse (chDB): each step in a process of its own


def on_chdb(work, *args):
    """Run `work(*args)` in a new process (spawned: no inherited engine), which opens the chDB directory alone."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(work, *args).result(timeout=3600)


def reserve_ids(n: int) -> int:
    """The first of N consecutive ids taken from the ledger's sequence, where the store takes its ids."""
    with common.pg_connect() as conn:
        first = conn.execute("SELECT nextval('event_ids')").fetchone()[0]
        conn.execute("SELECT setval('event_ids', %s)", (first + n - 1,))
        conn.commit()
    return first


def _client(url: str):
    import clickhouse_connect

    return clickhouse_connect.get_client(dsn=url)


def chdb_load(url: str, path: str, org_id: str, sub_id: str, first_id: int) -> dict:
    """clickhouse-connect's raw_insert of the file's rows (TabSeparated), ids first_id.., revision 0; then the
    store's rollup job (its own call, batch after batch) up to the last id."""
    client = _client(url)
    next_id, inserting = first_id, 0.0
    for block in chunks_of(path, org_id, sub_id):
        lines = block.split(b"\n")[:-1]
        data = b"".join(b"%d\t%b\t0\n" % (next_id + i, line) for i, line in enumerate(lines))
        started = time.perf_counter()
        client.raw_insert("events", CH_COLUMNS, insert_block=data, fmt="TabSeparated",
                          settings={"async_insert": 0})
        inserting += time.perf_counter() - started
        next_id += len(lines)
    loaded = client.query("SELECT count() FROM events").result_rows[0][0]
    parts = client.query("SELECT count() FROM system.parts WHERE table = 'events' AND active").result_rows[0][0]
    client.close()
    rollup = _chdb_rollup()
    return {"path": "clickhouse-connect raw_insert, TabSeparated, 250k-row blocks", "rows": loaded,
            "seconds": round(inserting, 1), "rows_per_s": loaded / inserting, "active_parts": parts,
            "ids": [first_id, next_id - 1], "rollup": rollup}


def _configure_tally() -> None:
    import jobs.tasks  # noqa: F401  (imports every model, as a worker does)
    from billing.settings import Settings
    from jobs.bootstrap import configure_core
    from jobs.dispatch import InProcessDispatcher

    configure_core(Settings.from_env(common.server_env()), dispatcher=InProcessDispatcher(synchronous=True))


def _chdb_rollup() -> dict:
    from billing.metering import rollups
    from billing.metering.store import event_store

    _configure_tally()
    started = time.perf_counter()
    total = 0
    while taken := event_store().roll_up(limit=rollups.BATCH):
        total += taken
    return {"events": total, "seconds": round(time.perf_counter() - started, 2)}


def _ch_params(period: dict) -> dict:
    return {**period, "start": period["start"].astimezone(UTC), "end": period["end"].astimezone(UTC)}


def chdb_reference(url: str, period: dict, runs: int) -> dict:
    client = _client(url)
    params = _ch_params(period)
    groups = [[code, key, int(count), total] for code, key, count, total in
              client.query(BY_GROUP[CLICKHOUSE], parameters=params).result_rows]
    client.query(REFERENCE[CLICKHOUSE], parameters=params)
    reference, answer = common.timed(lambda: client.query(REFERENCE[CLICKHOUSE], parameters=params).result_rows, runs)
    client.close()
    return {"groups": groups, "reference": reference, "reference_answer": [list(row) for row in answer]}


def chdb_stored(url: str, run: str) -> dict:
    client = _client(url)
    stored, distinct = client.query("SELECT count(), uniqExact(transaction_id) FROM events "
                                    "WHERE startsWith(transaction_id, {prefix:String})",
                                    parameters={"prefix": f"{run}m-"}).result_rows[0]
    client.close()
    return {"stored": int(stored), "distinct": int(distinct)}


def chdb_profile(url: str, org_id: str, period: dict) -> dict:
    """Where current_usage's time goes on the ClickHouse store: the service in this process (no HTTP), each
    statement the store sends timed (its client's `query` wrapped here, the store's code untouched), and the
    heaviest statement again in variants (without its per-transaction-id collapse, FINAL instead, ...) and its
    EXPLAIN; then where a batch of ingestion goes (`_ingest_profile`)."""
    from billing.metering import period_usage
    from billing.metering.store import event_store

    _configure_tally()
    store = event_store()
    store._call(lambda client: None)  # the client, opened by the store
    statements: list[dict] = []
    client = store._client
    plain_query = client.query

    def timed_query(sql, parameters=None, **kwargs):
        started = time.perf_counter()
        result = plain_query(sql, parameters=parameters, **kwargs)
        statements.append({"sql": sql, "parameters": parameters,
                           "ms": (time.perf_counter() - started) * 1000, "rows": len(result.result_rows)})
        return result

    client.query = timed_query

    def usage():
        return period_usage.current_usage(organization_id=org_id, external_customer_id=CUSTOMER,
                                          external_subscription_id=SUB)

    usage()
    statements.clear()
    service, _ = common.timed(usage, 10)
    per_call = len(statements) // max(service["n"], 1)
    last = statements[-per_call:] if per_call else []
    client.query = plain_query
    heaviest = max(last, key=lambda s: s["ms"]) if last else None
    out = {"service": service, "statements_per_call": per_call,
           "statements": [{"ms": round(s["ms"], 1), "rows": s["rows"], "sql": s["sql"][:400]} for s in last]}
    if heaviest:
        sql, parameters = heaviest["sql"], heaviest["parameters"]
        collapse = "ORDER BY revision DESC LIMIT 1 BY organization_id, transaction_id"
        day = "arrayCount(cut -> cut <= timestamp, {cuts:Array(DateTime64(6, 'UTC'))})"
        variants = {"as sent": sql, "without LIMIT 1 BY": sql.replace(collapse, ""),
                    "FINAL instead of LIMIT 1 BY": sql.replace("FROM events WHERE", "FROM events FINAL WHERE", 1)
                    .replace(collapse, ""),
                    "without the day cuts": sql.replace(day, "0"),
                    "without LIMIT 1 BY nor day cuts": sql.replace(collapse, "").replace(day, "0"),
                    "Decimal128 for Decimal256": sql.replace("toDecimal256(", "toDecimal128("),
                    "SELECT 1 (any statement's cost)": "SELECT 1"}
        out["variants"] = {name: common.timed(lambda v=v: client.query(v, parameters=parameters), 10)[0]
                           for name, v in variants.items() if name == "as sent" or v != sql}
        out["hourly_buckets"] = _hourly_buckets(client, period)
        out["explain"] = [line for (line,) in client.query(f"EXPLAIN indexes = 1 {sql}",
                                                           parameters=parameters).result_rows]
        out["explain_pipeline"] = [line for (line,) in client.query(f"EXPLAIN PIPELINE {sql}",
                                                                    parameters=parameters).result_rows]
    out["ingest"] = _ingest_profile(client, org_id)
    return out


def _ingest_profile(client, org_id: str, batches: int = 30) -> dict:
    """Batches of 100 new events ingested by the service in this process, one after the other (no HTTP, no
    concurrent batch): per batch, the store's look-up of known transaction ids, its insert, and the rest (Python, the
    ledger's lock and ids)."""
    from billing import ports
    from billing.metering import services
    from jobs.dispatch import InProcessDispatcher

    # The jobs ingestion asks for (the rollup, after its delay) on a thread of this process, as in the web process:
    # not in the batch's time.
    ports.configure(dispatcher=InProcessDispatcher())
    calls: list[tuple[str, float]] = []
    plain_query, plain_insert = client.query, client.insert

    def timing(name, call):
        def timed_call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                calls.append((name, (time.perf_counter() - started) * 1000))
        return timed_call

    client.query, client.insert = timing("look-up", plain_query), timing("insert", plain_insert)
    run, at = common.run_id(), int(time.time()) - 3600
    totals, lookups, inserts = [], [], []
    try:
        for batch in range(batches):
            events = [{"transaction_id": f"{run}p-{batch}-{i}", "external_subscription_id": common.SUBSCRIPTIONS[0],
                       "code": "api_calls", "timestamp": at, "properties": {"method": "GET", "status": 200}}
                      for i in range(100)]
            calls.clear()
            started = time.perf_counter()
            services.ingest_events(organization_id=org_id, raw_events=events)
            totals.append((time.perf_counter() - started) * 1000)
            lookups.append(sum(spent for name, spent in calls if name == "look-up"))
            inserts.append(sum(spent for name, spent in calls if name == "insert"))
    finally:
        client.query, client.insert = plain_query, plain_insert
    return {"batch": common.percentiles(totals), "look_up": common.percentiles(lookups),
            "insert": common.percentiles(inserts),
            "rest": common.percentiles([t - lk - ins for t, lk, ins in zip(totals, lookups, inserts, strict=True)])}


def _hourly_buckets(client, period: dict) -> dict:
    """What if the store pre-aggregated: the events folded once into hourly buckets (a scratch table of this
    benchmark), and the subscription's period read from them, every metric and filter group in one statement."""
    client.command("DROP TABLE IF EXISTS bench_hourly_buckets")
    started = time.perf_counter()
    client.command(
        "CREATE TABLE bench_hourly_buckets ENGINE = MergeTree "
        "ORDER BY (organization_id, external_subscription_id, code, group_key, hour) AS "
        "SELECT organization_id, external_subscription_id, code, group_key, toStartOfHour(timestamp) AS hour, "
        "count() AS events, sum(ifNull(value, toDecimal256(0, 15))) AS total FROM events "
        "GROUP BY organization_id, external_subscription_id, code, group_key, hour")
    built_s = time.perf_counter() - started
    read = ("SELECT code, group_key, sum(events), sum(total) FROM bench_hourly_buckets "
            "WHERE organization_id = {org:String} AND external_subscription_id = {sub:String} "
            "AND hour >= {start:DateTime('UTC')} AND hour < {end:DateTime('UTC')} GROUP BY code, group_key")
    params = _ch_params(period)
    stats, _ = common.timed(lambda: client.query(read, parameters=params), 20)
    [(buckets,)] = client.query("SELECT count() FROM bench_hourly_buckets").result_rows
    client.command("DROP TABLE bench_hourly_buckets")
    return {"build_s": round(built_s, 2), "buckets": int(buckets), "read": stats}


# ---------------------------------------------------------------- over HTTP: current usage, ingestion


def measure_usage(base: str, key: str, groups: list, requests: int) -> dict:
    server_ms: list[float] = []
    client = common.api(base, key)

    def http():
        response = client.get(f"/api/v1/customers/{CUSTOMER}/current_usage",
                              params={"external_subscription_id": SUB})
        if response.status_code != 200:
            sys.exit(f"bench: current_usage -> {response.status_code}: {response.text[:300]}")
        server_ms.append(common.server_time_ms(response))
        return response.json()["customer_usage"]

    first = http()
    server_ms.clear()
    stats, usage = common.timed(http, requests)
    client.close()
    differences = compare(usage, groups) + compare(first, groups)
    for difference in differences:
        log(f"MISMATCH: {difference}")
    return {"http": stats, "server": common.percentiles(server_ms), "equal": not differences,
            "differences": differences, "charges": usage["charges_usage"]}


def compare(usage: dict, groups: list) -> list[str]:
    """current_usage against the raw aggregate: events_count and units per metric (count for api_calls, Σ value for
    the sums), and per filter of compute (its region's group key; the filter without values takes the rest)."""
    raw: dict[str, dict[str, tuple[int, Decimal]]] = {}
    for code, group_key, count, total in groups:
        raw.setdefault(code, {})[group_key] = (int(count), Decimal(total or 0))
    differences = []
    for charge in usage["charges_usage"]:
        code = charge["billable_metric"]["code"]
        count = sum(c for c, _ in raw.get(code, {}).values())
        units = count if code == "api_calls" else sum(t for _, t in raw.get(code, {}).values())
        if (charge["events_count"], Decimal(charge["units"])) != (count, units):
            differences.append(f"{code}: current_usage {charge['events_count']} events, {charge['units']} units; "
                               f"raw {count}, {units}")
        named = set()
        for line in charge["filters"]:
            if line["values"]:
                region = line["values"]["region"][0]
                named.add(GROUP_KEYS[region])
                expected = raw.get(code, {}).get(GROUP_KEYS[region], (0, Decimal(0)))
            else:
                rest = [v for k, v in raw.get(code, {}).items() if k not in named]
                expected = (sum(c for c, _ in rest), sum((t for _, t in rest), Decimal(0)))
            if (line["events_count"], Decimal(line["units"])) != expected:
                differences.append(f"{code} {line['values']}: current_usage {line['events_count']}, {line['units']}; "
                                   f"raw {expected}")
    return differences


def ingest(base: str, key: str, pids: list[int], store: str, args) -> dict:
    run = common.run_id()
    wrk_args = lambda tag: [f"{run}{tag}", key, str(int(time.time())), "100"]  # noqa: E731
    common.run_wrk("events.lua", base, duration=3, connections=args.connections, args=wrk_args("w"))
    if store == POSTGRES:
        common.wait_rollup_drained(timeout=60)
    meter = common.CpuMeter(server_pids=pids)
    seconds = min(args.ingest_seconds, 120)
    log(f"{store}: wrk -c{args.connections} -d{seconds}s, batches of 100")
    result = common.run_wrk("events.lua", base, duration=seconds, connections=args.connections,
                            args=wrk_args("m"), meter=meter)
    result.update(run=run, connections=args.connections)
    if store == POSTGRES:
        drain_s, pending = common.wait_rollup_drained(timeout=120)
        result.update(rollup_pending_at_end=pending, rollup_drain_s=round(drain_s, 1))
    return result


def settle_ingest(result: dict) -> None:
    acknowledged = result["ok"] * 100
    result.update(acknowledged=acknowledged, lost=max(acknowledged - result["stored"], 0),
                  duplicates=result["stored"] - result["distinct"], in_flight_extra=result["stored"] - acknowledged,
                  events_per_s=acknowledged / result["duration_s"], requests_per_s=result["ok"] / result["duration_s"])


# ---------------------------------------------------------------- the table


def rows(payload: dict) -> list[Row]:
    table = []
    for run in payload["runs"]:
        store, n = run["store"], run["events"]
        bench = f"{store} store, {n / 1e6:g}M events"
        load, raw, usage, ingested = run["load"], run["raw"], run["usage"], run["ingest"]
        server = run["server"]
        shape = f"gunicorn {server['workers']} x {server['threads']}" + (" (chDB: one process)"
                                                                           if store == CLICKHOUSE else "")
        reference = f"raw GROUP BY p50/p95 {ms(raw['reference']['p50'])}/{ms(raw['reference']['p95'])}"
        loaded = f"{fmt(load['rows_per_s'])} rows/s ({load['rows']:,} in {load['seconds']} s)"
        after = (f"rollup job {load['rollup']['seconds']} s, VACUUM ANALYZE {load['vacuum_s']} s"
                 if store == POSTGRES else f"rollup job (ClickHouse's hourly sums into the ledger) "
                                           f"{load['rollup']['seconds']} s")
        target, verdict = "", ""
        if store == CLICKHOUSE and n >= 10_000_000:
            target, verdict = f"p95 < {TARGET_MS} ms", common.verdict(usage["http"]["p95"] < TARGET_MS)
        lat = ingested["latency_ms"]
        cpu = ingested["cpu"]
        table += [
            Row(bench, f"load: {load['path'].split(' (')[0].split(',')[0]}", loaded, after),
            Row(bench, f"current_usage HTTP p50/p95/p99 (n={usage['http']['n']})", pct(usage["http"]), reference,
                target, verdict),
            Row(bench, "current_usage server time p50/p95/p99", pct(usage["server"]), shape),
            Row(bench, "current_usage = raw count/sum (3 metrics, 3 filters)", "yes" if usage["equal"] else "NO",
                "", "", "ok" if usage["equal"] else "FAILED"),
            Row(bench, f"ingest events/s acknowledged (100/req, c={ingested['connections']})",
                fmt(ingested["events_per_s"]), f"{fmt(ingested['requests_per_s'])} req/s, {shape}"),
            Row(bench, "ingest latency p50/p95/p99 per request",
                f"{lat['p50']:.0f}/{lat['p95']:.0f}/{lat['p99']:.0f} ms",
                f"CPU wrk/tally/pg/other {cpu['client_cores']}/{cpu['tally_cores']}/{cpu['postgres_cores']}/"
                f"{cpu['other_cores']}"),
            Row(bench, "stored = acknowledged, none twice", f"{ingested['stored']:,}/{ingested['acknowledged']:,}",
                f"lost {ingested['lost']}, twice {ingested['duplicates']}, non-2xx {ingested['non_2xx']}", "",
                "ok" if not (ingested["lost"] or ingested["duplicates"] or ingested["non_2xx"]) else "FAILED"),
        ]
        if "profile" in run and run["profile"].get("variants"):
            profile = run["profile"]
            table.append(Row(bench, f"profile: current_usage in-process p50/p95 ({profile['statements_per_call']} "
                             "statements)", usage_volume.pair(profile["service"])))
            for name, stats in profile["variants"].items():
                table.append(Row(bench, f"profile: heaviest statement, {name}", usage_volume.pair(stats)))
            ingested_alone = profile["ingest"]
            table.append(Row(bench, "profile: a batch of 100 ingested in-process, alone, p50/p95",
                             usage_volume.pair(ingested_alone["batch"]),
                             f"ClickHouse look-up {usage_volume.pair(ingested_alone['look_up'])}, insert "
                             f"{usage_volume.pair(ingested_alone['insert'])}, the rest "
                             f"{usage_volume.pair(ingested_alone['rest'])}"))
            buckets = profile["hourly_buckets"]
            table.append(Row(bench, "what-if: hourly buckets read, all metrics", usage_volume.pair(buckets["read"]),
                             f"{buckets['buckets']:,} buckets folded in {buckets['build_s']} s"))
    return table


def pct(stats: dict) -> str:
    return f"{ms(stats['p50'])}/{ms(stats['p95'])}/{ms(stats['p99'])}"


if __name__ == "__main__":
    common.print_table(main(sys.argv[1:])[0], "Event stores side by side")
