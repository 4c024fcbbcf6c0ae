"""Hand-built invoices across months for the analytics tests (API and dashboard): every figure is known to the cent.

Written straight to the tables, as the billing run would have left them, so that each amount is chosen rather than
computed by the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from billing.catalog.models import Plan
from billing.customers.models import Customer
from billing.db import unit_of_work
from billing.invoicing.failures import BillingFailure
from billing.invoicing.models import CreditNote, Fee, Invoice
from billing.subscriptions.models import Subscription
from billing.wallets.models import Wallet


@dataclass
class Books:
    """The ids a test needs to name what it built."""

    organization_id: str
    customers: dict[str, str]
    subscriptions: dict[str, str]
    invoices: dict[str, str]


def _moment(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=UTC)


class Bookkeeper:
    def __init__(self, organization_id: str):
        self.books = Books(organization_id, {}, {}, {})

    def customer(self, external_id: str, currency: str = "EUR", grace_days: int | None = None) -> str:
        with unit_of_work() as uow:
            row = Customer(organization_id=self.books.organization_id, external_id=external_id,
                           name=external_id.title(), currency=currency, invoice_grace_period=grace_days)
            uow.session.add(row)
            uow.session.flush()
            self.books.customers[external_id] = row.id
        return row.id

    def subscription(self, external_id: str, customer: str, *, interval: str, amount_cents: int,
                     currency: str = "EUR", pay_in_advance: bool = False) -> str:
        with unit_of_work() as uow:
            plan = Plan(organization_id=self.books.organization_id, name=f"{interval} {external_id}",
                        code=f"plan_{external_id}", interval=interval, amount_cents=amount_cents,
                        amount_currency=currency, pay_in_advance=pay_in_advance)
            uow.session.add(plan)
            uow.session.flush()
            row = Subscription(organization_id=self.books.organization_id, customer_id=self.books.customers[customer],
                               plan_id=plan.id, external_id=external_id, status="active",
                               subscription_at=_moment(date(2026, 1, 1)), started_at=_moment(date(2026, 1, 1)))
            uow.session.add(row)
            uow.session.flush()
            self.books.subscriptions[external_id] = row.id
        return row.id

    def invoice(self, name: str, customer: str, issued: date, *, fees: list[dict], currency: str = "EUR",
                status: str = "finalized", payment_status: str = "pending", paid_cents: int = 0,
                overdue: bool = False, due: date | None = None, taxes_cents: int = 0) -> str:
        """An invoice with its fees: each fee a dict of fee_type, amount_cents and optionally subscription,
        item_code, coupons (precise cents), taxes_cents; the invoice's totals add them up."""
        fees_cents = sum(fee["amount_cents"] for fee in fees)
        coupons = sum(Decimal(fee.get("coupons", 0)) for fee in fees)
        fee_taxes = sum(fee.get("taxes_cents", 0) for fee in fees)
        total = fees_cents - int(coupons.to_integral_value()) + fee_taxes + taxes_cents
        with unit_of_work() as uow:
            row = Invoice(organization_id=self.books.organization_id, customer_id=self.books.customers[customer],
                          status=status, payment_status=payment_status, currency=currency, number=f"TAL-{name}",
                          issuing_date=issued, payment_due_date=due or issued, payment_overdue=overdue,
                          fees_amount_cents=fees_cents, total_amount_cents=total, total_paid_amount_cents=paid_cents,
                          created_at=_moment(issued))
            uow.session.add(row)
            uow.session.flush()
            for position, fee in enumerate(fees):
                subscription = fee.get("subscription")
                uow.session.add(Fee(
                    invoice_id=row.id, organization_id=self.books.organization_id, fee_type=fee["fee_type"],
                    subscription_id=self.books.subscriptions[subscription] if subscription else None,
                    position=position, item_code=fee.get("item_code", ""), amount_cents=fee["amount_cents"],
                    precise_amount_cents=Decimal(fee["amount_cents"]), amount_currency=currency,
                    precise_coupons_amount_cents=Decimal(fee.get("coupons", 0)),
                    taxes_amount_cents=fee.get("taxes_cents", 0), created_at=_moment(issued)))
            self.books.invoices[name] = row.id
        return row.id

    def instant_fee(self, subscription: str, code: str, amount_cents: int, at: datetime, currency: str = "EUR") -> None:
        """A pay-in-advance charge fee billed without an invoice."""
        with unit_of_work() as uow:
            uow.session.add(Fee(invoice_id=None, organization_id=self.books.organization_id, fee_type="charge",
                                subscription_id=self.books.subscriptions[subscription], item_code=code,
                                amount_cents=amount_cents, precise_amount_cents=Decimal(amount_cents),
                                amount_currency=currency, pay_in_advance=True, invoiceable=False, created_at=at))

    def refund(self, invoice: str, customer: str, refund_cents: int, issued: date, currency: str = "EUR") -> None:
        with unit_of_work() as uow:
            uow.session.add(CreditNote(organization_id=self.books.organization_id,
                                       customer_id=self.books.customers[customer],
                                       invoice_id=self.books.invoices[invoice], number=f"CN-{invoice}", sequential_id=1,
                                       issuing_date=issued, status="finalized", reason="other", currency=currency,
                                       total_amount_cents=refund_cents, refund_amount_cents=refund_cents,
                                       refund_status="succeeded"))

    def wallet(self, customer: str, balance_cents: int, currency: str = "EUR") -> None:
        with unit_of_work() as uow:
            uow.session.add(Wallet(organization_id=self.books.organization_id,
                                   customer_id=self.books.customers[customer], name="Prepaid credits",
                                   currency=currency, rate_amount=Decimal(1),
                                   credits_balance=Decimal(balance_cents) / 100, balance_cents=balance_cents))

    def billing_failure(self, subscription: str, at: datetime) -> None:
        with unit_of_work() as uow:
            uow.session.add(BillingFailure(organization_id=self.books.organization_id,
                                           subscription_id=self.books.subscriptions[subscription], step="billing",
                                           reason="InvalidProperties: no amount", first_failed_at=at,
                                           last_failed_at=at))


