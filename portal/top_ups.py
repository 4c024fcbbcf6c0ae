"""A customer buying credits from a page opened by a signed link (the portal, the wallet widget): one service
call, one way of saying why it was refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import DecimalException

from billing.errors import BillingError, NotFound, ValidationFailed
from billing.screens.payments import CustomerPayments
from billing.wallets import services as wallets
from billing.wallets.models import WalletTransaction
from wording import portal as words


@dataclass(frozen=True)
class TopUp:
    """What came of a top-up: the transactions made, or the reason it was refused (nothing written then)."""

    typed: str
    created: list[WalletTransaction] = field(default_factory=list)
    error: str | None = None

    @property
    def invoice_id(self) -> str | None:
        """The credit purchase's invoice, to pay."""
        return next((t.invoice_id for t in self.created if t.invoice_id), None)

    @property
    def notice(self) -> str | None:
        if self.error is not None:
            return None
        return words.top_up_recorded(awaits_payment=any(t.invoice_requires_successful_payment for t in self.created))

    def form_errors(self, wallet_id: str) -> dict[str, dict]:
        """The refused form again, with the reason next to the amount (templates/_wallet.html's shape)."""
        if self.error is None:
            return {}
        return {f"tx-{wallet_id}": {"values": {"credits": [self.typed]}, "errors": {"credits": [self.error]}}}


def needs_paying(result: TopUp, payments: CustomerPayments) -> bool:
    """Whether the customer pays the top-up's invoice themselves, on its pay page: they could pay by card, but no card
    is saved to charge."""
    return (result.error is None and result.invoice_id is not None and payments.has_provider
            and payments.default_method is None)


def notice_after(result: TopUp, payments: CustomerPayments) -> str | None:
    """What the customer is told after a top-up (None when refused: the reason is by the amount).

    NOTE: the customer is never sent to the pay page straight away: the portal and the widgets may be inside another
    site's frame, where that page (never framed) cannot open. With a saved card the payment core charges it; without,
    the top-up's line in the wallet's history has a Pay button that opens the pay page in the whole window.
    """
    if result.error is not None:
        return None
    if result.invoice_id is not None and payments.has_provider:
        return issued_notice(payments)
    return result.notice


def issued_notice(payments: CustomerPayments) -> str:
    """What a top-up's invoice now waits for: the saved card being charged, the customer's Pay, or the organization
    (no provider: paid its own way). Also what the wallet page says when a top-up led back to it."""
    if not payments.has_provider:
        return words.top_up_recorded(awaits_payment=False)
    return words.top_up_charging() if payments.default_method is not None else words.top_up_to_pay()


def top_up(*, organization_id: str, customer_id: str, wallet_id: str, credits: str | None) -> TopUp:
    """Buy `credits` paid credits in one of the customer's wallets: a top-up invoice is issued, the credits arrive
    when it is paid. The wallet's paid top-up limits hold; a refusal says why in the customer's words."""
    typed = (credits or "").strip()
    try:
        created = wallets.create_wallet_transaction(organization_id=organization_id, customer_id=customer_id,
                                                    data={"wallet_id": wallet_id, "paid_credits": typed})
    except ValidationFailed as failed:
        return TopUp(typed, error=top_up_refusal(organization_id=organization_id, customer_id=customer_id,
                                                 wallet_id=wallet_id, failed=failed))
    except BillingError:
        return TopUp(typed, error=words.top_up_refused())
    except (OverflowError, DecimalException):  # a number too large to compute with (1e400): nothing written
        return TopUp(typed, error=words.top_up_too_large())
    return TopUp(typed, created=list(created))


def top_up_refusal(*, organization_id: str, customer_id: str, wallet_id: str, failed: ValidationFailed) -> str:
    """Why a top-up was refused, in the customer's words (the limit named, in money and credits)."""
    codes = {str(code) for codes in failed.details.values() for code in (codes if isinstance(codes, list) else [codes])}
    try:
        wallet = wallets.wallet_of_customer(organization_id=organization_id, customer_id=customer_id,
                                            wallet_id=wallet_id)
    except NotFound:
        wallet = None
    if wallet is not None and wallet.status != "active":
        wallet = None
    if wallet is not None and "amount_below_minimum" in codes and wallet.paid_top_up_min_amount_cents is not None:
        cents = wallet.paid_top_up_min_amount_cents
        return words.top_up_limit(smallest=True, amount_cents=cents, currency=wallet.currency,
                                  credits=wallets.ledger.cents_to_credits(wallet, cents))
    if wallet is not None and "amount_above_maximum" in codes and wallet.paid_top_up_max_amount_cents is not None:
        cents = wallet.paid_top_up_max_amount_cents
        return words.top_up_limit(smallest=False, amount_cents=cents, currency=wallet.currency,
                                  credits=wallets.ledger.cents_to_credits(wallet, cents))
    return words.top_up_refused()
