"""The alerts follow the wallets through domain events (billing.events): wallets never import alerts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billing import events
from billing.alerts.evaluation import evaluate_wallet_alerts
from billing.wallets.events import WalletChecked


def on_wallet_checked(session: Session, event: WalletChecked) -> None:
    evaluate_wallet_alerts(session, event.wallet, event.ongoing)


def subscribe_to_events() -> None:
    events.subscribe(WalletChecked, on_wallet_checked)
