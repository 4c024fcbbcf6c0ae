"""A portal page that only reads takes one connection and one snapshot, and reads its customer once
(billing.db.one_read; docs/portal.md, Speed)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from billing import db, links
from tests.web.conftest import create_catalog

pytestmark = pytest.mark.usefixtures("app")


@contextmanager
def watched():
    """Connections checked out of the pool, and statements reading the customers table, while the block runs."""
    seen = {"checkouts": 0, "customer_reads": 0}
    engine = db.engine()

    def checkout(*_args):
        seen["checkouts"] += 1

    def statement(_conn, _cursor, text, *_args):
        if text.lstrip().startswith("SELECT customers.id"):  # the customer's row (not its taxes' join)
            seen["customer_reads"] += 1

    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine, "before_cursor_execute", statement)


def test_reads_inside_one_read_share_its_session_and_outside_do_not():
    with db.one_read():
        with db.read_only() as first, db.read_snapshot() as second:
            assert first is second
    with db.read_only() as first:
        with db.read_only() as second:
            assert first is not second


def test_an_object_read_by_one_part_is_found_again_by_the_next(org):
    from billing.customers.services import customer_by_id, upsert_customer

    customer_id = upsert_customer(organization_id=org.id, data={"external_id": "acme", "name": "Acme"}).id
    with watched() as seen, db.one_read():
        with db.read_only() as session:
            assert customer_by_id(session, org.id, customer_id).name == "Acme"
        with db.read_only() as session:  # the first part's view is gone: the identity map still holds the row
            assert customer_by_id(session, org.id, customer_id).name == "Acme"
            assert customer_by_id(session, "another-organization", customer_id) is None
    assert seen == {"checkouts": 1, "customer_reads": 1}


def test_the_portal_overview_takes_one_connection_and_reads_its_customer_once(client, clock, billed_customer, org):
    clock.set("2026-11-11T00:00:00Z")
    create_catalog(org.id)
    customer = billed_customer(org.id, "acme", name="Acme Ltd", events=5)

    path = "/portal/" + links.portal_url(customer_id=customer.id, organization_id=org.id).rsplit("/portal/", 1)[1]
    client.get(path)  # caches warm (catalog, templates)
    with watched() as seen:
        response = client.get(path)
    assert response.status_code == 200 and "Acme Ltd" in response.get_data(as_text=True)
    assert seen == {"checkouts": 1, "customer_reads": 1}
