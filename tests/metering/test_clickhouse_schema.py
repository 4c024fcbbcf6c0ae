"""The ClickHouse schema on one server and on a cluster (TALLY_CLICKHOUSE_CLUSTER).

chDB has no Keeper: Replicated engines and ON CLUSTER cannot run here. So the cluster rendering is checked as text,
for every migration file, and a Distributed table over a local table, made by that rendering with the replicated
engine swapped for its plain one (and ON CLUSTER left out), answers the store's port as the single-node tables do,
on chDB with a one-shard local cluster of its config (`tally_local`). What no test here covers: replication itself,
the quorum, ON CLUSTER's distributed DDL, and more than one shard (each shard's rows on another server).
"""

from __future__ import annotations

import re
import tempfile
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import pytest

from billing.metering import clickhouse_schema
from billing.metering.clickhouse_schema import MIGRATIONS, render, statements
from billing.metering.store import make_event_store
from billing.settings import Settings

CLUSTER = "tally_main"
REPLICATED = re.compile(r"ENGINE = Replicated(\w*)MergeTree\('/clickhouse/tables/\{shard\}/\{database\}/(\w+)_local', "
                        r"'\{replica\}'(?:, )?")


def _files() -> list[Path]:
    files = sorted(MIGRATIONS.glob("*.sql"))
    assert files
    return files


@pytest.mark.parametrize("path", _files(), ids=lambda path: path.stem)
def test_without_a_cluster_a_migration_runs_as_written(path):
    assert render(path.read_text()) == statements(path.read_text())


@pytest.mark.parametrize("path", _files(), ids=lambda path: path.stem)
def test_on_a_cluster_each_table_of_a_migration_is_replicated_and_distributed_by_organization(path):
    """Every CREATE TABLE of every file: its replicated local table (the statement as written, but for its name,
    ON CLUSTER and the engine), then the Distributed table under its own name, sharded by organization."""
    written = statements(path.read_text())
    rendered = render(path.read_text(), cluster=CLUSTER, database="tally")
    assert len(rendered) == 2 * len(written)
    for statement, local, distributed in zip(written, rendered[::2], rendered[1::2], strict=True):
        table = re.match(r"CREATE TABLE IF NOT EXISTS (\w+) \(", statement)[1]
        engine = re.search(r"ENGINE = (\w*)MergeTree(?:\(([^()]*)\))?", statement)
        arguments = (engine[2] or "").strip()
        replicated = (f"ENGINE = Replicated{engine[1]}MergeTree('/clickhouse/tables/{{shard}}/{{database}}/"
                      f"{table}_local', '{{replica}}'{', ' + arguments if arguments else ''})")
        assert local == (statement.replace(f"CREATE TABLE IF NOT EXISTS {table} (",
                                           f"CREATE TABLE IF NOT EXISTS `tally`.{table}_local ON CLUSTER {CLUSTER} (")
                         .replace(engine[0], replicated))
        assert distributed == (f"CREATE TABLE IF NOT EXISTS `tally`.{table} ON CLUSTER {CLUSTER} AS "
                               f"`tally`.{table}_local ENGINE = Distributed({CLUSTER}, 'tally', '{table}_local', "
                               "cityHash64(organization_id))")


def test_the_events_table_on_a_cluster():
    local, distributed = render((MIGRATIONS / "0001_events.sql").read_text(), cluster=CLUSTER, database="tally")
    assert local.startswith(f"CREATE TABLE IF NOT EXISTS `tally`.events_local ON CLUSTER {CLUSTER} (\n    id UInt64,")
    assert (") ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/events_local', "
            "'{replica}', revision)\nPARTITION BY toYYYYMM(timestamp)\n") in local
    assert "PROJECTION by_transaction (" in local  # projections and indexes stay on the local table
    assert local.endswith("SETTINGS deduplicate_merge_projection_mode = 'rebuild'")
    assert distributed == (f"CREATE TABLE IF NOT EXISTS `tally`.events ON CLUSTER {CLUSTER} AS `tally`.events_local "
                           f"ENGINE = Distributed({CLUSTER}, 'tally', 'events_local', cityHash64(organization_id))")


