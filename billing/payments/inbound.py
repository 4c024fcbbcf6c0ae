"""Inbound provider webhooks: verified, applied once, never moving a payment backwards."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from billing.db import read_only, unit_of_work
from billing.errors import NotFound
from billing.payments import collection, providers, refunds
from billing.payments.interface import SignatureInvalid, WebhookEvent, WebhookKind, webhook_events
from billing.payments.models import AppliedProviderEvent, Payment

log = logging.getLogger(__name__)

_PAYMENT_STATUS = {
    WebhookKind.PAYMENT_PROCESSING: "processing",
    WebhookKind.PAYMENT_SUCCEEDED: "succeeded",
    WebhookKind.PAYMENT_FAILED: "failed",
    WebhookKind.PAYMENT_REQUIRES_ACTION: "requires_action",
}


@dataclass(frozen=True)
class Received:
    """What became of an inbound event: `applied`, `duplicate` (applied before) or `ignored` (nothing to do)."""

    outcome: str
    event_id: str
    # A request carrying several events (GoCardless): what became of each, in order; `outcome` and `event_id`
    # then say the first's. One event per request (Stripe, Adyen, the fake): empty.
    batch: tuple[Received, ...] = ()


def receive_provider_webhook(*, organization_id: str, code: str, payload: bytes,
                             headers: Mapping[str, str]) -> Received:
    """Verify an inbound webhook with the provider's stored secret and apply each of its events once.

    Raises SignatureInvalid (forged, stale, unsigned: nothing changes) and NotFound (no such provider).
    """
    with read_only() as session:
        adapter = providers.adapter_for(session, organization_id, code)
    events = webhook_events(adapter, payload, headers)
    # One transaction for the request: each event is applied once (its own savepoint and id row), and a failure
    # applies none, so that the provider's retry of the whole request finds nothing half done.
    with unit_of_work() as uow:
        each = tuple(_receive(uow, organization_id, code, event) for event in events)
    if len(each) == 1:
        return each[0]
    if not each:
        return Received("ignored", "")
    return Received(each[0].outcome, each[0].event_id, batch=each)


def _receive(uow, organization_id: str, code: str, event: WebhookEvent) -> Received:
    session = uow.session
    try:
        with session.begin_nested():
            session.add(AppliedProviderEvent(organization_id=organization_id, provider_code=code,
                                             event_id=event.id, event_type=event.provider_type[:128]))
            session.flush()
    except IntegrityError:
        return Received("duplicate", event.id)
    applied = _apply(uow, organization_id, code, event)
    return Received("applied" if applied else "ignored", event.id)


def _apply(uow, organization_id: str, code: str, event: WebhookEvent) -> bool:
    status = _PAYMENT_STATUS.get(event.kind)
    if status is not None and event.payment_id:
        payment = uow.session.scalar(select(Payment).where(
            Payment.organization_id == organization_id, Payment.provider_code == code,
            Payment.provider_payment_id == event.payment_id).with_for_update())
        if payment is None:
            return False  # not a payment Tally started (or its answer is not written yet: the job applies it)
        return collection.apply_status(uow, payment, status, provider_status=event.provider_type,
                                       error_code=event.error_code, error_message=event.error_message,
                                       next_action_url=event.next_action_url)
    if event.kind in (WebhookKind.REFUND_SUCCEEDED, WebhookKind.REFUND_FAILED) and event.refund_id:
        return refunds.apply_refund_event(uow, organization_id, code, event)
    return False


__all__ = ["NotFound", "Received", "SignatureInvalid", "receive_provider_webhook"]
