"""The lists across customers (invoices, customers, subscriptions, credit notes, payments): filters, sorts and pages
read from the URL, the CSV export of exactly what the list shows (all pages, streamed, amounts in major units,
formulas neutralized), bad values in the URL shown by their field (never a 500), and another organization's rows
never listed nor exported."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from dataclasses import dataclass

import pytest

from billing.catalog.add_ons import create_add_on
from billing.customers.services import upsert_customer
from billing.invoicing.credit_notes import create_credit_note
from billing.invoicing.one_off import create_one_off_invoice
from billing.invoicing.overdue import mark_overdue_invoices
from billing.invoicing.queries import get_invoice
from billing.lifecycle import create_subscription
from billing.payments import collection
from billing.screens import listing, lists
from tests.web.conftest import create_catalog

HTMX = {"HX-Request": "true"}


@dataclass(frozen=True)
class Books:
    numbers: dict[str, str]  # invoice key -> number
    credit_note: str  # its number


def _one_off(org_id: str, external_id: str, cents: int, currency: str = "EUR") -> str:
    return create_one_off_invoice(organization_id=org_id, data={
        "external_customer_id": external_id, "currency": currency,
        "fees": [{"add_on_code": f"setup_{currency.lower()}", "unit_amount_cents": cents, "units": 1}]}).id


def _keep_books(org_id: str, clock, *, names: tuple[str, str, str]) -> tuple[dict[str, str], str]:
    """Invoices a1 (1 Nov, €120.00), b1 (3 Nov, €45.50, paid by hand), c1 (5 Nov, $9.99), a2 (10 Nov, €10.00, with a
    €5.00 credit note); a1 and c1 overdue; a subscription ending on 30 Nov (a's) and one without end (b's)."""
    create_catalog(org_id)
    for currency in ("EUR", "USD"):
        create_add_on(organization_id=org_id, data={"name": f"Setup {currency}", "code": f"setup_{currency.lower()}",
                                                    "amount_cents": 100, "amount_currency": currency})
    a, b, c = names
    for external_id, name, currency, email in ((f"{a}-id", a, "EUR", f"ap@{a.lower()}.test"),
                                               (f"{b}-id", b, "EUR", None), (f"{c}-id", c, "USD", None)):
        upsert_customer(organization_id=org_id, data={"external_id": external_id, "name": name, "currency": currency,
                                                      "email": email})
    ids = {}
    clock.set("2026-11-01T09:00:00Z")
    ids["a1"] = _one_off(org_id, f"{a}-id", 12_000)
    create_subscription(organization_id=org_id, data={
        "external_customer_id": f"{a}-id", "plan_code": "startup", "external_id": f"sub-{a}",
        "ending_at": "2026-11-30T00:00:00Z"})
    clock.set("2026-11-03T09:00:00Z")
    ids["b1"] = _one_off(org_id, f"{b}-id", 4_550)
    create_subscription(organization_id=org_id, data={
        "external_customer_id": f"{b}-id", "plan_code": "startup", "external_id": f"sub-{b}"})
    clock.set("2026-11-05T09:00:00Z")
    ids["c1"] = _one_off(org_id, f"{c}-id", 999, "USD")
    clock.set("2026-11-08T09:00:00Z")
    mark_overdue_invoices(at=clock.now())
    collection.record_manual_payment(organization_id=org_id, data={
        "invoice_id": ids["b1"], "amount_cents": 4_550, "reference": "=HYPERLINK(\"x\")"})
    clock.set("2026-11-10T09:00:00Z")
    ids["a2"] = _one_off(org_id, f"{a}-id", 1_000)
    [fee] = get_invoice(organization_id=org_id, invoice_id=ids["a2"]).fees
    note = create_credit_note(organization_id=org_id, data={
        "invoice_id": ids["a2"], "reason": "order_change", "credit_amount_cents": 500,
        "items": [{"fee_id": fee.id, "amount_cents": 500}]})
    numbers = {key: get_invoice(organization_id=org_id, invoice_id=id_).number for key, id_ in ids.items()}
    return numbers, note.number


@pytest.fixture
def books(org, other_org, clock, run_jobs) -> Books:
    _keep_books(other_org, clock, names=("Wile", "Roadrunner", "Acme Rockets"))
    numbers, note = _keep_books(org.id, clock, names=("Alice", "Bob", "=Carol"))
    run_jobs()
    clock.set("2026-11-10T12:00:00Z")
    return Books(numbers=numbers, credit_note=note)


def _csv(client, path: str) -> list[dict[str, str]]:
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/csv" and response.is_streamed
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def _column(client, path: str, column: str) -> list[str]:
    return [row[column] for row in _csv(client, path)]


def _links(html: str) -> list[str]:
    """The text of each row's main link, in order."""
    return [re.sub(r"<[^>]+>", "", text).strip() for text in re.findall(r'class="row-link[^"]*"[^>]*>(.*?)</a>', html)]