def test_a_later_migration_gets_the_same_rendering():
    script = ("-- a table of a later migration\n"
              "CREATE TABLE IF NOT EXISTS daily (\n    organization_id String,\n    day Date\n) "
              "ENGINE = MergeTree ORDER BY (organization_id, day);\n"
              "CREATE TABLE totals (\n    organization_id String,\n    n UInt64\n) "
              "ENGINE = SummingMergeTree() ORDER BY organization_id;\n")
    assert render(script, cluster="c1", database="db") == [
        "CREATE TABLE IF NOT EXISTS `db`.daily_local ON CLUSTER c1 (\n    organization_id String,\n    day Date\n) "
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/daily_local', '{replica}') "
        "ORDER BY (organization_id, day)",
        "CREATE TABLE IF NOT EXISTS `db`.daily ON CLUSTER c1 AS `db`.daily_local "
        "ENGINE = Distributed(c1, 'db', 'daily_local', cityHash64(organization_id))",
        "CREATE TABLE `db`.totals_local ON CLUSTER c1 (\n    organization_id String,\n    n UInt64\n) "
        "ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/totals_local', '{replica}') "
        "ORDER BY organization_id",
        "CREATE TABLE `db`.totals ON CLUSTER c1 AS `db`.totals_local "
        "ENGINE = Distributed(c1, 'db', 'totals_local', cityHash64(organization_id))",
    ]


@pytest.mark.parametrize(("script", "reason"), [
    ("ALTER TABLE events ADD COLUMN x String", "only CREATE TABLE"),
    ("CREATE TABLE t (id UInt64) ENGINE = MergeTree ORDER BY id", "organization_id"),
    ("CREATE TABLE t (organization_id String) ENGINE = Log", "MergeTree"),
    ("CREATE TABLE t (organization_id String) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY organization_id",
     "MergeTree"),
])
def test_a_statement_the_cluster_rendering_cannot_place_stops_the_migration(script, reason):
    """Applied as written, it would change one node only: refused, with what to extend."""
    with pytest.raises(ValueError, match=reason):
        render(script, cluster=CLUSTER, database="tally")


def test_bookkeeping_and_truncation_on_one_server_and_on_a_cluster():
    assert clickhouse_schema.bookkeeping_statement() == (
        "CREATE TABLE IF NOT EXISTS tally_migrations (name String, applied_at DateTime DEFAULT now()) "
        "ENGINE = MergeTree ORDER BY name")
    assert clickhouse_schema.bookkeeping_statement(cluster=CLUSTER, database="tally") == (
        f"CREATE TABLE IF NOT EXISTS `tally`.tally_migrations ON CLUSTER {CLUSTER} (name String, applied_at DateTime "
        "DEFAULT now()) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/tally_migrations', "
        "'{shard}-{replica}') ORDER BY name")
    assert clickhouse_schema.truncate_statement("events") == "TRUNCATE TABLE IF EXISTS events"
    assert clickhouse_schema.truncate_statement("events", cluster=CLUSTER, database="tally") == (
        f"TRUNCATE TABLE IF EXISTS `tally`.events_local ON CLUSTER {CLUSTER} SYNC")
    assert clickhouse_schema.delete_statement("events", "organization_id = {o:String}") == (
        "ALTER TABLE events DELETE WHERE organization_id = {o:String}")
    assert clickhouse_schema.delete_statement("events", "organization_id = {o:String}", cluster=CLUSTER,
                                              database="tally") == (
        f"ALTER TABLE `tally`.events_local ON CLUSTER {CLUSTER} DELETE WHERE organization_id = {{o:String}}")


def test_inserts_wait_for_every_shard_and_replica():
    assert clickhouse_schema.INSERT_SETTINGS == {"async_insert": 0, "distributed_foreground_insert": 1,
                                                 "insert_quorum": "auto", "insert_quorum_timeout": 20_000}


def test_a_cluster_clickhouse_does_not_know_or_with_shards_of_three_replicas_is_refused():
    with pytest.raises(ValueError, match="knows no cluster"):
        clickhouse_schema.check_topology([], CLUSTER)
    with pytest.raises(ValueError, match=r"shard\(s\) 2 of 'tally_main' have more than 2 replicas"):
        clickhouse_schema.check_topology([(1, 2), (2, 3)], CLUSTER)
    clickhouse_schema.check_topology([(1, 2), (2, 2), (3, 1)], CLUSTER)


