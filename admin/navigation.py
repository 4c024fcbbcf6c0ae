"""The admin's navigation: five sections, each a few pages, shown as far as the signed-in role may open them, and
My account, which the header's email opens.

The top row names the sections (each opens its first page the role may open); the row under it lists the pages of
the section the current page belongs to. A page belongs to the entry whose endpoint prefixes name it, so an invoice
page is under Billing › Invoices and a plan's editor under Catalog › Plans.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    label: str
    endpoint: str
    # The endpoints (exact, or prefixes ending in "*") shown as this entry being open.
    covers: tuple[str, ...]

    def is_open(self, endpoint: str) -> bool:
        return any(endpoint.startswith(c[:-1]) if c.endswith("*") else endpoint == c for c in self.covers)


@dataclass(frozen=True)
class Section:
    label: str
    entries: tuple[Entry, ...]


SECTIONS = (
    Section("Home", (Entry("Home", "admin.home", ("admin.home",)),)),
    Section("Customers", (
        Entry("Customers", "admin.customers", ("admin.customers*", "admin.customer", "admin.customer_*")),
        Entry("Subscriptions", "admin.subscription_list", ("admin.subscription_*",)),
    )),
    Section("Billing", (
        Entry("Invoices", "admin.invoice_list", ("admin.invoice_*",)),
        Entry("Credit notes", "admin.credit_note_list", ("admin.credit_note_*",)),
        Entry("Payments", "admin.payment_list", ("admin.payment_list*",)),
        Entry("Could not bill", "admin.billing_failure_list", ("admin.billing_failure_*",)),
        Entry("Dunning", "admin.dunning_campaign_list", ("admin.dunning_*",)),
    )),
    Section("Catalog", (
        Entry("Plans", "admin.plan_list", ("admin.plan_*",)),
        Entry("Metrics", "admin.metric_list", ("admin.metric_*",)),
        Entry("Add-ons", "admin.add_on_list", ("admin.add_on_*",)),
        Entry("Features", "admin.feature_list", ("admin.feature_*",)),
        Entry("Taxes & coupons", "admin.discount_list", ("admin.discount_*", "admin.tax_new", "admin.coupon_new")),
    )),
    Section("Settings", (
        Entry("Payment providers", "admin.payment_provider_list", ("admin.payment_provider_*",)),
        Entry("Webhooks", "admin.webhook_list", ("admin.webhook_*",)),
        Entry("Embedding", "admin.embedding_settings", ("admin.embedding_*",)),
        Entry("Invoice PDFs", "admin.settings_invoices", ("admin.settings_invoices*",)),
        Entry("Members", "admin.member_list", ("admin.member_*",)),
        Entry("API keys", "admin.api_key_list", ("admin.api_key_*",)),
        Entry("Audit trail", "admin.audit_list", ("admin.audit_*",)),
    )),
)


# Outside the sections: the signed-in member's email in the header opens it, for every role.
ACCOUNT = Entry("My account", "admin.account", ("admin.account*",))


@dataclass(frozen=True)
class Menu:
    sections: tuple[tuple[Section, Entry], ...]  # each visible section, with the entry its link opens
    current: Section | None
    current_entry: Entry | None
    account_open: bool = False  # the current page is My account (its header link shows it)


def menu_for(may_open: Callable[[str], bool], endpoint: str | None) -> Menu:
    """The sections and entries `may_open` allows, and where `endpoint` sits among them."""
    endpoint = endpoint or ""
    visible = []
    current = current_entry = None
    for section in SECTIONS:
        entries = tuple(e for e in section.entries if may_open(e.endpoint))
        if not entries:
            continue
        shown = Section(section.label, entries)
        visible.append((shown, entries[0]))
        for entry in section.entries:  # an entry the role may not open still places its pages
            if entry.is_open(endpoint) and current_entry is None:
                current, current_entry = shown, entry
    return Menu(tuple(visible), current, current_entry, account_open=ACCOUNT.is_open(endpoint))
