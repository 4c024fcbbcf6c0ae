"""Dunning's handlers of other packages' domain events (billing.events), subscribed at configuration."""

from __future__ import annotations

from billing import events
from billing.customers.events import CustomerDunningSettingsChanged
from billing.dunning.campaigns import on_customer_dunning_settings


def subscribe_to_events() -> None:
    events.subscribe(CustomerDunningSettingsChanged, on_customer_dunning_settings)
