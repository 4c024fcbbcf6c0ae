"""In a real browser: an account manager filters and sorts the invoices list (htmx swaps the rows and pushes the URL),
reloads the URL and gets the same view, and downloads the CSV of what it shows.

SCREENSHOTS=<folder> keeps each of the five lists at 1280 and 390 px wide there."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from billing.organizations.services import create_admin, create_organization
from tests.e2e.screens import open_admin
from tests.web.test_admin_lists import _keep_books

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)
ROWS = "#results tbody tr"


def _shoot(page: Page, name: str) -> None:
    folder = os.environ.get("SCREENSHOTS")
    if not folder:
        return
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_filter_the_invoices_reload_the_url_and_download_the_csv(page: Page, live_server, org, clock, run_jobs,
                                                                 tmp_path):
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    other_org = create_organization(name="Globex", default_currency="EUR").organization_id
    _keep_books(other_org, clock, names=("Wile", "Roadrunner", "Acme Rockets"))
    numbers, _note = _keep_books(org.id, clock, names=("Alice", "Bob", "Carol"))
    run_jobs()

    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    open_admin(page, "Billing", "Invoices")
    expect(page.locator(ROWS)).to_have_count(4)
    _shoot(page, "invoices")

    page.get_by_label("Overdue only").check()
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page).to_have_url(f"{live_server}/admin/invoices?overdue=1")
    page.get_by_label("Customer").fill("ali")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS).first).to_contain_text(numbers["a1"])
    page.get_by_label("Overdue only").uncheck()
    page.get_by_label("Sort").select_option(label="Smallest amount")
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page).to_have_url(f"{live_server}/admin/invoices?customer=ali&sort=amount")
    expect(page.locator(ROWS).nth(0)).to_contain_text("€10.00")
    expect(page.locator(ROWS).nth(1)).to_contain_text("€120.00")

    page.reload()  # the whole state is in the URL
    expect(page.get_by_label("Customer")).to_have_value("ali")
    expect(page.get_by_label("Overdue only")).not_to_be_checked()
    expect(page.get_by_label("Sort")).to_have_value("amount")
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.locator(ROWS).nth(0)).to_contain_text(numbers["a2"])

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    saved = tmp_path / "invoices.csv"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "invoices-2026-11-10.csv"
    with saved.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["number"], r["customer_name"], r["total_amount"], r["currency"]) for r in rows] == [
        (numbers["a2"], "Alice", "10.00", "EUR"), (numbers["a1"], "Alice", "120.00", "EUR")]

    page.get_by_role("link", name=numbers["a2"]).click()
    expect(page.locator("h1")).to_contain_text(numbers["a2"])
    assert problems == [], problems


def test_each_list_opens_and_pages_in_the_browser(page: Page, live_server, org, clock, run_jobs):
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    _keep_books(org.id, clock, names=("Alice", "Bob", "Carol"))
    run_jobs()
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    for section, link, name, count in (("Customers", "Customers", "customers", 3),
                                       ("Customers", "Subscriptions", "subscriptions", 2),
                                       ("Billing", "Credit notes", "credit-notes", 1),
                                       ("Billing", "Payments", "payments", 1)):
        open_admin(page, section, link)
        expect(page.locator(ROWS)).to_have_count(count)
        subnav = page.get_by_role("navigation", name=section)
        expect(subnav.get_by_role("link", name=link, exact=True)).to_have_attribute("aria-current", "page")
        _shoot(page, name)
    open_admin(page, "Customers", "Subscriptions")
    page.get_by_label("Ending within 30 days").check()
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS).first).to_contain_text("Alice")
