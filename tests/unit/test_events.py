"""Domain events (billing.events): handlers run in the publisher's transaction, each subscribed once."""

from __future__ import annotations

from dataclasses import dataclass

from billing import events


@dataclass(frozen=True)
class Happened:
    what: str


def test_a_handler_subscribed_twice_runs_once_per_event_in_order():
    seen: list[tuple[object, str]] = []

    def first(session, event):
        seen.append((session, f"first {event.what}"))

    def second(session, event):
        seen.append((session, f"second {event.what}"))

    events.subscribe(Happened, first)
    events.subscribe(Happened, second)
    events.subscribe(Happened, first)
    session = object()
    events.publish(session, Happened("it"))
    assert seen == [(session, "first it"), (session, "second it")]


def test_an_event_nobody_follows_is_published_without_effect():
    events.publish(object(), object())


def test_configuring_the_core_again_subscribes_the_emails_once():
    from billing.emails.services import subscribe_to_events
    from billing.invoicing.events import InvoiceFinalized

    subscribe_to_events()
    before = list(events._handlers[InvoiceFinalized])
    subscribe_to_events()
    assert events._handlers[InvoiceFinalized] == before
    # Other packages (the payment core) may follow the same event; the emails' handler is there once.
    assert [h.__module__ for h in before].count("billing.emails.services") == 1