def test_the_cluster_setting():
    base = {"SECRET_KEY": "k", "TALLY_EVENTS_STORE": "clickhouse", "CLICKHOUSE_URL": "http://ch:8123/tally"}
    assert Settings.from_env(base).clickhouse_cluster is None
    assert Settings.from_env({**base, "TALLY_CLICKHOUSE_CLUSTER": " tally_main "}).clickhouse_cluster == "tally_main"
    for name in ("tally-main", "1tally", "tally main", "t;DROP"):
        with pytest.raises(ValueError, match="plain identifier"):
            Settings.from_env({**base, "TALLY_CLICKHOUSE_CLUSTER": name})
    with pytest.raises(ValueError, match="for TALLY_EVENTS_STORE=clickhouse"):
        Settings.from_env({"SECRET_KEY": "k", "TALLY_CLICKHOUSE_CLUSTER": "tally_main"})
    with pytest.raises(ValueError, match="chDB"):
        Settings.from_env({**base, "CLICKHOUSE_URL": "chdb:///tmp/x", "TALLY_CLICKHOUSE_CLUSTER": "tally_main"})
    assert make_event_store("clickhouse", "http://ch:8123/tally", "tally_main").cluster == "tally_main"


# ---------------------------------------------------------------- a Distributed table on chDB

LOCAL_CLUSTER = "tally_local"
# chDB serves no port: a shard at localhost on the config's tcp_port is this process, read and written directly.
CLUSTER_CONFIG = f"""<clickhouse>
  <tcp_port>9000</tcp_port>
  <remote_servers><{LOCAL_CLUSTER}><shard><internal_replication>true</internal_replication>
    <replica><host>localhost</host><port>9000</port></replica>
  </shard></{LOCAL_CLUSTER}></remote_servers>
</clickhouse>"""
T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def test_a_distributed_table_answers_the_store_as_the_single_node_tables_do():
    """The same batches through the port into the single-node tables and into the cluster's (a Distributed `events`
    over `events_local`, migrated by the cluster path): the same new ids, the same events, pages and usage; a
    repeated transaction id is found through the Distributed table; clear() empties the local table."""
    with tempfile.TemporaryDirectory(prefix="tally-chdb-cluster-") as directory, \
            ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:  # chDB: one engine per process
        answers = pool.submit(_both_layouts, directory).result(timeout=300)
    layout = answers.pop("layout")
    assert layout["engines"] == {"events": "Distributed", "events_local": "ReplacingMergeTree",
                                 "tally_migrations": "MergeTree"}
    assert layout["applied"] == [path.stem for path in _files()]
    assert layout["topology"] == [(1, 1)]
    assert layout["projections"] == ["by_transaction"]
    assert layout["rows_after_clear"] == 0
    single, clustered = answers["single"], answers["clustered"]
    assert clustered == single
    assert single["stored"][0] and single["stored"][1]  # new events in both batches
    assert len(single["stored"][1]) < 4  # the second batch repeats known transaction ids
    assert single["page"][1] == 9 and single["usage"][0]


def _single_node(sql: str) -> str:
    """A cluster statement as chDB can run it: no ON CLUSTER (no Keeper), the replicated engine's plain one."""
    sql = sql.replace(f" ON CLUSTER {LOCAL_CLUSTER}", "").replace(" SYNC", "")
    sql = REPLICATED.sub(lambda match: f"ENGINE = {match[1]}MergeTree(", sql)
    return re.sub(r"ReplicatedMergeTree\('[^']*', '[^']*'\)", "MergeTree", sql)


