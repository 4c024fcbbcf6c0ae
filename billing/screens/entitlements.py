"""Features as the screens show them: the plan editor's and the subscription editor's rows (every privilege of each
feature with its value, if any), and what each live subscription of a customer includes (for the portal)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, lazyload

from billing.catalog.services import find_plan
from billing.customers.services import customer_by_id
from billing.db import read_only
from billing.entitlements.models import Feature
from billing.entitlements.services import GrantedFeature, plan_features, subscription_features
from billing.errors import NotFound
from billing.subscriptions.models import LIVE_STATUSES, Subscription


@dataclass(frozen=True)
class PrivilegeRow:
    code: str
    name: str | None
    value_type: str
    options: tuple[str, ...]
    value: bool | int | str | None  # the plan's (plan editor) or the subscription's own (override editor)
    plan_value: bool | int | str | None = None


@dataclass(frozen=True)
class FeatureRow:
    code: str
    name: str | None
    description: str | None
    privileges: tuple[PrivilegeRow, ...]


@dataclass(frozen=True)
class FeatureEditor:
    rows: list[FeatureRow]  # the features included, each with all its privileges
    available: list[tuple[str, str]]  # (code, name) of the features that could be added


def _all_features(session: Session, organization_id: str) -> list[Feature]:
    return list(session.scalars(select(Feature).where(Feature.organization_id == organization_id)
                                .order_by(Feature.code)))


def _rows(features: list[Feature], granted: list[GrantedFeature], *, overrides: bool) -> list[FeatureRow]:
    by_code = {g.code: g for g in granted}
    rows = []
    for feature in features:
        given = by_code.get(feature.code)
        if given is None:
            continue
        privileges = []
        for p in feature.privileges:
            value = given.privilege(p.code)
            privileges.append(PrivilegeRow(
                code=p.code, name=p.name, value_type=p.value_type,
                options=tuple((p.config or {}).get("select_options") or ()),
                value=(value.override_value if overrides else value.value) if value else None,
                plan_value=value.plan_value if value else None))
        rows.append(FeatureRow(code=feature.code, name=feature.name, description=feature.description,
                               privileges=tuple(privileges)))
    return rows


def _editor(features: list[Feature], granted: list[GrantedFeature], *, overrides: bool = False) -> FeatureEditor:
    rows = _rows(features, granted, overrides=overrides)
    included = {r.code for r in rows}
    return FeatureEditor(rows=rows, available=[(f.code, f.name or f.code) for f in features
                                                if f.code not in included])


def plan_feature_editor(*, organization_id: str, plan_code: str) -> FeatureEditor:
    """The plan editor's features section: what the plan includes, and what could be added."""
    with read_only() as session:
        plan = find_plan(session, organization_id, plan_code)
        if plan is None:
            raise NotFound("plan")
        return _editor(_all_features(session, organization_id), plan_features(session, plan.id))


def _subscription(session: Session, organization_id: str, customer_id: str, subscription_id: str) -> Subscription:
    subscription = session.scalar(select(Subscription).where(
        Subscription.id == subscription_id, Subscription.organization_id == organization_id,
        Subscription.customer_id == customer_id))
    if subscription is None:
        raise NotFound("subscription")
    return subscription


def subscription_feature_editor(*, organization_id: str, customer_id: str, subscription_id: str) -> FeatureEditor:
    """The override editor's features section: the subscription's features with its own values next to the plan's."""
    with read_only() as session:
        subscription = _subscription(session, organization_id, customer_id, subscription_id)
        return _editor(_all_features(session, organization_id), subscription_features(session, subscription),
                       overrides=True)


def customer_features(*, organization_id: str, customer_id: str) -> dict[str, list[GrantedFeature]]:
    """What each live subscription of the customer includes, by subscription external id."""
    with read_only() as session:
        if customer_by_id(session, organization_id, customer_id) is None:
            raise NotFound("customer")
        # Only the plan's ids are read (base_plan_id): its charges, taxes and thresholds, and the customer, are not
        # loaded (they were ten statements of the portal's page).
        subscriptions = session.scalars(select(Subscription).where(
            Subscription.customer_id == customer_id, Subscription.status.in_(LIVE_STATUSES))
            .options(lazyload(Subscription.customer), joinedload(Subscription.plan).lazyload("*"))
            .order_by((Subscription.status == "active").asc()))  # the active one wins over a pending successor
        return {s.external_id: subscription_features(session, s) for s in subscriptions}
