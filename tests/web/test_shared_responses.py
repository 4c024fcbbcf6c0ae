"""What admin and portal answer alike (web/responses.py), and the customer page's fragments found in its sections."""

from __future__ import annotations

import pytest

from admin.customer_views import CUSTOMER_PAGE, SECTION_OF_BLOCK
from web.responses import refused_status, safe_filename, saved

HTMX = {"HX-Request": "true"}


@pytest.mark.parametrize(("headers", "status"), [({}, 422), (HTMX, 200), ({**HTMX, "HX-Boosted": "true"}, 422)])
def test_a_refused_form_is_a_200_to_htmx_and_a_422_to_a_plain_post(app, headers, status):
    with app.test_request_context("/admin/plans/new", method="POST", headers=headers):
        assert refused_status() == status


def test_after_a_save_htmx_is_told_where_to_go_and_a_plain_post_is_redirected(app):
    with app.test_request_context("/admin/plans/new", method="POST", headers=HTMX):
        told = saved("/admin/plans")
    with app.test_request_context("/admin/plans/new", method="POST"):
        redirected = saved("/admin/plans")
    assert (told.status_code, told.headers["HX-Redirect"]) == (200, "/admin/plans")
    assert (redirected.status_code, redirected.headers["Location"]) == (303, "/admin/plans")


def test_a_document_number_becomes_a_safe_file_name():
    assert safe_filename("ACM-7FD6-001/001") == "ACM-7FD6-001_001"
    assert safe_filename('a"b\r\nc') == "a_b__c"
    assert safe_filename("", "credit-note") == "credit-note"


def test_every_fragment_of_the_customer_page_is_a_block_of_its_section_included_by_the_page(app):
    page_source = app.jinja_loader.get_source(app.jinja_env, CUSTOMER_PAGE)[0]
    for block, template in SECTION_OF_BLOCK.items():
        assert block in app.jinja_env.get_template(template).blocks, (block, template)
        assert f'{{% include "{template}" %}}' in page_source, template
