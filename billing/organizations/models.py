from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base, new_id, utcnow


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    default_currency: Mapped[str] = mapped_column(String(3), default="USD")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Invoicing settings (docs/billing.md, Invoices): grace period in days, payment term,
    # numbering scope and prefix.
    invoice_grace_period: Mapped[int] = mapped_column(default=0)
    net_payment_term: Mapped[int] = mapped_column(default=0)
    document_numbering: Mapped[str] = mapped_column(String(32), default="per_customer")
    document_number_prefix: Mapped[str] = mapped_column(String(32))
    finalize_zero_amount_invoice: Mapped[bool] = mapped_column(default=True)
    email: Mapped[str | None] = mapped_column(String(255))
    address_line1: Mapped[str | None] = mapped_column(String(255))
    address_line2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(255))
    zipcode: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2))
    legal_name: Mapped[str | None] = mapped_column(String(255))
    legal_number: Mapped[str | None] = mapped_column(String(255))
    tax_identification_number: Mapped[str | None] = mapped_column(String(255))
    # How a customer pays by bank transfer, printed on every invoice PDF (billing.organizations.bank_details):
    # the IBAN kept compact and upper case, the BIC upper case.
    bank_account_holder: Mapped[str | None] = mapped_column(String(255))
    bank_iban: Mapped[str | None] = mapped_column(String(34))
    bank_bic: Mapped[str | None] = mapped_column(String(11))
    bank_name: Mapped[str | None] = mapped_column(String(255))
    payment_instructions: Mapped[str | None] = mapped_column(Text)
    # The language of the portal, PDFs and emails of customers without one of their own (Lago's
    # billing_configuration.document_locale on the organization): one Tally ships (billing.i18n), None: English.
    document_locale: Mapped[str | None] = mapped_column(String(16))
    webhook_secret: Mapped[str | None] = mapped_column(String(128))
    # The RSA key pair that signs `jwt` webhooks (billing.webhooks.signing), made on first need: the
    # public key as PEM, the private key as PKCS#8 PEM encrypted with a key derived from SECRET_KEY.
    webhook_jwt_public_key: Mapped[str | None] = mapped_column(Text)
    webhook_jwt_private_key: Mapped[str | None] = mapped_column(Text)
    # Bumped by every change to what ingestion reads (metrics, subscriptions): metering.catalog_cache.
    catalog_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApiKey(Base):
    """An API key, stored as the SHA-256 of its secret (keys are 256-bit random, so no slow hash is needed)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    # Written at most once a minute per key (organizations.services.note_api_key_use), not per request.
    last_used_at: Mapped[datetime | None]


class User(Base):
    """An account manager who signs in to the admin screens of one organization."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("email", name="uq_users_email"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Part of every session's id (admin.auth): bumped by sign-out, a password change and
    # deactivation, so a session cookie issued before no longer signs anyone in.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # A deactivated account manager cannot sign in; their sessions ended when this was set.
    deactivated_at: Mapped[datetime | None]
    # What they may open (admin/roles.py): "admin", "manager" or "finance", as Lago's roles.
    role: Mapped[str] = mapped_column(String(16), default="admin", server_default="admin")
    # Their password was made for them (a member added in the admin, or `admin set-password --temporary`): every
    # admin page sends them to My account until they choose their own (cleared by `change_own_password`).
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())


class Sequence(Base):
    """Gap-free counters (invoice numbers), bumped under a row lock at finalization."""

    __tablename__ = "sequences"

    scope: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
