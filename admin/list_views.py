"""The lists across customers: invoices, customers, subscriptions, credit notes and payments. Each is filtered,
sorted and paged by its URL alone (a copied URL reopens the same view; htmx swaps the `results` block and pushes
the URL) and exports what it shows, every page of it, as a CSV streamed while it is read (`billing.screens.listing`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flask import Response, request, url_for

from admin.blueprint import admin_blueprint, organization_id
from billing.payments.providers import list_providers
from billing.ports import runtime
from billing.screens import catalog, listing, lists
from billing.screens.listing import ListSpec
from web.htmx import is_htmx_request, render_page
from web.responses import safe_filename
from wording.lists import choice_words, filter_fields, sort_options

Choices = Callable[[str], dict[str, Sequence[tuple[str, str]]]]


def _no_choices(_organization_id: str) -> dict[str, Sequence[tuple[str, str]]]:
    return {}


def _plan_choices(organization_id: str) -> dict[str, Sequence[tuple[str, str]]]:
    return {"plan": [(plan.code, plan.name) for plan in catalog.plan_options(organization_id=organization_id)]}


def _provider_choices(organization_id: str) -> dict[str, Sequence[tuple[str, str]]]:
    connected = [(p.code, p.name or p.code) for p in list_providers(organization_id=organization_id)]
    return {"provider": [*connected, (lists.MANUAL, choice_words(lists.MANUAL))]}


def render_list(spec: ListSpec, template: str, endpoint: str, choices: Choices) -> Response:
    """The list as its URL asks: the whole page, or its `results` block for htmx."""
    query = spec.read(request.args)
    rows = listing.read_page(spec, organization_id=organization_id(), query=query)
    response = render_page(template, "results", rows=rows, query=query, endpoint=endpoint,
                           fields=filter_fields(spec, query, choices=choices(organization_id())),
                           sorts=sort_options(spec), fragment=is_htmx_request(),
                           csv_url=url_for(f"{endpoint}_csv", **query.params(page="")))
    if is_htmx_request():
        # The address bar shows the view's own URL (its valid filters only), not the form's every empty field.
        response.headers["HX-Push-Url"] = url_for(endpoint, **query.params())
    return response


def csv_download(spec: ListSpec, name: str) -> Response:
    """Every row the list's URL selects, in its order, as CSV: streamed (a generator over a yielding query)."""
    query = spec.read(request.args)
    chunks = listing.csv_chunks(spec, organization_id=organization_id(), query=query)
    filename = safe_filename(f"{name}-{runtime.clock.now().date().isoformat()}", name)
    return Response(chunks, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})


@dataclass(frozen=True)
class AdminList:
    """One list: its page's endpoint (the CSV's is `<endpoint>_csv`), path, rows, template and CSV file name."""

    endpoint: str
    path: str
    spec: ListSpec
    template: str
    file_name: str
    choices: Choices = _no_choices

    def page(self) -> Response:
        return render_list(self.spec, f"admin/lists/{self.template}", f"admin.{self.endpoint}", self.choices)

    def csv(self) -> Response:
        return csv_download(self.spec, self.file_name)


LISTS = (
    AdminList("invoice_list", "/invoices", lists.INVOICES, "invoices.html", "invoices"),
    AdminList("customers", "/customers", lists.CUSTOMERS, "customers.html", "customers"),
    AdminList("subscription_list", "/subscriptions", lists.SUBSCRIPTIONS, "subscriptions.html", "subscriptions",
              _plan_choices),
    AdminList("credit_note_list", "/credit-notes", lists.CREDIT_NOTES, "credit_notes.html", "credit-notes"),
    AdminList("payment_list", "/payments", lists.PAYMENTS, "payments.html", "payments", _provider_choices),
)
for _list in LISTS:
    admin_blueprint.add_url_rule(_list.path, _list.endpoint, _list.page, methods=["GET"])
    admin_blueprint.add_url_rule(f"{_list.path}.csv", f"{_list.endpoint}_csv", _list.csv, methods=["GET"])
