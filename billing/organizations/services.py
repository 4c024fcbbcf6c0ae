"""Organizations (tenants), their API keys and their account managers."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.db import read_only, unit_of_work, utcnow
from billing.errors import NotFound, ValidationFailed
from billing.organizations.models import ApiKey, Organization, Sequence, User
from billing.organizations.passwords import check_no_password, check_password, hash_password, needs_rehash


@dataclass(frozen=True)
class CreatedOrganization:
    organization_id: str
    name: str
    api_key: str


def _hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _prefix_for(name: str) -> str:
    letters = re.sub(r"[^A-Za-z0-9]", "", name).upper()[:3]
    return letters or "INV"


def create_organization(*, name: str, default_currency: str = "USD", timezone: str = "UTC",
                        invoice_grace_period: int = 0) -> CreatedOrganization:
    """Create a tenant and its first API key; the key's secret is returned once and stored hashed."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": ["value_is_mandatory"]})
    with unit_of_work() as uow:
        org = Organization(name=name, default_currency=default_currency, timezone=timezone,
                           invoice_grace_period=invoice_grace_period, document_number_prefix="")
        uow.session.add(org)
        uow.session.flush()
        org.document_number_prefix = f"{_prefix_for(name)}-{org.id[:4].upper()}"
        secret = _new_api_key(uow.session, org.id)
        return CreatedOrganization(organization_id=org.id, name=org.name, api_key=secret)


def _new_api_key(session: Session, organization_id: str) -> str:
    secret = "tly_" + secrets.token_urlsafe(32)
    session.add(ApiKey(organization_id=organization_id, key_hash=_hash_key(secret), key_prefix=secret[:10]))
    return secret


API_KEY_CACHE_SECONDS = 10.0
_known_keys: dict[str, tuple[str, float]] = {}  # key hash -> (organization id, valid until, monotonic)


def organization_for_api_key(secret: str) -> str | None:
    """The id of the organization owning this API key, or None.

    A key found is remembered by this process for API_KEY_CACHE_SECONDS: every API request
    authenticates, and a query per request was a tenth of a single event's cost. So a revoked key
    keeps working for at most that long in a process that had just used it (unknown keys are
    never cached: a new key works at once). A key revoked for later (`rotate_api_key`) is
    remembered no longer than until then.
    """
    if not secret:
        return None
    key_hash = _hash_key(secret)
    known = _known_keys.get(key_hash)
    now = time.monotonic()
    if known is not None and known[1] > now:
        return known[0]
    at = utcnow()
    with read_only() as session:
        row = session.execute(
            select(ApiKey.organization_id, ApiKey.revoked_at).where(ApiKey.key_hash == key_hash, _live_key(at))).first()
    if row is None:
        _known_keys.pop(key_hash, None)
        return None
    lifetime = API_KEY_CACHE_SECONDS
    if row.revoked_at is not None:
        lifetime = min(lifetime, (row.revoked_at - at).total_seconds())
    if len(_known_keys) > 10_000:
        _known_keys.clear()
    _known_keys[key_hash] = (row.organization_id, now + lifetime)
    return row.organization_id


def _live_key(at):
    return or_(ApiKey.revoked_at.is_(None), ApiKey.revoked_at > at)


def forget_api_key(secret: str) -> None:
    """Drop this process's memory of a key (its organization was found gone)."""
    _known_keys.pop(_hash_key(secret), None)


def organization_exists(organization_id: str) -> bool:
    with read_only() as session:
        return session.scalar(select(Organization.id).where(Organization.id == organization_id)) is not None


@dataclass(frozen=True)
class ApiKeyInfo:
    id: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class RotatedApiKey:
    api_key: str
    revoked: list[ApiKeyInfo]


