"""What wallets tell the rest of the core (billing.events): handlers run in the wallet's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from billing.wallets.models import Wallet

if TYPE_CHECKING:  # an annotation only: ongoing sits above these events (it reads invoicing)
    from billing.wallets.ongoing import Ongoing


@dataclass(frozen=True)
class WalletDepleted:
    """The wallet's ongoing balance reached zero (one crossing: `wallet.depletions` counts them).

    The wallet's row is locked by the publisher; the amounts are what the crossing left.
    """

    wallet: Wallet
    ongoing_balance_cents: int
    credits_ongoing_balance: Decimal


@dataclass(frozen=True)
class WalletChecked:
    """The wallet check evaluated the wallet (its row locked by the publisher): its balances as the check left them."""

    wallet: Wallet
    ongoing: Ongoing
