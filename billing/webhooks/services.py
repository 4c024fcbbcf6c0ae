"""Webhook endpoints (create, update, get, list, delete), emission into the outbox, and delivery.

`emit` writes one delivery per endpoint in the caller's transaction (a rolled-back change sends
nothing; a committed one is never lost) and asks for delivery after commit. `deliver_webhook`
claims a due delivery, POSTs it signed, logs the attempt, and schedules a retry with back-off.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing import outbox, serializers
from billing.db import new_id, read_only, unit_of_work
from billing.errors import NotFound, ValidationFailed
from billing.organizations.models import Organization
from billing.pagination import Page, paginate
from billing.ports import runtime
from billing.validation import Checker
from billing.webhooks import addresses, signing, transport
from billing.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

# NOTE: Lago tries a webhook 3 times; Tally tries 5, waiting longer each time (billing.outbox).
MAX_ATTEMPTS = outbox.MAX_ATTEMPTS
BACKOFF = outbox.BACKOFF
# A delivery being sent is another worker's to retry only once this much time has passed
# (the worker died mid-request): longer than the request's timeout.
LEASE = timedelta(seconds=transport.TIMEOUT_SECONDS + 50)
OUTBOX = outbox.Outbox(WebhookDelivery, job="deliver_webhook", job_prefix="webhook", lease=LEASE)

SIGNATURE_ALGOS = ("hmac", "jwt")
WEBHOOK_TYPE = re.compile(r"^[a-z_]+\.[a-z_]+$")

# What Tally emits today (docs/webhooks.md); endpoints may name any of Lago's types in `event_types`.
INVOICE_CREATED = "invoice.created"
INVOICE_DRAFTED = "invoice.drafted"
INVOICE_VOIDED = "invoice.voided"
INVOICE_ONE_OFF_CREATED = "invoice.one_off_created"
CREDIT_NOTE_CREATED = "credit_note.created"
SUBSCRIPTION_STARTED = "subscription.started"
SUBSCRIPTION_TERMINATED = "subscription.terminated"
SUBSCRIPTION_USAGE_THRESHOLD_REACHED = "subscription.usage_threshold_reached"
FEE_CREATED = "fee.created"
WALLET_TRANSACTION_CREATED = "wallet_transaction.created"
WALLET_TRANSACTION_UPDATED = "wallet_transaction.updated"
WALLET_DEPLETED_ONGOING_BALANCE = "wallet.depleted_ongoing_balance"
CUSTOMER_CREATED = "customer.created"
CUSTOMER_UPDATED = "customer.updated"
ALERT_TRIGGERED = "alert.triggered"
FEATURE_CREATED = "feature.created"
FEATURE_UPDATED = "feature.updated"
FEATURE_DELETED = "feature.deleted"
WEBHOOK_ENDPOINT_TEST = "webhook_endpoint.test"  # Tally's own: the admin's "Send test"
EMITTED_TYPES = (INVOICE_CREATED, INVOICE_DRAFTED, INVOICE_VOIDED, INVOICE_ONE_OFF_CREATED, CREDIT_NOTE_CREATED,
                 SUBSCRIPTION_STARTED, SUBSCRIPTION_TERMINATED, SUBSCRIPTION_USAGE_THRESHOLD_REACHED, FEE_CREATED,
                 WALLET_TRANSACTION_CREATED, WALLET_TRANSACTION_UPDATED, WALLET_DEPLETED_ONGOING_BALANCE,
                 CUSTOMER_CREATED, CUSTOMER_UPDATED, ALERT_TRIGGERED, FEATURE_CREATED, FEATURE_UPDATED, FEATURE_DELETED)


# ---------------------------------------------------------------- endpoints


def _checked(data: Mapping[str, object], *, creating: bool) -> dict[str, object]:
    check = Checker(data)
    values: dict[str, object] = {}
    if creating or "webhook_url" in data:
        url = check.string("webhook_url", required=True, max_length=1024)
        if url is not None and not transport.is_web_url(url):
            check.fail("webhook_url", "url_is_invalid")
        elif url is not None:
            # NOTE: no webhook to the server's own networks unless the operator allows it (docs/webhooks.md).
            reason = addresses.check_url(url, allow_private=runtime.webhook_allow_private_networks)
            if reason is not None:
                check.fail("webhook_url", reason)
        values["webhook_url"] = url
    if data.get("signature_algo") is not None or creating:
        # NOTE: Lago's default is `jwt`; Tally's is `hmac`, whose header stays short whatever the body
        # (a `jwt` header carries the whole body: large invoices exceed the 8 KB of headers that common
        # servers accept; docs/webhooks.md).
        values["signature_algo"] = check.choice("signature_algo", SIGNATURE_ALGOS) or "hmac"
    if "name" in data:
        values["name"] = check.string("name")
    if "event_types" in data:
        types = data.get("event_types")
        if types is not None and (not isinstance(types, list) or not all(
                isinstance(t, str) and WEBHOOK_TYPE.match(t) for t in types)):
            check.fail("event_types", "invalid_value")
        values["event_types"] = sorted(set(types)) if isinstance(types, list) and types else None
    check.done()
    return values


def _ensure_hmac_key(session: Session, organization_id: str) -> str:
    org = session.get(Organization, organization_id, with_for_update=True)
    if org is None:
        raise NotFound("organization")
    if not org.webhook_secret:
        org.webhook_secret = secrets.token_urlsafe(32)
    return org.webhook_secret


def _jwt_key(session: Session, organization_id: str):
    """The organization's RSA private key for `jwt` webhooks, made (and stored encrypted) on first need.

    A stored key that no longer decrypts (SECRET_KEY changed) is replaced by a new pair: receivers
    then fetch the new public key (docs/webhooks.md).
    """
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound("organization")
    key = signing.private_key(org.id, org.webhook_jwt_private_key) if org.webhook_jwt_private_key else None
    if key is not None:
        return key
    org = session.get(Organization, organization_id, with_for_update=True, populate_existing=True)
    key = signing.private_key(org.id, org.webhook_jwt_private_key) if org.webhook_jwt_private_key else None
    if key is None:
        if org.webhook_jwt_private_key:
            log.warning("the webhook signing key of organization %s no longer decrypts (SECRET_KEY changed): "
                        "a new key pair is made", org.id)
        org.webhook_jwt_public_key, org.webhook_jwt_private_key = signing.new_key_pair(org.id)
        key = signing.private_key(org.id, org.webhook_jwt_private_key)
    return key


def webhook_public_key(*, organization_id: str) -> str:
    """The public key (PEM) that verifies the organization's `jwt` webhooks (Lago's `json_public_key`)."""
    with read_only() as session:
        org = session.get(Organization, organization_id)
        if org is not None and org.webhook_jwt_public_key and signing.private_key(org.id, org.webhook_jwt_private_key):
            return org.webhook_jwt_public_key
    with unit_of_work() as uow:
        _jwt_key(uow.session, organization_id)
        return uow.session.get(Organization, organization_id).webhook_jwt_public_key


def hmac_key(*, organization_id: str) -> str:
    """The organization's webhook HMAC key (Lago's `hmac_key`), created on first use."""
    with read_only() as session:
        org = session.get(Organization, organization_id)
        if org is not None and org.webhook_secret:
            return org.webhook_secret
    with unit_of_work() as uow:
        return _ensure_hmac_key(uow.session, organization_id)


def _save(session: Session, endpoint: WebhookEndpoint) -> None:
    try:
        with session.begin_nested():
            session.add(endpoint)
            session.flush()
    except IntegrityError:
        raise ValidationFailed({"webhook_url": ["value_already_exist"]}) from None


def create_webhook_endpoint(*, organization_id: str, data: Mapping[str, object]) -> WebhookEndpoint:
    values = _checked(data, creating=True)
    with unit_of_work() as uow:
        _ensure_hmac_key(uow.session, organization_id)
        if values["signature_algo"] == "jwt":
            _jwt_key(uow.session, organization_id)
        endpoint = WebhookEndpoint(organization_id=organization_id, **values)
        _save(uow.session, endpoint)
        return endpoint


def _get_in(session: Session, organization_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = session.scalar(select(WebhookEndpoint).where(
        WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.id == str(endpoint_id)))
    if endpoint is None:
        raise NotFound("webhook_endpoint")
    return endpoint


def get_webhook_endpoint(*, organization_id: str, endpoint_id: str) -> WebhookEndpoint:
    with read_only() as session:
        return _get_in(session, organization_id, endpoint_id)


def update_webhook_endpoint(*, organization_id: str, endpoint_id: str,
                            data: Mapping[str, object]) -> WebhookEndpoint:
    values = _checked(data, creating=False)  # before the transaction: it may ask the resolver
    with unit_of_work() as uow:
        endpoint = _get_in(uow.session, organization_id, endpoint_id)
        for field, value in values.items():
            setattr(endpoint, field, value)
        if endpoint.signature_algo == "jwt":
            _jwt_key(uow.session, organization_id)
        _save(uow.session, endpoint)
        return endpoint


def delete_webhook_endpoint(*, organization_id: str, endpoint_id: str) -> WebhookEndpoint:
    """Delete the endpoint; its deliveries stay in the log, and those not sent yet are dropped."""
    with unit_of_work() as uow:
        endpoint = _get_in(uow.session, organization_id, endpoint_id)
        uow.session.execute(update(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending").values(
            status="failed", last_error="endpoint_deleted", completed_at=runtime.clock.now(), next_attempt_at=None))
        uow.session.delete(endpoint)
        return endpoint


def list_webhook_endpoints(*, organization_id: str, page: int = 1, per_page: int = 20) -> Page:
    query = select(WebhookEndpoint).where(WebhookEndpoint.organization_id == organization_id).order_by(
        WebhookEndpoint.created_at, WebhookEndpoint.id)
    with read_only() as session:
        return paginate(session, query, page=page, per_page=per_page)


# ---------------------------------------------------------------- emission (the outbox)


def emit(session: Session, organization_id: str, webhook_type: str, object_type: str,
         payload: Mapping[str, object] | Callable[[], Mapping[str, object]], *,
         object_id: str | None = None, endpoints: Sequence[WebhookEndpoint] | None = None) -> list[str]:
    """Record one delivery of this webhook per endpoint that wants it, in the caller's transaction.

    The body is Lago's: `{"webhook_type", "object_type", "organization_id", <object_type>: payload}`;
    `payload` may be a callable, called only when some endpoint wants the webhook. Delivery is asked
    for once the caller's unit of work commits (the billing clock also sweeps up deliveries whose
    request was lost). `endpoints`: the organization's endpoints when the caller read them already
    (`organization_endpoints`, once for many webhooks). Returns the deliveries' ids.
    """
    if endpoints is None:
        endpoints = organization_endpoints(session, organization_id)
    endpoints = [e for e in endpoints if not e.event_types or webhook_type in e.event_types]
    if not endpoints:
        return []
    return _record_deliveries(session, organization_id, webhook_type, object_type,
                              payload() if callable(payload) else payload, object_id=object_id, endpoints=endpoints)


def _record_deliveries(session: Session, organization_id: str, webhook_type: str, object_type: str,
                       payload: Mapping[str, object], *, object_id: str | None,
                       endpoints: Sequence[WebhookEndpoint]) -> list[str]:
    """One pending delivery of this body per endpoint given, asked for after the caller's commit."""
    body = json.dumps({"webhook_type": webhook_type, "object_type": object_type,
                       "organization_id": organization_id, object_type: payload},
                      separators=(",", ":"), ensure_ascii=False)
    now = runtime.clock.now()
    # Ids set here: nothing to write before the caller's next flush (a batch of invoices writes all at once).
    deliveries = [WebhookDelivery(id=new_id(), organization_id=organization_id, endpoint_id=e.id,
                                  webhook_url=e.webhook_url, webhook_type=webhook_type, object_type=object_type,
                                  object_id=object_id, body=body, status="pending", next_attempt_at=now)
                  for e in endpoints]
    session.add_all(deliveries)
    ids = [d.id for d in deliveries]
    OUTBOX.ask_after_commit(session, ids)
    return ids


