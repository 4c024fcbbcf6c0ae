"""Event ingestion over HTTP, driven by wrk: batches of 100 (events/s) or one event per request (requests/s).

A fresh bench database per run; gunicorn (gthread, BENCH_WORKERS x BENCH_THREADS) serves Tally with the
rollup job either on a thread of each web process (jobs=inprocess, no Redis) or on an rq worker (jobs=rq).
After the load, the events table is counted: every acknowledged event must be stored once.
"""

from __future__ import annotations

import time

from bench import common
from bench.common import Row, fmt, log, ms


def run_ingest(*, batch_size: int, duration: int, connections: int, jobs: str, warmup: int = 3) -> dict:
    """One load run; returns its measurements (see the keys) and the organization/subscriptions it made."""
    common.require_wrk()
    label = f"batch x{batch_size}" if batch_size else "single"
    log(f"ingest {label}, jobs={jobs}: fresh database, gunicorn -w {common.WORKERS} --threads {common.THREADS}")
    common.reset_database()
    org_id, key = common.create_organization()
    with common.tally_server(jobs=jobs) as (base, pids):
        subs = common.setup_catalog(base, key, subscription_at=_days_ago(2))
        run = common.run_id()
        args = lambda tag: [f"{run}{tag}", key, str(int(time.time())), str(batch_size)]  # noqa: E731
        common.run_wrk("events.lua", base, duration=warmup, connections=connections, args=args("w"))
        common.wait_rollup_drained(timeout=60)
        before = common.scalar("SELECT count(*) FROM events")
        meter = common.CpuMeter(server_pids=pids)
        log(f"ingest {label}, jobs={jobs}: wrk -t1 -c{connections} -d{duration}s")
        result = common.run_wrk("events.lua", base, duration=duration, connections=connections, args=args("m"),
                                meter=meter)
        time.sleep(1.0)  # requests in flight when wrk stopped may still commit
        stored = common.scalar("SELECT count(*) FROM events WHERE transaction_id LIKE %s", (f"{run}m-%",))
        total = common.scalar("SELECT count(*) FROM events")
        distinct = common.scalar("SELECT count(DISTINCT (organization_id, transaction_id)) FROM events")
        drain_s, pending_at_end = common.wait_rollup_drained(timeout=240)
        consistency = common.rollup_consistency()
    per_request = max(batch_size, 1)
    acked = result["ok"] * per_request
    result.update(
        jobs=jobs, batch_size=batch_size, connections=connections, label=label, organization_id=org_id,
        subscriptions={k: v["lago_id"] for k, v in subs.items()}, rows_before=before, rows_total=total,
        events_acknowledged=acked, events_stored=stored, events_lost=max(acked - stored, 0),
        in_flight_extra=stored - acked, duplicates=total - distinct,
        events_per_s=acked / result["duration_s"], requests_per_s=result["ok"] / result["duration_s"],
        rollup_pending_at_end=pending_at_end, rollup_drain_s=round(drain_s, 1), rollup=consistency)
    log(f"ingest {label}, jobs={jobs}: {fmt(result['events_per_s'])} events/s, {fmt(result['requests_per_s'])} "
        f"req/s, p50/p95/p99 {result['latency_ms']['p50']:.1f}/{result['latency_ms']['p95']:.1f}/"
        f"{result['latency_ms']['p99']:.1f} ms, stored {stored} of {acked} acknowledged (lost "
        f"{result['events_lost']}, duplicates {result['duplicates']}, non-2xx {result['non_2xx']}), "
        f"rollup backlog {pending_at_end} drained in {drain_s:.1f}s, cpu {result['cpu']}")
    return result


def _days_ago(days: int):
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)


def check_row(result: dict) -> str:
    ok = (result["events_lost"] == 0 and result["duplicates"] == 0 and result["non_2xx"] == 0
          and result["rollup"]["consistent"])
    return "ok" if ok else "FAILED"


def batch_rows(result: dict, reference: dict | None) -> list[Row]:
    jobs = result["jobs"]
    lat = result["latency_ms"]
    cpu = result["cpu"]
    bench = f"batch ingest ({jobs})"
    rows = [
        Row(bench, "events/s accepted", fmt(result["events_per_s"]),
            f"COPY+dedupe {fmt(reference['dedupe_rows_per_s'])} rows/s" if reference else "", ">= 20,000",
            common.verdict(result["events_per_s"] >= 20_000)),
    ]
    if reference:
        ratio = result["events_per_s"] / reference["dedupe_rows_per_s"]
        rows.append(Row(bench, "ratio to COPY+dedupe", f"{ratio:.3f}x",
                        f"plain COPY {fmt(reference['plain_rows_per_s'])} rows/s", ">= 0.5x",
                        common.verdict(ratio >= 0.5)))
    rows += [
        Row(bench, "latency p50/p95/p99 (100/req)", f"{lat['p50']:.0f}/{lat['p95']:.0f}/{lat['p99']:.0f} ms",
            f"{fmt(result['requests_per_s'])} req/s, c={result['connections']}"),
        Row(bench, "stored = acknowledged, no dup", f"{result['events_stored']:,}/{result['events_acknowledged']:,}",
            f"lost {result['events_lost']}, dup {result['duplicates']}, non-2xx {result['non_2xx']}", "",
            check_row(result)),
        Row(bench, "rollup backlog at end", f"{result['rollup_pending_at_end']:,} ev",
            f"drained in {result['rollup_drain_s']} s"),
        Row(bench, "CPU cores: wrk/tally/pg/other", f"{cpu['client_cores']}/{cpu['tally_cores']}/"
            f"{cpu['postgres_cores']}/{cpu['other_cores']}", f"machine busy {cpu['machine_busy_cores']} of "
            f"{cpu['cores']}, iowait {cpu['iowait_cores']}"),
    ]
    return rows


def single_rows(result: dict) -> list[Row]:
    lat = result["latency_ms"]
    cpu = result["cpu"]
    bench = f"single ingest ({result['jobs']})"
    return [
        Row(bench, "requests/s", fmt(result["requests_per_s"]), f"c={result['connections']}", ">= 1,000",
            common.verdict(result["requests_per_s"] >= 1000)),
        Row(bench, "latency p50/p95/p99", f"{ms(lat['p50'])}/{ms(lat['p95'])}/{ms(lat['p99'])}", "", "p99 < 50 ms",
            common.verdict(lat["p99"] < 50)),
        Row(bench, "stored = acknowledged, no dup", f"{result['events_stored']:,}/{result['events_acknowledged']:,}",
            f"lost {result['events_lost']}, dup {result['duplicates']}, non-2xx {result['non_2xx']}", "",
            check_row(result)),
        Row(bench, "rollup backlog at end", f"{result['rollup_pending_at_end']:,} ev",
            f"drained in {result['rollup_drain_s']} s"),
        Row(bench, "CPU cores: wrk/tally/pg/other", f"{cpu['client_cores']}/{cpu['tally_cores']}/"
            f"{cpu['postgres_cores']}/{cpu['other_cores']}", f"machine busy {cpu['machine_busy_cores']} of "
            f"{cpu['cores']}, iowait {cpu['iowait_cores']}"),
    ]
