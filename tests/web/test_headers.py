"""`X-Content-Type-Options: nosniff` and Tally's `Server-Timing` on every response, whatever answered it: the API
(answers and errors), signed file downloads (PDF), static files, /health, the admin and the portal. Over real HTTP."""

from __future__ import annotations

import re

import httpx

from billing import links
from tests.web.conftest import create_catalog


def test_every_kind_of_response_says_nosniff(live_server, org, billed_customer):
    create_catalog(org.id)
    alice = billed_customer(org.id, "alice", name="Alice Corp")
    auth = {"Authorization": f"Bearer {org.api_key}"}
    pdf_url = links.invoice_file_url(invoice_id=alice.invoice_id, organization_id=org.id)
    responses = {
        "api": httpx.get(f"{live_server}/api/v1/customers", headers=auth),
        "api error": httpx.get(f"{live_server}/api/v1/customers"),
        "api not found": httpx.get(f"{live_server}/api/v1/customers/nobody", headers=auth),
        "pdf": httpx.get(live_server + "/files/invoices/" + pdf_url.rsplit("/files/invoices/", 1)[1]),
        "static": httpx.get(f"{live_server}/static/css/app.css"),
        "health": httpx.get(f"{live_server}/health"),
        "admin": httpx.get(f"{live_server}/admin/login"),
        "portal": httpx.get(live_server + alice.portal_path()),
        "unknown": httpx.get(f"{live_server}/no/such/page"),
    }

    assert responses["api"].status_code == 200 and responses["api"].json()["customers"]
    assert responses["pdf"].status_code == 200 and responses["pdf"].content.startswith(b"%PDF")
    assert responses["pdf"].headers["Content-Type"] == "application/pdf"
    assert responses["static"].status_code == 200 and responses["portal"].status_code == 200
    assert responses["api error"].status_code == 401 and responses["api not found"].status_code == 404
    for name, response in responses.items():
        assert response.headers.get("X-Content-Type-Options") == "nosniff", (name, response.status_code)
        timing = response.headers.get("Server-Timing", "")
        assert re.fullmatch(r"app;dur=\d+\.\d", timing), (name, timing)