def send_test_webhook(*, organization_id: str, endpoint_id: str) -> str:
    """Send the endpoint a signed `webhook_endpoint.test` through the outbox, as any webhook (logged with its
    attempts); returns the delivery's id.

    NOTE: Lago has no test webhook; this one is Tally's own. It reaches the endpoint whatever its `event_types`.
    """
    with unit_of_work() as uow:
        endpoint = _get_in(uow.session, organization_id, endpoint_id)
        payload = {**serializers.webhook_endpoint(endpoint), "sent_at": serializers.iso(runtime.clock.now())}
        [delivery_id] = _record_deliveries(uow.session, organization_id, WEBHOOK_ENDPOINT_TEST, "webhook_endpoint",
                                           payload, object_id=endpoint.id, endpoints=[endpoint])
        return delivery_id


def organization_endpoints(session: Session, organization_id: str) -> list[WebhookEndpoint]:
    """The organization's webhook endpoints, oldest first (each delivery is recorded in that order)."""
    return list(session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.organization_id == organization_id).order_by(WebhookEndpoint.created_at)))


# ---------------------------------------------------------------- delivery


@dataclass(frozen=True)
class DeliveryResult:
    delivery_id: str
    attempt: int
    status: str  # succeeded | pending (a retry is scheduled) | failed
    status_code: int | None


