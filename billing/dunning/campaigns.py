"""Dunning campaigns of an organization: create, update, delete (soft), list, read; which campaign a customer is on.

A customer is chased by its own campaign (`applied_dunning_campaign_id`), else by the organization's default one
(`applied_to_organization`), and by none when excluded (`exclude_from_dunning_campaign`) or when there is neither.

NOTE (lago-api DunningCampaigns::UpdateService, DestroyService): changing a campaign's rules restarts the counts of
the customers it applies to: their `dunning_cycle` moves on (a new cycle, whose attempt 1 may happen again, see
DunningAttempt), `last_dunning_campaign_attempt` goes back to 0 and `last_dunning_campaign_attempt_at` to None. The
rules are the thresholds, max_attempts, days_between_attempts and which campaign is the default; a new name, code,
bcc list or wording restarts nothing (fixing a typo in the reminder must not send everyone attempt 1 again).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.customers.events import CustomerDunningSettingsChanged
from billing.customers.models import Customer
from billing.db import read_only, unit_of_work, utcnow
from billing.dunning.models import DunningCampaign, DunningCampaignThreshold
from billing.dunning.reminders import DEFAULT_MESSAGE, DEFAULT_SUBJECT, unknown_placeholders
from billing.errors import NotFound, ValidationFailed
from billing.organizations.models import Organization
from billing.pagination import Page, paginate
from billing.validation import MAX_STRING, Checker

MAX_ATTEMPTS = 20
MAX_DAYS_BETWEEN_ATTEMPTS = 365
MAX_BCC_EMAILS = 5
MAX_SUBJECT = 255
MAX_MESSAGE = 5000
_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")
_RULES = ("max_attempts", "days_between_attempts", "thresholds", "applied_to_organization")


@dataclass(frozen=True)
class CampaignRow:
    """A campaign as the list shows it, with how many customers it applies to now."""

    campaign: DunningCampaign
    customers_count: int


# -- Reading ------------------------------------------------------------------------------------------------------


def _live(organization_id: str):
    return select(DunningCampaign).where(DunningCampaign.organization_id == organization_id,
                                         DunningCampaign.deleted_at.is_(None))


def _campaign_in(session: Session, organization_id: str, campaign_id: str) -> DunningCampaign:
    campaign = session.scalar(_live(organization_id).where(DunningCampaign.id == campaign_id))
    if campaign is None:
        raise NotFound("dunning_campaign")
    return campaign


def find_campaign_by_code(session: Session, organization_id: str, code: str) -> DunningCampaign | None:
    return session.scalar(_live(organization_id).where(DunningCampaign.code == code))


def default_campaign(session: Session, organization_id: str) -> DunningCampaign | None:
    return session.scalar(_live(organization_id).where(DunningCampaign.applied_to_organization.is_(True)))


def campaign_for(session: Session, customer: Customer) -> DunningCampaign | None:
    """The campaign chasing `customer`: its own, else its organization's default; None when excluded or none."""
    if customer.exclude_from_dunning_campaign:
        return None
    if customer.applied_dunning_campaign_id:
        own = session.scalar(_live(customer.organization_id).where(
            DunningCampaign.id == customer.applied_dunning_campaign_id))
        if own is not None:
            return own
    return default_campaign(session, customer.organization_id)


def _falling_back_to_default() -> ColumnElement[bool]:
    return and_(Customer.applied_dunning_campaign_id.is_(None), Customer.exclude_from_dunning_campaign.is_(False))


def _applies_to(campaign: DunningCampaign, *, as_default: bool | None = None) -> ColumnElement[bool]:
    """Customers of the campaign's organization it chases (as the default when `as_default`, else if it is one)."""
    own = and_(Customer.applied_dunning_campaign_id == campaign.id, Customer.exclude_from_dunning_campaign.is_(False))
    is_default = campaign.applied_to_organization if as_default is None else as_default
    chased = or_(own, _falling_back_to_default()) if is_default else own
    return and_(Customer.organization_id == campaign.organization_id, Customer.deleted_at.is_(None), chased)


