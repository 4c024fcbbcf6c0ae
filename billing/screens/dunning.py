"""Dunning as the admin shows it: a customer's campaign (its own, the default, or excluded) and its attempts so far,
each with the payment requests it made (amount, currency, status) and their reminder emails.

Plain data read in one session, scoped to one organization and one customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from billing.customers.models import Customer
from billing.db import read_only
from billing.dunning.campaigns import campaign_for, default_campaign
from billing.dunning.models import DunningAttempt, DunningCampaign
from billing.emails.models import EmailDelivery
from billing.errors import NotFound
from billing.organizations.models import Organization
from billing.payments.models import PaymentRequest


@dataclass(frozen=True)
class CampaignChoice:
    id: str
    code: str
    name: str
    max_attempts: int
    days_between_attempts: int


@dataclass(frozen=True)
class AttemptRow:
    at: datetime
    attempt: int
    max_attempts: int
    campaign_name: str
    amount_cents: int | None
    currency: str | None
    status: str | None  # the payment request's payment_status; None: no request recorded for the attempt
    email_status: str | None  # its reminder email's delivery status (None: no email, e.g. charged at once)


@dataclass(frozen=True)
class CustomerDunning:
    external_id: str
    mode: str  # "own" | "default" | "excluded" | "none"
    campaign: CampaignChoice | None
    default: CampaignChoice | None
    own_code: str | None
    excluded: bool
    last_attempt: int
    last_attempt_at: datetime | None
    choices: list[CampaignChoice]
    attempts: list[AttemptRow]


def _choice(campaign: DunningCampaign | None) -> CampaignChoice | None:
    if campaign is None:
        return None
    return CampaignChoice(campaign.id, campaign.code, campaign.name, campaign.max_attempts,
                          campaign.days_between_attempts)


def customer_dunning(*, organization_id: str, customer_id: str, limit: int = 50) -> CustomerDunning:
    with read_only() as session:
        customer = session.scalar(select(Customer).where(
            Customer.organization_id == organization_id, Customer.id == customer_id, Customer.deleted_at.is_(None)))
        if customer is None:
            raise NotFound("customer")
        current = campaign_for(session, customer)
        default = default_campaign(session, organization_id)
        if customer.exclude_from_dunning_campaign:
            mode = "excluded"
        elif current is None:
            mode = "none"
        else:
            mode = "default" if current.id != customer.applied_dunning_campaign_id else "own"
        choices = [_choice(c) for c in session.scalars(select(DunningCampaign).where(
            DunningCampaign.organization_id == organization_id, DunningCampaign.deleted_at.is_(None)).order_by(
            DunningCampaign.name, DunningCampaign.id))]
        rows = session.execute(
            select(DunningAttempt, DunningCampaign, PaymentRequest)
            .join(DunningCampaign, DunningCampaign.id == DunningAttempt.dunning_campaign_id)
            .outerjoin(PaymentRequest, PaymentRequest.dunning_attempt_id == DunningAttempt.id)
            .where(DunningAttempt.organization_id == organization_id, DunningAttempt.customer_id == customer_id)
            .order_by(DunningAttempt.created_at.desc(), DunningAttempt.attempt.desc(), PaymentRequest.currency)
            .limit(limit)).all()
        request_ids = [r.id for _, _, r in rows if r is not None]
        emails = dict(session.execute(select(EmailDelivery.payment_request_id, EmailDelivery.status).where(
            EmailDelivery.payment_request_id.in_(request_ids)).order_by(EmailDelivery.created_at)).all()) \
            if request_ids else {}
        attempts = [AttemptRow(at=a.created_at, attempt=a.attempt, max_attempts=c.max_attempts, campaign_name=c.name,
                               amount_cents=r.amount_cents if r else None, currency=r.currency if r else None,
                               status=r.payment_status if r else None, email_status=emails.get(r.id) if r else None)
                    for a, c, r in rows]
        own = next((c for c in choices if c.id == customer.applied_dunning_campaign_id), None)
        return CustomerDunning(external_id=customer.external_id, mode=mode, campaign=_choice(current),
                               default=_choice(default),
                               own_code=own.code if own else None,
                               excluded=bool(customer.exclude_from_dunning_campaign),
                               last_attempt=customer.last_dunning_campaign_attempt,
                               last_attempt_at=customer.last_dunning_campaign_attempt_at, choices=choices,
                               attempts=attempts)


def organization_name(*, organization_id: str) -> str:
    """The name a reminder signs with ({organization_name}), for the editor's preview."""
    with read_only() as session:
        name = session.scalar(select(Organization.name).where(Organization.id == organization_id))
        if name is None:
            raise NotFound("organization")
        return name
