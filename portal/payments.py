"""What the portal's payment pages share: the customer's provider and cards, the form that takes a new card
(Stripe.js with a SetupIntent: the card goes from the browser to the provider, never through Tally), and the
JSON answers the page's script reads.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import Response, g, jsonify
from sqlalchemy import select

from billing.customers.services import get_customer_by_id
from billing.db import read_only
from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.invoicing.models import Invoice
from billing.payments import customers as payment_customers
from billing.payments.interface import ProviderError
from billing.payments.models import SavedPaymentMethod
from billing.payments.providers import DISPLAY_NAMES
from web.responses import ProviderOrigins
from wording import portal_payments as words

STRIPE_JS = "https://js.stripe.com/v3/"
# NOTE: Stripe's documented Content-Security-Policy for Stripe.js (stripe.com/docs/security/guide, "Content
# Security Policy"): its script, its frames (Elements and 3-D Secure) and its API.
STRIPE_ORIGINS = ProviderOrigins(script=("https://js.stripe.com",),
                                 frame=("https://js.stripe.com", "https://hooks.stripe.com"),
                                 connect=("https://api.stripe.com",))
_METHOD_ID = re.compile(r"^[A-Za-z0-9_]{1,255}$")


@dataclass(frozen=True)
class CustomerPayments:
    """The customer's provider (if any) and saved methods, as the portal shows them.

    `methods` are the current provider's: the only ones that may be the default or pay. `previous_methods` were
    saved with a provider the customer has left: listed, each with its provider, and removable only.
    """

    provider_kind: str | None
    provider_code: str | None
    methods: list[SavedPaymentMethod]
    previous_methods: list[SavedPaymentMethod] = field(default_factory=list)
    method_type: str = "card"  # what the provider sets up: card, sepa_debit or bacs_debit

    @property
    def has_provider(self) -> bool:
        return bool(self.provider_code)

    @property
    def default_method(self) -> SavedPaymentMethod | None:
        return next((m for m in self.methods if m.is_default), None)

    @property
    def previous_by_provider(self) -> list[tuple[str, list[SavedPaymentMethod]]]:
        """The previous providers' methods, grouped by provider (its display name), in the order saved."""
        groups: dict[str, list[SavedPaymentMethod]] = {}
        for method in self.previous_methods:
            groups.setdefault(method.provider_code, []).append(method)
        return [(DISPLAY_NAMES.get(methods[0].provider_kind, methods[0].provider_kind), methods)
                for methods in groups.values()]


def customer_payments(*, organization_id: str, customer_id: str) -> CustomerPayments:
    customer = get_customer_by_id(organization_id=organization_id, customer_id=customer_id)
    code = customer.payment_provider_code if customer.payment_provider else None
    methods = payment_customers.list_methods(organization_id=organization_id, customer_id=customer_id)
    offered = payment_customers.offered_method_type(kind=customer.payment_provider if code else None,
                                                    method_types=customer.provider_payment_methods,
                                                    currency=customer.currency)
    return CustomerPayments(provider_kind=customer.payment_provider if code else None, provider_code=code,
                            methods=[m for m in methods if code and m.provider_code == code],
                            previous_methods=[m for m in methods if not code or m.provider_code != code],
                            method_type=offered)


def failed_invoices(*, organization_id: str, customer_id: str, invoice_ids: set[str]) -> set[str]:
    """Which of these invoices of the customer saw their last payment fail (their credits stay pending)."""
    if not invoice_ids:
        return set()
    with read_only() as session:
        return set(session.scalars(select(Invoice.id).where(
            Invoice.organization_id == organization_id, Invoice.customer_id == customer_id,
            Invoice.id.in_(invoice_ids), Invoice.payment_status == "failed")))


@dataclass(frozen=True)
class CardForm:
    """What a page needs to take a new card: the provider's script and key, and a first set-up's secret."""

    kind: str
    client_secret: str | None
    publishable_key: str | None = None
    script_url: str | None = None
    redirect_url: str | None = None  # a provider with a hosted page instead of a script

    @property
    def uses_stripe_js(self) -> bool:
        return self.kind == "stripe" and bool(self.client_secret and self.publishable_key)


def start_card_form(*, organization_id: str, customer_id: str, return_url: str) -> CardForm | None:
    """Start a set-up for a new card and allow its provider's origins on this page; None if it cannot start."""
    setup = _start_setup(organization_id, customer_id, return_url)
    if setup is None:
        return None
    public = setup.settings_public
    if setup.provider_kind != "stripe":
        return CardForm(kind=setup.provider_kind, client_secret=setup.session.client_secret,
                        redirect_url=setup.session.redirect_url)
    script_url, origins = stripe_js(public.get("api_base"))
    g.provider_origins = origins
    return CardForm(kind="stripe", client_secret=setup.session.client_secret,
                    publishable_key=public.get("publishable_key"), script_url=script_url)


def fresh_setup_secret(*, organization_id: str, customer_id: str, return_url: str) -> Response:
    """A new set-up's client secret for the page's next try (JSON): one set-up per attempt at a card."""
    setup = _start_setup(organization_id, customer_id, return_url)
    if setup is None or not setup.session.client_secret:
        return refused(words.refusal("payment_provider_unavailable"), status=503)
    return jsonify(client_secret=setup.session.client_secret)


def _start_setup(organization_id: str, customer_id: str, return_url: str) -> payment_customers.MethodSetup | None:
    try:
        return payment_customers.start_setup(organization_id=organization_id, customer_id=customer_id,
                                             return_url=return_url, attempt=uuid.uuid4().hex)
    except (NotAllowed, NotFound, ProviderError):
        return None


def stripe_js(api_base: str | None) -> tuple[str, ProviderOrigins]:
    """Where Stripe.js comes from and the origins it needs: Stripe's, or a test server's own copy (one origin)."""
    if not api_base:
        return STRIPE_JS, STRIPE_ORIGINS
    parts = urlsplit(api_base)
    origin = f"{parts.scheme}://{parts.netloc}"
    # localstripe serves its Stripe.js at <api base>/js.stripe.com/v3/ and answers its calls itself.
    return f"{api_base.rstrip('/')}/js.stripe.com/v3/", ProviderOrigins(script=(origin,), frame=(origin,),
                                                                          connect=(origin,))


def provider_method_id(form) -> str:
    """The provider's id of the method the browser just set up, checked for shape (ValidationFailed)."""
    value = (form.get("payment_method") or "").strip()
    if not _METHOD_ID.match(value):
        raise ValidationFailed({"payment_method": ["invalid_payment_method"]})
    return value


def card_refusal(error: Exception) -> str:
    """The sentence for a card or payment refused while keeping or charging it."""
    if isinstance(error, ValidationFailed):
        reasons = error.details.get("payment_method") or []
        reason = str(reasons[0]) if reasons else ""
        if reason == "invalid_payment_method":
            return words.refusal(reason)
        return words.declined(reason.removeprefix("Stripe: ") or None)
    if isinstance(error, NotAllowed):
        return words.refusal(error.code)
    if isinstance(error, NotFound):
        return words.refusal(f"{error.resource}_not_found")
    return words.refusal("")


def go_to(url: str) -> Response:
    """Tell the page's script where to send the customer next."""
    return jsonify(redirect=url)


def refused(message: str, *, status: int = 422, field: str = "payment_method") -> Response:
    """Tell the page's script why, to show it by the field."""
    response = jsonify(error=message, field=field)
    response.status_code = status
    return response
