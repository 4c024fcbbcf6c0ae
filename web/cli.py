"""Operator commands (API.md §3): `flask --app wsgi <command>`."""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from pathlib import Path

import click
from flask import Flask, current_app

from billing.errors import ValidationFailed
from billing.metering.store import CLICKHOUSE
from billing.organizations.services import MAX_KEY_OVERLAP

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(database_url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url
    return config


def upgrade_database(database_url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


def register(app: Flask) -> None:
    @app.cli.group("db")
    def db_group():
        """Database migrations (Alembic)."""

    @db_group.command("upgrade")
    @click.argument("revision", default="head")
    def db_upgrade(revision: str):
        """Apply migrations up to REVISION (default: head)."""
        settings = current_app.config["TALLY"]
        upgrade_database(settings.database_url, revision)
        click.echo(f"database at {revision}")
        if settings.events_store == CLICKHOUSE:
            from billing.metering.store import event_store

            applied = event_store().migrate()
            click.echo(f"ClickHouse events store: {len(applied)} migration(s) applied{': ' if applied else ''}"
                       f"{', '.join(applied)}")

    @db_group.command("downgrade")
    @click.argument("revision")
    def db_downgrade(revision: str):
        """Revert migrations down to REVISION."""
        from alembic import command

        command.downgrade(alembic_config(current_app.config["TALLY"].database_url), revision)

    @db_group.command("revision")
    @click.option("-m", "--message", required=True)
    def db_revision(message: str):
        """Autogenerate a migration from the models."""
        from alembic import command

        command.revision(alembic_config(current_app.config["TALLY"].database_url), message=message, autogenerate=True)

    @app.cli.command("create-organization")
    @click.argument("name")
    @click.option("--currency", default="USD", show_default=True)
    @click.option("--timezone", default="UTC", show_default=True)
    def create_organization_command(name: str, currency: str, timezone: str):
        """Create an organization; its API key is printed alone on the last line."""
        from billing.organizations.services import create_organization

        created = create_organization(name=name, default_currency=currency, timezone=timezone)
        click.echo(f"organization {created.name} ({created.organization_id})")
        click.echo(created.api_key)

    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option("--organization", "organization_name", help="organization name (default: the only one)")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    def create_admin_command(email: str, organization_name: str | None, password: str):
        """Create an account-manager login."""
        from billing.db import read_only
        from billing.organizations.models import Organization
        from billing.organizations.services import create_admin, find_organization_by_name

        if organization_name:
            organization_id = find_organization_by_name(organization_name)
        else:
            with read_only() as session:
                ids = list(session.query(Organization.id).limit(2))
            organization_id = ids[0][0] if len(ids) == 1 else None
            if len(ids) > 1:
                raise click.UsageError("several organizations exist: pass --organization NAME")
        if organization_id is None:
            raise click.UsageError("no such organization: create one with create-organization NAME")
        try:
            create_admin(email=email, password=password, organization_id=organization_id)
        except ValidationFailed as error:
            raise click.ClickException(f"invalid: {error.details}") from None
        click.echo(f"account manager {email} created")

    @app.cli.group("api-key")
    def api_key_group():
        """API keys: list, rotate, revoke (a revoked key stops working within API_KEY_CACHE_SECONDS)."""

    @api_key_group.command("list")
    @click.option("--organization", "organization_name", required=True, help="organization name")
    def api_key_list(organization_name: str):
        """List the organization's keys: prefix, id, created, revoked (never the secret)."""
        from billing.organizations.services import list_api_keys

        for key in list_api_keys(organization_id=_organization_named(organization_name)):
            revoked = f"revoked {key.revoked_at.isoformat()}" if key.revoked_at else "live"
            click.echo(f"{key.prefix}  {key.id}  created {key.created_at.isoformat()}  {revoked}")

    @api_key_group.command("rotate")
    @click.option("--organization", "organization_name", required=True, help="organization name")
    @click.option("--revoke-old-after", type=click.IntRange(min=0, max=MAX_KEY_OVERLAP), default=0, show_default=True,
                  help="seconds the organization's current keys keep working (up to 30 days)")
    @click.option("--keep-old", is_flag=True, help="leave the current keys working (revoke them later)")
    def api_key_rotate(organization_name: str, revoke_old_after: int, keep_old: bool):
        """Issue a new API key and revoke the others; the new key is printed alone on the last line."""
        from billing.organizations.services import rotate_api_key

        rotated = rotate_api_key(organization_id=_organization_named(organization_name),
                                 revoke_old_after=None if keep_old else revoke_old_after)
        for key in rotated.revoked:
            click.echo(f"{key.prefix}  {key.id}  revoked {key.revoked_at.isoformat()}")
        click.echo(rotated.api_key)

    @api_key_group.command("revoke")
    @click.argument("key")
    @click.option("--organization", "organization_name", required=True, help="organization name")
    def api_key_revoke(key: str, organization_name: str):
        """Revoke one key, named by its prefix or id (see `api-key list`)."""
        from billing.errors import NotFound
        from billing.organizations.services import revoke_api_key

        try:
            revoked = revoke_api_key(organization_id=_organization_named(organization_name), key=key)
        except NotFound:
            raise click.ClickException(f"no API key {key} in {organization_name}") from None
        except ValidationFailed:
            raise click.ClickException(f"several keys start with {key}: give the key's id") from None
        click.echo(f"{revoked.prefix}  {revoked.id}  revoked {revoked.revoked_at.isoformat()}")

    @app.cli.group("payment-provider")
    def payment_provider_group():
        """Payment providers: add (connect or update), list, remove. Secrets are stored sealed, never printed."""

    @payment_provider_group.command("add")
    @click.argument("kind", type=click.Choice(["stripe", "adyen", "gocardless"]))
    @click.option("--organization", "organization_name", required=True, help="organization name")
    @click.option("--code", required=True, help="the provider's code (customers' payment_provider_code)")
    @click.option("--secret-key", help="Stripe: the secret API key (sk_...)")
    @click.option("--webhook-secret", help="Stripe, GoCardless: the signing secret of the webhook endpoint")
    @click.option("--publishable-key", help="Stripe: the publishable key (pk_...), for the portal's card field")
    @click.option("--api-key", help="Adyen: the API key of the merchant's web service user")
    @click.option("--merchant-account", help="Adyen: the merchant account charged through")
    @click.option("--hmac-key", help="Adyen: the HMAC key (hex) of the standard notification webhook")
    @click.option("--live-prefix", help="Adyen live: the prefix of the account's live API URLs")
    @click.option("--access-token", help="GoCardless: an access token with read-write access")
    @click.option("--environment", type=click.Choice(["sandbox", "live"]),
                  help="GoCardless: the environment of the access token (default: sandbox)")
    @click.option("--api-base", help="another API, e.g. a local test server: http://127.0.0.1:8420")
    @click.option("--name", help="shown in the admin (default: the kind's name)")
    def payment_provider_add(kind: str, organization_name: str, code: str, secret_key: str | None,
                             webhook_secret: str | None, publishable_key: str | None, api_key: str | None,
                             merchant_account: str | None, hmac_key: str | None, live_prefix: str | None,
                             access_token: str | None, environment: str | None, api_base: str | None,
                             name: str | None):
        """Connect a provider under CODE (or update the one with this code); prints the webhook URL to register."""
        from billing.payments import providers
        from billing.screens.payments import inbound_webhook_url

        organization_id = _organization_named(organization_name)
        existed = any(p.code == code.strip() for p in providers.list_providers(organization_id=organization_id))
        required = {"stripe": (("--secret-key", secret_key),),
                    "adyen": (("--api-key", api_key), ("--merchant-account", merchant_account),
                              ("--hmac-key", hmac_key)),
                    "gocardless": (("--access-token", access_token), ("--webhook-secret", webhook_secret))}[kind]
        missing = [option for option, value in required if not value]
        if missing and not existed:
            raise click.UsageError(f"Missing option {', '.join(repr(option) for option in missing)}.")
        settings = {"stripe": {"secret_key": secret_key, "webhook_secret": webhook_secret,
                               "publishable_key": publishable_key, "api_base": api_base},
                    "adyen": {"api_key": api_key, "merchant_account": merchant_account, "hmac_key": hmac_key,
                              "live_prefix": live_prefix, "api_base": api_base},
                    "gocardless": {"access_token": access_token, "webhook_secret": webhook_secret,
                                   "environment": environment, "api_base": api_base}}[kind]
        given = {"--secret-key": secret_key, "--webhook-secret": webhook_secret, "--publishable-key": publishable_key,
                 "--api-key": api_key, "--merchant-account": merchant_account, "--hmac-key": hmac_key,
                 "--live-prefix": live_prefix, "--access-token": access_token, "--environment": environment}
        unused = [option for option, value in given.items()
                  if value and _SETTING_OPTIONS_BY_NAME[option] not in settings]
        if unused:
            raise click.UsageError(f"{', '.join(unused)}: not an option of {kind}")
        try:
            connected = providers.connect_provider(organization_id=organization_id, kind=kind, code=code,
                                                   settings=settings, name=name)
        except ValidationFailed as refused:
            raise click.UsageError(_refusal(refused.details)) from None
        click.echo(f"{connected.display_kind} {connected.code} {'updated' if existed else 'connected'} "
                   f"for {organization_name}: {_settings_text(connected.visible_settings)}")
        if kind == "gocardless":
            click.echo("webhook URL to register at GoCardless (Developers > Create > Webhook endpoint, with this "
                       "secret; GoCardless posts every event type, Tally reads payments, refunds, mandates and "
                       "billing requests):")
        elif kind == "adyen":
            click.echo("webhook URL to register at Adyen (Customer Area > Developers > Webhooks: a Standard "
                       "notification, JSON, with this HMAC key; events AUTHORISATION, CANCELLATION, REFUND, "
                       "REFUND_FAILED, REFUNDED_REVERSED, RECURRING_CONTRACT):")
        else:
            if "webhook_secret" not in connected.visible_settings:
                click.echo("no webhook signing secret yet: register the URL below, then run this again with "
                           "--webhook-secret whsec_...")
            click.echo("webhook URL to register at Stripe (events payment_intent.*, charge.refunded, refund.*, "
                       "setup_intent.*):")
        click.echo(inbound_webhook_url(organization_id=organization_id, kind=connected.kind, code=connected.code))

    @payment_provider_group.command("list")
    @click.option("--organization", "organization_name", required=True, help="organization name")
    def payment_provider_list(organization_name: str):
        """List the organization's providers: code, kind, name, settings (secrets masked), webhook URL."""
        from billing.screens.payments import provider_rows

        rows = provider_rows(organization_id=_organization_named(organization_name))
        if not rows:
            click.echo(f"no payment provider connected for {organization_name}")
        for row in rows:
            provider = row.provider
            unreadable = "" if provider.readable else "  SETTINGS UNREADABLE (SECRET_KEY changed): add it again"
            click.echo(f"{provider.code}  {provider.kind}  {provider.name}  "
                       f"{_settings_text(provider.visible_settings)}{unreadable}")
            click.echo(f"  webhook URL: {row.webhook_url}")

    @payment_provider_group.command("remove")
    @click.option("--organization", "organization_name", required=True, help="organization name")
    @click.option("--code", required=True, help="the provider's code (see `payment-provider list`)")
    def payment_provider_remove(organization_name: str, code: str):
        """Disconnect a provider (refused while a payment through it is in flight)."""
        from billing.errors import NotAllowed, NotFound
        from billing.payments import providers

        try:
            providers.disconnect_provider(organization_id=_organization_named(organization_name), code=code)
        except NotFound:
            raise click.UsageError(f"no payment provider {code} in {organization_name}") from None
        except NotAllowed:
            raise click.ClickException(f"{code} has payments in flight: remove it once they succeed or fail") from None
        click.echo(f"payment provider {code} removed from {organization_name}")

    @app.cli.group("admin")
    def admin_group():
        """Account managers: deactivate, activate, set a password."""

    def _account_command(service, done: str):
        from billing.errors import NotFound

        def run(email: str, **kwargs):
            try:
                service(email=email, **kwargs)
            except NotFound:
                raise click.ClickException(f"no account manager {email}") from None
            except ValidationFailed as error:
                raise click.ClickException(f"invalid: {error.details}") from None
            click.echo(f"account manager {email.strip().lower()} {done}")

        return run

    @admin_group.command("deactivate")
    @click.argument("email")
    def admin_deactivate(email: str):
        """Stop an account manager from signing in; their sessions end now."""
        from billing.organizations.services import deactivate_user

        _account_command(deactivate_user, "deactivated")(email)

    @admin_group.command("activate")
    @click.argument("email")
    def admin_activate(email: str):
        """Let a deactivated account manager sign in again."""
        from billing.organizations.services import activate_user

        _account_command(activate_user, "activated")(email)

    @admin_group.command("set-password")
    @click.argument("email")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    @click.option("--temporary", is_flag=True,
                  help="a password set for someone else: they choose their own in My account at their next sign-in")
    def admin_set_password(email: str, password: str, temporary: bool):
        """Change an account manager's password; their sessions end."""
        from billing.organizations.services import change_password

        _account_command(change_password, "has a new password")(email, password=password, temporary=temporary)

    @app.cli.command("seed-demo")
    @click.option("--reset/--no-reset", default=False, help="reseed even if the demo organization exists")
    def seed_demo_command(reset: bool):
        """Load a demo organization with metrics, plans, customers, a month of events and invoices."""
        from web.demo import DEMO_ADYEN_URL, DEMO_GOCARDLESS_URL, DEMO_HOST_ORIGIN, DEMO_STRIPE_URL, seed_demo

        # TALLY_DEMO_STRIPE / _ADYEN / _GOCARDLESS: "off", or the local test server's URL (default: the one
        # `make run` starts: localstripe, the fakes of Adyen and GoCardless).
        stripe_url = _demo_server("TALLY_DEMO_STRIPE", DEMO_STRIPE_URL)
        adyen_url = _demo_server("TALLY_DEMO_ADYEN", DEMO_ADYEN_URL)
        gocardless_url = _demo_server("TALLY_DEMO_GOCARDLESS", DEMO_GOCARDLESS_URL)
        # TALLY_DEMO_HOST: "off", or the demo host product's origin (default: the one `make run` starts).
        demo_host = os.environ.get("TALLY_DEMO_HOST", "").strip()
        host_origin = None if demo_host.lower() == "off" else (demo_host if demo_host.startswith("http")
                                                                 else DEMO_HOST_ORIGIN)
        settings = current_app.config["TALLY"]
        result = seed_demo(reset=reset, stripe_url=stripe_url, host_origin=host_origin,
                           host_key_file=settings.instance_path / "demo_host_key", adyen_url=adyen_url,
                           gocardless_url=gocardless_url)
        click.echo(f"Demo organization: {result.organization_name}")
        click.echo(f"Admin:  {settings.base_url}/admin/login  (login {result.admin_email} / {result.admin_password}; "
                   "manager@demo.tally and finance@demo.tally have those roles, same password)")
        click.echo(f"Portal: {result.portal_url}")
        click.echo(f"API key: {result.api_key}" if result.api_key else "API key: (created on first seed)")
        where = "ClickHouse" if settings.events_store == CLICKHOUSE else "the ledger's database"
        click.echo(f"Events: {result.events} (in {where})")  # not CLICKHOUSE_URL: it may hold a password
        for label, provider in (("Stripe", result.stripe), ("Adyen", result.adyen),
                                ("GoCardless", result.gocardless)):
            if provider is not None:
                click.echo(f"{label}: {provider.message}")
        if result.host is not None:
            click.echo(f"Demo host: {result.host.origin} may frame the widgets; its API key is in "
                       f"{result.host.key_file}" + (" (new)" if result.host.new_key else ""))

    @app.cli.group("billing")
    def billing_group():
        """The billing clock."""

    @billing_group.command("run")
    @click.option("--at", "at_text", help="ISO 8601 time to run the clock as of (default: now)")
    @click.option("--traceback", "tracebacks", is_flag=True, help="log the traceback of each failure too")
    def billing_run(at_text: str | None, tracebacks: bool):
        """Run the billing clock once: activate, end and bill what is due. Idempotent.

        Exits with status 1 when a subscription could not be billed (each is named, with its reason).
        """
        from billing.clock import run_billing_clock
        from billing.validation import parse_datetime

        if not tracebacks:
            for handler in logging.getLogger().handlers:
                handler.addFilter(_without_traceback)

        at: datetime | None = None
        if at_text:
            at = parse_datetime(at_text)
            if at is None:
                raise click.BadParameter(f"not an ISO 8601 time: {at_text}", param_hint="--at")
        try:
            run = run_billing_clock(at=at, fan_out=False)
        except Exception as error:  # not one step could run (e.g. the database is down): said, no traceback
            current_app.logger.exception("billing clock run failed")
            raise click.ClickException(f"the billing clock could not run: {type(error).__name__}: {error}") from None
        click.echo(f"billing clock at {run.at.isoformat()}: {run.activated} activated, {len(run.terminated)} ended, "
                   f"{len(run.invoices)} invoices issued"
                   + (f", {len(run.failed)} subscriptions could not be billed" if run.failed else ""))
        _echo_failures(run)
        dunning = run.dunning
        click.echo(f"overdue: {run.overdue_marked} invoices marked; dunning: "
                   + (f"{len(dunning.attempted)} attempts, {dunning.requests} payment requests, "
                      f"{dunning.finished} campaigns finished, {dunning.reset} customers started over"
                      + (f", {len(dunning.failed)} customers failed" if dunning.failed else "")
                      if dunning is not None else "did not run"))
        sys.stdout.flush()
        if not run.ok:
            sys.exit(1)


def _demo_server(variable: str, default: str) -> str | None:
    """A demo test server's URL from the environment: None for "off", the default unless an http URL is named."""
    value = os.environ.get(variable, "").strip()
    if value.lower() == "off":
        return None
    return value if value.startswith("http") else default


def _organization_named(name: str) -> str:
    from billing.organizations.services import find_organization_by_name

    organization_id = find_organization_by_name(name)
    if organization_id is None:
        raise click.UsageError(f"no such organization: {name}")
    return organization_id


_SETTING_OPTIONS = {"secret_key": "--secret-key", "webhook_secret": "--webhook-secret", "code": "--code",
                    "publishable_key": "--publishable-key", "api_base": "--api-base", "name": "--name",
                    "api_key": "--api-key", "merchant_account": "--merchant-account", "hmac_key": "--hmac-key",
                    "live_prefix": "--live-prefix", "access_token": "--access-token", "environment": "--environment"}
_SETTING_OPTIONS_BY_NAME = {option: name for name, option in _SETTING_OPTIONS.items()}
_REASONS = {"value_is_mandatory": "is required", "value_is_invalid": "is not valid",
            "value_is_invalid_url": "must be an http(s) address with no path, e.g. http://127.0.0.1:8420",
            "value_already_exist": "is already used by a provider of another kind"}


def _refusal(details: dict) -> str:
    """A refused provider setting, as options and reasons: never the value typed (it may be a secret)."""
    parts = []
    for field, codes in details.items():
        codes = codes if isinstance(codes, list | tuple) else [codes]
        reasons = ", ".join(_REASONS.get(str(code), str(code).replace("_", " ")) for code in codes)
        parts.append(f"{_SETTING_OPTIONS.get(field, field)} {reasons}")
    return "; ".join(parts)


def _settings_text(settings: dict) -> str:
    """A provider's visible settings on one line (secrets are already "…last4")."""
    return ", ".join(f"{name}={value}" for name, value in sorted(settings.items())) or "no settings"


def _without_traceback(record: logging.LogRecord) -> bool:
    """Log a failure on its line, without its traceback (`billing run --traceback` keeps them)."""
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        record.msg, record.args = f"{record.getMessage()}: {type(error).__name__}: {error}", None
    record.exc_info, record.exc_text = None, None
    return True


def _echo_failures(run) -> None:
    """One line per subscription that could not be billed (started, ended) and per clock step that failed."""
    named = {failure.subscription_id: failure for failure in run.could_not_bill}
    for subscription_id in run.failed:
        failure = named.get(subscription_id)
        if failure is None:
            click.echo(f"  could not bill subscription {subscription_id} (see the log)")
            continue
        what = "bill" if failure.step == "billing" else f"run the {failure.step} of"
        click.echo(f"  could not {what} customer {failure.external_customer_id}, subscription "
                   f"{failure.external_subscription_id}: {failure.reason}")
    for step, reason in run.step_failures.items():
        click.echo(f"  clock step '{step}' failed: {reason}")
