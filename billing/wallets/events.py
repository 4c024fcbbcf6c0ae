"""What wallets tell the rest of the core (billing.events): handlers run in the wallet's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billing.wallets.models import Wallet


@dataclass(frozen=True)
class WalletDepleted:
    """The wallet's ongoing balance reached zero (one crossing: `wallet.depletions` counts them).

    The wallet's row is locked by the publisher; the amounts are what the crossing left.
    """

    wallet: Wallet
    ongoing_balance_cents: int
    credits_ongoing_balance: Decimal
