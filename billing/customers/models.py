from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.db import Base, new_id, utcnow
from billing.organizations.models import Organization

if TYPE_CHECKING:  # annotations only: the two model modules refer to each other (SQLAlchemy resolves the names)
    from billing.catalog.models import Tax


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        # external_id is unique among live customers; a deleted customer frees it (as Lago).
        Index("uq_customers_org_external_id", "organization_id", "external_id", unique=True,
              sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL")),
        # The customers list in its default order, newest first (migration 0041). Not ending with `id` (the tie
        # breaker, sorted after it): on a table never analyzed, PostgreSQL took such an index for `id = …` look-ups
        # (the foreign-key checks of a bulk load), reading all of it each time.
        Index("ix_customers_org_created", "organization_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(255))
    sequential_id: Mapped[int] = mapped_column(default=0)
    name: Mapped[str | None] = mapped_column(String(255))
    firstname: Mapped[str | None] = mapped_column(String(255))
    lastname: Mapped[str | None] = mapped_column(String(255))
    customer_type: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str | None] = mapped_column(String(3))
    timezone: Mapped[str | None] = mapped_column(String(64))
    address_line1: Mapped[str | None] = mapped_column(String(255))
    address_line2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str | None] = mapped_column(String(255))
    zipcode: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2))
    legal_name: Mapped[str | None] = mapped_column(String(255))
    legal_number: Mapped[str | None] = mapped_column(String(255))
    tax_identification_number: Mapped[str | None] = mapped_column(String(255))
    # Lago's shipping_address: where goods go when it is not the billing address above.
    shipping_address_line1: Mapped[str | None] = mapped_column(String(255))
    shipping_address_line2: Mapped[str | None] = mapped_column(String(255))
    shipping_city: Mapped[str | None] = mapped_column(String(255))
    shipping_state: Mapped[str | None] = mapped_column(String(255))
    shipping_zipcode: Mapped[str | None] = mapped_column(String(64))
    shipping_country: Mapped[str | None] = mapped_column(String(2))
    # Lago's billing_configuration.document_locale (ISO 639-1, e.g. "fr"); None: the organization's.
    document_locale: Mapped[str | None] = mapped_column(String(16))
    # Overrides of the organization's invoicing settings; None means "inherit".
    invoice_grace_period: Mapped[int | None]
    net_payment_term: Mapped[int | None]
    finalize_zero_amount_invoice: Mapped[str] = mapped_column(String(16), default="inherit")
    payment_provider: Mapped[str | None] = mapped_column(String(32))
    payment_provider_customer_id: Mapped[str | None] = mapped_column(String(255))
    # Lago's billing_configuration: which connected provider (by code) collects, whether Tally creates the
    # provider's customer (sync_with_provider), and the method types offered (card, sepa_debit, ...).
    payment_provider_code: Mapped[str | None] = mapped_column(String(255))
    sync_with_provider: Mapped[bool] = mapped_column(default=False, server_default=false())
    provider_payment_methods: Mapped[list | None] = mapped_column(default=list)
    # Why the provider's customer could not be created or updated, until it can (customer.payment_provider_error).
    payment_provider_error: Mapped[str | None] = mapped_column(String(1000))
    # Dunning (Lago's applied_dunning_campaign_code, exclude_from_dunning_campaign): the customer's own
    # campaign (else the organization's default), or none at all; where the current cycle stands.
    applied_dunning_campaign_id: Mapped[str | None] = mapped_column(ForeignKey("dunning_campaigns.id"))
    exclude_from_dunning_campaign: Mapped[bool] = mapped_column(default=False, server_default=false())
    last_dunning_campaign_attempt: Mapped[int] = mapped_column(default=0, server_default="0")
    last_dunning_campaign_attempt_at: Mapped[datetime | None]
    dunning_cycle: Mapped[int] = mapped_column(default=0, server_default="0")
    metadata_: Mapped[list] = mapped_column("metadata", default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]

    organization: Mapped[Organization] = relationship(lazy="joined")
    # The customer's own taxes (they replace the organization's defaults); see billing.catalog.taxes.
    taxes: Mapped[list[Tax]] = relationship(secondary="customers_taxes", lazy="selectin", order_by="Tax.code")
    # Its own dunning campaign, read with the customer (one join, no statement more) for its code in the API. Named,
    # not imported: dunning sits above customers (.importlinter, billing-one-way).
    applied_dunning_campaign = relationship("DunningCampaign", lazy="joined", viewonly=True)

    @property
    def applicable_timezone(self) -> str:
        return self.timezone or self.organization.timezone or "UTC"

    @property
    def applicable_grace_period(self) -> int:
        if self.invoice_grace_period is not None:
            return self.invoice_grace_period
        return self.organization.invoice_grace_period

    @property
    def applicable_net_payment_term(self) -> int:
        if self.net_payment_term is not None:
            return self.net_payment_term
        return self.organization.net_payment_term

    @property
    def display_name(self) -> str:
        full = " ".join(p for p in (self.firstname, self.lastname) if p)
        return self.name or full or self.external_id
