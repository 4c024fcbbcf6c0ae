"""Organizations (tenants), their API keys and their account managers."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.audit.services import record
from billing.db import read_only, unit_of_work, utcnow
from billing.errors import Conflict, NotFound, ValidationFailed
from billing.organizations.models import ApiKey, Organization, Sequence, User
from billing.organizations.passwords import (
    check_no_password,
    check_password,
    hash_password,
    needs_rehash,
    strength_problem,
)


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
    key = ApiKey(organization_id=organization_id, key_hash=_hash_key(secret), key_prefix=secret[:10])
    session.add(key)
    session.flush()
    record(session, organization_id=organization_id, action="api_key.created", object_type="api_key",
           object_id=key.id, object_label=key.key_prefix)
    return secret


def _revoke(session: Session, key: ApiKey, at: datetime) -> None:
    before = {"revoked_at": key.revoked_at}
    key.revoked_at = at
    record(session, organization_id=key.organization_id, action="api_key.revoked", object_type="api_key",
           object_id=key.id, object_label=key.key_prefix, before=before, after={"revoked_at": at})


API_KEY_CACHE_SECONDS = 10.0
LAST_USED_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class KnownKey:
    organization_id: str
    key_id: str
    prefix: str


_known_keys: dict[str, tuple[KnownKey, float]] = {}  # key hash -> (the key, valid until, monotonic)
_use_noted: dict[str, float] = {}  # key id -> when this process last wrote its last_used_at (monotonic)


def api_key_for_secret(secret: str) -> KnownKey | None:
    """The live API key with this secret (its organization, id and prefix), or None; its use is noted.

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
        _note_use(known[0].key_id, now)
        return known[0]
    at = utcnow()
    with read_only() as session:
        row = session.execute(select(ApiKey.organization_id, ApiKey.id, ApiKey.key_prefix, ApiKey.revoked_at)
                              .where(ApiKey.key_hash == key_hash, _live_key(at))).first()
    if row is None:
        _known_keys.pop(key_hash, None)
        return None
    lifetime = API_KEY_CACHE_SECONDS
    if row.revoked_at is not None:
        lifetime = min(lifetime, (row.revoked_at - at).total_seconds())
    if len(_known_keys) > 10_000:
        _known_keys.clear()
    key = KnownKey(organization_id=row.organization_id, key_id=row.id, prefix=row.key_prefix)
    _known_keys[key_hash] = (key, now + lifetime)
    _note_use(key.key_id, now)
    return key


def organization_for_api_key(secret: str) -> str | None:
    """The id of the organization owning this API key, or None (`api_key_for_secret`)."""
    key = api_key_for_secret(secret)
    return key.organization_id if key else None


def _note_use(key_id: str, now: float) -> None:
    """Move the key's `last_used_at` at most once a minute: a write per API request would double the cost of one.

    This process writes once per LAST_USED_EVERY_SECONDS per key, and the UPDATE matches no row when another
    process moved it within that minute, so the row itself changes at most once a minute whatever the traffic.
    """
    noted = _use_noted.get(key_id)
    if noted is not None and now - noted < LAST_USED_EVERY_SECONDS:
        return
    if len(_use_noted) > 10_000:
        _use_noted.clear()
    _use_noted[key_id] = now
    at = utcnow()
    with unit_of_work() as uow:
        uow.session.execute(update(ApiKey).where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < at - timedelta(seconds=LAST_USED_EVERY_SECONDS)),
        ).values(last_used_at=at))


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
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class RotatedApiKey:
    api_key: str
    revoked: list[ApiKeyInfo]