def _both_layouts(directory: str) -> dict:
    """In a fresh process: chDB with a one-shard local cluster, both layouts in two databases, the same calls."""
    import chdb
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from billing import db
    from billing.db import Base
    from billing.metering import rollups
    from billing.metering.clickhouse_store import PASSED, ClickHouseEventStore
    from billing.metering.facts import MetricReading, derive
    from billing.metering.models import CLICKHOUSE_ROLLUPS, RollupWatermark
    from billing.metering.usage import UsageQuery
    from billing.organizations.models import Organization

    config = Path(directory) / "cluster.xml"
    config.write_text(CLUSTER_CONFIG)
    engine_path = str(Path(directory, "chdb").resolve())
    first = chdb.connect(f"{engine_path}?config-file={config}")  # starts the engine with the cluster's config
    for database in ("single", "clustered"):
        first.query(f"CREATE DATABASE {database}")
    stores = {"single": ClickHouseEventStore(f"chdb://{engine_path}?database=single"),
              "clustered": ClickHouseEventStore(f"chdb://{engine_path}?database=clustered", cluster=LOCAL_CLUSTER)}
    clustered = stores["clustered"]
    command = clustered._command
    clustered._command = lambda sql, parameters=None: command(_single_node(sql), parameters)
    layout = {"applied": stores["single"].migrate()}
    assert clustered.migrate() == layout["applied"]
    layout["topology"] = clustered._rows("SELECT shard_num, count() FROM system.clusters WHERE cluster = "
                                         f"'{LOCAL_CLUSTER}' GROUP BY shard_num")
    layout["engines"] = dict(clustered._rows("SELECT name, engine FROM system.tables WHERE database = 'clustered'"))
    layout["projections"] = [name for (name,) in clustered._rows(
        "SELECT name FROM system.projections WHERE database = 'clustered' AND table = 'events_local'")]

    readings = {"calls": MetricReading(code="calls", aggregation_type="count_agg", field_name=None, expression=None,
                                       filter_keys=()),
                "gb": MetricReading(code="gb", aggregation_type="sum_agg", field_name="gb", expression=None,
                                    filter_keys=("region",))}

    def row(organization: str, transaction: str, subscription: str, code: str, minutes: int, properties: dict):
        at = T0 + timedelta(minutes=minutes)
        fact = derive(readings[code], code=code, properties=properties, timestamp=at)
        return {"organization_id": organization, "transaction_id": transaction,
                "external_subscription_id": subscription, "subscription_id": None, "code": code, "timestamp": at,
                "properties": properties, "precise_total_amount_cents": None, "value": fact.value,
                "unique_value": fact.unique_value, "operation": fact.operation, "group_key": fact.group_key,
                "error": fact.error, "created_at": T0}

    batches = [
        ("org_a", [row("org_a", f"t{i}", f"sub{i % 2}", "gb" if i % 3 else "calls", i,
                       {"gb": f"{i}.25", "region": "eu" if i % 2 else "us"}) for i in range(8)]
         + [row("org_a", "t1", "sub1", "gb", 99, {"gb": "1000"})]),  # t1 twice in a batch: the first counts
        ("org_b", [row("org_b", "t1", "sub0", "calls", 5, {})]),  # another organization's t1: its own event
        ("org_a", [row("org_a", "t2", "sub0", "gb", 3, {"gb": "7"}), row("org_a", "t9", "sub0", "calls", 1, {})]),
    ]
    answers: dict[str, dict] = {}
    for name, store in stores.items():
        ledger = sa.create_engine(f"sqlite:///{directory}/{name}.db")
        with ledger.begin() as connection:
            connection.execute(sa.text("CREATE TABLE event_id_counter (name TEXT PRIMARY KEY, last_id INTEGER)"))
            connection.execute(sa.text("INSERT INTO event_id_counter VALUES ('events', 0)"))
        # The ledger's side of the store: its rollups and its watermark.
        Base.metadata.create_all(ledger, tables=[Organization.__table__, RollupWatermark.__table__,
                                                 *(model.__table__ for model in CLICKHOUSE_ROLLUPS)])
        stored = []
        for organization, rows in batches:
            with Session(ledger) as session, session.begin():
                stored.append(store.store_events(session, organization, rows))
            if len(stored) == 2:  # the first two batches folded into the rollups (read through `events`), the rest raw
                with Session(ledger) as session, session.begin():
                    high = store.max_event_id(session, "org_a")
                    store._fold(session, rollups.watermark(session, name=PASSED, for_update=True), high)
                    rollups.move_watermark(session, name=PASSED, to=high)
        queries = [UsageQuery(code=code, start=T0, end=T0 + timedelta(days=1), day_cuts=(T0 + timedelta(minutes=4),))
                   for code in readings]
        requests = [(sub, query) for sub in ("sub0", "sub1") for query in queries]
        page = store.list_events(organization_id="org_a", per_page=4, page=2)
        answers[name] = {
            "stored": [stored[0], {**stored[1], **stored[2]}],
            "found": store.find_events("org_a", ["t1", "t2", "t9", "nope"]),
            "page": ([event["transaction_id"] for event in page.items], page.total_count),
            "usage": store.subscription_usages(Session(ledger), organization_id="org_a", requests=requests),
            "between": store.events_between(None, 2, 9),
            "subscriptions": store.subscriptions_with_events(None, 0, 100),
            "max_ids": (store.max_event_id(None, "org_a"), store.max_event_id(None, "org_b")),
        }
    db.configure(f"sqlite:///{directory}/clustered.db")  # clear() empties the store's rollups in the ledger too
    clustered.clear()
    [(layout["rows_after_clear"],)] = clustered._rows("SELECT count() FROM events_local")
    first.close()
    return {"layout": layout, **answers}

