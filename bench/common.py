"""Shared plumbing of the benchmarks: the bench database, a gunicorn server, wrk, CPU accounting, tables.

Everything here targets 127.0.0.1 only, and only the `tally_bench` database (its schema is dropped and
re-migrated at the start of every benchmark) and Redis db 5: never the test suite's `test` database.
"""

from __future__ import annotations

import json
import os
import random
import resource
import runpy
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/tally_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
# gunicorn as shipped (gunicorn.conf.py), unless BENCH_WORKERS / BENCH_THREADS say otherwise.
_SHIPPED = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
WORKERS = int(os.environ.get("BENCH_WORKERS", _SHIPPED["workers"]))
THREADS = int(os.environ.get("BENCH_THREADS", _SHIPPED["threads"]))
OUT = Path(os.environ.get("BENCH_OUT", "/tmp/tally-bench"))
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _check_targets() -> None:
    for url in (DATABASE_URL, REDIS_URL):
        host = urlparse(url).hostname
        if host not in LOCAL_HOSTS:
            sys.exit(f"bench: refusing a non-local target {url!r} (only 127.0.0.1)")
    name = urlparse(DATABASE_URL).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"bench: the database is wiped on every run; its name must contain 'bench' (got {name!r})")
    if urlparse(REDIS_URL).path.strip("/") in ("", "0"):
        sys.exit("bench: use a Redis db index of its own (e.g. redis://127.0.0.1:6379/5), not 0")


_check_targets()
OUT.mkdir(parents=True, exist_ok=True)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def server_env(*, jobs: str = "inprocess") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(DATABASE_URL=DATABASE_URL, SECRET_KEY="bench-secret-key", TALLY_INSTANCE_PATH=str(OUT / "instance"),
               TALLY_EMBEDDED_CLOCK="0", TALLY_BASE_URL="http://127.0.0.1")
    if jobs == "rq":
        env["REDIS_URL"] = REDIS_URL
    return env


# ---------------------------------------------------------------- database


def pg_connect(dbname: str | None = None, **kwargs):
    import psycopg

    url = DATABASE_URL if dbname is None else DATABASE_URL.rsplit("/", 1)[0] + "/" + dbname
    return psycopg.connect(url, **kwargs)


def reset_database() -> None:
    """Create `tally_bench` if missing, drop its schema and migrate it to head."""
    name = urlparse(DATABASE_URL).path.lstrip("/")
    with pg_connect("postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    with pg_connect(autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    flask("db", "upgrade")
    extra = os.environ.get("BENCH_AFTER_MIGRATE_SQL")
    if extra:  # a what-if (an index, a setting) tried without writing a migration
        log(f"BENCH_AFTER_MIGRATE_SQL: {extra}")
        with pg_connect(autocommit=True) as conn:
            conn.execute(extra)


def flask(*args: str) -> str:
    done = subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=server_env(),
                          capture_output=True, text=True, timeout=120)
    if done.returncode:
        sys.exit(f"bench: flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def create_organization(name: str = "Bench") -> tuple[str, str]:
    """(organization id, API key) of a new organization, made with the documented CLI."""
    lines = flask("create-organization", name).strip().splitlines()
    org_id = lines[-2].rsplit("(", 1)[1].rstrip(")")
    return org_id, lines[-1].strip()


def scalar(sql: str, params: tuple = ()):
    with pg_connect() as conn:
        return conn.execute(sql, params).fetchone()[0]


def table_columns(conn, table: str) -> list[str]:
    """A table's columns in order (for the INSERT ... SELECT clones and the references)."""
    return [r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                                       "AND table_schema = 'public' ORDER BY ordinal_position", (table,))]


_configured = False


def configure_core(dispatcher, **env: str) -> None:
    """Tally's core configured in this process on the bench database (once; later calls swap the dispatcher)."""
    global _configured
    import jobs.tasks  # noqa: F401  (imports every model, as a worker does)
    from billing import ports
    from billing.settings import Settings
    from jobs.bootstrap import configure_core as configure

    if not _configured:
        configure(Settings.from_env({**server_env(), **env}), dispatcher=dispatcher)
        _configured = True
    else:
        ports.configure(dispatcher=dispatcher)


