"""Organizations (tenants), their API keys and their account managers."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.db import read_only, unit_of_work, utcnow
from billing.errors import NotFound, ValidationFailed
from billing.organizations.models import ApiKey, Organization, Sequence, User
from billing.organizations.passwords import check_password, hash_password


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
    never cached: a new key works at once).
    """
    if not secret:
        return None
    key_hash = _hash_key(secret)
    known = _known_keys.get(key_hash)
    now = time.monotonic()
    if known is not None and known[1] > now:
        return known[0]
    with read_only() as session:
        organization_id = session.scalar(
            select(ApiKey.organization_id).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)))
    if organization_id is None:
        _known_keys.pop(key_hash, None)
        return None
    if len(_known_keys) > 10_000:
        _known_keys.clear()
    _known_keys[key_hash] = (organization_id, now + API_KEY_CACHE_SECONDS)
    return organization_id


def get_organization(session: Session, organization_id: str) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound("organization")
    return org


def find_organization_by_name(name: str) -> str | None:
    with read_only() as session:
        query = select(Organization.id).where(Organization.name == name).order_by(Organization.created_at)
        return session.scalar(query)


def create_admin(*, email: str, password: str, organization_id: str) -> str:
    """Create an account manager for one organization; returns the user id."""
    email = (email or "").strip().lower()
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


def authenticate_user(*, email: str, password: str) -> SignedInUser | None:
    """The user whose email and password match, or None (same work either way, to not leak which)."""
    with unit_of_work() as uow:
        user = uow.session.scalar(select(User).where(User.email == (email or "").strip().lower()))
        if user is None:
            check_password(hash_password("timing-equalizer"), password or "")
            return None
        if not check_password(user.password_hash, password or ""):
            return None
        user.last_login_at = utcnow()
        return SignedInUser(id=user.id, email=user.email, organization_id=user.organization_id)


def load_user(user_id: str) -> SignedInUser | None:
    with read_only() as session:
        user = session.get(User, user_id)
        return SignedInUser(id=user.id, email=user.email, organization_id=user.organization_id) if user else None


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
