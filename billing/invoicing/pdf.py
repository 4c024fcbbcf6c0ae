"""Invoice PDFs: a Jinja2 template rendered by WeasyPrint (the only module that imports weasyprint)."""

from __future__ import annotations

import threading
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from babel import Locale
from jinja2 import Environment, FileSystemLoader, select_autoescape

from billing import i18n
from billing.invoicing import parties
from billing.invoicing.standing import Standing, invoice_standing
from billing.money import format_unit_price
from billing.organizations.bank_details import bank_details_of
from billing.subscriptions.periods import local_date

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
STYLESHEET = TEMPLATES / "pdf" / "document.css"

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   extensions=["jinja2.ext.i18n"])
# A document is rendered in its customer's language (billing.i18n.using around each render): words, amounts
# (in the document's currency) and days.
_env.install_gettext_callables(gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True)
_env.filters["money"] = lambda cents, currency: i18n.money_text(cents, currency)
_env.filters["unit_price"] = lambda amount, currency: format_unit_price(amount, currency, i18n.babel_locale())
_env.filters["day_text"] = i18n.day_text
_env.globals["current_language"] = i18n.current
_env.filters["units"] = i18n.number_text  # "2.5" (not the column's "2.500000000000000"), "2,5" in French


@lru_cache(maxsize=8)
def _territories(language: str) -> dict[str, str]:
    return dict(Locale.parse(language).territories)


def country_name(code: str | None) -> str:
    """"France" for "FR", "Frankreich" in German (the code itself when Babel knows no such country)."""
    return _territories(i18n.current()).get((code or "").upper(), code or "")


_env.filters["country"] = country_name


def render_invoice_html(invoice, customer, organization, subscriptions, standing: Standing | None = None) -> str:
    timezone = customer.applicable_timezone
    with i18n.using(i18n.document_language(customer.document_locale, organization.document_locale)):
        return _env.get_template("pdf/invoice.html").render(
            invoice=invoice, customer=customer, organization=organization, subscriptions=subscriptions,
            printed=parties.printed(invoice.parties, organization, customer),
            standing=standing or invoice_standing(invoice), bank=bank_details_of(organization),
            local_date=lambda moment: local_date(moment, timezone),
            # Periods are half-open: the last day billed is the one before `end`.
            last_day=lambda end: local_date(end - timedelta(microseconds=1), timezone))


def render_invoice(invoice, customer, organization, subscriptions, standing: Standing | None = None) -> bytes:
    return _pdf(render_invoice_html(invoice, customer, organization, subscriptions, standing))


def render_credit_note_html(note, customer, organization) -> str:
    with i18n.using(i18n.document_language(customer.document_locale, organization.document_locale)):
        return _env.get_template("pdf/credit_note.html").render(
            note=note, invoice=note.invoice, customer=customer, organization=organization,
            printed=parties.printed(note.parties, organization, customer))


def render_credit_note(note, customer, organization) -> bytes:
    return _pdf(render_credit_note_html(note, customer, organization))


# NOTE: a font configuration loads fontconfig's fonts, and its Pango font map caches their metrics and glyphs:
# made for each document (WeasyPrint's default) they were ~12 ms of a typical invoice's ~75, and parsing the
# stylesheet ~6 ms more (bench/invoice_pdf.py). Kept per thread, not per process: Pango's font maps are not
# thread-safe, and web threads and in-process jobs render PDFs side by side.
_per_thread = threading.local()


def _pdf(html: str) -> bytes:
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    if not hasattr(_per_thread, "fonts"):
        _per_thread.fonts = FontConfiguration()
        _per_thread.stylesheet = CSS(filename=STYLESHEET, font_config=_per_thread.fonts)
    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf(stylesheets=[_per_thread.stylesheet],
                                                                font_config=_per_thread.fonts)