@contextmanager
def counting_workers(count: int, tag: str, env: dict[str, str]):
    """`count` rq workers (SimpleWorker, bench/counting_worker.py: each counts the SQL it sends) on Redis db 5.

    Yields (processes, counts): `counts()` sums the workers' statements / executions / commits, written out
    when they stop (call it after the block). Logs in $BENCH_OUT/rq-<tag>-<i>.log.
    """
    counted = [OUT / f"rq-{tag}-{i}.statements.json" for i in range(count)]
    for path in counted:
        path.unlink(missing_ok=True)

    def counts() -> dict[str, int]:
        total = {"statements": 0, "executions": 0, "commits": 0}
        for path in counted:
            if path.exists():
                for key, value in json.loads(path.read_text()).items():
                    total[key] += value
        return total

    procs = [subprocess.Popen([sys.executable, "-m", "bench.counting_worker", "worker", "-w",
                               "rq.worker.SimpleWorker", "--url", REDIS_URL, "--quiet", "--name",
                               f"bench-{tag}-{i}-{run_id()}"],
                              cwd=ROOT, env={**env, "BENCH_STATEMENTS_FILE": str(counted[i])},
                              stdout=(OUT / f"rq-{tag}-{i}.log").open("w"),
                              stderr=subprocess.STDOUT, start_new_session=True) for i in range(count)]
    try:
        yield procs, counts
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


# Events past the rollup watermark (billing.metering.rollups).
# (the table also holds other jobs' watermarks, e.g. the pay-in-advance fees')
ROLLUP_WATERMARK_SQL = "SELECT coalesce(max(last_event_id), 0) FROM rollup_watermarks WHERE name = 'events'"
PENDING_SQL = f"SELECT count(*) FROM events WHERE id > ({ROLLUP_WATERMARK_SQL})"


def wait_rollup_drained(timeout: float = 180.0) -> tuple[float, int]:
    """Seconds until no event is pending rollup (or timeout), and how many were pending at first."""
    started = time.perf_counter()
    first = None
    with pg_connect(autocommit=True) as conn:
        while True:
            pending = conn.execute(PENDING_SQL).fetchone()[0]
            first = pending if first is None else first
            if pending == 0 or time.perf_counter() - started > timeout:
                return time.perf_counter() - started, first
            time.sleep(0.25)


def rollup_consistency() -> dict:
    """Every rolled-up event is counted once in the hourly rollups (a check under load)."""
    with pg_connect() as conn:
        # One snapshot: the watermark and the rollups it vouches for.
        import psycopg

        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        rolled = conn.execute(f"SELECT count(*) FROM events WHERE id <= ({ROLLUP_WATERMARK_SQL}) "
                              "AND (error IS NULL OR error <> 'metric_not_found')").fetchone()[0]
        summed = conn.execute("SELECT coalesce(sum(events_count), 0) FROM usage_rollups").fetchone()[0]
        conn.rollback()
    return {"rolled_up_events": rolled, "rollup_events_count": int(summed), "consistent": rolled == summed}


# ---------------------------------------------------------------- catalog (through the API)


SUBSCRIPTIONS = [f"bench_sub_{i}" for i in range(1, 6)]
REGIONS = ["eu-west-1", "us-east-1", "ap-south-1"]


def api(base: str, key: str):
    import httpx

    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def setup_catalog(base: str, key: str, *, subscriptions=SUBSCRIPTIONS, subscription_at: datetime | None = None,
                  billing_time: str = "calendar") -> dict[str, dict]:
    """Three metrics (count, sum, sum with a region filter), one plan using them, and the subscriptions."""
    with api(base, key) as client:
        metrics = {}
        for payload in (
            {"name": "API calls", "code": "api_calls", "aggregation_type": "count_agg"},
            {"name": "Storage", "code": "storage", "aggregation_type": "sum_agg", "field_name": "gb"},
            {"name": "Compute", "code": "compute", "aggregation_type": "sum_agg", "field_name": "seconds",
             "filters": [{"key": "region", "values": REGIONS}]},
        ):
            metrics[payload["code"]] = _ok(client.post("/api/v1/billable_metrics", json={"billable_metric": payload}))[
                "billable_metric"]
        _ok(client.post("/api/v1/plans", json={"plan": {
            "name": "Bench", "code": "bench", "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
            "pay_in_advance": False, "charges": [
                {"billable_metric_id": metrics["api_calls"]["lago_id"], "charge_model": "standard",
                 "properties": {"amount": "0.001"}},
                {"billable_metric_id": metrics["storage"]["lago_id"], "charge_model": "standard",
                 "properties": {"amount": "0.5"}},
                {"billable_metric_id": metrics["compute"]["lago_id"], "charge_model": "standard",
                 "properties": {"amount": "0.0001"},
                 "filters": [{"values": {"region": [r]}, "properties": {"amount": f"0.000{i + 2}"}}
                             for i, r in enumerate(REGIONS[:2])]},
            ]}}))
        subs = {}
        for external_id in subscriptions:
            customer = external_id.replace("sub", "cust")
            _ok(client.post("/api/v1/customers", json={"customer": {"external_id": customer, "currency": "EUR",
                                                                   "timezone": "UTC"}}))
            payload = {"external_customer_id": customer, "plan_code": "bench", "external_id": external_id,
                       "billing_time": billing_time}
            if subscription_at is not None:
                payload["subscription_at"] = subscription_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            subs[external_id] = _ok(client.post("/api/v1/subscriptions", json={"subscription": payload}))[
                "subscription"]
        return subs