def test_the_invoices_list_filters_sorts_and_exports_what_it_shows(signed_in, books):
    n = books.numbers
    assert _column(signed_in, "/admin/invoices.csv", "number") == [n["a2"], n["c1"], n["b1"], n["a1"]]
    assert _column(signed_in, "/admin/invoices.csv?overdue=1", "number") == [n["c1"], n["a1"]]
    assert _column(signed_in, "/admin/invoices.csv?payment_status=succeeded", "number") == [n["b1"]]
    assert _column(signed_in, "/admin/invoices.csv?customer=ALICE", "number") == [n["a2"], n["a1"]]
    assert _column(signed_in, "/admin/invoices.csv?issued_from=2026-11-02&issued_to=2026-11-05", "number") == [
        n["c1"], n["b1"]]
    assert _column(signed_in, f"/admin/invoices.csv?number={n['b1'][-7:].lower()}", "number") == [n["b1"]]
    assert _column(signed_in, "/admin/invoices.csv?status=voided", "number") == []
    assert _column(signed_in, "/admin/invoices.csv?sort=amount", "number") == [n["c1"], n["a2"], n["b1"], n["a1"]]
    assert _column(signed_in, "/admin/invoices.csv?sort=-customer", "customer_external_id") == [
        "Bob-id", "Alice-id", "Alice-id", "'=Carol-id"]

    html = signed_in.get("/admin/invoices?overdue=1&sort=amount").get_data(as_text=True)
    assert _links(html) == [n["c1"], n["a1"]] and "2 invoices" in html
    assert 'href="/admin/invoices.csv?overdue=1&amp;sort=amount"' in html
    assert 'name="overdue" value="1" checked' in html and '<option value="amount" selected>' in html


def test_the_invoices_csv_has_every_column_in_major_units_and_neutralizes_formulas(signed_in, books):
    rows = _csv(signed_in, "/admin/invoices.csv?sort=issuing_date")
    assert rows[0] == {
        "number": books.numbers["a1"], "customer_external_id": "Alice-id", "customer_name": "Alice",
        "issuing_date": "2026-11-01", "payment_due_date": "2026-11-01", "status": "finalized",
        "payment_status": "pending", "payment_overdue": "true", "currency": "EUR", "total_amount": "120.00",
        "total_paid_amount": "0.00"}
    assert [(r["total_amount"], r["total_paid_amount"], r["payment_overdue"]) for r in rows[1:3]] == [
        ("45.50", "45.50", "false"), ("9.99", "0.00", "true")]
    assert rows[2]["customer_external_id"] == "'=Carol-id" and rows[2]["customer_name"] == "'=Carol"


def test_a_page_holds_its_share_of_the_filtered_rows_and_the_count_of_all(org, books):
    spec = dataclasses.replace(lists.INVOICES, per_page=1)
    pages = [listing.read_page(spec, organization_id=org.id, query=spec.read({"customer": "alice", "page": str(n)}))
             for n in (1, 2, 9)]
    assert [[row.number for row in page.items] for page in pages] == [[books.numbers["a2"]], [books.numbers["a1"]], []]
    assert [(page.total_count, page.total_pages) for page in pages] == [(2, 2), (2, 2), (2, 2)]


def test_the_pager_keeps_the_filters_and_the_csv_holds_every_page(signed_in, org, books):
    for number in range(30):
        upsert_customer(organization_id=org.id, data={
            "external_id": f"usd-{number:02d}", "name": f"Dollar {number:02d}", "currency": "USD"})
    first = signed_in.get("/admin/customers?currency=USD&sort=name").get_data(as_text=True)
    second = signed_in.get("/admin/customers?currency=USD&sort=name&page=2", headers=HTMX).get_data(as_text=True)

    assert _links(first) == ["=Carol", *(f"Dollar {n:02d}" for n in range(24))] and "Page 1 of 2" in first
    assert 'href="/admin/customers?page=2&amp;currency=USD&amp;sort=name"' in first
    assert _links(second) == [f"Dollar {n:02d}" for n in range(24, 30)]
    assert "<html" not in second
    assert len(_csv(signed_in, "/admin/customers.csv?currency=USD")) == 31


