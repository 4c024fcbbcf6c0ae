"""What customers tell the rest of the core (billing.events): handlers run in the customer's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from billing.customers.models import Customer


@dataclass(frozen=True)
class CustomerPaymentSettingsChanged:
    """The customer's payment provider settings (billing_configuration) were set or changed.

    A handler may refuse them (ValidationFailed): the whole change is then rolled back.
    """

    customer: Customer
