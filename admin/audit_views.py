"""The audit trail: `/admin/audit` (filtered by actor, object type, action and dates, kept in the URL; the htmx
filter swaps the `results` block), and `object_history`, the "History" block of the plan, customer and invoice pages."""

from __future__ import annotations

from datetime import date

from flask import request
from flask.typing import ResponseReturnValue

from admin.blueprint import admin_blueprint, organization_id, requested_page
from billing.audit import services as audit
from web.htmx import render_page

AUDIT_PAGE = "admin/audit.html"
HISTORY_LENGTH = 10


def _date(name: str) -> tuple[date | None, str | None]:
    """A date filter as typed (YYYY-MM-DD, as the date input sends it), or why it is ignored."""
    text = request.args.get(name, "").strip()
    if not text:
        return None, None
    try:
        return date.fromisoformat(text), None
    except ValueError:
        return None, "Not a date: use the date picker (YYYY-MM-DD)."


@admin_blueprint.get("/audit")
def audit_list() -> ResponseReturnValue:
    since, since_error = _date("since")
    until, until_error = _date("until")
    errors = {name: error for name, error in (("since", since_error), ("until", until_error)) if error}
    if since and until and since > until:
        errors["until"] = "Before the “from” date: nothing can match."
    filters = audit.AuditFilters(actor=request.args.get("actor") or None,
                                 object_type=request.args.get("object_type") or None,
                                 action=request.args.get("action") or None, since=since, until=until)
    entries = audit.list_entries(organization_id=organization_id(), filters=filters, page=requested_page())
    return render_page(AUDIT_PAGE, "results", entries=entries, filters=filters, errors=errors,
                       choices=audit.filter_choices(organization_id=organization_id()),
                       query={key: value for key, value in request.args.items() if key != "page" and value})


def object_history(*object_ids: str) -> list:
    """The latest audit entries about these objects (a page's "History" block), newest first."""
    return audit.object_history(organization_id=organization_id(), object_ids=[i for i in object_ids if i],
                                limit=HISTORY_LENGTH)