def test_bad_values_in_the_url_are_shown_by_their_field_and_ignored(signed_in, books):
    response = signed_in.get("/admin/invoices?status=lost&issued_from=yesterday&issued_to=2026-13-01"
                             "&overdue=maybe&sort=drop_table&page=-3")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and len(_links(html)) == 4
    assert "“lost” is not one of the choices: ignored." in html
    assert "“yesterday” is not a date (YYYY-MM-DD): ignored." in html
    assert "“2026-13-01” is not a date (YYYY-MM-DD): ignored." in html
    assert "“maybe” is neither on nor off: ignored." in html
    assert html.count('aria-invalid="true"') == 4

    fragment = signed_in.get("/admin/invoices?issued_from=2026-11-05&issued_to=2026-11-02",
                             headers=HTMX).get_data(as_text=True)
    assert 'id="error-issued_to" aria-live="polite" hx-swap-oob="true">Ends before it starts: ignored.' in fragment
    assert len(_links(fragment)) == 2  # from 5 Nov on: c1 and a2
    for path in ("/admin/customers?currency=euro&with_overdue=x", "/admin/subscriptions?status=x&sort=x",
                 "/admin/credit-notes?reason=x&issued_to=x", "/admin/payments?created_from=2026-02-30&page=x",
                 "/admin/payments.csv?status=%FF&sort=x", "/admin/customers.csv?page=99999999999999999999"):
        assert signed_in.get(path).status_code == 200, path


def test_the_customers_list_searches_and_filters_by_currency_and_overdue(signed_in, books):
    assert _column(signed_in, "/admin/customers.csv?sort=name", "name") == ["'=Carol", "Alice", "Bob"]
    assert _column(signed_in, "/admin/customers.csv?currency=eur&sort=name", "name") == ["Alice", "Bob"]
    assert _column(signed_in, "/admin/customers.csv?with_overdue=1&sort=name", "name") == ["'=Carol", "Alice"]
    assert _column(signed_in, "/admin/customers.csv?search=ap@ALICE", "name") == ["Alice"]
    rows = _csv(signed_in, "/admin/customers.csv?sort=-overdue")
    assert [(r["name"], r["overdue_invoices"]) for r in rows][2] == ("Bob", "0")
    html = signed_in.get("/admin/customers?with_overdue=1&sort=name").get_data(as_text=True)
    assert _links(html) == ["=Carol", "Alice"] and html.count("1 overdue") == 2


def test_the_subscriptions_list_filters_by_plan_status_and_ending_soon(signed_in, books):
    assert _column(signed_in, "/admin/subscriptions.csv", "external_id") == ["sub-Bob", "sub-Alice"]
    assert _column(signed_in, "/admin/subscriptions.csv?ending_soon=1", "external_id") == ["sub-Alice"]
    assert _column(signed_in, "/admin/subscriptions.csv?plan=startup&status=active&sort=customer",
                   "external_id") == ["sub-Alice", "sub-Bob"]
    assert _column(signed_in, "/admin/subscriptions.csv?plan=other", "external_id") == []
    assert _column(signed_in, "/admin/subscriptions.csv?status=terminated", "external_id") == []
    rows = _csv(signed_in, "/admin/subscriptions.csv?sort=ending_at")
    assert [(r["external_id"], r["ending_at"]) for r in rows] == [("sub-Alice", "2026-11-30T00:00:00+00:00"),
                                                                  ("sub-Bob", "")]
    html = signed_in.get("/admin/subscriptions?customer=bob").get_data(as_text=True)
    assert _links(html) == ["Bob"] and '<option value="startup">Startup</option>' in html


def test_the_credit_notes_and_payments_lists_filter_and_export(signed_in, books):
    n = books.numbers
    [note] = _csv(signed_in, "/admin/credit-notes.csv")
    assert (note["number"], note["invoice_number"], note["customer_name"], note["reason"], note["credit_status"],
            note["total_amount"], note["credit_amount"], note["currency"]) == (
        books.credit_note, n["a2"], "Alice", "order_change", "available", "5.00", "5.00", "EUR")
    assert _csv(signed_in, "/admin/credit-notes.csv?reason=order_cancellation") == []
    assert _csv(signed_in, "/admin/credit-notes.csv?issued_to=2026-11-09") == []
    html = signed_in.get("/admin/credit-notes?customer=alice").get_data(as_text=True)
    assert _links(html) == [books.credit_note] and "/invoices/" in html

    [payment] = _csv(signed_in, "/admin/payments.csv?provider=manual&status=succeeded")
    assert (payment["invoice_number"], payment["amount"], payment["currency"], payment["payment_type"],
            payment["reference"]) == (n["b1"], "45.50", "EUR", "manual", "'=HYPERLINK(\"x\")")
    assert _csv(signed_in, "/admin/payments.csv?created_from=2026-11-09") == []
    assert len(_csv(signed_in, "/admin/payments.csv?created_from=2026-11-08&created_to=2026-11-08")) == 1
    assert _csv(signed_in, "/admin/payments.csv?provider=stripe") == []
    assert _links(signed_in.get("/admin/payments").get_data(as_text=True)) == [n["b1"]]


