"""/events: single and batch ingestion (idempotent on transaction_id), get, list; fee estimates (nothing stored)."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import BadRequest

from api.blueprint import api_blueprint as bp
from api.common import body, json_body, many, one, organization_id, page_args
from billing import serializers
from billing.errors import ValidationFailed
from billing.metering import estimates, services
from billing.validation import parse_datetime


@bp.post("/events")
def create_event():
    raw = body("event")
    try:
        [stored] = services.ingest_events(organization_id=organization_id(), raw_events=[raw])
    except ValidationFailed as error:
        # A single event's errors are keyed by field, not by batch index.
        raise ValidationFailed(error.details.get("0", error.details)) from None
    return one("event", serializers.event(stored))


@bp.post("/events/batch")
def create_events_batch():
    events = json_body().get("events")
    if not isinstance(events, list):
        raise BadRequest("param is missing or the value is empty: events")
    stored = services.ingest_events(organization_id=organization_id(), raw_events=events)
    return {"events": [serializers.event(e) for e in stored]}


@bp.post("/events/estimate_fees")
def estimate_fees():
    found = estimates.estimate_fees(organization_id=organization_id(), raw_event=body("event"))
    return {"fees": [serializers.fee_estimate(e) for e in found]}


@bp.post("/events/estimate_instant_fees")
def estimate_instant_fees():
    try:
        found = estimates.estimate_instant_fees(organization_id=organization_id(), raw_events=[body("event")])
    except ValidationFailed as error:
        # A single event's errors are keyed by field, not by batch index.
        raise ValidationFailed(error.details.get("0", error.details)) from None
    return {"fees": [serializers.fee_estimate(e) for e in found]}


@bp.post("/events/batch_estimate_instant_fees")
def batch_estimate_instant_fees():
    events = json_body().get("events")
    if not isinstance(events, list):
        raise BadRequest("param is missing or the value is empty: events")
    # Lago's OpenAPI wraps each element as the single estimate's body (`{"event": {...}}`); lago-api reads them
    # bare. Both are read.
    events = [e["event"] if isinstance(e, dict) and isinstance(e.get("event"), dict) else e for e in events]
    found = estimates.estimate_instant_fees(organization_id=organization_id(), raw_events=events)
    return {"fees": [serializers.fee_estimate(e) for e in found]}


@bp.get("/events")
def list_events():
    def moment(name: str):
        raw = request.args.get(name)
        if not raw:
            return None
        parsed = parse_datetime(raw)
        if parsed is None:
            raise ValidationFailed({name: ["invalid_date"]})
        return parsed

    page = services.list_events(organization_id=organization_id(),
                                external_subscription_id=request.args.get("external_subscription_id"),
                                code=request.args.get("code"), timestamp_from=moment("timestamp_from"),
                                timestamp_to=moment("timestamp_to"), **page_args())
    return many("events", page, serializers.event)


@bp.get("/events/<path:transaction_id>")
def get_event(transaction_id: str):
    event = services.get_event(organization_id=organization_id(), transaction_id=transaction_id)
    return one("event", serializers.event(event))
