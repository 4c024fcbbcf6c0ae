"""What a plan includes (its entitlements) and what one subscription gets: the plan's values, overridden by its own.

`POST /plans/:code/entitlements` replaces the plan's entitlements, PATCH adds and changes them; a subscription's
overrides are kept under its external id (so they outlive a plan change, as Lago keys them) and only PATCHed or
deleted. `subscription_entitlements` answers the application's question: may this customer use X, and how much.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.audit.services import record
from billing.catalog.models import Plan
from billing.catalog.services import find_plan
from billing.db import read_only, unit_of_work
from billing.entitlements.features import find_feature
from billing.entitlements.models import Entitlement, EntitlementValue, Feature, Privilege
from billing.entitlements.values import stored_value, typed_value
from billing.errors import NotFound, ValidationFailed
from billing.subscriptions.models import STATUSES, Subscription


@dataclass(frozen=True)
class GrantedPrivilege:
    code: str
    name: str | None
    value_type: str
    config: dict
    value: bool | int | str | None
    plan_value: bool | int | str | None = None
    override_value: bool | int | str | None = None


@dataclass(frozen=True)
class GrantedFeature:
    """A feature as a plan or a subscription has it, with the privileges given a value."""

    code: str
    name: str | None
    description: str | None
    privileges: tuple[GrantedPrivilege, ...]
    overrides: dict[str, bool | int | str] = field(default_factory=dict)

    def privilege(self, code: str) -> GrantedPrivilege | None:
        return next((p for p in self.privileges if p.code == code), None)


def _typed(value: EntitlementValue | None) -> bool | int | str | None:
    return None if value is None else typed_value(value.privilege.value_type, value.value)


def _by_privilege(entitlement: Entitlement | None) -> dict[str, EntitlementValue]:
    return {v.privilege_id: v for v in entitlement.values} if entitlement is not None else {}


def granted(plan_entitlement: Entitlement | None, override: Entitlement | None = None) -> GrantedFeature:
    """One feature as given by a plan, overridden by a subscription's own entitlement (either may be absent).

    NOTE: a privilege's value is the override's when the subscription has one, else the plan's (Lago's
    `value`, next to `plan_value` and `override_value`); only privileges given a value by either are listed.
    """
    feature: Feature = (plan_entitlement or override).feature
    planned, overridden = _by_privilege(plan_entitlement), _by_privilege(override)
    privileges = []
    for privilege in feature.privileges:
        plan_value, override_value = _typed(planned.get(privilege.id)), _typed(overridden.get(privilege.id))
        if privilege.id not in planned and privilege.id not in overridden:
            continue
        value = override_value if privilege.id in overridden else plan_value
        privileges.append(GrantedPrivilege(code=privilege.code, name=privilege.name, value_type=privilege.value_type,
                                           config=dict(privilege.config or {}), value=value, plan_value=plan_value,
                                           override_value=override_value))
    overrides = {p.code: p.override_value for p in privileges if p.override_value is not None}
    return GrantedFeature(code=feature.code, name=feature.name, description=feature.description,
                          privileges=tuple(privileges), overrides=overrides)


def resolve(plan_entitlements: list[Entitlement], overrides: list[Entitlement]) -> list[GrantedFeature]:
    """A subscription's features: every feature of its plan or of its overrides, the override's values winning."""
    by_feature: dict[str, list[Entitlement | None]] = {}
    for entitlement in plan_entitlements:
        by_feature.setdefault(entitlement.feature_id, [None, None])[0] = entitlement
    for entitlement in overrides:
        by_feature.setdefault(entitlement.feature_id, [None, None])[1] = entitlement
    features = [granted(plan, override) for plan, override in by_feature.values()]
    return sorted(features, key=lambda f: f.code)


def audited_terms(features: list[GrantedFeature], *, own: bool = False) -> dict[str, object]:
    """What the audit trail compares: each feature's values (a subscription's own only, with `own`)."""
    terms: dict[str, object] = {}
    for feature in features:
        values = dict(feature.overrides) if own else {p.code: p.value for p in feature.privileges}
        if values or not own:
            terms[feature.code] = values or "included"
    return terms


def _record_plan(session: Session, plan: Plan, before: list[GrantedFeature]) -> None:
    session.flush()
    record(session, organization_id=plan.organization_id, action="plan.features_changed", object_type="plan",
           object_id=plan.id, object_label=plan.name, before=audited_terms(before),
           after=audited_terms(plan_features(session, plan.id)))


def _record_subscription(session: Session, subscription: Subscription, before: list[GrantedFeature]) -> None:
    session.flush()
    record(session, organization_id=subscription.organization_id, action="subscription.features_changed",
           object_type="subscription", object_id=subscription.id, object_label=subscription.external_id,
           before=audited_terms(before, own=True),
           after=audited_terms(subscription_features(session, subscription), own=True))


# ---------------------------------------------------------------- reading


def _plan_entitlements(session: Session, plan_id: str) -> list[Entitlement]:
    return list(session.scalars(select(Entitlement).where(Entitlement.plan_id == plan_id)).unique())


def _overrides(session: Session, organization_id: str, external_id: str) -> list[Entitlement]:
    return list(session.scalars(select(Entitlement).where(
        Entitlement.organization_id == organization_id,
        Entitlement.subscription_external_id == external_id)).unique())


def _plan(session: Session, organization_id: str, code: str) -> Plan:
    plan = find_plan(session, organization_id, code)
    if plan is None:
        raise NotFound("plan")
    return plan


def base_plan_id(subscription: Subscription) -> str:
    """The plan whose entitlements a subscription has: a plan overridden for it (a child plan) has its parent's."""
    return subscription.plan.parent_id or subscription.plan_id