def test_another_organizations_rows_are_never_listed_nor_exported(signed_in, books):
    for path in ("/admin/invoices", "/admin/customers", "/admin/subscriptions", "/admin/credit-notes",
                 "/admin/payments"):
        html = signed_in.get(path).get_data(as_text=True)
        exported = signed_in.get(f"{path}.csv").get_data(as_text=True)
        for theirs in ("Wile", "Roadrunner", "Acme Rockets"):
            assert theirs not in html and theirs not in exported, (path, theirs)
    assert len(_csv(signed_in, "/admin/invoices.csv")) == 4


def test_the_lists_require_a_session(client, books):
    for path in ("/admin/invoices", "/admin/invoices.csv", "/admin/customers.csv", "/admin/subscriptions",
                 "/admin/credit-notes.csv", "/admin/payments"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"], path


def _found(org_id: str, spec: listing.ListSpec, key: str, text: str) -> list[str]:
    """The names (customers) or numbers (invoices) the search finds, sorted here: the databases' collations differ."""
    page = listing.read_page(spec, organization_id=org_id, query=spec.read({key: text}))
    return sorted(row.name if spec is lists.CUSTOMERS else row.number for row in page.items)


def test_searches_fold_case_beyond_ascii_and_match_one_or_two_characters_at_the_start(org, other_org, books):
    """The same rows on SQLite and PostgreSQL: case folded for every letter (SQLite's own lower() folds ASCII
    only), accents kept, wildcards literal; one or two characters match the start of a text, three anywhere
    (PostgreSQL's trigram indexes need three: docs/admin.md "Lists"); another organization's rows never."""
    for org_id in (org.id, other_org):
        for external_id, name, email in (("zola", "Émile Zola", "EMILE@ZOLA.TEST"), ("zoe", "Zoë Ørsted", None),
                                         ("lea", "LÉA Dubois_100%", "lea@dubois.test")):
            upsert_customer(organization_id=org_id, data={"external_id": external_id, "name": name, "email": email,
                                                          "currency": "EUR"})
    customers = lists.CUSTOMERS
    assert _found(org.id, customers, "search", "émile") == ["Émile Zola"]
    assert _found(org.id, customers, "search", "ÉMILE ZOLA") == ["Émile Zola"]
    assert _found(org.id, customers, "search", "léa") == ["LÉA Dubois_100%"]
    assert _found(org.id, customers, "search", "zoË ø") == ["Zoë Ørsted"]
    assert _found(org.id, customers, "search", "emile") == ["Émile Zola"]  # its email; the name keeps its accent
    assert _found(org.id, customers, "search", "lea dubois") == []
    assert _found(org.id, customers, "search", "_100%") == ["LÉA Dubois_100%"]
    assert _found(org.id, customers, "search", "1%") == []  # two characters: at the start only
    assert _found(org.id, customers, "search", "zo") == ["Zoë Ørsted", "Émile Zola"]  # zoe, zola
    assert _found(org.id, customers, "search", "ZO") == ["Zoë Ørsted", "Émile Zola"]
    assert _found(org.id, customers, "search", "é") == ["Émile Zola"]
    assert _found(org.id, customers, "search", "le") == ["LÉA Dubois_100%"]  # its id "lea"; not "Émile Zola"
    assert _found(org.id, customers, "search", "ile") == ["Émile Zola"]

    number = books.numbers["b1"]
    invoices = lists.INVOICES
    assert _found(org.id, invoices, "number", number[-5:].lower()) == [number]
    assert _found(org.id, invoices, "number", number[:2].lower()) == sorted(books.numbers.values())
    assert _found(org.id, invoices, "number", number[-2:]) == []  # the end of a number: three characters at least
    assert _found(org.id, invoices, "customer", "ALIC") == sorted([books.numbers["a1"], books.numbers["a2"]])
    assert _found(org.id, invoices, "customer", "al") == sorted([books.numbers["a1"], books.numbers["a2"]])
    assert _found(org.id, invoices, "customer", "émile") == []  # Émile's invoices: none, in this organization
    assert _found(other_org, invoices, "number", number.lower()) == []
