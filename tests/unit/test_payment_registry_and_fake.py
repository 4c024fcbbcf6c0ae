"""The payment provider registry (each organization's own providers) and what only the fake offers."""

from __future__ import annotations

import pytest

from billing.errors import NotFound
from billing.payments import fake
from billing.payments.interface import (
    ChargeRequest,
    CustomerRequest,
    PaymentStatus,
    ProviderError,
    SetupRequest,
    SignatureInvalid,
    WebhookKind,
)
from billing.payments.registry import (
    ProviderConfig,
    ProviderRegistry,
    StoredProviderConfigs,
    UnknownProviderKind,
    registry,
)


def configs(*entries: ProviderConfig) -> StoredProviderConfigs:
    return StoredProviderConfigs(entries)


def test_each_organization_gets_its_own_provider_by_code():
    registry = ProviderRegistry({"fake": fake.FakeProvider.from_settings})
    stored = configs(ProviderConfig("org-a", "main", "fake", {"webhook_secret": "whsec_a"}),
                     ProviderConfig("org-a", "backup", "fake", {"webhook_secret": "whsec_b"}),
                     ProviderConfig("org-b", "main", "fake", {"webhook_secret": "whsec_c"}))

    a_main = registry.provider_for(stored, organization_id="org-a", code="main")
    a_backup = registry.provider_for(stored, organization_id="org-a", code="backup")
    b_main = registry.provider_for(stored, organization_id="org-b", code="main")

    assert len({id(a_main), id(a_backup), id(b_main)}) == 3
    assert [p.webhook_secret for p in (a_main, a_backup, b_main)] == ["whsec_a", "whsec_b", "whsec_c"]
    assert registry.provider_for(stored, organization_id="org-a", code="main") is a_main  # kept between look-ups


def test_a_provider_is_rebuilt_when_its_settings_change():
    registry = ProviderRegistry({"fake": fake.FakeProvider.from_settings})
    stored = configs(ProviderConfig("org-rotate", "main", "fake", {"webhook_secret": "whsec_old"}))
    before = registry.provider_for(stored, organization_id="org-rotate", code="main")
    stored.add(ProviderConfig("org-rotate", "main", "fake", {"webhook_secret": "whsec_new"}))
    after = registry.provider_for(stored, organization_id="org-rotate", code="main")
    assert after is not before and after.webhook_secret == "whsec_new"


def test_an_unknown_code_is_not_found():
    stored = configs(ProviderConfig("org-a", "main", "fake"))
    with pytest.raises(NotFound) as missing:
        registry.provider_for(stored, organization_id="org-b", code="main")
    assert missing.value.code == "payment_provider_not_found"


def test_a_kind_without_an_adapter_is_refused():
    stored = configs(ProviderConfig("org-a", "adyen_prod", "adyen", {"api_key": "test_x"}))
    with pytest.raises(UnknownProviderKind):  # a registry where no adapter of that kind was registered
        ProviderRegistry({"fake": fake.FakeProvider.from_settings}).provider_for(
            stored, organization_id="org-a", code="adyen_prod")
    with pytest.raises(ValueError):
        ProviderRegistry().register("paypal", fake.FakeProvider.from_settings)
    assert registry.kinds() == {"fake", "stripe", "adyen", "gocardless"}  # the process's registry


def test_a_stripe_configuration_builds_the_stripe_adapter_without_showing_its_key():
    stored = configs(ProviderConfig("org-a", "stripe_prod", "stripe",
                                    {"secret_key": "sk_test_very_secret", "publishable_key": "pk_test_x",
                                     "api_base": "http://127.0.0.1:8420"}))
    adapter = registry.provider_for(stored, organization_id="org-a", code="stripe_prod")
    assert adapter.kind == "stripe" and "sk_test_very_secret" not in repr(adapter)


def test_secrets_stay_out_of_a_configuration_repr():
    config = ProviderConfig("org-a", "main", "stripe", {"secret_key": "sk_live_very_secret"})
    assert "sk_live_very_secret" not in repr(config)


def _paying_customer(provider: fake.FakeProvider, card: str) -> tuple[str, str]:
    customer = provider.create_customer(CustomerRequest(reference="c1", idempotency_key="customer-1"))
    return customer.id, provider.attach_payment_method(customer.id, provider.tokenize_card(card)).id