def _subscription(session: Session, organization_id: str, external_id: str, status: str | None) -> Subscription:
    """The subscription with this external id in `status` (Lago's `subscription_status`, default active)."""
    status = status or "active"
    if status not in STATUSES:
        raise ValidationFailed({"subscription_status": ["value_is_invalid"]})
    subscription = session.scalars(select(Subscription).where(
        Subscription.organization_id == organization_id, Subscription.external_id == external_id,
        Subscription.status == status).order_by(Subscription.created_at.desc())).first()
    if subscription is None:
        raise NotFound("subscription")
    return subscription


def plan_features(session: Session, plan_id: str) -> list[GrantedFeature]:
    """What a plan includes, by feature code (for the screens that show it)."""
    return sorted((granted(e) for e in _plan_entitlements(session, plan_id)), key=lambda f: f.code)


def subscription_features(session: Session, subscription: Subscription) -> list[GrantedFeature]:
    """What a subscription gets: its plan's features, overridden by its own values."""
    return resolve(_plan_entitlements(session, base_plan_id(subscription)),
                   _overrides(session, subscription.organization_id, subscription.external_id))


def entitlements_of_plans(*, plan_ids: list[str]) -> dict[str, list[GrantedFeature]]:
    """What each of these plans includes (Lago's `entitlements` of a plan object), in one query."""
    if not plan_ids:
        return {}
    found: dict[str, list[GrantedFeature]] = {plan_id: [] for plan_id in plan_ids}
    with read_only() as session:
        for entitlement in session.scalars(select(Entitlement).where(Entitlement.plan_id.in_(plan_ids))).unique():
            found[entitlement.plan_id].append(granted(entitlement))
    return {plan_id: sorted(features, key=lambda f: f.code) for plan_id, features in found.items()}


def list_plan_entitlements(*, organization_id: str, plan_code: str) -> list[GrantedFeature]:
    with read_only() as session:
        return plan_features(session, _plan(session, organization_id, plan_code).id)


def get_plan_entitlement(*, organization_id: str, plan_code: str, feature_code: str) -> GrantedFeature:
    with read_only() as session:
        return granted(_plan_entitlement(session, organization_id, plan_code, feature_code))


def subscription_entitlements(*, organization_id: str, external_id: str,
                              status: str | None = None) -> list[GrantedFeature]:
    """May this customer use X, and how much: the subscription's features with their values."""
    with read_only() as session:
        return subscription_features(session, _subscription(session, organization_id, external_id, status))


# ---------------------------------------------------------------- writing


def _requested(session: Session, organization_id: str,
               data: object) -> list[tuple[Feature, dict[Privilege, str]]]:
    """The `entitlements` object sent ({feature_code: {privilege_code: value}}), checked whole before any write.

    NOTE: an unknown feature or privilege is 404 `feature_not_found` / `privilege_not_found`; a value that does
    not fit its privilege's type is 422 under `<privilege>_privilege_value` (lago-api
    Entitlement::PlanEntitlementsBaseService), e.g. `value_not_in_select_options`.
    """
    if not isinstance(data, Mapping):
        raise ValidationFailed({"entitlements": ["invalid_type"]})
    requested = []
    errors: dict[str, list[str]] = {}
    for feature_code, values in data.items():
        feature = find_feature(session, organization_id, str(feature_code))
        if feature is None:
            raise NotFound("feature")
        values = {} if values is None else values
        if not isinstance(values, Mapping):
            errors.setdefault(f"{feature_code}", []).append("invalid_type")
            continue
        privileges = {p.code: p for p in feature.privileges}
        checked: dict[Privilege, str] = {}
        for privilege_code, raw in values.items():
            privilege = privileges.get(str(privilege_code))
            if privilege is None:
                raise NotFound("privilege")
            stored, reason = stored_value(privilege.value_type, privilege.config, raw)
            if reason is not None:
                errors.setdefault(f"{privilege.code}_privilege_value", []).append(reason)
            else:
                checked[privilege] = stored
        requested.append((feature, checked))
    if errors:
        raise ValidationFailed(errors)
    return requested


