"""Configuration from the environment, shared by the web app, the workers and the CLI."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from billing.embedding import origins
from billing.metering.clickhouse_schema import valid_cluster_name
from billing.metering.store import CLICKHOUSE, STORES

DEFAULT_INSTANCE = Path(os.environ.get("TALLY_INSTANCE_PATH", "instance")).resolve()


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    secret_key: str
    base_url: str
    instance_path: Path
    files_path: Path
    embedded_clock: bool
    # Seconds between two rollup-job requests from one web process (metering.rollups.request_rollup).
    rollup_delay: float = 0.5
    # Outgoing mail (invoice emails); no SMTP host: no emails (the embedded default).
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    smtp_starttls: bool = False
    # Render invoice PDFs in the background at finalization (off: rendered on first download).
    invoice_pdfs: bool = True
    # Let webhooks go to loopback, private, link-local and unique-local addresses (off: refused, docs/webhooks.md).
    webhook_allow_private_networks: bool = False
    # scrypt's CPU/memory cost for new password hashes (organizations.passwords): OWASP's minimum;
    # the test suite lowers it to keep sign-ins fast.
    scrypt_n: int = 2**17
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0: none).
    trusted_proxies: int = 0
    # Origins that may frame the widgets and portal of an organization that lists none of its own (docs/embedding.md).
    frame_ancestors: tuple[str, ...] = ()
    # Where events live (billing.metering.store): "postgres", the ledger's own database (PostgreSQL, or SQLite
    # embedded), or "clickhouse" at `clickhouse_url` (docs/metering.md, "ClickHouse event store").
    events_store: str = "postgres"
    clickhouse_url: str | None = None
    # A ClickHouse cluster of the servers' config (`remote_servers`): replicated tables, a Distributed `events`
    # sharded by organization (docs/metering.md, "ClickHouse on a cluster"); unset: single-node tables.
    clickhouse_cluster: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        instance = Path(env.get("TALLY_INSTANCE_PATH", str(DEFAULT_INSTANCE))).resolve()
        database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'tally.db'}"
        secret_key = env.get("SECRET_KEY") or _instance_secret(instance)
        return cls(
            database_url=database_url,
            redis_url=env.get("REDIS_URL") or None,
            secret_key=secret_key,
            base_url=(env.get("TALLY_BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
            instance_path=instance,
            files_path=Path(env.get("TALLY_FILES_PATH", str(instance / "files"))).resolve(),
            embedded_clock=env.get("TALLY_EMBEDDED_CLOCK", "1") not in ("0", "false", "no"),
            rollup_delay=float(env.get("TALLY_ROLLUP_DELAY", "0.5")),
            smtp_host=env.get("SMTP_HOST") or None,
            smtp_port=int(env.get("SMTP_PORT") or (587 if _flag(env.get("SMTP_STARTTLS")) else 25)),
            smtp_user=env.get("SMTP_USER") or None,
            smtp_password=env.get("SMTP_PASSWORD") or None,
            smtp_from=env.get("SMTP_FROM") or None,
            smtp_starttls=_flag(env.get("SMTP_STARTTLS")),
            invoice_pdfs=env.get("TALLY_INVOICE_PDFS", "1") not in ("0", "false", "no"),
            webhook_allow_private_networks=_flag(env.get("TALLY_WEBHOOK_ALLOW_PRIVATE_NETWORKS")),
            scrypt_n=int(env.get("TALLY_SCRYPT_N") or 2**17),
            trusted_proxies=int(env.get("TALLY_TRUSTED_PROXIES") or 0),
            frame_ancestors=_origins(env.get("TALLY_FRAME_ANCESTORS")),
            **_events_store(env.get("TALLY_EVENTS_STORE"), env.get("CLICKHOUSE_URL"),
                            env.get("TALLY_CLICKHOUSE_CLUSTER")),
        )


def _events_store(store: str | None, clickhouse_url: str | None, cluster: str | None) -> dict[str, str | None]:
    """TALLY_EVENTS_STORE (postgres | clickhouse), CLICKHOUSE_URL and TALLY_CLICKHOUSE_CLUSTER: a store that cannot
    be used stops the start."""
    store = (store or "postgres").strip().lower()
    if store not in STORES:
        raise ValueError(f"TALLY_EVENTS_STORE: {store!r} is not one of {', '.join(STORES)}")
    if store == CLICKHOUSE and not clickhouse_url:
        raise ValueError("TALLY_EVENTS_STORE=clickhouse needs CLICKHOUSE_URL (http://host:8123/database, or "
                         "chdb:///path for the in-process engine)")
    cluster = (cluster or "").strip() or None
    if cluster is not None:
        if store != CLICKHOUSE:
            raise ValueError("TALLY_CLICKHOUSE_CLUSTER is for TALLY_EVENTS_STORE=clickhouse")
        if not valid_cluster_name(cluster):
            raise ValueError(f"TALLY_CLICKHOUSE_CLUSTER: {cluster!r} is not a plain identifier (letters, digits, _)")
        if clickhouse_url.startswith("chdb"):
            raise ValueError("TALLY_CLICKHOUSE_CLUSTER needs ClickHouse servers: chDB, in the process, has no cluster")
    return {"events_store": store, "clickhouse_url": clickhouse_url or None, "clickhouse_cluster": cluster}


def _origins(text: str | None) -> tuple[str, ...]:
    """TALLY_FRAME_ANCESTORS: origins separated by spaces or commas; one that is not an origin stops the start."""
    valid, refused = origins.parse_origins(origins.split_origins(text or ""))
    if refused:
        raise ValueError(f"TALLY_FRAME_ANCESTORS: not an origin (scheme://host[:port]): {', '.join(refused)}")
    return tuple(valid)


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _instance_secret(instance: Path) -> str:
    """A random secret kept in the instance folder, so the embedded default needs no setup."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