Signer = Callable[[bytes], tuple[str, str]]  # body -> (signature algorithm, signature)


def _claim(delivery_id: str) -> tuple[WebhookDelivery, str | None, int, Signer | None] | None:
    """Take a due delivery for one attempt (atomically: two workers never both send it), with how to sign it."""
    with unit_of_work() as uow:
        if OUTBOX.claim(uow.session, delivery_id) is None:
            return None
        delivery = uow.session.get(WebhookDelivery, delivery_id, populate_existing=True)
        endpoint = uow.session.get(WebhookEndpoint, delivery.endpoint_id) if delivery.endpoint_id else None
        if endpoint is None:
            return delivery, None, delivery.attempts, None
        # Signed as the endpoint says at the time of sending (its algorithm may have been changed since).
        if endpoint.signature_algo == "jwt":
            private = _jwt_key(uow.session, delivery.organization_id)
            return delivery, endpoint.webhook_url, delivery.attempts, lambda body: (
                "jwt", signing.jwt_signature(body, private))
        key = (uow.session.get(Organization, delivery.organization_id).webhook_secret
               or _ensure_hmac_key(uow.session, delivery.organization_id))
        return delivery, endpoint.webhook_url, delivery.attempts, lambda body: (
            "hmac", signing.hmac_signature(body, key))