def _set_values(entitlement: Entitlement, values: dict[Privilege, str]) -> None:
    current = {v.privilege_id: v for v in entitlement.values}
    for privilege, stored in values.items():
        row = current.get(privilege.id)
        if row is None:
            entitlement.values.append(EntitlementValue(privilege_id=privilege.id, privilege=privilege, value=stored))
        elif row.value != stored:
            row.value = stored


def _grant(session: Session, entitlements: dict[str, Entitlement], requested, **owner: str | None) -> None:
    """Add or update each requested feature among `entitlements` (by feature id), owned by a plan or a subscription."""
    for feature, values in requested:
        entitlement = entitlements.get(feature.id)
        if entitlement is None:
            entitlement = Entitlement(feature_id=feature.id, feature=feature, values=[], **owner)
            session.add(entitlement)
            entitlements[feature.id] = entitlement
        _set_values(entitlement, values)
    session.flush()


def replace_plan_entitlements(*, organization_id: str, plan_code: str,
                              entitlements: object) -> list[GrantedFeature]:
    """The plan includes exactly these features and values; those it had and are not sent are removed (POST)."""
    with unit_of_work() as uow:
        session = uow.session
        plan = _plan(session, organization_id, plan_code)
        requested = _requested(session, organization_id, entitlements)
        before = plan_features(session, plan.id)
        sent = {feature.id for feature, _ in requested}
        current = {e.feature_id: e for e in _plan_entitlements(session, plan.id)}
        for feature_id, entitlement in list(current.items()):
            if feature_id not in sent:
                session.delete(entitlement)
                del current[feature_id]
            else:
                requested_values = next(v for f, v in requested if f.id == feature_id)
                for row in list(entitlement.values):
                    if row.privilege_id not in {p.id for p in requested_values}:
                        entitlement.values.remove(row)
        _grant(session, current, requested, organization_id=organization_id, plan_id=plan.id)
        _record_plan(session, plan, before)
        return plan_features(session, plan.id)


def update_plan_entitlements(*, organization_id: str, plan_code: str, entitlements: object) -> list[GrantedFeature]:
    """Add the features sent to the plan and set the values sent; what is not sent stays (PATCH)."""
    with unit_of_work() as uow:
        session = uow.session
        plan = _plan(session, organization_id, plan_code)
        requested = _requested(session, organization_id, entitlements)
        before = plan_features(session, plan.id)
        current = {e.feature_id: e for e in _plan_entitlements(session, plan.id)}
        _grant(session, current, requested, organization_id=organization_id, plan_id=plan.id)
        _record_plan(session, plan, before)
        return plan_features(session, plan.id)


def _plan_entitlement(session: Session, organization_id: str, plan_code: str, feature_code: str) -> Entitlement:
    plan = _plan(session, organization_id, plan_code)
    feature = find_feature(session, organization_id, feature_code)
    if feature is None:
        raise NotFound("feature")
    entitlement = session.scalar(select(Entitlement).where(Entitlement.plan_id == plan.id,
                                                           Entitlement.feature_id == feature.id))
    if entitlement is None:
        raise NotFound("entitlement")
    return entitlement


def delete_plan_entitlement(*, organization_id: str, plan_code: str, feature_code: str) -> GrantedFeature:
    """Take a feature out of the plan; answers it as the plan had it."""
    with unit_of_work() as uow:
        entitlement = _plan_entitlement(uow.session, organization_id, plan_code, feature_code)
        plan = uow.session.get(Plan, entitlement.plan_id)
        before = plan_features(uow.session, plan.id)
        removed = granted(entitlement)
        uow.session.delete(entitlement)
        _record_plan(uow.session, plan, before)
        return removed


def delete_plan_entitlement_privilege(*, organization_id: str, plan_code: str, feature_code: str,
                                      privilege_code: str) -> GrantedFeature:
    """Remove one privilege's value from the plan's feature; the privilege stays on the feature."""
    with unit_of_work() as uow:
        entitlement = _plan_entitlement(uow.session, organization_id, plan_code, feature_code)
        plan = uow.session.get(Plan, entitlement.plan_id)
        before = plan_features(uow.session, plan.id)
        _remove_value(entitlement, privilege_code)
        _record_plan(uow.session, plan, before)
        return granted(entitlement)


