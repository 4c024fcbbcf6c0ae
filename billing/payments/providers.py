"""The payment providers an organization connects: each with a code, a kind and sealed settings.

`connect_provider` is what the admin screen and `flask payment-provider add` call; `TableProviderConfigs`
is the `ProviderConfigs` the registry finds an organization's adapter through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.db import read_only, unit_of_work
from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.payments import secrets
from billing.payments.interface import PaymentProvider
from billing.payments.models import Payment, PaymentProviderAccount
from billing.payments.registry import ProviderConfig, registry
from billing.validation import MAX_STRING

# What each kind needs to be connected, and what else it accepts (docs/payments.md, Connecting).
REQUIRED_SETTINGS = {
    "stripe": ("secret_key",),
    "adyen": ("api_key", "merchant_account", "hmac_key"),
    "gocardless": ("access_token", "webhook_secret"),
    "fake": (),
}
OPTIONAL_SETTINGS = {
    "stripe": ("webhook_secret", "api_base", "publishable_key"),
    "adyen": ("live_prefix", "api_base", "client_key"),
    "gocardless": ("environment", "api_base"),
    "fake": ("webhook_secret",),
}
DISPLAY_NAMES = {"stripe": "Stripe", "adyen": "Adyen", "gocardless": "GoCardless", "fake": "Test provider"}
_CODE = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class ConnectedProvider:
    """A connected provider as it may be shown: secrets reduced to their last 4 characters."""

    id: str
    code: str
    name: str
    kind: str
    visible_settings: Mapping[str, str]
    readable: bool  # False when SECRET_KEY changed since it was connected: connect it again

    @property
    def display_kind(self) -> str:
        return DISPLAY_NAMES.get(self.kind, self.kind)


def _checked(kind: str, code: object, name: object, settings: Mapping[str, object], *,
             partial: bool = False) -> dict[str, str]:
    errors: dict[str, list[str]] = {}
    if kind not in REQUIRED_SETTINGS or kind not in registry.kinds():
        errors.setdefault("payment_provider", []).append("value_is_invalid")
    if not isinstance(code, str) or not code.strip():
        errors.setdefault("code", []).append("value_is_mandatory")
    elif len(code) > MAX_STRING or not _CODE.match(code.strip()):
        errors.setdefault("code", []).append("value_is_invalid")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_STRING):
        errors.setdefault("name", []).append("value_is_invalid")
    clean: dict[str, str] = {}
    allowed = set(REQUIRED_SETTINGS.get(kind, ())) | set(OPTIONAL_SETTINGS.get(kind, ()))
    for field, value in settings.items():
        if value is None or value == "":
            continue
        if field not in allowed:
            errors.setdefault(field, []).append("unknown_setting")
        elif not isinstance(value, str) or len(value) > 2000 or "\x00" in value:
            errors.setdefault(field, []).append("value_is_invalid")
        elif field == "api_base" and not re.match(r"^https?://[^\s/]+(:\d+)?/?$", value):
            errors.setdefault(field, []).append("value_is_invalid_url")
        elif field == "hmac_key" and not re.fullmatch(r"\s*(?:[0-9A-Fa-f]{2})+\s*", value):
            errors.setdefault(field, []).append("value_is_invalid")  # Adyen's HMAC keys are hexadecimal
        elif field == "environment" and value.strip() not in ("sandbox", "live"):
            errors.setdefault(field, []).append("value_is_invalid")  # GoCardless's two environments
        elif field == "live_prefix" and not re.fullmatch(r"\s*[A-Za-z0-9-]+\s*", value):
            errors.setdefault(field, []).append("value_is_invalid")  # a host name's first label
        else:
            clean[field] = value.strip().rstrip("/") if field == "api_base" else value.strip()
    if not partial:
        for field in REQUIRED_SETTINGS.get(kind, ()):
            if field not in clean and field not in errors:  # one reason per field: invalid says enough
                errors.setdefault(field, []).append("value_is_mandatory")
    if errors:
        raise ValidationFailed(errors)
    return clean


def _shown(account: PaymentProviderAccount) -> ConnectedProvider:
    readable = True
    try:
        secrets.unseal(account.sealed_settings)
    except secrets.SettingsUnreadable:
        readable = False
    return ConnectedProvider(id=account.id, code=account.code, name=account.name, kind=account.kind,
                             visible_settings=dict(account.visible_settings or {}), readable=readable)


def connect_provider(*, organization_id: str, kind: str, code: str, settings: Mapping[str, object],
                     name: str | None = None, cleared: Iterable[str] = ()) -> ConnectedProvider:
    """Connect a provider under a new code, or replace the settings of the one with this code.

    Settings left out or blank keep their stored value when the provider exists (a secret is never shown
    back, so a form that edits the name must not erase the key); those named in `cleared` (a form's emptied
    field, shown in clear: an API base, a live prefix) are removed instead. A secret is never cleared.
    """
    with unit_of_work() as uow:
        session = uow.session
        account = session.scalars(select(PaymentProviderAccount).where(
            PaymentProviderAccount.organization_id == organization_id,
            PaymentProviderAccount.code == (code or "").strip()).with_for_update()).one_or_none()
        if account is not None and account.kind != kind:
            raise ValidationFailed({"code": ["value_already_exist"]})
        clean = _checked(kind, code, name, settings, partial=account is not None)
        if account is None:
            account = PaymentProviderAccount(organization_id=organization_id, code=code.strip(), kind=kind,
                                             name=(name or "").strip() or DISPLAY_NAMES[kind])
            session.add(account)
            merged = clean
        else:
            try:
                merged = {**secrets.unseal(account.sealed_settings), **clean}
            except secrets.SettingsUnreadable:
                merged = clean
            for field in set(cleared) - secrets.SECRET_SETTINGS:
                if field not in clean:
                    merged.pop(field, None)
            missing = [f for f in REQUIRED_SETTINGS[kind] if f not in merged]
            if missing:
                raise ValidationFailed({f: ["value_is_mandatory"] for f in missing})
            if name and name.strip():
                account.name = name.strip()
        account.sealed_settings = secrets.seal(merged)
        account.visible_settings = secrets.visible(merged)
        session.flush()
        return _shown(account)


def list_providers(*, organization_id: str) -> list[ConnectedProvider]:
    with read_only() as session:
        accounts = session.scalars(select(PaymentProviderAccount).where(
            PaymentProviderAccount.organization_id == organization_id).order_by(PaymentProviderAccount.created_at))
        return [_shown(a) for a in accounts]


def get_provider(*, organization_id: str, code: str) -> ConnectedProvider:
    with read_only() as session:
        return _shown(_account(session, organization_id, code))


def disconnect_provider(*, organization_id: str, code: str) -> None:
    """Forget a provider; refused while a payment through it is still in flight."""
    with unit_of_work() as uow:
        account = _account(uow.session, organization_id, code, lock=True)
        in_flight = uow.session.scalar(select(Payment.id).where(
            Payment.organization_id == organization_id, Payment.provider_code == code,
            Payment.status.in_(("pending", "processing", "requires_action"))).limit(1))
        if in_flight is not None:
            raise NotAllowed("payments_in_flight")
        uow.session.delete(account)


def _account(session: Session, organization_id: str, code: str, *, lock: bool = False) -> PaymentProviderAccount:
    query = select(PaymentProviderAccount).where(PaymentProviderAccount.organization_id == organization_id,
                                                 PaymentProviderAccount.code == code)
    if lock:
        query = query.with_for_update()
    account = session.scalars(query).one_or_none()
    if account is None:
        raise NotFound("payment_provider")
    return account


class TableProviderConfigs:
    """The organizations' provider configurations, read from the payment_providers table."""

    def __init__(self, session: Session):
        self._session = session

    def find(self, organization_id: str, code: str) -> ProviderConfig | None:
        account = self._session.scalars(select(PaymentProviderAccount).where(
            PaymentProviderAccount.organization_id == organization_id,
            PaymentProviderAccount.code == code)).one_or_none()
        if account is None:
            return None
        return ProviderConfig(organization_id=organization_id, code=code, kind=account.kind,
                              settings=secrets.unseal(account.sealed_settings))


def provider_settings(session: Session, organization_id: str, code: str) -> tuple[str, Mapping[str, str]]:
    """The kind and opened settings of a connected provider (NotFound when there is none)."""
    account = _account(session, organization_id, code)
    return account.kind, secrets.unseal(account.sealed_settings)


def adapter_for(session: Session, organization_id: str, code: str) -> PaymentProvider:
    """The ready adapter of the organization's provider with this code."""
    return registry.provider_for(TableProviderConfigs(session), organization_id=organization_id, code=code)
