"""Benchmark 3: current_usage of one subscription holding 1,000,000 events in its current period.

    .venv/bin/python -m bench.usage_volume [--events 1000000] [--requests 500] [--tail 1000]

Steps (a fresh bench database, gunicorn serving Tally, the rollup job run in this process):
 1. COPY the events straight into `events`, derived columns filled as ingestion would (past the rollup watermark);
 2. current_usage with ALL events pending (the fallback: every event read raw), HTTP and in-process;
 3. the rollup job (billing.metering.rollups.roll_up_events in a loop) to completion: events/s;
 4. current_usage right after the rollup (dead tuples not yet vacuumed), then after VACUUM ANALYZE:
    N requests over HTTP (p50/p95/p99) and in-process;
 5. the same with a realistic tail of 1,000 events not rolled up yet;
 6. the embeddable usage widget of the same subscription (docs/embedding.md) in that state: the whole page and its
    htmx poll, N requests each over HTTP, next to current_usage measured just before;
 7. the customer portal's pages (docs/portal.md) in that state: overview, its live usage poll, billing details,
    usage history, documents, wallet, payment methods; --portal-requests each, by Tally's own server time;
 and the reference: a raw SELECT count(*), sum(value) per metric over the period.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

from bench import common
from bench.common import Row, fmt, log, ms
from bench.rows import copy_into, copy_text

SUB = "bench_usage_sub"
CUSTOMER = "bench_usage_cust"
CODES = ("api_calls", "storage", "compute")


def main(argv: list[str]) -> tuple[list[Row], dict]:
    parser = argparse.ArgumentParser(prog="python -m bench.usage_volume")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=500, help="current_usage requests per state (default 500)")
    parser.add_argument("--fallback-requests", type=int, default=3, help="requests with every event pending")
    parser.add_argument("--tail", type=int, default=1000, help="pending events in the 'small tail' state")
    parser.add_argument("--portal-requests", type=int, default=100, help="requests per portal page (default 100)")
    args = parser.parse_args(argv)
    n = min(args.events, 5_000_000)
    requests = min(args.requests, 2000)
    out: dict = {"events": n, "requests": requests}

    log(f"usage: fresh database, {n:,} events for one subscription")
    common.reset_database()
    org_id, key = common.create_organization()
    with common.tally_server(jobs="inprocess") as (base, pids):
        subscribed_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
        subs = common.setup_catalog(base, key, subscriptions=[SUB], subscription_at=subscribed_at,
                                    billing_time="anniversary")
        sub_id = subs[SUB]["lago_id"]
        period = (subs[SUB]["current_billing_period_started_at"], subs[SUB]["current_billing_period_ending_at"])
        out["period"] = period
        start, now = subscribed_at + timedelta(seconds=1), datetime.now(UTC) - timedelta(minutes=2)

        started = time.perf_counter()
        data = copy_text(n, organization_id=org_id, subscriptions={SUB: sub_id}, start=start, end=now, prefix="vol")
        built = time.perf_counter() - started
        started = time.perf_counter()
        with common.pg_connect() as conn:
            copy_into(conn, "events", data)
            conn.commit()
        copied = time.perf_counter() - started
        del data
        _analyze()
        out["load"] = {"build_s": round(built, 1), "copy_s": round(copied, 1), "copy_rows_per_s": n / copied}
        log(f"usage: built {n:,} rows in {built:.1f}s, COPY {copied:.1f}s ({fmt(n / copied)} rows/s)")

        client = common.api(base, key)
        path = f"/api/v1/customers/{CUSTOMER}/current_usage"
        params = {"external_subscription_id": SUB}

        server_ms: list[float] = []  # Tally's own time per request (its Server-Timing header), network left out

        def http():
            response = client.get(path, params=params)
            if response.status_code != 200:
                sys.exit(f"bench: current_usage -> {response.status_code}: {response.text[:300]}")
            server_ms.append(common.server_time_ms(response))
            return response.json()["customer_usage"]

        service = _service(org_id)
        expected = _raw_counts(org_id, start - timedelta(seconds=1))

        def check(usage: dict, label: str, expect: dict) -> bool:
            got = {c["billable_metric"]["code"]: c["events_count"] for c in usage["charges_usage"]}
            ok = got == expect
            if not ok:
                log(f"usage: MISMATCH in {label}: current_usage {got} != raw {expect}")
            return ok

        checks = {}
        log(f"usage: all {n:,} events pending: {args.fallback_requests} HTTP requests")
        out["fallback_http"], usage = common.timed(http, max(args.fallback_requests, 1))
        checks["fallback"] = check(usage, "fallback", expected)
        out["fallback_service"], _ = common.timed(service, max(min(args.fallback_requests, 2), 1))
        log(f"usage: fallback p50 {ms(out['fallback_http']['p50'])} HTTP, {ms(out['fallback_service']['p50'])} "
            "in-process")

        out["rollup"] = _roll_up(n)
        out["before_vacuum_http"], usage = common.timed(http, min(requests, 100))
        checks["before_vacuum"] = check(usage, "after rollup", expected)
        log(f"usage: after the rollup, before VACUUM: p50/p95 {ms(out['before_vacuum_http']['p50'])}/"
            f"{ms(out['before_vacuum_http']['p95'])}")
        started = time.perf_counter()
        _vacuum()
        out["vacuum_s"] = round(time.perf_counter() - started, 1)

        http()
        meter = common.CpuMeter(server_pids=pids, include_self=True)
        meter.start()
        out["rolled_http"], usage = common.timed(http, requests)
        out["rolled_http_cpu"] = meter.stop()
        checks["rolled"] = check(usage, "rolled up", expected)
        out["rolled_service"], _ = common.timed(service, min(requests, 200))
        out["raw_reference"] = _raw_reference(org_id, start - timedelta(seconds=1))
        log(f"usage: rolled up: HTTP p50/p95/p99 {ms(out['rolled_http']['p50'])}/{ms(out['rolled_http']['p95'])}/"
            f"{ms(out['rolled_http']['p99'])}, in-process p50 {ms(out['rolled_service']['p50'])}; raw SELECT "
            f"p50 {ms(out['raw_reference']['all_codes']['p50'])}")

        tail_start = datetime.now(UTC) - timedelta(minutes=10)
        tail = copy_text(args.tail, organization_id=org_id, subscriptions={SUB: sub_id}, start=tail_start,
                         end=datetime.now(UTC) - timedelta(seconds=1), prefix="tail", seed=7)
        with common.pg_connect() as conn:
            copy_into(conn, "events", tail)
            conn.commit()
        expected_tail = _raw_counts(org_id, start - timedelta(seconds=1))
        http()
        server_ms.clear()
        out["tail_http"], usage = common.timed(http, requests)
        out["tail_server"] = common.percentiles(server_ms)
        checks["tail"] = check(usage, "tail", expected_tail)
        out["tail_service"], _ = common.timed(service, min(requests, 200))
        out["tail"] = args.tail
        log(f"usage: {args.tail} pending: HTTP p50/p95/p99 {ms(out['tail_http']['p50'])}/"
            f"{ms(out['tail_http']['p95'])}/{ms(out['tail_http']['p99'])}")
        out.update(_widget(client, base, requests))
        log(f"usage: widget page p50/p95/p99 {ms(out['widget_page_http']['p50'])}/"
            f"{ms(out['widget_page_http']['p95'])}/{ms(out['widget_page_http']['p99'])}, its poll "
            f"{ms(out['widget_poll_http']['p50'])}/{ms(out['widget_poll_http']['p95'])}/"
            f"{ms(out['widget_poll_http']['p99'])}; server time p95 page {ms(out['widget_page_server']['p95'])}, "
            f"poll {ms(out['widget_poll_server']['p95'])}, current_usage {ms(out['tail_server']['p95'])}")
        out["portal"] = _portal(client, base, min(args.portal_requests, 1000))
        log("usage: portal pages server p95 " + ", ".join(
            f"{name} {ms(stats['p95'])}" for name, stats in out["portal"].items()))
        out["checks"] = checks
        client.close()
    common.save("usage_volume", out)
    return rows(out), out


def _widget(client, base: str, requests: int) -> dict[str, dict]:
    """The usage widget of the subscription: its page, then the fragment its htmx poll asks for every 5 s; each
    timed over HTTP and by Tally's own Server-Timing."""
    minted = client.post(f"/api/v1/customers/{CUSTOMER}/embed_token",
                         json={"embed": {"external_subscription_id": SUB, "widgets": ["usage"]}})
    if minted.status_code != 200:
        sys.exit(f"bench: embed_token -> {minted.status_code}: {minted.text[:300]}")
    url = minted.json()["embed"]["urls"]["usage"].replace(common.server_env()["TALLY_BASE_URL"], base, 1)

    server_ms: list[float] = []

    def page(headers=None):
        response = client.get(url, headers=headers)
        if response.status_code not in (200, 286) or 'data-metric="api_calls"' not in response.text:
            sys.exit(f"bench: usage widget -> {response.status_code}: {response.text[:300]}")
        server_ms.append(common.server_time_ms(response))

    page()
    server_ms.clear()
    page_stats, _ = common.timed(page, requests)
    page_server = common.percentiles(server_ms)
    server_ms.clear()
    poll_stats, _ = common.timed(lambda: page({"HX-Request": "true"}), requests)
    return {"widget_page_http": page_stats, "widget_poll_http": poll_stats, "widget_page_server": page_server,
            "widget_poll_server": common.percentiles(server_ms)}


