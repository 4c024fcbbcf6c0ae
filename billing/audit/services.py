"""Append to the audit trail (in the caller's transaction) and read it back, per object or filtered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.audit.actors import current_actor
from billing.audit.models import AuditEntry
from billing.db import read_only
from billing.pagination import Page, paginate


def _plain(value: object) -> object:
    """A value as JSON keeps it: Decimals and dates as text (exact), everything else as is.

    A Decimal loses its trailing zeros: PostgreSQL's NUMERIC(40,15) reads 20.5 back as 20.500000000000000, and the
    same rate before and after a change must not differ by its scale.
    """
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def flatten(snapshot: Mapping[str, object] | None, prefix: str = "") -> dict[str, object]:
    """Nested mappings as dotted fields (`charges.api_calls.properties.amount`), so a diff names the leaf.

    The result is a copy: a snapshot taken before a change keeps its values when the object's own
    dicts (a charge's properties) are changed in place.
    """
    flat: dict[str, object] = {}
    for key, value in (snapshot or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = _plain(value)
    return flat


EMPTY = (None, "", [], {})


def changed_fields(before: Mapping[str, object] | None, after: Mapping[str, object] | None) -> dict[str, list]:
    """`{field: [before, after]}` for the fields whose value differs (a field absent on one side is None; nothing
    on both sides, such as an empty list of taxes on a new plan, is no change)."""
    old, new = flatten(before), flatten(after)
    return {name: [old.get(name), new.get(name)] for name in sorted(old.keys() | new.keys())
            if old.get(name) != new.get(name) and not (old.get(name) in EMPTY and new.get(name) in EMPTY)}


def record(session: Session, *, organization_id: str, action: str, object_type: str, object_id: str,
           object_label: str, before: Mapping[str, object] | None = None,
           after: Mapping[str, object] | None = None, currency: str | None = None) -> None:
    """Append one entry for the current actor, in the caller's transaction: a change rolled back leaves none."""
    actor = current_actor()
    session.add(AuditEntry(
        organization_id=organization_id, actor_kind=actor.kind, actor_id=actor.id, actor_label=actor.label[:255],
        action=action, object_type=object_type, object_id=object_id, object_label=(object_label or "")[:255],
        changes=changed_fields(before, after), currency=currency))


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None  # an actor's label (email, key prefix, "system")
    object_type: str | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive


def _entries(organization_id: str):
    return select(AuditEntry).where(AuditEntry.organization_id == organization_id)


def list_entries(*, organization_id: str, filters: AuditFilters = AuditFilters(), page: int = 1,
                 per_page: int = 25) -> Page:
    """The organization's trail, newest first, narrowed by `filters`."""
    query = _entries(organization_id)
    if filters.actor:
        query = query.where(AuditEntry.actor_label == filters.actor)
    if filters.object_type:
        query = query.where(AuditEntry.object_type == filters.object_type)
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.since:
        query = query.where(AuditEntry.at >= datetime.combine(filters.since, time.min, tzinfo=UTC))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=UTC)
        query = query.where(AuditEntry.at < end)
    with read_only() as session:
        return paginate(session, query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()), page=page,
                        per_page=per_page)


def object_history(*, organization_id: str, object_ids: list[str], limit: int = 10) -> list[AuditEntry]:
    """The latest entries about one object or its parts (a customer's wallets and subscriptions), newest first."""
    if not object_ids:
        return []
    query = (_entries(organization_id)
             .where(AuditEntry.object_id.in_(object_ids))
             .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit))
    with read_only() as session:
        return list(session.scalars(query))


def filter_choices(*, organization_id: str) -> dict[str, list[str]]:
    """The actors, object types and actions the organization's trail holds, for the filters' menus."""
    with read_only() as session:
        def distinct(column) -> list[str]:
            return list(session.scalars(select(column).where(AuditEntry.organization_id == organization_id)
                                        .distinct().order_by(column)))
        return {"actors": distinct(AuditEntry.actor_label), "object_types": distinct(AuditEntry.object_type),
                "actions": distinct(AuditEntry.action)}
