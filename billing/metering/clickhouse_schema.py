"""The ClickHouse event store's tables: its migrations, applied as written on one server, or rendered for a cluster.

docs/metering.md, "ClickHouse on a cluster", says why each choice below holds:
- the migration files are written once, for one server; with TALLY_CLICKHOUSE_CLUSTER each CREATE TABLE of them
  becomes a replicated local table (`<table>_local`, Replicated*MergeTree, ON CLUSTER) and, under the table's own
  name, a Distributed table over it sharded by organization: the store's SQL names the table it reads and inserts
  into, which is the Distributed one on a cluster;
- every copy of a transaction id lands on one shard (the sharding key is the organization), so the reads'
  `LIMIT 1 BY organization_id, transaction_id` and ingestion's "which transaction ids are new" stay exact;
- an insert returns once every shard it touches has written its part (`distributed_foreground_insert`) on every
  replica (`insert_quorum='auto'`, a majority: both replicas of a shard of two; a cluster with more than two
  replicas in a shard is refused, since a majority would let a read on a lagging replica miss an acknowledged event);
- the bookkeeping table (`tally_migrations`) is one replicated table shared by every node of the cluster: a migration
  is applied ON CLUSTER, so its record is the cluster's, and whichever node Tally reaches later sees it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "clickhouse"
BOOKKEEPING = "tally_migrations"
LOCAL_SUFFIX = "_local"
# The organization picks the shard: all of an organization's events, and so every copy of a transaction id, on one.
SHARDING_KEY = "cityHash64(organization_id)"
# The most replicas a shard may have: with more, `insert_quorum='auto'` (a majority) would leave one behind.
MAX_REPLICAS = 2

# Synchronous on one server and on a cluster: the API answers 200 only once the insert returned (never
# fire-and-forget). `distributed_foreground_insert` (alias `insert_distributed_sync`) makes an insert into a
# Distributed table wait for every shard's local insert; `insert_quorum='auto'` makes that local insert wait for a
# majority of the shard's replicas (all of them, with at most MAX_REPLICAS), failing the insert when it cannot.
# On one server, neither applies: a MergeTree is written when the insert returns.
INSERT_SETTINGS = {
    "async_insert": 0,
    "distributed_foreground_insert": 1,
    "insert_quorum": "auto",
    # A replica that answers but lags fails the insert (the client retries) before the API's request times out,
    # instead of ClickHouse's default ten minutes.
    "insert_quorum_timeout": 20_000,
}

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CREATE_TABLE = re.compile(r"CREATE\s+TABLE\s+(?P<guard>IF\s+NOT\s+EXISTS\s+)?(?P<name>\w+)\s*\(", re.IGNORECASE)
_ENGINE = re.compile(r"\bENGINE\s*=\s*(?P<family>\w*)MergeTree\b(?:\s*\((?P<arguments>[^()]*)\))?", re.IGNORECASE)
_ORGANIZATION_COLUMN = re.compile(r"^\s*organization_id\s", re.MULTILINE)


def valid_cluster_name(name: str) -> bool:
    """A cluster name as it goes into the DDL unquoted: a plain identifier."""
    return _IDENTIFIER.fullmatch(name) is not None


def statements(script: str) -> list[str]:
    """The statements of a migration file: separated by `;` at a line's end, `--` comments dropped."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    pieces = (piece.strip().rstrip(";").rstrip() for piece in "\n".join(lines).split(";\n"))
    return [piece for piece in pieces if piece]


def render(script: str, *, cluster: str | None = None, database: str | None = None) -> list[str]:
    """The statements to run for a migration file: as written without a cluster; on `cluster`, each CREATE TABLE
    as its replicated local table and the Distributed table over it, in `database` (every node's, by name)."""
    written = statements(script)
    if cluster is None:
        return written
    _check_cluster(cluster)
    if not database:
        raise ValueError("rendering for a cluster needs the database the tables go in")
    rendered = []
    for statement in written:
        rendered.extend(_clustered(statement, cluster, database))
    return rendered


def bookkeeping_statement(*, cluster: str | None = None, database: str | None = None) -> str:
    """The table recording which migrations were applied: one per server, or one replicated across the cluster."""
    columns = "(name String, applied_at DateTime DEFAULT now())"
    if cluster is None:
        return f"CREATE TABLE IF NOT EXISTS {BOOKKEEPING} {columns} ENGINE = MergeTree ORDER BY name"
    _check_cluster(cluster)
    # One replica set spanning every node (no {shard} in the path): the record is the cluster's. A replica's name is
    # unique within its shard only in many configurations, so the shard is part of it.
    return (f"CREATE TABLE IF NOT EXISTS {_qualified(database, BOOKKEEPING)} ON CLUSTER {cluster} {columns} "
            f"ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{{database}}/{BOOKKEEPING}', "
            "'{shard}-{replica}') ORDER BY name")