# The portal's pages as a customer opens them (docs/portal.md), each with a marker of its content; "usage" is the
# overview's live block, which htmx polls every few seconds.
PORTAL_PAGES = (("overview", "", {}, 'data-metric="api_calls"'),
                ("usage poll", "/usage", {"HX-Request": "true"}, 'data-metric="api_calls"'),
                ("details", "/details", {}, "<form"), ("history", "/history", {}, "<main"),
                ("documents", "/documents", {}, "<main"), ("wallet", "/wallet", {}, "<main"),
                ("payment methods", "/payment-methods", {}, "<main"))


def _portal(client, base: str, requests: int) -> dict[str, dict]:
    """Each portal page of the customer, opened by its signed link: Tally's server time per request."""
    answer = client.get(f"/api/v1/customers/{CUSTOMER}/portal_url")
    if answer.status_code != 200:
        sys.exit(f"bench: portal_url -> {answer.status_code}: {answer.text[:300]}")
    link = answer.json()["customer"]["portal_url"].replace(common.server_env()["TALLY_BASE_URL"], base, 1)
    return {name: _portal_page(client, link + suffix, headers, marker, requests)
            for name, suffix, headers, marker in PORTAL_PAGES}


def _portal_page(client, url: str, headers: dict, marker: str, requests: int) -> dict:
    server_ms: list[float] = []

    def page():
        response = client.get(url, headers=headers)
        if response.status_code != 200 or marker not in response.text:
            sys.exit(f"bench: portal page {url.rsplit('/', 1)[-1]} -> {response.status_code}: {response.text[:300]}")
        server_ms.append(common.server_time_ms(response))

    page()
    server_ms.clear()
    common.timed(page, requests)
    return common.percentiles(server_ms)