def _key_info(key: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(id=key.id, prefix=key.key_prefix, created_at=key.created_at, revoked_at=key.revoked_at,
                      last_used_at=key.last_used_at)


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
                _revoke(uow.session, key, at + timedelta(seconds=revoke_old_after))
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
            _revoke(uow.session, api_key, at)
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


ROLES = ("admin", "manager", "finance")  # Lago's three roles; what each may open: admin/roles.py


def _checked_role(role: str | None, errors: dict[str, list[str]]) -> str:
    if role not in ROLES:
        errors["role"] = ["value_is_invalid"]
    return role or ""


def create_admin(*, email: str, password: str, organization_id: str, role: str = "admin",
                 temporary: bool = False) -> str:
    """Create an account manager for one organization; returns the user id.

    `temporary`: the password was made for them, and they choose their own at their first sign-in.
    """
    email = _normal_email(email)
    errors: dict[str, list[str]] = {}
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
        errors["email"] = ["invalid_format"]
    if problem := strength_problem(password):
        errors["password"] = [problem]
    role = _checked_role(role, errors)
    if errors:
        raise ValidationFailed(errors)
    try:
        with unit_of_work() as uow:
            get_organization(uow.session, organization_id)
            user = User(organization_id=organization_id, email=email, password_hash=hash_password(password), role=role,
                        must_change_password=temporary)
            uow.session.add(user)
            uow.session.flush()
            _record_member(uow.session, user, "member.created", None, _member_terms(user))
            return user.id
    except IntegrityError:
        raise ValidationFailed({"email": ["value_already_exist"]}) from None


@dataclass(frozen=True)
class SignedInUser:
    id: str
    email: str
    organization_id: str
    session_generation: int = 0
    role: str = "admin"
    must_change_password: bool = False


def _signed_in(user: User) -> SignedInUser:
    return SignedInUser(id=user.id, email=user.email, organization_id=user.organization_id,
                        session_generation=user.session_generation, role=user.role,
                        must_change_password=user.must_change_password)


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


def change_password(*, email: str, password: str, temporary: bool = False) -> None:
    """Set an account manager's password; their sessions end. `temporary`: they choose their own at their next
    sign-in (a password set for someone else); otherwise a request to choose one is lifted."""
    if problem := strength_problem(password):
        raise ValidationFailed({"password": [problem]})
    with unit_of_work() as uow:
        user = _user_by_email(uow.session, email)
        user.password_hash = hash_password(password)
        user.session_generation += 1
        user.must_change_password = temporary


def deactivate_user(*, email: str) -> None:
    """Stop an account manager from signing in; their sessions end at their next request."""
    with unit_of_work() as uow:
        _set_active(uow.session, _user_by_email(uow.session, email), active=False)


def activate_user(*, email: str) -> None:
    """Let a deactivated account manager sign in again (with their password: no session comes back)."""
    with unit_of_work() as uow:
        _set_active(uow.session, _user_by_email(uow.session, email), active=True)


# ---------------------------------------------------------------- an account manager's own account


@dataclass(frozen=True)
class Account:
    email: str
    role: str
    organization_name: str
    last_login_at: datetime | None
    must_change_password: bool


def read_account(*, organization_id: str, user_id: str) -> Account:
    """The signed-in account manager's own account, as My account shows it."""
    with read_only() as session:
        row = session.execute(
            select(User.email, User.role, User.last_login_at, User.must_change_password, Organization.name)
            .join(Organization, Organization.id == User.organization_id)
            .where(User.id == user_id, User.organization_id == organization_id)).first()
    if row is None:
        raise NotFound("member")
    return Account(email=row.email, role=row.role, organization_name=row.name, last_login_at=row.last_login_at,
                   must_change_password=row.must_change_password)


def change_own_password(*, organization_id: str, user_id: str, current_password: str, new_password: str,
                        new_password_again: str) -> SignedInUser:
    """Replace an account manager's password with one they chose, after checking their current one.

    Refused (ValidationFailed, nothing written) when the current password is missing or wrong, the new one fails
    the strength rule or is the current one, or the two new entries differ. On success their sessions end (the
    generation is bumped) and a request to choose a password is lifted; the caller re-issues its own session from
    the SignedInUser returned. The scrypt work (checking the current password, hashing the new one) is done
    before the write transaction: on SQLite a write transaction holds the whole database.
    """
    current_password, new_password = current_password or "", new_password or ""
    errors: dict[str, list[str]] = {}
    if not current_password:
        errors["current_password"] = ["value_is_mandatory"]
    if problem := strength_problem(new_password):
        errors["new_password"] = [problem]
    elif new_password == current_password:
        errors["new_password"] = ["same_as_current"]
    if (new_password_again or "") != new_password:
        errors["new_password_again"] = ["does_not_match"]
    with read_only() as session:
        stored = session.scalar(select(User.password_hash).where(
            User.id == user_id, User.organization_id == organization_id, User.deactivated_at.is_(None)))
    if stored is None:
        raise NotFound("member")
    if current_password and not check_password(stored, current_password):
        errors["current_password"] = ["wrong_password"]
    if errors:
        raise ValidationFailed(errors)
    new_hash = hash_password(new_password)
    with unit_of_work() as uow:
        user = uow.session.scalar(select(User).where(
            User.id == user_id, User.organization_id == organization_id).with_for_update())
        if user is None or user.deactivated_at is not None:
            raise NotFound("member")
        if user.password_hash != stored:  # changed since it was checked: the password typed is not current now
            raise ValidationFailed({"current_password": ["wrong_password"]})
        before = {"must_change_password": user.must_change_password}
        user.password_hash = new_hash
        user.must_change_password = False
        user.session_generation += 1
        # NOTE: no password and no hash in the trail: the entry says who changed it and when.
        _record_member(uow.session, user, "member.password_changed", before, {"must_change_password": False})
        return _signed_in(user)


# ---------------------------------------------------------------- the members of an organization


@dataclass(frozen=True)
class Member:
    id: str
    email: str
    role: str
    created_at: datetime
    last_login_at: datetime | None
    active: bool


@dataclass(frozen=True)
class InvitedMember:
    member: Member
    temporary_password: str  # shown once to the admin who invited them, stored only as a hash


def _member(user: User) -> Member:
    return Member(id=user.id, email=user.email, role=user.role, created_at=user.created_at,
                  last_login_at=user.last_login_at, active=user.deactivated_at is None)


def _member_terms(user: User) -> dict[str, object]:
    return {"email": user.email, "role": user.role, "active": user.deactivated_at is None}


def _record_member(session: Session, user: User, action: str, before: dict | None, after: dict | None) -> None:
    record(session, organization_id=user.organization_id, action=action, object_type="member", object_id=user.id,
           object_label=user.email, before=before, after=after)


def _set_active(session: Session, user: User, *, active: bool) -> None:
    before = _member_terms(user)
    if active:
        user.deactivated_at = None
    else:
        if user.deactivated_at is None:
            user.deactivated_at = utcnow()
        user.session_generation += 1
    if before != _member_terms(user):
        _record_member(session, user, "member.reactivated" if active else "member.deactivated",
                       before, _member_terms(user))


def list_members(*, organization_id: str) -> list[Member]:
    """The organization's account managers, active ones first, by email."""
    with read_only() as session:
        users = session.scalars(select(User).where(User.organization_id == organization_id)
                                .order_by(User.deactivated_at.is_not(None), User.email))
        return [_member(user) for user in users]


def invite_member(*, organization_id: str, email: str, role: str) -> InvitedMember:
    """Add an account manager with a random temporary password, returned once for the admin to hand over."""
    password = secrets.token_urlsafe(12)
    user_id = create_admin(email=email, password=password, organization_id=organization_id, role=role, temporary=True)
    with read_only() as session:
        return InvitedMember(member=_member(session.get(User, user_id)), temporary_password=password)


def _locked_member(session: Session, organization_id: str, user_id: str) -> User:
    # Every member of the organization is locked, in one order for all callers: two admins demoting each
    # other at once must not both pass the last-admin check.
    users = {user.id: user for user in session.scalars(
        select(User).where(User.organization_id == organization_id).order_by(User.id).with_for_update())}
    if user_id not in users:
        raise NotFound("member")
    return users[user_id]


def _refuse_losing_last_admin(session: Session, user: User) -> None:
    """NOTE: an organization always keeps an active admin, or no one could manage its members and keys again."""
    if user.role != "admin" or user.deactivated_at is not None:
        return
    admins = session.scalar(select(func.count()).select_from(User).where(
        User.organization_id == user.organization_id, User.role == "admin", User.deactivated_at.is_(None)))
    if admins <= 1:
        raise Conflict("last_active_admin")


def change_member_role(*, organization_id: str, user_id: str, role: str) -> Member:
    """Give an account manager another role; the last active admin keeps theirs."""
    errors: dict[str, list[str]] = {}
    role = _checked_role(role, errors)
    if errors:
        raise ValidationFailed(errors)
    with unit_of_work() as uow:
        user = _locked_member(uow.session, organization_id, user_id)
        if user.role != role:
            if role != "admin":
                _refuse_losing_last_admin(uow.session, user)
            before = _member_terms(user)
            user.role = role
            _record_member(uow.session, user, "member.role_changed", before, _member_terms(user))
        return _member(user)


def set_member_active(*, organization_id: str, user_id: str, active: bool) -> Member:
    """Deactivate (their sessions end) or reactivate an account manager; the last active admin stays active."""
    with unit_of_work() as uow:
        user = _locked_member(uow.session, organization_id, user_id)
        if not active:
            _refuse_losing_last_admin(uow.session, user)
        _set_active(uow.session, user, active=active)
        return _member(user)


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