def test_the_fake_charges_once_per_key():
    provider = fake.FakeProvider()
    customer_id, method_id = _paying_customer(provider, fake.CARD_OK)
    request = ChargeRequest(amount_cents=500, currency="USD", customer_id=customer_id, method_id=method_id,
                            idempotency_key="payment-1")
    provider.charge(request)
    provider.charge(request)
    assert len(provider.charges()) == 1


def test_a_flaky_card_fails_once_as_a_transient_error_then_charges_once():
    provider = fake.FakeProvider()
    customer_id, method_id = _paying_customer(provider, fake.CARD_FLAKY)
    request = ChargeRequest(amount_cents=500, currency="USD", customer_id=customer_id, method_id=method_id,
                            idempotency_key="payment-1")
    with pytest.raises(ProviderError) as lost:
        provider.charge(request)
    assert lost.value.retryable
    assert provider.charge(request).status is PaymentStatus.SUCCEEDED
    assert len(provider.charges()) == 1


def test_insufficient_funds_fail_the_charge():
    provider = fake.FakeProvider()
    customer_id, method_id = _paying_customer(provider, fake.CARD_INSUFFICIENT_FUNDS)
    result = provider.charge(ChargeRequest(amount_cents=500, currency="USD", customer_id=customer_id,
                                           method_id=method_id, idempotency_key="payment-1"))
    assert (result.status, result.error_code) == (PaymentStatus.FAILED, "insufficient_funds")


def test_a_payment_requiring_action_completes_when_the_customer_authenticates():
    provider = fake.FakeProvider()
    customer_id, method_id = _paying_customer(provider, fake.CARD_REQUIRES_ACTION)
    waiting = provider.charge(ChargeRequest(amount_cents=500, currency="USD", customer_id=customer_id,
                                            method_id=method_id, idempotency_key="payment-1"))
    assert waiting.status is PaymentStatus.REQUIRES_ACTION
    assert provider.events[-1].kind is WebhookKind.PAYMENT_REQUIRES_ACTION

    done = provider.authenticate(waiting.payment_id)
    assert done.status is PaymentStatus.SUCCEEDED
    assert (provider.events[-1].kind, provider.events[-1].payment_id) == (WebhookKind.PAYMENT_SUCCEEDED,
                                                                          waiting.payment_id)


def test_a_setup_completes_with_a_card_or_fails_with_a_declined_one():
    provider = fake.FakeProvider()
    customer = provider.create_customer(CustomerRequest(reference="c1", idempotency_key="customer-1"))
    setup = provider.start_setup(SetupRequest(customer_id=customer.id, return_url="https://tally.test/back",
                                              idempotency_key="setup-1"))
    with pytest.raises(ProviderError):
        provider.complete_setup(setup.id, fake.CARD_DECLINED_AT_SETUP)
    assert provider.events[-1].kind is WebhookKind.SETUP_FAILED

    method = provider.complete_setup(setup.id, "4242 4242 4242 4242")
    assert (method.brand, method.last4) == ("visa", "4242")
    assert provider.events[-1].kind is WebhookKind.SETUP_SUCCEEDED


def test_a_stale_webhook_is_refused():
    now = [1_800_000_000.0]
    provider = fake.FakeProvider(now=lambda: now[0])
    _paying_customer(provider, fake.CARD_OK)
    body, headers = provider.signed(provider.events[-1])
    assert provider.parse_webhook(body, headers).kind is WebhookKind.PAYMENT_METHOD_ATTACHED
    now[0] += fake.SIGNATURE_TOLERANCE + 1
    with pytest.raises(SignatureInvalid):
        provider.parse_webhook(body, headers)


def test_the_fake_is_deterministic():
    def run() -> list:
        provider = fake.FakeProvider(now=lambda: 1_800_000_000.0)
        customer_id, method_id = _paying_customer(provider, fake.CARD_OK)
        provider.charge(ChargeRequest(amount_cents=500, currency="USD", customer_id=customer_id,
                                      method_id=method_id, idempotency_key="payment-1"))
        return [provider.signed(event) for event in provider.events]

    assert run() == run()
