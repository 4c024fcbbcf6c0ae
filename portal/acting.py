"""The customer a valid portal link or embed token lets in is the actor of what their request changes (a wallet
top-up), as the admin names its account manager and the API its key (billing.audit.actors)."""

from __future__ import annotations

from flask import g

from billing.audit.actors import Actor, act_as, stop_acting


def act_as_customer(customer_id: str, external_id: str) -> None:
    if "actor_token" not in g:
        g.actor_token = act_as(Actor(kind="customer", id=customer_id, label=external_id))


def stop_acting_for_request(_error) -> None:
    """Registered as the portal's and the widgets' teardown: a pooled thread carries no actor to the next request."""
    token = g.pop("actor_token", None)
    if token is not None:
        stop_acting(token)