def truncate_statement(table: str, *, cluster: str | None = None, database: str | None = None) -> str:
    """Empty a table of the store. A Distributed table holds no rows (TRUNCATE of it leaves the shards' rows), so
    on a cluster it is the local table, on every node, waiting for each replica."""
    if cluster is None:
        return f"TRUNCATE TABLE IF EXISTS {table}"
    _check_cluster(cluster)
    return f"TRUNCATE TABLE IF EXISTS {_qualified(database, table + LOCAL_SUFFIX)} ON CLUSTER {cluster} SYNC"


def delete_statement(table: str, condition: str, *, cluster: str | None = None, database: str | None = None) -> str:
    """Delete rows of a table of the store by a mutation (`condition` is a WHERE clause with bound values): on a
    cluster, of the local table on every node (a Distributed table holds no rows to delete)."""
    if cluster is None:
        return f"ALTER TABLE {table} DELETE WHERE {condition}"
    _check_cluster(cluster)
    return f"ALTER TABLE {_qualified(database, table + LOCAL_SUFFIX)} ON CLUSTER {cluster} DELETE WHERE {condition}"


def migrate(command: Callable[..., object], rows: Callable[..., list[tuple]], *,
            cluster: str | None = None) -> list[str]:
    """Apply the migrations of migrations/clickhouse not applied yet, in order; the names applied.

    `command(sql, parameters)` runs a statement and `rows(sql, parameters)` a query, on the store's client."""
    database = None
    if cluster is not None:
        _check_cluster(cluster)
        [(database,)] = rows("SELECT currentDatabase()")
        check_topology(rows("SELECT shard_num, count() FROM system.clusters WHERE cluster = {cluster:String} "
                            "GROUP BY shard_num ORDER BY shard_num", {"cluster": cluster}), cluster)
    command(bookkeeping_statement(cluster=cluster, database=database))
    done = {name for (name,) in rows(f"SELECT name FROM {BOOKKEEPING}")}  # noqa: S608  (a constant name)
    applied = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.stem in done:
            continue
        for statement in render(path.read_text(), cluster=cluster, database=database):
            command(statement)
        command(f"INSERT INTO {BOOKKEEPING} (name) SELECT {{name:String}}", {"name": path.stem})  # noqa: S608
        applied.append(path.stem)
    return applied


def check_topology(replicas_per_shard: list[tuple[int, int]], cluster: str) -> None:
    """Refuse a cluster ClickHouse does not know, or one whose shards have more replicas than the quorum covers."""
    if not replicas_per_shard:
        raise ValueError(f"TALLY_CLICKHOUSE_CLUSTER: ClickHouse knows no cluster {cluster!r} (system.clusters)")
    crowded = [shard for shard, replicas in replicas_per_shard if replicas > MAX_REPLICAS]
    if crowded:
        raise ValueError(f"TALLY_CLICKHOUSE_CLUSTER: shard(s) {', '.join(map(str, crowded))} of {cluster!r} have more "
                         f"than {MAX_REPLICAS} replicas: an insert's quorum (a majority) would not reach every "
                         "replica, and a read on one left behind could miss an acknowledged event")


def _clustered(statement: str, cluster: str, database: str) -> list[str]:
    head = _CREATE_TABLE.match(statement)
    if head is None:
        raise ValueError("on a cluster, a ClickHouse migration may hold only CREATE TABLE statements (rendered as a "
                         "replicated table and a Distributed one); extend clickhouse_schema.render for: "
                         f"{statement[:80]}")
    engines = list(_ENGINE.finditer(statement))
    if len(engines) != 1 or engines[0]["family"].lower().startswith("replicated"):
        raise ValueError(f"on a cluster, table {head['name']} needs one plain *MergeTree engine to replicate")
    if not _ORGANIZATION_COLUMN.search(statement):
        raise ValueError(f"on a cluster, table {head['name']} needs an organization_id column: it is sharded by it")
    table, guard = head["name"], head["guard"] or ""
    local = table + LOCAL_SUFFIX
    engine = engines[0]
    replicated = (f"ENGINE = Replicated{engine['family']}MergeTree("
                  f"'/clickhouse/tables/{{shard}}/{{database}}/{local}', '{{replica}}'"
                  + (f", {engine['arguments'].strip()}" if (engine["arguments"] or "").strip() else "") + ")")
    body = statement[head.end():engine.start()] + replicated + statement[engine.end():]
    return [f"CREATE TABLE {guard}{_qualified(database, local)} ON CLUSTER {cluster} ({body}",
            f"CREATE TABLE {guard}{_qualified(database, table)} ON CLUSTER {cluster} AS {_qualified(database, local)} "
            f"ENGINE = Distributed({cluster}, {_literal(database)}, {_literal(local)}, {SHARDING_KEY})"]


def _check_cluster(cluster: str) -> None:
    if not valid_cluster_name(cluster):
        raise ValueError(f"TALLY_CLICKHOUSE_CLUSTER: {cluster!r} is not a plain identifier")


def _qualified(database: str | None, table: str) -> str:
    return f"{_quoted(database)}.{table}" if database else table


def _quoted(identifier: str) -> str:
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