def deliver_webhook(*, delivery_id: str) -> DeliveryResult | None:
    """Send one attempt of a due delivery and record it; None when it is not due (sent, failed, in flight).

    Safe to run twice: a succeeded delivery is never sent again. A worker killed mid-request leaves
    the delivery `sending`; once its lease expires it is sent again (receivers deduplicate on
    `X-Lago-Unique-Key`, the delivery's id, which stays the same).
    """
    claimed = _claim(delivery_id)
    if claimed is None:
        return None
    delivery, url, attempt, sign = claimed
    started_at = runtime.clock.now()
    if url is None or sign is None:
        response = transport.Response(None, None, "endpoint_deleted", 0)
    else:
        body = delivery.body.encode()
        algorithm, signature = sign(body)
        response = transport.post(url, body, {
            "Content-Type": "application/json",
            "User-Agent": "Tally-Webhooks",
            "X-Lago-Signature": signature,
            "X-Lago-Signature-Algorithm": algorithm,
            "X-Lago-Unique-Key": delivery.id,
        }, allow_private=runtime.webhook_allow_private_networks)
    return _record(delivery.id, attempt, started_at, response, final=url is None or response.refused)


def _record(delivery_id: str, attempt: int, started_at: datetime, response: transport.Response, *,
            final: bool) -> DeliveryResult:
    now = runtime.clock.now()
    with unit_of_work() as uow:
        uow.session.add(WebhookAttempt(
            delivery_id=delivery_id, number=attempt, started_at=started_at, duration_ms=response.duration_ms,
            status_code=response.status_code, response_excerpt=response.excerpt, error=response.error,
            succeeded=response.succeeded))
        delivery = uow.session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                                      .with_for_update())
        outcome = OUTBOX.settle(uow, delivery, attempt, succeeded=response.succeeded, final=final)
        if outcome is None:  # our lease expired and another worker took the delivery over: it decides
            return DeliveryResult(delivery_id, attempt, delivery.status, response.status_code)
        delivery.last_status_code = response.status_code
        delivery.last_error = response.error
        if outcome in (outbox.SUCCEEDED, outbox.FAILED):
            delivery.status, delivery.completed_at = outcome, now
        return DeliveryResult(delivery_id, attempt, delivery.status, response.status_code)


def deliver_due_webhooks(*, at: datetime | None = None, limit: int = 1000) -> int:
    """Ask for every delivery that is due and not in flight (run by the billing clock and cron).

    It recovers what a lost enqueue, a dead worker or a restarted embedded process left behind.
    """
    return OUTBOX.sweep(at=at, limit=limit)


# ---------------------------------------------------------------- the log (admin)


def list_deliveries(*, organization_id: str, status: str | None = None, page: int = 1,
                    per_page: int = 50) -> Page:
    query = select(WebhookDelivery).where(WebhookDelivery.organization_id == organization_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    with read_only() as session:
        return paginate(session, query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id),
                        page=page, per_page=per_page)


def get_delivery(*, organization_id: str, delivery_id: str) -> WebhookDelivery:
    with read_only() as session:
        delivery = session.scalar(select(WebhookDelivery).where(
            WebhookDelivery.organization_id == organization_id, WebhookDelivery.id == str(delivery_id)))
        if delivery is None:
            raise NotFound("webhook_delivery")
        return delivery
