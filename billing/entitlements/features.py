"""Features and their privileges: create, update, read, list, delete (by `code`, as Lago).

A feature names something the application lets a customer use (`seats`, `sso`); its privileges are the settings a
plan gives it (`max`: integer, `provider`: select of google/okta). Deleting a feature or a privilege takes it out of
every plan and subscription.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing import serializers
from billing.audit.services import record
from billing.db import read_only, unit_of_work
from billing.entitlements.models import VALUE_TYPES, Entitlement, EntitlementValue, Feature, Privilege
from billing.errors import NotFound, ValidationFailed
from billing.pagination import Page, like_escaped, paginate
from billing.validation import Checker
from billing.webhooks import services as webhooks

MAX_DESCRIPTION = 600  # Lago's feature description limit


def _feature_query(organization_id: str):
    return select(Feature).where(Feature.organization_id == organization_id)


def find_feature(session: Session, organization_id: str, code: str) -> Feature | None:
    return session.scalar(_feature_query(organization_id).where(Feature.code == code))


def get_feature_in(session: Session, organization_id: str, code: str) -> Feature:
    feature = find_feature(session, organization_id, code)
    if feature is None:
        raise NotFound("feature")
    return feature


def _privileges(check: Checker, raw: object, current: Mapping[str, str]) -> list[dict[str, object]] | None:
    """The privileges sent, checked as Lago's Privilege model does (reasons under `privilege.<field>`).

    `current`: the feature's privileges' types by code; one sent without a type keeps its own (new ones: string).
    """
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        check.fail("privileges", "invalid_type")
        return None
    privileges = []
    for item in raw:
        one = Checker(item)
        code = one.string("code", required=True)
        name = one.string("name")
        value_type = item.get("value_type")
        if value_type is None:
            value_type = current.get(code, "string") if isinstance(code, str) else "string"
        if value_type not in VALUE_TYPES:
            one.fail("value_type", "value_is_invalid")
        config = item.get("config")
        config = {} if config is None else config
        # NOTE: only a select has a config, exactly {"select_options": [one string or more]} (lago-api
        # Entitlement::Privilege#config_valid?); every other type has none.
        if value_type == "select":
            options = config.get("select_options") if isinstance(config, Mapping) else None
            if (not isinstance(config, Mapping) or set(config) != {"select_options"} or not isinstance(options, list)
                    or not options or not all(isinstance(o, str) and o.strip() for o in options)):
                one.fail("config", "invalid_format")
        elif config != {}:
            one.fail("config", "invalid_format")
        for field, reasons in one.errors.items():
            for reason in reasons:
                check.fail(f"privilege.{field}", reason)
        privileges.append({"code": code, "name": name, "value_type": value_type, "config": config,
                           "sent": set(item)})
    codes = [p["code"] for p in privileges if p["code"]]
    if len(codes) != len(set(codes)):
        check.fail("privilege.code", "value_is_duplicated")
    return privileges


def _apply(session: Session, feature: Feature, data: Mapping[str, object], *, creating: bool) -> None:
    check = Checker(data)
    values: dict[str, object] = {}
    if creating:
        values["code"] = check.string("code", required=True)
    if data.get("name") is not None:
        values["name"] = check.string("name")
    if data.get("description") is not None:
        values["description"] = check.string("description", max_length=MAX_DESCRIPTION)
    privileges = (_privileges(check, data["privileges"], {p.code: p.value_type for p in feature.privileges})
                  if data.get("privileges") is not None else None)
    code = values.get("code")
    if isinstance(code, str) and find_feature(session, feature.organization_id, code) is not None:
        check.fail("code", "value_already_exist")
    if privileges is not None and not creating:
        current = {p.code: p for p in feature.privileges}
        for item in privileges:
            existing = current.get(item["code"])
            if existing is not None and "value_type" in item["sent"] and item["value_type"] != existing.value_type:
                # NOTE: Lago keeps a privilege's type once created (its update service never sets it); Tally says
                # so rather than ignoring the field: the values already given were checked against the old type.
                check.fail("privilege.value_type", "value_cannot_change")
    check.done()
    for field, value in values.items():
        setattr(feature, field, value)
    if privileges is not None:
        _set_privileges(session, feature, privileges)


def _set_privileges(session: Session, feature: Feature, privileges: list[dict[str, object]]) -> None:
    """The feature's privileges become those sent: new ones added, named ones updated, the others deleted."""
    current = {p.code: p for p in feature.privileges}
    sent = {item["code"] for item in privileges}
    for code, privilege in current.items():
        if code not in sent:
            _delete_privilege(session, privilege)
            feature.privileges.remove(privilege)
    for position, item in enumerate(privileges):
        privilege = current.get(item["code"])
        if privilege is None:
            privilege = Privilege(code=item["code"], value_type=item["value_type"])
            feature.privileges.append(privilege)
        if "name" in item["sent"]:
            privilege.name = item["name"]
        if "config" in item["sent"] or privilege.config is None:
            privilege.config = dict(item["config"])
        privilege.position = position


