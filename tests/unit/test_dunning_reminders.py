"""The reminder's words: placeholders filled in, unknown ones found, braces otherwise literal, a one-line subject."""

from __future__ import annotations

from datetime import date

from billing.dunning.reminders import (
    DEFAULT_MESSAGE,
    DEFAULT_SUBJECT,
    PLACEHOLDERS,
    ReminderContext,
    render_reminder,
    sample_context,
    unknown_placeholders,
)

CONTEXT = ReminderContext(customer_name="Acme Ltd", organization_name="Tally Cloud", amount_cents=123_456,
                          currency="EUR", invoice_numbers=("INV-001", "INV-002"), pay_link="https://pay.test/x",
                          due_date=date(2026, 11, 1))


def test_every_placeholder_is_filled_in():
    text = " | ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    reminder = render_reminder("Hi {customer_name}", text, CONTEXT)
    assert reminder.subject == "Hi Acme Ltd"
    assert reminder.message == ("Acme Ltd | Tally Cloud | €1,234.56 | INV-001, INV-002 | https://pay.test/x"
                                " | Nov 1, 2026")


def test_amounts_and_dates_follow_the_locale_and_the_currency():
    french = ReminderContext(**{**CONTEXT.__dict__, "locale": "fr_FR"})
    assert render_reminder("{amount}", "{due_date}", french) == render_reminder(
        "1\u202f234,56\xa0€", "1 nov. 2026", CONTEXT)  # babel's narrow and plain no-break spaces
    yen = ReminderContext(**{**CONTEXT.__dict__, "currency": "JPY", "amount_cents": 5000})
    assert render_reminder("{amount}", "-", yen).subject == "¥5,000"


def test_other_braces_are_literal_and_unknown_names_are_found():
    assert unknown_placeholders("{customer_name} owes {amount}") == []
    assert unknown_placeholders("{ amount } {} {1} {{amount}} {") == []
    assert unknown_placeholders("{first_name} and {iban} and {first_name}") == ["first_name", "iban"]
    reminder = render_reminder("Total: {amount} {}", "{ amount } {{amount}} {", CONTEXT)
    assert reminder.subject == "Total: €1,234.56 {}"
    assert reminder.message == "{ amount } {€1,234.56} {"


def test_a_value_with_braces_is_not_read_again():
    tricky = ReminderContext(**{**CONTEXT.__dict__, "customer_name": "{pay_link}"})
    assert render_reminder("{customer_name}", "{customer_name}", tricky).message == "{pay_link}"


def test_the_subject_is_one_line():
    multi = ReminderContext(**{**CONTEXT.__dict__, "customer_name": "Acme\r\nBcc: evil@example.com"})
    assert render_reminder("Hi {customer_name}\n!", "x", multi).subject == "Hi Acme Bcc: evil@example.com !"


def test_defaults_are_polite_short_and_use_known_placeholders_only():
    assert unknown_placeholders(DEFAULT_SUBJECT) == unknown_placeholders(DEFAULT_MESSAGE) == []
    reminder = render_reminder(None, None, CONTEXT)
    assert reminder.subject == "Payment reminder from Tally Cloud: €1,234.56 overdue"
    assert "Hello Acme Ltd" in reminder.message and "https://pay.test/x" in reminder.message
    assert "INV-001, INV-002" in reminder.message and "Nov 1, 2026" in reminder.message
    assert len(reminder.message) < 500


def test_no_due_date_leaves_it_empty_and_the_sample_is_complete():
    assert render_reminder("{due_date}", "x", ReminderContext(**{**CONTEXT.__dict__, "due_date": None})).subject == ""
    sample = render_reminder(None, None, sample_context(organization_name="Tally Cloud", currency="USD"))
    assert "$1,234.50" in sample.subject and "{" not in sample.message