def _remove_value(entitlement: Entitlement, privilege_code: str) -> None:
    row = next((v for v in entitlement.values if v.privilege.code == privilege_code), None)
    if row is None:
        raise NotFound("privilege")
    entitlement.values.remove(row)


def update_subscription_entitlements(*, organization_id: str, external_id: str, entitlements: object,
                                     status: str | None = None) -> list[GrantedFeature]:
    """Override values for one subscription (PATCH): features sent are added or changed, the rest stay."""
    with unit_of_work() as uow:
        session = uow.session
        subscription = _subscription(session, organization_id, external_id, status)
        requested = _requested(session, organization_id, entitlements)
        before = subscription_features(session, subscription)
        current = {e.feature_id: e for e in _overrides(session, organization_id, subscription.external_id)}
        _grant(session, current, requested, organization_id=organization_id,
               subscription_external_id=subscription.external_id)
        _record_subscription(session, subscription, before)
        return subscription_features(session, subscription)


def set_subscription_overrides(*, organization_id: str, external_id: str, entitlements: object,
                               status: str | None = None) -> list[GrantedFeature]:
    """The subscription's own values become exactly those sent (the admin's override editor).

    A feature sent without values stays the subscription's only if its plan does not include it (then the
    subscription gets a feature its plan lacks); with no values over a plan's feature, it is the plan's again.
    """
    with unit_of_work() as uow:
        session = uow.session
        subscription = _subscription(session, organization_id, external_id, status)
        requested = _requested(session, organization_id, entitlements)
        before = subscription_features(session, subscription)
        wanted = {feature.id: values for feature, values in requested}
        in_plan = {e.feature_id for e in _plan_entitlements(session, base_plan_id(subscription))}
        current = {e.feature_id: e for e in _overrides(session, organization_id, subscription.external_id)}
        for feature_id, entitlement in list(current.items()):
            values = wanted.get(feature_id)
            if values is None or (not values and feature_id in in_plan):
                session.delete(entitlement)
                del current[feature_id]
                continue
            for row in list(entitlement.values):
                if row.privilege_id not in {p.id for p in values}:
                    entitlement.values.remove(row)
        requested = [(f, v) for f, v in requested if v or f.id not in in_plan]
        _grant(session, current, requested, organization_id=organization_id,
               subscription_external_id=subscription.external_id)
        _record_subscription(session, subscription, before)
        return subscription_features(session, subscription)


@dataclass(frozen=True)
class SubscriptionChange:
    """A subscription's features after an override was removed, and the one removed as it now stands."""

    feature: GrantedFeature
    features: list[GrantedFeature]


def _override(session: Session, subscription: Subscription, feature_code: str) -> Entitlement:
    feature = find_feature(session, subscription.organization_id, feature_code)
    if feature is None:
        raise NotFound("feature")
    entitlement = session.scalar(select(Entitlement).where(
        Entitlement.organization_id == subscription.organization_id,
        Entitlement.subscription_external_id == subscription.external_id, Entitlement.feature_id == feature.id))
    if entitlement is None:
        raise NotFound("entitlement")
    return entitlement


def _change(session: Session, subscription: Subscription, feature: Feature) -> SubscriptionChange:
    features = subscription_features(session, subscription)
    now = next((f for f in features if f.code == feature.code), None)
    if now is None:  # no longer the subscription's at all: the plan does not include it
        now = GrantedFeature(code=feature.code, name=feature.name, description=feature.description, privileges=())
    return SubscriptionChange(feature=now, features=features)


def delete_subscription_entitlement(*, organization_id: str, external_id: str, feature_code: str,
                                    status: str | None = None) -> SubscriptionChange:
    """Drop the subscription's overrides of a feature: it has the plan's values again (if its plan includes it)."""
    with unit_of_work() as uow:
        subscription = _subscription(uow.session, organization_id, external_id, status)
        entitlement = _override(uow.session, subscription, feature_code)
        before = subscription_features(uow.session, subscription)
        feature = entitlement.feature
        uow.session.delete(entitlement)
        _record_subscription(uow.session, subscription, before)
        return _change(uow.session, subscription, feature)


def delete_subscription_entitlement_privilege(*, organization_id: str, external_id: str, feature_code: str,
                                              privilege_code: str, status: str | None = None) -> SubscriptionChange:
    """Drop the subscription's override of one privilege: it has the plan's value again."""
    with unit_of_work() as uow:
        subscription = _subscription(uow.session, organization_id, external_id, status)
        entitlement = _override(uow.session, subscription, feature_code)
        before = subscription_features(uow.session, subscription)
        _remove_value(entitlement, privilege_code)
        _record_subscription(uow.session, subscription, before)
        return _change(uow.session, subscription, entitlement.feature)
