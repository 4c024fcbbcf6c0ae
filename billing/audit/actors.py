"""Who is acting: set by the door that authenticated the request, read by the audit trail.

The admin's sign-in guard and the API's key check set it for the request; jobs and the CLI leave it
unset, and the trail then names the system. Domain services never take an actor argument.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    kind: str  # "account_manager", "api_key" or "system"
    id: str | None
    label: str  # the account manager's email, the key's prefix, "system"


SYSTEM = Actor(kind="system", id=None, label="system")

_current: ContextVar[Actor | None] = ContextVar("tally_actor", default=None)


def current_actor() -> Actor:
    return _current.get() or SYSTEM


def act_as(actor: Actor) -> Token:
    """Name the actor of what follows in this context; give the token to `stop_acting` when the request ends
    (a pooled thread must not carry one request's actor into the next)."""
    return _current.set(actor)


def stop_acting(token: Token) -> None:
    _current.reset(token)


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = act_as(actor)
    try:
        yield actor
    finally:
        stop_acting(token)