def rows(out: dict) -> list[Row]:
    n = out["events"]
    ref = out["raw_reference"]
    reference = f"raw SELECT p50/p95 {ms(ref['all_codes']['p50'])}/{ms(ref['all_codes']['p95'])}"

    def pct(stats: dict) -> str:
        return f"{ms(stats['p50'])}/{ms(stats['p95'])}/{ms(stats['p99'])}"

    bench = f"current_usage ({n / 1e6:g}M ev)"
    checks_ok = all(out["checks"].values())
    rolled, tail = out["rolled_http"], out["tail_http"]
    service, tail_service = out["rolled_service"], out["tail_service"]
    unvacuumed, fallback = out["before_vacuum_http"], out["fallback_http"]
    return [
        Row(bench, "load: COPY into events", f"{fmt(out['load']['copy_rows_per_s'])} rows/s"),
        Row(bench, "rollup job throughput", f"{fmt(out['rollup']['events_per_s'])} events/s",
            f"{out['rollup']['seconds']} s for {n:,}"),
        Row(bench, f"HTTP p50/p95/p99, rolled up (n={rolled['n']})", pct(rolled), reference, "p95 < 20 ms",
            common.verdict(rolled["p95"] < 20)),
        Row(bench, f"HTTP p50/p95/p99, {out['tail']:,} pending (n={tail['n']})", pct(tail), reference, "p95 < 20 ms",
            common.verdict(tail["p95"] < 20)),
        Row(bench, "CPU cores during it: client/tally/pg/other", _cores(out.get("rolled_http_cpu"))),
        Row(bench, f"in-process p50/p95, rolled up (n={service['n']})", pair(service),
            f"raw SELECT 1 metric p50 {ms(ref['one_code']['p50'])}"),
        Row(bench, f"in-process p50/p95, {out['tail']:,} pending (n={tail_service['n']})", pair(tail_service)),
        Row(bench, f"HTTP p50/p95, just rolled, unvacuumed (n={unvacuumed['n']})", pair(unvacuumed),
            f"VACUUM took {out['vacuum_s']} s"),
        Row(bench, f"HTTP p50, ALL pending (n={fallback['n']})", ms(fallback["p50"]), reference),
        Row(bench, f"in-process p50, ALL pending (n={out['fallback_service']['n']})",
            ms(out["fallback_service"]["p50"])),
        Row(bench, "events_count = raw count (4 states)", "yes" if checks_ok else "NO", "", "",
            "ok" if checks_ok else "FAILED"),
        *_widget_rows(out),
        *_portal_rows(out),
    ]