def list_campaigns(*, organization_id: str) -> list[CampaignRow]:
    """The organization's live campaigns, the default first, then by name, each with its customers count."""
    with read_only() as session:
        campaigns = list(session.scalars(_live(organization_id).order_by(
            DunningCampaign.applied_to_organization.desc(), func.lower(DunningCampaign.name), DunningCampaign.id)))
        live = Customer.organization_id == organization_id, Customer.deleted_at.is_(None)
        own_counts = dict(session.execute(
            select(Customer.applied_dunning_campaign_id, func.count()).where(
                *live, Customer.exclude_from_dunning_campaign.is_(False),
                Customer.applied_dunning_campaign_id.is_not(None)).group_by(Customer.applied_dunning_campaign_id)).all())
        falling_back = session.scalar(select(func.count()).select_from(Customer).where(
            *live, _falling_back_to_default())) or 0
        return [CampaignRow(c, own_counts.get(c.id, 0) + (falling_back if c.applied_to_organization else 0))
                for c in campaigns]


def get_campaign(*, organization_id: str, campaign_id: str) -> DunningCampaign:
    with read_only() as session:
        return _campaign_in(session, organization_id, campaign_id)


def campaign_customers(*, organization_id: str, campaign_id: str, page: int = 1, per_page: int = 20) -> Page:
    """The live customers the campaign chases now (its own ones, and those on the default when it is the default)."""
    with read_only() as session:
        campaign = _campaign_in(session, organization_id, campaign_id)
        query = select(Customer).where(_applies_to(campaign)).order_by(
            func.lower(func.coalesce(Customer.name, Customer.external_id)), Customer.id)
        return paginate(session, query, page=page, per_page=per_page)


# -- Validation ---------------------------------------------------------------------------------------------------


def _thresholds(check: Checker, raw: object) -> list[tuple[str, int]] | None:
    """Lago's thresholds: a non-empty list of {currency, amount_cents}, one per currency."""
    if not isinstance(raw, list) or not raw:
        check.fail("thresholds", "value_is_mandatory" if raw in (None, []) else "invalid_type")
        return None
    result: list[tuple[str, int]] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        nested = Checker(item if isinstance(item, Mapping) else {})
        if not isinstance(item, Mapping):
            check.fail(f"thresholds.{index}", "invalid_type")
            continue
        currency = nested.currency("currency", required=True)
        amount = nested.amount_cents("amount_cents", required=True)
        if currency is not None and currency in seen:
            nested.fail("currency", "value_already_exist")
        for name, reasons in nested.errors.items():
            for reason in reasons:
                check.fail(f"thresholds.{index}.{name}", reason)
        if currency is not None and amount is not None and not nested.errors:
            seen.add(currency)
            result.append((currency, amount))
    return result


def _bcc_emails(check: Checker, raw: object) -> list[str] | None:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(e, str) for e in raw):
        check.fail("bcc_emails", "invalid_type")
        return None
    emails = list(dict.fromkeys(e.strip() for e in raw if e.strip()))
    if len(emails) > MAX_BCC_EMAILS:
        check.fail("bcc_emails", "too_many_emails")
        return None
    if any(len(e) > MAX_STRING or not _EMAIL.fullmatch(e) for e in emails):
        check.fail("bcc_emails", "invalid_email_format")
        return None
    return emails


def _wording(check: Checker, field: str, max_length: int) -> str | None:
    text = check.string(field, required=True, max_length=max_length)
    if text is not None:
        if field == "reminder_subject" and ("\n" in text or "\r" in text):
            check.fail(field, "value_is_invalid")  # a mail header is one line
            return None
        if unknown_placeholders(text):
            check.fail(field, "unknown_placeholder")
            return None
    return text


