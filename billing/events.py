"""Domain events: what a use case tells the rest of the core, inside its own transaction.

A package publishes an event (`uow.publish(InvoiceFinalized(...))`, or `publish(session, ...)` in a
helper handed only a session); the handlers subscribed to its type run at once, in the same
transaction and before the commit, so what they write (an email's outbox row, a webhook) commits or
rolls back with the change it announces. The publisher knows nothing of its subscribers: emails
(and later payments and dunning) sit above the packages whose events they follow.

Handlers are subscribed once, at configuration time (jobs.bootstrap.configure_core, which the app,
the workers, the CLI and every test's app run): nothing is subscribed by importing a module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

Handler = Callable[[Session, Any], None]
_handlers: dict[type, list[Handler]] = {}


def subscribe(event_type: type, handler: Handler) -> None:
    """Call `handler(session, event)` for every `event_type` published from now on (once, however often asked)."""
    handlers = _handlers.setdefault(event_type, [])
    if handler not in handlers:
        handlers.append(handler)


def publish(session: Session, event: object) -> None:
    """Run the handlers subscribed to the event's type, in the caller's transaction, in subscription order."""
    for handler in _handlers.get(type(event), ()):
        handler(session, event)