def _portal_rows(out: dict) -> list[Row]:
    if "portal" not in out:
        return []
    bench = f"portal ({out['events'] / 1e6:g}M ev)"
    reference = f"current_usage server p95 {ms(out['tail_server']['p95'])}"
    return [Row(bench, f"{name}: server time p50/p95/p99 (n={stats['n']})",
                f"{ms(stats['p50'])}/{ms(stats['p95'])}/{ms(stats['p99'])}", reference, "p95 < 50 ms",
                common.verdict(stats["p95"] < 50))
            for name, stats in out["portal"].items()]


def _widget_rows(out: dict) -> list[Row]:
    if "widget_page_http" not in out:
        return []
    bench = f"usage widget ({out['events'] / 1e6:g}M ev)"
    page, poll, tail = out["widget_page_http"], out["widget_poll_http"], out["tail_http"]
    reference = f"current_usage HTTP p95 {ms(tail['p95'])}"

    def pct(stats: dict) -> str:
        return f"{ms(stats['p50'])}/{ms(stats['p95'])}/{ms(stats['p99'])}"

    rows = [
        Row(bench, f"page HTTP p50/p95/p99, {out['tail']:,} pending (n={page['n']})", pct(page), reference),
        Row(bench, f"htmx poll HTTP p50/p95/p99 (n={poll['n']})", pct(poll), reference),
    ]
    if "widget_page_server" in out:
        # The target is the widget's server time: Tally's Server-Timing, next to current_usage's own.
        server_reference = f"current_usage server p95 {ms(out['tail_server']['p95'])}"
        page_server, poll_server = out["widget_page_server"], out["widget_poll_server"]
        rows += [
            Row(bench, "page server time p50/p95/p99", pct(page_server), server_reference, "p95 < 30 ms",
                common.verdict(page_server["p95"] < 30)),
            Row(bench, "htmx poll server time p50/p95/p99", pct(poll_server), server_reference, "p95 < 30 ms",
                common.verdict(poll_server["p95"] < 30)),
        ]
    return rows


