"""Configure the billing core from the environment, once per process (workers, cron, CLI)."""

from __future__ import annotations

import threading

from billing import db, ports
from billing.adapters.files import LocalFileStore
from billing.adapters.smtp import SmtpMailer
from billing.alerts.handlers import subscribe_to_events as subscribe_alerts_to_events
from billing.dunning.handlers import subscribe_to_events as subscribe_dunning_to_events
from billing.emails.services import subscribe_to_events
from billing.metering.store import configure_event_store, make_event_store
from billing.organizations import passwords
from billing.payments.handlers import subscribe_to_events as subscribe_payments_to_events
from billing.settings import Settings

_lock = threading.Lock()


def configure_core(settings: Settings, dispatcher: ports.Dispatcher | None = None) -> None:
    """Bind the core to the database, the file store and a dispatcher (RQ when Redis is set); subscribe
    the handlers of the domain events (billing.events)."""
    from jobs.dispatch import make_dispatcher

    subscribe_to_events()
    subscribe_payments_to_events()
    subscribe_dunning_to_events()
    subscribe_alerts_to_events()
    db.configure(settings.database_url)
    configure_event_store(make_event_store(settings.events_store, settings.clickhouse_url,
                                          settings.clickhouse_cluster))
    passwords.configure(n=settings.scrypt_n)
    ports.configure(dispatcher=dispatcher or make_dispatcher(settings), files=LocalFileStore(settings.files_path),
                    base_url=settings.base_url, secret_key=settings.secret_key,
                    rollup_delay=settings.rollup_delay, mailer=make_mailer(settings),
                    mail_from=settings.smtp_from, invoice_pdfs=settings.invoice_pdfs,
                    webhook_allow_private_networks=settings.webhook_allow_private_networks,
                    frame_ancestors=settings.frame_ancestors)


def make_mailer(settings: Settings) -> ports.Mailer | None:
    """SMTP when SMTP_HOST is set; else None (no emails)."""
    if not settings.smtp_host:
        return None
    return SmtpMailer(settings.smtp_host, settings.smtp_port, user=settings.smtp_user,
                      password=settings.smtp_password, default_from=settings.smtp_from,
                      starttls=settings.smtp_starttls)


def ensure_configured() -> None:
    """Configure from the environment unless this process already did (a task's first line)."""
    with _lock:
        if not db.is_configured():
            configure_core(Settings.from_env())