def _ok(response):
    if response.status_code >= 300:
        sys.exit(f"bench: {response.request.method} {response.request.url} -> {response.status_code}: "
                 f"{response.text[:500]}")
    return response.json()


# ---------------------------------------------------------------- processes and CPU


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CLK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, *, children_done: bool = True) -> float:
    """CPU seconds of a live process (plus its waited-for children's); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children_done:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def tree_cpu(pid: int) -> float:
    return _proc_cpu(pid) + sum(tree_cpu(child) for child in _children(pid))


def _system_busy() -> tuple[float, float, float]:
    """(busy, total, iowait) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLK, total / CLK, values[4] / CLK


def _postgres_pids() -> list[int]:
    """The bench database's backends and PostgreSQL's shared background processes."""
    with pg_connect(autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE (datname = current_database() "
                            "AND pid <> pg_backend_pid()) OR backend_type <> 'client backend'").fetchall()
    return [r[0] for r in rows]


@dataclass
class CpuMeter:
    """CPU used during a measured window: load generator, Tally (gunicorn, rq worker), PostgreSQL, the rest."""

    server_pids: list[int]
    include_self: bool = False  # the load is generated by this process (an in-process HTTP client)
    started: float = 0.0
    _start: dict = field(default_factory=dict)
    result: dict = field(default_factory=dict)

    def start(self) -> None:
        self._start = self._sample()
        self.started = time.perf_counter()

    def stop(self) -> dict:
        wall = time.perf_counter() - self.started
        end = self._sample()
        client = (end["client"] - self._start["client"])
        server = end["server"] - self._start["server"]
        pg = sum(v - self._start["pg"].get(pid, 0.0) for pid, v in end["pg"].items())
        busy = end["busy"] - self._start["busy"]
        cores = (end["total"] - self._start["total"]) / wall
        self.result = {
            "wall_s": round(wall, 2), "cores": round(cores, 2),
            "client_cores": round(client / wall, 2), "tally_cores": round(server / wall, 2),
            "postgres_cores": round(pg / wall, 2), "machine_busy_cores": round(busy / wall, 2),
            "other_cores": round(max(busy - client - server - pg, 0) / wall, 2),
            "iowait_cores": round((end["iowait"] - self._start["iowait"]) / wall, 2),
        }
        return self.result

    def _sample(self) -> dict:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        client = usage.ru_utime + usage.ru_stime
        if self.include_self:
            own = resource.getrusage(resource.RUSAGE_SELF)
            client += own.ru_utime + own.ru_stime
        busy, total, iowait = _system_busy()
        return {"client": client, "iowait": iowait,
                "server": sum(tree_cpu(pid) for pid in self.server_pids),
                "pg": {pid: _proc_cpu(pid, children_done=False) for pid in _postgres_pids()},
                "busy": busy, "total": total}


@contextmanager
def tally_server(*, jobs: str = "inprocess", workers: int = WORKERS, threads: int = THREADS):
    """gunicorn serving Tally on the bench database (and an rq worker when jobs='rq'); yields (base url, pids)."""
    port = free_port()
    env = server_env(jobs=jobs)
    logs = OUT / f"gunicorn-{jobs}.log"
    started = []
    if jobs == "rq":
        from redis import Redis

        Redis.from_url(REDIS_URL).flushdb()  # db 5: the bench's own
        # As `make worker` runs it: a worker that does not fork per job (see the Makefile).
        worker = subprocess.Popen([str(BIN / "rq"), "worker", "-w", "rq.worker.SimpleWorker", "--with-scheduler",
                                   "--url", REDIS_URL, "--quiet"], cwd=ROOT, env=env,
                                  stdout=(OUT / "rq-worker.log").open("w"), stderr=subprocess.STDOUT,
                                  start_new_session=True)
        started.append(worker)
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-k", "gthread", "-w", str(workers), "--threads", str(threads),
         "-b", f"127.0.0.1:{port}", "--log-level", "warning", os.environ.get("BENCH_APP", "wsgi:app")],
        cwd=ROOT, env=env, stdout=logs.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    started.append(server)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server, logs)
        yield base, [p.pid for p in started]
    finally:
        for proc in reversed(started):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(started):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _wait_healthy(base: str, server: subprocess.Popen, logs: Path) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"bench: gunicorn exited ({server.returncode}); see {logs}:\n{logs.read_text()[-2000:]}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit(f"bench: gunicorn did not become healthy; see {logs}")


