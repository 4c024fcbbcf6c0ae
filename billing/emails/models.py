from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base, new_id, utcnow

# `held`: a payment request's failure mail written ahead with a dunning campaign's words and bcc, for the charge
# that follows; it becomes `pending` if that charge fails and is deleted when it succeeds (billing.emails.services).
EMAIL_STATUSES = ("held", "pending", "sending", "sent", "failed")


class EmailDelivery(Base):
    """One email to send: the outbox row, written in the transaction of the change it announces.

    One per (invoice, kind): finalizing twice never queues a second mail; one per (wallet, kind,
    crossing): a wallet's depletion is mailed once each time its ongoing balance reaches zero; one per
    (payment, kind): a payment's receipt or failure is mailed once. Its id makes the Message-ID, the
    same on every attempt.
    """

    __tablename__ = "email_deliveries"
    __table_args__ = (
        UniqueConstraint("invoice_id", "kind", name="uq_email_deliveries_invoice_kind"),
        UniqueConstraint("wallet_id", "kind", "sequence", name="uq_email_deliveries_wallet_kind_sequence"),
        UniqueConstraint("payment_id", "kind", name="uq_email_deliveries_payment_kind"),
        UniqueConstraint("payment_request_id", "kind", name="uq_email_deliveries_payment_request_kind"),
        Index("ix_email_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    wallet_id: Mapped[str | None] = mapped_column(ForeignKey("wallets.id", ondelete="CASCADE"))
    # A payment's mail (a receipt, a failed charge, a payment to confirm): one per payment and kind.
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    # A payment request's reminder (a dunning attempt's, or one asked by hand): one per request and kind.
    payment_request_id: Mapped[str | None] = mapped_column(ForeignKey("payment_requests.id", ondelete="CASCADE"))
    sequence: Mapped[int | None]  # a wallet mail: which crossing of the wallet it announces
    # What the mail states, as it was when it was queued (a retry hours later says the same).
    details: Mapped[dict] = mapped_column(default=dict)
    kind: Mapped[str] = mapped_column(String(32), default="invoice.finalized")
    to_address: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]  # while `sending`: when another worker may take it over
    last_error: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
