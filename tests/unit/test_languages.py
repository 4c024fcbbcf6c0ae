"""The languages of what customers read (billing.i18n, issue 19): which one a customer gets, how each writes amounts
and days, and whether every committed catalog is complete and matches the sentences in the code."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from billing import i18n

LOCALES = i18n.CATALOGS
TEMPLATE = LOCALES / "messages.pot"
TRANSLATED = ("fr", "de", "es", "it")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|\{[a-z_]*\}|%%")


@pytest.mark.parametrize(("customer", "organization", "language"), [
    ("fr", "de", "fr"),  # the customer's own wins
    (None, "de", "de"),  # none of its own: the organization's
    ("", "it", "it"),
    ("pt", "es", "es"),  # one Tally does not ship (the API takes any ISO 639-1 code): the organization's
    ("pt", None, "en"),  # ... and English when the organization has none either
    ("pt", "nl", "en"),
    (None, None, "en"),
    ("FR", None, "fr"),  # any case, and a region
    ("de_CH", None, "de"),
    ("es-MX", None, "es"),
])
def test_a_customers_language_is_its_own_then_its_organizations_then_english(customer, organization, language):
    assert i18n.document_language(customer, organization) == language


def test_a_render_speaks_the_language_it_is_given_and_english_outside():
    assert i18n.current() == "en"
    with i18n.using("de"):
        assert i18n.current() == "de"
        with i18n.using("xx"):  # not shipped: English
            assert i18n.current() == "en"
        assert i18n.current() == "de"
    assert i18n.current() == "en"


def test_english_days_and_amounts_are_written_as_tally_always_wrote_them():
    assert i18n.day_text(date(2026, 12, 1), "en") == "1 Dec 2026"
    assert i18n.money_text(123456, "EUR", "en") == "€1,234.56"
    assert i18n.money_text(500, "USD") == "$5.00"


@pytest.mark.parametrize(("language", "day", "amount"), [
    ("fr", "1 déc. 2026", "1\u202f234,56\xa0€"),
    ("de", "01.12.2026", "1.234,56\xa0€"),
    ("es", "1 dic 2026", "1.234,56\xa0€"),
    ("it", "1 dic 2026", "1.234,56\xa0€"),
])
def test_other_languages_write_days_and_amounts_their_way_in_the_customers_currency(language, day, amount):
    assert i18n.day_text(date(2026, 12, 1), language) == day
    assert i18n.money_text(123456, "EUR", language) == amount


def _catalog(language: str):
    with (LOCALES / language / "LC_MESSAGES" / "tally.po").open("rb") as po_file:
        return read_po(po_file, locale=language)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_sentence_of_the_template_is_translated_with_its_placeholders(language):
    with TEMPLATE.open("rb") as pot_file:
        template = read_po(pot_file)
    catalog = _catalog(language)
    assert catalog.plural_forms.startswith("nplurals=2;")
    problems = []
    for message in template:
        if not message.id:
            continue
        translated = catalog.get(message.id)
        if translated is None or "fuzzy" in translated.flags:
            problems.append(f"missing or fuzzy: {message.id!r}")
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        forms = translated.string if isinstance(translated.string, tuple) else (translated.string,)
        if len(forms) != len(sources) or not all(forms):
            problems.append(f"untranslated: {message.id!r}")
            continue
        for source, form in zip(sources, forms, strict=True):
            wanted = set(PLACEHOLDER.findall(source)) - {"%(num)d"}
            if source != "{one}" and wanted != set(PLACEHOLDER.findall(form)) - {"%(num)d"}:
                problems.append(f"placeholders differ: {source!r} -> {form!r}")
    stale = [m.id for m in catalog if m.id and template.get(m.id) is None]
    assert not problems and not stale, "\n".join(problems + [f"not in the template: {s!r}" for s in stale])


def test_the_template_holds_exactly_the_sentences_the_code_marks(tmp_path):
    """`make translations` was run after the last change to a marked sentence (babel.cfg says where to look)."""
    root = Path(i18n.__file__).resolve().parents[1]
    fresh = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F", "babel.cfg", "-k", "N_",
                    "-k", "NN_:1,2", "-k", "say", "--no-location", "-o", str(fresh), "."], cwd=root, check=True)
    with fresh.open("rb") as fresh_file, TEMPLATE.open("rb") as pot_file:
        extracted, committed = read_po(fresh_file), read_po(pot_file)
    assert {m.id for m in extracted if m.id} == {m.id for m in committed if m.id}


def test_the_compiled_catalogs_answer_in_their_language():
    i18n.compile_catalogs()
    assert i18n.gettext("Invoice", "fr") == "Facture"
    assert i18n.gettext("Credit note", "de") == "Gutschrift"
    assert i18n.ngettext("%(num)d line", "%(num)d lines", 0, "fr") == "%(num)d ligne"  # French: 0 is singular
    assert i18n.ngettext("%(num)d line", "%(num)d lines", 0, "it") == "%(num)d righe"
    assert i18n.gettext("Invoice", "en") == "Invoice"


def test_counts_of_units_are_written_as_each_language_writes_numbers():
    from decimal import Decimal

    assert i18n.number_text(Decimal("1234.500000000000000"), "en") == "1234.5"  # as the API writes it
    assert i18n.number_text(Decimal("1234.5"), "de") == "1.234,5"
    assert i18n.number_text(Decimal("2.5"), "fr") == "2,5"
    assert i18n.number_text(4, "it") == "4"