def _validated(session: Session, organization_id: str, data: Mapping[str, object], *,
               current: DunningCampaign | None) -> dict[str, object]:
    """The fields present in `data`, checked (all of them when creating); reasons by field, Lago's codes."""
    creating = current is None
    present = (lambda name: True) if creating else (lambda name: name in data)
    check = Checker(data)
    values: dict[str, object] = {}
    if present("code"):
        values["code"] = check.string("code", required=True)
        other = find_campaign_by_code(session, organization_id, values["code"]) if values["code"] else None
        if other is not None and other is not current:
            check.fail("code", "value_already_exist")
    if present("name"):
        values["name"] = check.string("name", required=True)
    if "description" in data:
        values["description"] = check.text("description")
    if present("max_attempts"):
        values["max_attempts"] = check.integer("max_attempts", required=True, minimum=1, maximum=MAX_ATTEMPTS)
    if present("days_between_attempts"):
        values["days_between_attempts"] = check.integer("days_between_attempts", required=True, minimum=1,
                                                        maximum=MAX_DAYS_BETWEEN_ATTEMPTS)
    if present("thresholds"):
        values["thresholds"] = _thresholds(check, data.get("thresholds"))
    if "bcc_emails" in data:
        values["bcc_emails"] = _bcc_emails(check, data.get("bcc_emails"))
    if "applied_to_organization" in data:
        values["applied_to_organization"] = bool(check.boolean("applied_to_organization"))
    for field, max_length, default in (("reminder_subject", MAX_SUBJECT, DEFAULT_SUBJECT),
                                       ("reminder_message", MAX_MESSAGE, DEFAULT_MESSAGE)):
        if field in data:
            values[field] = _wording(check, field, max_length)
        elif creating:
            values[field] = default
    check.done()
    return values


def validate_campaign(*, organization_id: str, data: Mapping[str, object],
                      campaign_id: str | None = None) -> dict[str, list[str]]:
    """The reasons `data` would be refused for (create, or update of `campaign_id`), saving nothing."""
    with read_only() as session:
        current = _campaign_in(session, organization_id, campaign_id) if campaign_id else None
        try:
            _validated(session, organization_id, data, current=current)
        except ValidationFailed as failed:
            return dict(failed.details)
        return {}


# -- Changing -----------------------------------------------------------------------------------------------------


def _lock_organization(session: Session, organization_id: str) -> None:
    """One change to an organization's campaigns at a time (which one is the default, which codes are taken)."""
    found = session.scalar(select(Organization.id).where(Organization.id == organization_id).with_for_update())
    if found is None:
        raise NotFound("organization")


def restart_counts(session: Session, where: ColumnElement[bool]) -> int:
    """Start a new dunning cycle for the customers matching `where`: attempts counted from 0 again."""
    result = session.execute(update(Customer).where(where).values(
        dunning_cycle=Customer.dunning_cycle + 1, last_dunning_campaign_attempt=0,
        last_dunning_campaign_attempt_at=None).execution_options(synchronize_session=False))
    return result.rowcount or 0


def _take_default(session: Session, campaign: DunningCampaign) -> None:
    """Make `campaign` the organization's default, in place of the previous one (whose customers restart)."""
    previous = default_campaign(session, campaign.organization_id)
    if previous is not None and previous is not campaign:
        previous.applied_to_organization = False
        session.flush()  # the one-default index is checked row by row
    campaign.applied_to_organization = True


def _set_thresholds(session: Session, campaign: DunningCampaign, thresholds: list[tuple[str, int]]) -> bool:
    """Replace the thresholds, keeping the rows of currencies still there; True when anything changed."""
    wanted = dict(thresholds)
    changed = False
    for row in list(campaign.thresholds):
        amount = wanted.pop(row.currency, None)
        if amount is None:
            campaign.thresholds.remove(row)
            changed = True
        elif row.amount_cents != amount:
            row.amount_cents = amount
            changed = True
    for currency, amount in wanted.items():
        campaign.thresholds.append(DunningCampaignThreshold(currency=currency, amount_cents=amount))
        changed = True
    return changed


def _save(session: Session, campaign: DunningCampaign, values: dict[str, object]) -> set[str]:
    """Apply checked values; the names of the rules that changed."""
    changed: set[str] = set()
    for name, value in values.items():
        if name in ("thresholds", "applied_to_organization"):
            continue
        if getattr(campaign, name) != value:
            setattr(campaign, name, value)
            if name in _RULES:
                changed.add(name)
    if "thresholds" in values and _set_thresholds(session, campaign, values["thresholds"]):
        changed.add("thresholds")
    wanted_default = values.get("applied_to_organization")
    if wanted_default is not None and wanted_default != bool(campaign.applied_to_organization):
        changed.add("applied_to_organization")
        if wanted_default:
            _take_default(session, campaign)
        else:
            campaign.applied_to_organization = False
    return changed


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:
        # Another change won a race for the same code (the live-code index): say it as validation does.
        raise ValidationFailed({"code": ["value_already_exist"]}) from None


