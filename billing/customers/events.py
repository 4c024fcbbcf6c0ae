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


@dataclass(frozen=True)
class CustomerDunningSettingsChanged:
    """The customer was given a dunning campaign by code (Lago's applied_dunning_campaign_code; None: back to the
    organization's default) and/or an exclusion (exclude_from_dunning_campaign; None: not given).

    Dunning, which knows the campaigns, applies them and restarts the customer's counts when they change; an
    unknown code is refused (ValidationFailed) and the whole change rolled back.
    """

    customer: Customer
    campaign_code: str | None = None
    campaign_code_given: bool = False
    exclude: bool | None = None
