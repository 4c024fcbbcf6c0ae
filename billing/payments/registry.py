"""From an organization's provider code to a ready adapter, built from that organization's own settings."""

# Each organization connects its own providers (several, each with a `code`: Lago's
# `payment_provider_code`), so there is no process-wide "the Stripe client": a provider is always found
# through the organization and the code. Where the configurations are stored is behind `ProviderConfigs`:
# in memory today (development, tests); the payment providers table of the Stripe issue, with secrets
# encrypted, implements the same `find`.

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from billing.errors import NotFound
from billing.payments.adyen import AdyenProvider
from billing.payments.fake import FakeProvider
from billing.payments.interface import PaymentProvider
from billing.payments.stripe import StripeProvider

# NOTE: Lago's `payment_provider` values (lago-openapi, src/schemas/PaymentObject.yaml), plus Tally's own fake.
KINDS = frozenset({"stripe", "adyen", "gocardless", "fake"})

ProviderFactory = Callable[[Mapping[str, str]], PaymentProvider]


@dataclass(frozen=True)
class ProviderConfig:
    """One provider an organization has connected: its code, its kind and its settings."""

    organization_id: str
    code: str
    kind: str
    # API keys, webhook secrets, the API base: kept out of repr so that a log line never shows them.
    settings: Mapping[str, str] = field(default_factory=dict, repr=False)


class ProviderConfigs(Protocol):
    """Where the organizations' provider configurations are kept."""

    def find(self, organization_id: str, code: str) -> ProviderConfig | None:
        """Return the organization's provider with this code, or None."""
        ...


class StoredProviderConfigs:
    """Provider configurations held in memory, until they have a table."""

    def __init__(self, configs: Iterable[ProviderConfig] = ()):
        self._configs = {(config.organization_id, config.code): config for config in configs}

    def add(self, config: ProviderConfig) -> None:
        """Connect a provider, or replace the one with the same code."""
        self._configs[(config.organization_id, config.code)] = config

    def find(self, organization_id: str, code: str) -> ProviderConfig | None:
        """Return the organization's provider with this code, or None."""
        return self._configs.get((organization_id, code))


class UnknownProviderKind(LookupError):  # noqa: N818 (named as billing.errors' errors are)
    """A configuration names a kind of provider this process has no adapter for."""


class ProviderRegistry:
    """Adapter factories by provider kind, and the adapters built for each organization's providers."""

    def __init__(self, factories: Mapping[str, ProviderFactory] | None = None):
        self._factories: dict[str, ProviderFactory] = {}
        # One adapter per (organization, code), kept while its settings stay the same: an SDK client is
        # reused across calls, and the fake keeps its customers and charges between two look-ups.
        self._adapters: dict[tuple[str, str], tuple[str, dict[str, str], PaymentProvider]] = {}
        self._lock = threading.Lock()
        for kind, factory in (factories or {}).items():
            self.register(kind, factory)

    def register(self, kind: str, factory: ProviderFactory) -> None:
        """Make a kind of provider available, built by `factory` from a configuration's settings."""
        if kind not in KINDS:
            raise ValueError(f"unknown payment provider kind {kind!r}: one of {sorted(KINDS)}")
        self._factories[kind] = factory

    def kinds(self) -> frozenset[str]:
        """Return the kinds this process can build an adapter for."""
        return frozenset(self._factories)

    def adapter(self, config: ProviderConfig) -> PaymentProvider:
        """Return the adapter for a configuration, built once and rebuilt when its settings change."""
        factory = self._factories.get(config.kind)
        if factory is None:
            raise UnknownProviderKind(f"no adapter for payment provider kind {config.kind!r}")
        key, settings = (config.organization_id, config.code), dict(config.settings)
        with self._lock:
            kept = self._adapters.get(key)
            if kept is not None and kept[:2] == (config.kind, settings):
                return kept[2]
            adapter = factory(settings)
            self._adapters[key] = (config.kind, settings, adapter)
            return adapter

    def provider_for(self, configs: ProviderConfigs, *, organization_id: str, code: str) -> PaymentProvider:
        """Return the adapter of the organization's provider with this code."""
        config = configs.find(organization_id, code)
        if config is None:
            raise NotFound("payment_provider")
        return self.adapter(config)


# The kinds this process knows; gocardless registers here when its adapter is written.
registry = ProviderRegistry({"fake": FakeProvider.from_settings, "stripe": StripeProvider.from_settings,
                             "adyen": AdyenProvider.from_settings})