def _cores(cpu: dict | None) -> str:
    if not cpu:
        return ""
    return f"{cpu['client_cores']}/{cpu['tally_cores']}/{cpu['postgres_cores']}/{cpu['other_cores']}"


def pair(stats: dict) -> str:
    return f"{ms(stats['p50'])}/{ms(stats['p95'])}"


def _service(org_id: str):
    """current_usage called in this process (the service, no HTTP, no JSON)."""
    from billing.metering import period_usage

    _configure_core()
    return lambda: period_usage.current_usage(organization_id=org_id, external_customer_id=CUSTOMER,
                                          external_subscription_id=SUB)


_configured = False


def _configure_core() -> None:
    global _configured
    if not _configured:
        import jobs.tasks  # noqa: F401  (imports every model, as a worker does, before the rollup job runs)
        from billing.settings import Settings
        from jobs.bootstrap import configure_core
        from jobs.dispatch import InProcessDispatcher

        configure_core(Settings.from_env(common.server_env()), dispatcher=InProcessDispatcher(synchronous=True))
        _configured = True


def _roll_up(n: int) -> dict:
    from billing.metering.rollups import roll_up_events

    _configure_core()
    log("usage: rolling up (billing.metering.rollups.roll_up_events until it returns 0)")
    started = time.perf_counter()
    total, batches, next_report = 0, 0, 100_000
    while taken := roll_up_events():
        total += taken
        batches += 1
        if total >= next_report:
            log(f"usage: rolled up {total:,} ({fmt(total / (time.perf_counter() - started))} events/s)")
            next_report += 250_000
        if time.perf_counter() - started > 1200:
            log("usage: rollup stopped after 20 minutes")
            break
    seconds = time.perf_counter() - started
    result = {"events": total, "batches": batches, "seconds": round(seconds, 1), "events_per_s": total / seconds}
    result.update(common.rollup_consistency())
    log(f"usage: rollup of {total:,} events in {seconds:.1f}s = {fmt(result['events_per_s'])} events/s "
        f"({batches} batches), consistent: {result['consistent']}")
    return result


def _analyze() -> None:
    with common.pg_connect(autocommit=True) as conn:
        conn.execute("ANALYZE events")


def _vacuum() -> None:
    with common.pg_connect(autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE events")
        conn.execute("VACUUM ANALYZE usage_rollups")


RAW = ('SELECT count(*), sum(value) FROM events WHERE organization_id = %s AND external_subscription_id = %s '
       'AND code = %s AND "timestamp" >= %s AND "timestamp" < %s')


def _bounds(start: datetime) -> tuple[datetime, datetime]:
    return start.replace(tzinfo=None), (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None)


def _raw_counts(org_id: str, start: datetime) -> dict[str, int]:
    low, high = _bounds(start)
    with common.pg_connect() as conn:
        return {code: conn.execute(RAW, (org_id, SUB, code, low, high)).fetchone()[0] for code in CODES}


def _raw_reference(org_id: str, start: datetime, runs: int = 7) -> dict:
    """What a usage query without rollups costs in PostgreSQL alone: count and sum per metric over the period."""
    low, high = _bounds(start)
    all_codes, one_code = [], []
    with common.pg_connect() as conn:
        conn.execute(RAW, (org_id, SUB, "api_calls", low, high)).fetchone()  # warm the cache
        for _ in range(runs):
            total = 0.0
            for code in CODES:
                started = time.perf_counter()
                conn.execute(RAW, (org_id, SUB, code, low, high)).fetchone()
                elapsed = (time.perf_counter() - started) * 1000
                total += elapsed
                if code == "api_calls":
                    one_code.append(elapsed)
            all_codes.append(total)
    return {"all_codes": common.percentiles(all_codes), "one_code": common.percentiles(one_code)}


if __name__ == "__main__":
    common.print_table(main(sys.argv[1:])[0], "Current usage at volume")