# ---------------------------------------------------------------- wrk


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        sys.exit("bench: wrk is needed (Debian: apt-get install -y wrk; `make bench` installs it when missing)")
    return path


def run_wrk(script: str, url: str, *, duration: int, connections: int, args: list[str],
            threads: int = 1, meter: CpuMeter | None = None) -> dict:
    """Run wrk with one of bench/wrk/*.lua; returns the JSON its done() prints, plus the CPU it took."""
    cmd = [require_wrk(), "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "10s",
           "-s", str(BENCH / "wrk" / script), url, "--", *args]
    if meter:
        meter.start()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    cpu = meter.stop() if meter else {}
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if done.returncode or line is None:
        sys.exit(f"bench: wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = json.loads(line[len("BENCH_JSON "):])
    result["cpu"] = cpu
    return result


# ---------------------------------------------------------------- numbers and tables


def percentiles(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)

    def at(q: float) -> float:
        if not ordered:
            return float("nan")
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]

    return {"n": len(ordered), "p50": at(50), "p95": at(95), "p99": at(99), "max": ordered[-1] if ordered else 0,
            "mean": statistics.fmean(ordered) if ordered else 0}


def server_time_ms(response) -> float:
    """Tally's own time on a request, from its `Server-Timing: app;dur=…` header (web/headers.py)."""
    timing = response.headers.get("Server-Timing", "")
    _, found, duration = timing.partition("dur=")
    if not found:
        sys.exit(f"bench: no Server-Timing on {response.request.url}")
    return float(duration.split(";")[0].split(",")[0])


def timed(fn, n: int, *, max_seconds: float = 30.0) -> tuple[dict, object]:
    """Latency percentiles (ms) of `n` sequential calls, stopping early after `max_seconds` (n says how many ran)."""
    samples, result = [], None
    deadline = time.perf_counter() + max_seconds
    for _ in range(n):
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1000)
        if started > deadline:
            break
    return percentiles(samples), result


@dataclass
class Row:
    """One line of the summary table."""

    bench: str
    metric: str
    value: str
    reference: str = ""
    target: str = ""
    verdict: str = ""


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_table(rows: list[Row], title: str = "Results") -> str:
    headers = ("benchmark", "metric", "Tally", "reference", "target", "")
    data = [headers, *[(r.bench, r.metric, r.value, r.reference, r.target, r.verdict) for r in rows]]
    widths = [max(len(str(line[i])) for line in data) for i in range(len(headers))]
    out = [f"\n== {title} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores) =="]
    for index, line in enumerate(data):
        out.append("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    text = "\n".join(out)
    print(text, flush=True)
    return text


def save(name: str, payload: dict) -> Path:
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def environment() -> dict:
    """What the figures were measured on: cores, PostgreSQL, the commit (and whether the tree had changes)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--", "billing", "api", "jobs", "web", "migrations")
    with pg_connect("postgres") as conn:  # the bench database may not exist yet
        pg = conn.execute("SHOW server_version").fetchone()[0]
        settings = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name IN "
                                     "('shared_buffers', 'synchronous_commit', 'fsync', 'max_wal_size')").fetchall())
    return {"cores": os.cpu_count(), "commit": git("rev-parse", "--short", "HEAD") + ("+changes" if dirty else ""),
            "postgres": pg, "pg_settings": settings, "gunicorn": f"-k gthread -w {WORKERS} --threads {THREADS}",
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


def run_id() -> str:
    return f"{int(time.time()):x}{random.randrange(16**4):04x}"