def create_campaign(*, organization_id: str, data: Mapping[str, object]) -> DunningCampaign:
    """Create a campaign; `applied_to_organization` makes it the default in place of the previous one."""
    with unit_of_work() as uow:
        session = uow.session
        _lock_organization(session, organization_id)
        values = _validated(session, organization_id, data, current=None)
        make_default = bool(values.pop("applied_to_organization", False))
        thresholds = values.pop("thresholds")
        values.setdefault("bcc_emails", [])
        campaign = DunningCampaign(organization_id=organization_id, applied_to_organization=False, **values)
        campaign.thresholds = [DunningCampaignThreshold(currency=c, amount_cents=a) for c, a in thresholds]
        session.add(campaign)
        _flush(session)
        if make_default:
            # NOTE: Lago resets the customers of the previous default when a new campaign takes its place.
            _take_default(session, campaign)
            restart_counts(session, _applies_to(campaign, as_default=True))
            _flush(session)
        session.refresh(campaign)
        return campaign


def update_campaign(*, organization_id: str, campaign_id: str, data: Mapping[str, object]) -> DunningCampaign:
    """Change the fields present in `data`; a change of the rules restarts the counts of its customers."""
    with unit_of_work() as uow:
        session = uow.session
        _lock_organization(session, organization_id)
        campaign = _campaign_in(session, organization_id, campaign_id)
        was_default = bool(campaign.applied_to_organization)
        values = _validated(session, organization_id, data, current=campaign)
        changed = _save(session, campaign, values)
        campaign.updated_at = utcnow()
        _flush(session)
        if changed:
            # Its own customers, and those on the default when it is (or just stopped being) the default.
            restart_counts(session, _applies_to(campaign, as_default=was_default or campaign.applied_to_organization))
        session.refresh(campaign)
        return campaign


def delete_campaign(*, organization_id: str, campaign_id: str) -> DunningCampaign:
    """Delete (soft) a campaign: its customers fall back to the default campaign and start a new cycle."""
    with unit_of_work() as uow:
        session = uow.session
        _lock_organization(session, organization_id)
        campaign = _campaign_in(session, organization_id, campaign_id)
        restart_counts(session, _applies_to(campaign))
        session.execute(update(Customer).where(Customer.applied_dunning_campaign_id == campaign.id).values(
            applied_dunning_campaign_id=None).execution_options(synchronize_session=False))
        campaign.applied_to_organization = False
        campaign.deleted_at = utcnow()
        session.flush()
        return campaign


# -- A customer's choice (Lago's applied_dunning_campaign_code, exclude_from_dunning_campaign) -------------------


def on_customer_dunning_settings(session: Session, event: CustomerDunningSettingsChanged) -> None:
    """Apply the campaign code or exclusion a customer was given; a change restarts its counts.

    Runs in the customer's transaction: an unknown code refuses the whole change (422).
    """
    customer = event.customer
    campaign_id = customer.applied_dunning_campaign_id
    excluded = bool(customer.exclude_from_dunning_campaign)
    if event.campaign_code_given:
        if event.campaign_code is None:
            campaign_id = None
        else:
            campaign = find_campaign_by_code(session, customer.organization_id, event.campaign_code)
            if campaign is None:
                raise ValidationFailed({"applied_dunning_campaign_code": ["dunning_campaign_not_found"]})
            campaign_id, excluded = campaign.id, False
    if event.exclude is not None:
        excluded = event.exclude
    if excluded:
        campaign_id = None  # NOTE: as Lago, an excluded customer keeps no campaign of its own
    if (campaign_id, excluded) == (customer.applied_dunning_campaign_id, bool(customer.exclude_from_dunning_campaign)):
        return
    customer.applied_dunning_campaign_id = campaign_id
    customer.exclude_from_dunning_campaign = excluded
    customer.dunning_cycle = (customer.dunning_cycle or 0) + 1
    customer.last_dunning_campaign_attempt = 0
    customer.last_dunning_campaign_attempt_at = None
    session.flush()


def campaign_code_of(session: Session, customer: Customer) -> str | None:
    """The code of the customer's own campaign (None: on the default, excluded, or none)."""
    if not customer.applied_dunning_campaign_id:
        return None
    return session.scalar(select(DunningCampaign.code).where(DunningCampaign.id == customer.applied_dunning_campaign_id,
                                                             DunningCampaign.deleted_at.is_(None)))