def _delete_privilege(session: Session, privilege: Privilege) -> None:
    """Its values in every plan and subscription go with it."""
    session.execute(delete(EntitlementValue).where(EntitlementValue.privilege_id == privilege.id))


def _save(session: Session, feature: Feature) -> None:
    try:
        with session.begin_nested():
            session.add(feature)
            session.flush()
    except IntegrityError:
        # Two requests created the same code at once: the unique index decided.
        raise ValidationFailed({"code": ["value_already_exist"]}) from None


def _emit(session: Session, feature: Feature, webhook_type: str) -> None:
    webhooks.emit(session, feature.organization_id, webhook_type, "feature",
                  lambda: serializers.feature(feature), object_id=feature.id)


def audited_terms(feature: Feature) -> dict[str, object]:
    """What the audit trail compares of a feature: its name, description and each privilege's type (and options)."""
    return {"name": feature.name, "description": feature.description,
            "privileges": {p.code: ", ".join([p.value_type, *(p.config or {}).get("select_options", [])])
                           for p in feature.privileges}}


def _record(session: Session, feature: Feature, action: str, before: dict | None, after: dict | None) -> None:
    record(session, organization_id=feature.organization_id, action=action, object_type="feature",
           object_id=feature.id, object_label=feature.name or feature.code, before=before, after=after)


def create_feature(*, organization_id: str, data: Mapping[str, object]) -> Feature:
    with unit_of_work() as uow:
        feature = Feature(organization_id=organization_id, privileges=[])
        with uow.session.no_autoflush:
            _apply(uow.session, feature, data, creating=True)
        _save(uow.session, feature)
        _record(uow.session, feature, "feature.created", None, audited_terms(feature))
        _emit(uow.session, feature, webhooks.FEATURE_CREATED)
        return feature


def update_feature(*, organization_id: str, code: str, data: Mapping[str, object]) -> Feature:
    """Change the name, description and privileges sent; `privileges`, when sent, is the whole list.

    NOTE: as Lago's full update (PUT): a privilege left out of the list is deleted with its values; one sent
    keeps its type and gets the name and select options sent.
    """
    with unit_of_work() as uow:
        feature = get_feature_in(uow.session, organization_id, code)
        before = audited_terms(feature)
        with uow.session.no_autoflush:
            _apply(uow.session, feature, data, creating=False)
        _save(uow.session, feature)
        uow.session.refresh(feature, ["privileges"])
        _record(uow.session, feature, "feature.updated", before, audited_terms(feature))
        _emit(uow.session, feature, webhooks.FEATURE_UPDATED)
        return feature


def get_feature(*, organization_id: str, code: str) -> Feature:
    with read_only() as session:
        return get_feature_in(session, organization_id, code)


def list_features(*, organization_id: str, page: int = 1, per_page: int = 20, search_term: str | None = None) -> Page:
    """The organization's features, newest first; `search_term` looks in their code, name and description."""
    query = _feature_query(organization_id)
    if search_term:
        pattern = f"%{like_escaped(search_term.lower())}%"
        query = query.where(or_(*(column.ilike(pattern, escape="\\")
                                  for column in (Feature.code, Feature.name, Feature.description))))
    with read_only() as session:
        return paginate(session, query.order_by(Feature.created_at.desc(), Feature.id), page=page, per_page=per_page)


def delete_feature(*, organization_id: str, code: str) -> Feature:
    """Delete the feature: no plan or subscription has it any more."""
    with unit_of_work() as uow:
        feature = get_feature_in(uow.session, organization_id, code)
        serializers.feature(feature)  # the answer and the webhook describe it as it was
        entitlements = select(Entitlement.id).where(Entitlement.feature_id == feature.id)
        uow.session.execute(delete(EntitlementValue).where(EntitlementValue.entitlement_id.in_(entitlements)))
        uow.session.execute(delete(Entitlement).where(Entitlement.feature_id == feature.id))
        for privilege in feature.privileges:
            _delete_privilege(uow.session, privilege)
        payload = serializers.feature(feature)
        _record(uow.session, feature, "feature.deleted", audited_terms(feature), None)
        webhooks.emit(uow.session, organization_id, webhooks.FEATURE_DELETED, "feature", payload, object_id=feature.id)
        uow.session.delete(feature)
        uow.session.flush()
        return feature


def delete_privilege(*, organization_id: str, code: str, privilege_code: str) -> Feature:
    """Delete one privilege of a feature, and its value in every plan and subscription."""
    with unit_of_work() as uow:
        feature = get_feature_in(uow.session, organization_id, code)
        privilege = next((p for p in feature.privileges if p.code == privilege_code), None)
        if privilege is None:
            raise NotFound("privilege")
        before = audited_terms(feature)
        _delete_privilege(uow.session, privilege)
        feature.privileges.remove(privilege)
        uow.session.flush()
        _record(uow.session, feature, "feature.updated", before, audited_terms(feature))
        _emit(uow.session, feature, webhooks.FEATURE_UPDATED)
        return feature