def _key_info(key: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(id=key.id, prefix=key.key_prefix, created_at=key.created_at, revoked_at=key.revoked_at)


def list_api_keys(*, organization_id: str) -> list[ApiKeyInfo]:
    """The organization's API keys (never their secrets), oldest first."""
    with read_only() as session:
        keys = session.scalars(select(ApiKey).where(ApiKey.organization_id == organization_id)
                               .order_by(ApiKey.created_at, ApiKey.id))
        return [_key_info(key) for key in keys]


MAX_KEY_OVERLAP = 30 * 86_400  # seconds an old key may keep working after a rotation


def rotate_api_key(*, organization_id: str, revoke_old_after: float | None = 0) -> RotatedApiKey:
    """Issue a new API key; the organization's other live keys stop working `revoke_old_after` seconds
    from now (None: they keep working). The new secret is returned once and stored hashed."""
    if revoke_old_after is not None and not 0 <= revoke_old_after <= MAX_KEY_OVERLAP:
        raise ValidationFailed({"revoke_old_after": ["value_is_out_of_range"]})
    with unit_of_work() as uow:
        get_organization(uow.session, organization_id)
        revoked: list[ApiKeyInfo] = []
        if revoke_old_after is not None:
            at = utcnow()
            for key in uow.session.scalars(select(ApiKey).where(
                    ApiKey.organization_id == organization_id, _live_key(at)).with_for_update()):
                key.revoked_at = at + timedelta(seconds=revoke_old_after)
                revoked.append(_key_info(key))
        secret = _new_api_key(uow.session, organization_id)
        return RotatedApiKey(api_key=secret, revoked=revoked)


def revoke_api_key(*, organization_id: str, key: str) -> ApiKeyInfo:
    """Revoke one of the organization's keys, named by its id or its prefix (as `list_api_keys` shows)."""
    key = (key or "").strip()
    with unit_of_work() as uow:
        found = list(uow.session.scalars(select(ApiKey).where(
            ApiKey.organization_id == organization_id,
            or_(ApiKey.id == key, ApiKey.key_prefix == key)).limit(2).with_for_update()))
        if not found:
            raise NotFound("api_key")
        if len(found) > 1:
            raise ValidationFailed({"key": ["ambiguous_prefix"]})
        [api_key] = found
        at = utcnow()
        if api_key.revoked_at is None or api_key.revoked_at > at:
            api_key.revoked_at = at
        return _key_info(api_key)


def get_organization(session: Session, organization_id: str) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound("organization")
    return org


def read_organization(*, organization_id: str) -> Organization:
    """The organization's settings (its defaults for customers: timezone, grace period, payment term)."""
    with read_only() as session:
        return get_organization(session, organization_id)


def find_organization_by_name(name: str) -> str | None:
    with read_only() as session:
        query = select(Organization.id).where(Organization.name == name).order_by(Organization.created_at)
        return session.scalar(query)


def create_admin(*, email: str, password: str, organization_id: str) -> str:
    """Create an account manager for one organization; returns the user id."""
    email = _normal_email(email)
    errors: dict[str, list[str]] = {}
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
        errors["email"] = ["invalid_format"]
    if len(password or "") < 8:
        errors["password"] = ["too_short"]
    if errors:
        raise ValidationFailed(errors)
    try:
        with unit_of_work() as uow:
            get_organization(uow.session, organization_id)
            user = User(organization_id=organization_id, email=email, password_hash=hash_password(password))
            uow.session.add(user)
            uow.session.flush()
            return user.id
    except IntegrityError:
        raise ValidationFailed({"email": ["value_already_exist"]}) from None


@dataclass(frozen=True)
class SignedInUser:
    id: str
    email: str
    organization_id: str
    session_generation: int = 0


def _signed_in(user: User) -> SignedInUser:
    return SignedInUser(id=user.id, email=user.email, organization_id=user.organization_id,
                        session_generation=user.session_generation)


def authenticate_user(*, email: str, password: str) -> SignedInUser | None:
    """The active user whose email and password match, or None.

    One scrypt check at the same cost whether the email is known or not, deactivated or not, so the
    time taken does not tell which. A hash made with weaker parameters is replaced on success.
    """
    password = password or ""
    with unit_of_work() as uow:
        user = uow.session.scalar(select(User).where(User.email == _normal_email(email)))
        if user is None:
            check_no_password(password)
            return None
        if not check_password(user.password_hash, password) or user.deactivated_at is not None:
            return None
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.last_login_at = utcnow()
        return _signed_in(user)


def _normal_email(email: str | None) -> str:
    return (email or "").strip().lower()


def load_user(user_id: str, session_generation: int) -> SignedInUser | None:
    """The user of a session, if that session still stands (not ended by sign-out, a password change
    or deactivation)."""
    with read_only() as session:
        user = session.get(User, user_id)
        if user is None or user.deactivated_at is not None or user.session_generation != session_generation:
            return None
        return _signed_in(user)


def end_sessions(*, user_id: str) -> None:
    """End every session of this user (signing out ends them on every device)."""
    with unit_of_work() as uow:
        user = uow.session.get(User, user_id, with_for_update=True)
        if user is not None:
            user.session_generation += 1


def _user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == _normal_email(email)).with_for_update())
    if user is None:
        raise NotFound("user")
    return user


def change_password(*, email: str, password: str) -> None:
    """Set an account manager's password; their sessions end."""
    if len(password or "") < 8:
        raise ValidationFailed({"password": ["too_short"]})
    with unit_of_work() as uow:
        user = _user_by_email(uow.session, email)
        user.password_hash = hash_password(password)
        user.session_generation += 1


def deactivate_user(*, email: str) -> None:
    """Stop an account manager from signing in; their sessions end at their next request."""
    with unit_of_work() as uow:
        user = _user_by_email(uow.session, email)
        if user.deactivated_at is None:
            user.deactivated_at = utcnow()
        user.session_generation += 1


def activate_user(*, email: str) -> None:
    """Let a deactivated account manager sign in again (with their password: no session comes back)."""
    with unit_of_work() as uow:
        _user_by_email(uow.session, email).deactivated_at = None


def next_in_sequence(session: Session, scope: str) -> int:
    """The next number of a gap-free counter, under a row lock held until the caller commits."""
    row = session.execute(select(Sequence).where(Sequence.scope == scope).with_for_update()).scalar_one_or_none()
    if row is None:
        try:
            with session.begin_nested():
                row = Sequence(scope=scope, value=0)
                session.add(row)
                session.flush()
        except IntegrityError:
            row = session.execute(select(Sequence).where(Sequence.scope == scope).with_for_update()).scalar_one()
    row.value += 1
    session.flush()
    return row.value


def reserve_in_sequences(session: Session, counts: Mapping[str, int]) -> dict[str, int]:
    """Take `count` consecutive numbers of each gap-free counter at once; returns each scope's first one.

    One statement for every scope (an upsert adding `count`, the scopes in one order for all callers);
    as with `next_in_sequence`, the rows stay locked until the caller commits and a rollback gives the
    numbers back, so none is skipped.
    """
    counts = {scope: count for scope, count in counts.items() if count > 0}
    if not counts:
        return {}
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Sequence).values([{"scope": scope, "value": counts[scope]} for scope in sorted(counts)])
    statement = statement.on_conflict_do_update(
        index_elements=[Sequence.scope], set_={"value": Sequence.value + statement.excluded.value},
    ).returning(Sequence.scope, Sequence.value)
    last = dict(session.execute(statement).all())
    for scope in counts:  # a row this session had loaded is stale now
        loaded = session.identity_map.get(session.identity_key(Sequence, scope))
        if loaded is not None:
            session.expire(loaded)
    return {scope: last[scope] - counts[scope] + 1 for scope in counts}