def build_books(organization_id: str) -> Books:
    """Three customers over August to November 2026 (the tests' clock stands at 10 November 2026, UTC): subscription
    fees monthly, yearly in advance and weekly, usage fees with coupons, a refund, a fee without invoice, a draft, a
    voided invoice, overdue and failed payments, a wallet running low and a subscription that could not be billed.
    The figures each report must give are written in tests/api/test_analytics_api.py."""
    keeper = Bookkeeper(organization_id)
    keeper.customer("acme", grace_days=10)
    keeper.customer("globex")
    keeper.customer("initech", currency="USD")
    keeper.subscription("acme_monthly", "acme", interval="monthly", amount_cents=10_000)
    keeper.subscription("globex_yearly", "globex", interval="yearly", amount_cents=24_000, pay_in_advance=True)
    keeper.subscription("globex_weekly", "globex", interval="weekly", amount_cents=1_000)
    keeper.subscription("initech_monthly", "initech", interval="monthly", amount_cents=5_000, currency="USD")
    monthly = {"fee_type": "subscription", "subscription": "acme_monthly", "amount_cents": 10_000,
               "coupons": "500", "taxes_cents": 500}
    keeper.invoice("aug-yearly", "globex", date(2026, 8, 3), payment_status="succeeded", paid_cents=24_000,
                   fees=[{"fee_type": "subscription", "subscription": "globex_yearly", "amount_cents": 24_000}])
    keeper.invoice("sep", "acme", date(2026, 9, 1), payment_status="succeeded", paid_cents=13_000,
                   fees=[monthly, {"fee_type": "charge", "subscription": "acme_monthly", "item_code": "api_calls",
                                   "amount_cents": 3_000}])
    keeper.invoice("oct", "acme", date(2026, 10, 1), payment_status="failed", overdue=True, due=date(2026, 10, 15),
                   fees=[monthly, {"fee_type": "charge", "subscription": "acme_monthly", "item_code": "api_calls",
                                   "amount_cents": 4_250, "coupons": "250.4"},
                         {"fee_type": "charge", "subscription": "acme_monthly", "item_code": "storage_gb",
                          "amount_cents": 1_200}])
    keeper.invoice("oct-weekly-1", "globex", date(2026, 10, 5), payment_status="succeeded", paid_cents=1_000,
                   fees=[{"fee_type": "subscription", "subscription": "globex_weekly", "amount_cents": 1_000}])
    keeper.invoice("oct-weekly-2", "globex", date(2026, 10, 12), payment_status="succeeded", paid_cents=1_000,
                   fees=[{"fee_type": "subscription", "subscription": "globex_weekly", "amount_cents": 1_000}])
    keeper.invoice("nov", "acme", date(2026, 11, 1), fees=[monthly])
    keeper.invoice("nov-draft", "acme", date(2026, 11, 2), status="draft",
                   fees=[{"fee_type": "charge", "subscription": "acme_monthly", "item_code": "api_calls",
                          "amount_cents": 99_999}])
    keeper.invoice("oct-voided", "globex", date(2026, 10, 20), status="voided",
                   fees=[{"fee_type": "subscription", "subscription": "globex_weekly", "amount_cents": 77_777}])
    keeper.invoice("initech-oct", "initech", date(2026, 10, 2), currency="USD", overdue=True, due=date(2026, 10, 2),
                   paid_cents=1_000,
                   fees=[{"fee_type": "subscription", "subscription": "initech_monthly", "amount_cents": 5_000}])
    keeper.refund("sep", "acme", 3_000, date(2026, 9, 20))
    keeper.instant_fee("acme_monthly", "api_calls", 700, datetime(2026, 10, 31, 23, 30, tzinfo=UTC))
    keeper.wallet("globex", 400)
    keeper.wallet("acme", 50_000)
    keeper.billing_failure("globex_weekly", datetime(2026, 11, 9, 1, tzinfo=UTC))
    return keeper.books
