"""Admin billable metrics: the list, the htmx form with its inline errors, the expression tester, deleting."""

from __future__ import annotations

import re

import pytest

from billing.catalog.metrics import create_billable_metric, get_billable_metric
from billing.catalog.services import create_plan, get_plan
from billing.errors import NotFound
from tests.web.conftest import csrf_token_in

HTMX = {"HX-Request": "true"}


def _metric(organization_id: str, **data):
    return create_billable_metric(organization_id=organization_id, data={
        "name": "Storage", "code": "storage_gb", "aggregation_type": "sum_agg", "field_name": "gb", **data})


def _plan_using(organization_id: str, metric_id: str, code: str = "startup") -> None:
    create_plan(organization_id=organization_id, data={
        "name": code.title(), "code": code, "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": metric_id, "charge_model": "standard", "properties": {"amount": "0.1"}}]})


def _form(**fields) -> dict[str, str]:
    """A metric form as a browser sends it (an unchecked checkbox is simply absent)."""
    form = {"name": "API calls", "code": "api_calls", "description": "", "aggregation_type": "count_agg",
            "field_name": "", "expression": "", "rounding_function": "", "rounding_precision": "", "filters": "",
            "sample_properties": ""}
    form.update(fields)
    return {key: value for key, value in form.items() if value is not None}


def _submit(client, path: str, *, htmx: bool = True, **fields):
    token = csrf_token_in(client.get(path).get_data(as_text=True))
    return client.post(path, data={**_form(**fields), "csrf_token": token}, headers=HTMX if htmx else {})


def _field_error(html: str, field: str) -> str:
    """The inline error text of one field of the form (empty if none)."""
    block = re.search(rf'<div class="field[^"]*" data-field="{field}">(.*?)</div>', html, re.S)
    assert block, f"no field {field} in the form"
    error = re.search(r'<p class="field-error"[^>]*>(.*?)</p>', block.group(1), re.S)
    return error.group(1).strip() if error else ""


# ---------------------------------------------------------------- list


def test_metrics_list_shows_the_organizations_metrics_and_nav(signed_in, org, other_org):
    metric = _metric(org.id, recurring=True, filters=[{"key": "region", "values": ["eu", "us"]}])
    create_billable_metric(organization_id=org.id, data={
        "name": "Compute", "code": "compute", "aggregation_type": "custom_agg",
        "expression": "event.properties.seconds * event.properties.cpus"})
    _plan_using(org.id, metric.id)
    create_billable_metric(organization_id=other_org, data={"name": "Globex calls", "code": "globex_calls",
                                                            "aggregation_type": "count_agg"})

    html = signed_in.get("/admin/metrics").get_data(as_text=True)

    assert 'href="/admin/metrics" aria-current="page">Metrics</a>' in html
    storage = re.search(r'<tr data-metric="storage_gb">.*?</tr>', html, re.S).group(0)
    assert "Storage" in storage and "Sum" in storage and ">gb<" in storage and "recurring" in storage
    assert "region</span>: eu, us" in storage and "Used by startup" in storage
    compute = re.search(r'<tr data-metric="compute">.*?</tr>', html, re.S).group(0)
    assert "Custom (expression)" in compute and "event.properties.seconds * event.properties.cpus" in compute
    assert "Globex" not in html
    assert signed_in.get("/admin/metrics", headers=HTMX).get_data(as_text=True).count("<tr data-metric=") == 2


def test_metrics_screens_require_login(client, org):
    _metric(org.id)
    for path in ("/admin/metrics", "/admin/metrics/new", "/admin/metrics/storage_gb/edit",
                 "/admin/metrics/storage_gb/delete"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"], path
    assert client.post("/admin/metrics/expression-test", headers=HTMX).status_code in (400, 401)


# ---------------------------------------------------------------- create


def test_create_a_metric_with_htmx_goes_back_to_the_list(signed_in, org):
    response = _submit(signed_in, "/admin/metrics/new", name="Storage", code="storage_gb", aggregation_type="sum_agg",
                       field_name="gb", recurring="y", rounding_function="round", rounding_precision="2",
                       filters="region: eu, us\n\n  tier : pro ,free,pro\n", description="Gigabytes stored")

    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/admin/metrics"
    metric = get_billable_metric(organization_id=org.id, code="storage_gb")
    assert (metric.name, metric.aggregation_type, metric.field_name, metric.recurring) == ("Storage", "sum_agg",
                                                                                          "gb", True)
    assert (metric.rounding_function, metric.rounding_precision, metric.description) == ("round", 2,
                                                                                        "Gigabytes stored")
    assert sorted((f.key, f.values) for f in metric.filters) == [("region", ["eu", "us"]), ("tier", ["pro", "free"])]
    listing = signed_in.get("/admin/metrics").get_data(as_text=True)
    assert "Metric “Storage” created." in listing


def test_create_a_metric_without_javascript_redirects(signed_in, org):
    response = _submit(signed_in, "/admin/metrics/new", htmx=False, expression="", code="calls")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/metrics"
    assert get_billable_metric(organization_id=org.id, code="calls").aggregation_type == "count_agg"


def test_a_metric_form_without_csrf_token_is_refused(signed_in, org):
    response = signed_in.post("/admin/metrics/new", data=_form(), headers=HTMX)
    assert response.status_code == 400
    with pytest.raises(NotFound):
        get_billable_metric(organization_id=org.id, code="api_calls")


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"aggregation_type": "sum_agg"}, "field_name", "Required for this aggregation (or write an expression)"),
    ({"name": ""}, "name", "Required"),
    ({"code": "  "}, "code", "Required"),
    ({"aggregation_type": "custom_agg"}, "expression", "Required for a custom aggregation"),
    ({"aggregation_type": "sum_agg", "expression": "event.properties.gb * (2"}, "expression",
     "Not a valid expression: expected &#39;)&#39;, found end of expression at position 24"),
    ({"expression": "event.properties.gb"}, "expression", "Not possible with this aggregation"),
    ({"recurring": "y"}, "recurring", "Not possible with this aggregation"),
    ({"aggregation_type": "median_agg"}, "aggregation_type", "Not one of the choices"),
    ({"filters": "region eu"}, "filters", "One filter per line, written key: value1, value2"),
    ({"filters": "region: eu\nregion: us"}, "filters", "Each key once only"),
    ({"rounding_precision": "16"}, "rounding_precision", "Between -15 and 15"),
    ({"rounding_precision": "--2"}, "rounding_precision", "A whole number, e.g. 2"),
    ({"name": "x" * 300}, "name", "Too long"),
])
def test_refused_fields_are_explained_next_to_each_field(signed_in, org, fields, field, message):
    response = _submit(signed_in, "/admin/metrics/new", **fields)

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Redirect" not in response.headers
    assert "<html" not in html and "The metric was not saved" in html
    assert _field_error(html, field) == message
    assert 'aria-invalid="true"' in html
    with pytest.raises(NotFound):
        get_billable_metric(organization_id=org.id, code=fields.get("code", "api_calls").strip() or "api_calls")


def test_a_code_already_used_is_refused_and_what_was_typed_stays(signed_in, org):
    _metric(org.id)

    response = _submit(signed_in, "/admin/metrics/new", name="Other storage", code="storage_gb",
                       aggregation_type="sum_agg", field_name="size", filters="region: eu")

    html = response.get_data(as_text=True)
    assert _field_error(html, "code") == "Already used by another metric"
    assert 'value="Other storage"' in html and 'value="size"' in html and "region: eu</textarea>" in html
    assert get_billable_metric(organization_id=org.id, code="storage_gb").name == "Storage"


def test_a_refused_form_without_javascript_is_the_whole_page_with_422(signed_in):
    response = _submit(signed_in, "/admin/metrics/new", htmx=False, aggregation_type="sum_agg")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" in html
    assert _field_error(html, "field_name").startswith("Required")


# ---------------------------------------------------------------- edit


def test_edit_form_shows_the_metric_and_saves_changes(signed_in, org):
    _metric(org.id, filters=[{"key": "region", "values": ["eu", "us"]}], rounding_function="ceil",
            rounding_precision=1)

    page = signed_in.get("/admin/metrics/storage_gb/edit").get_data(as_text=True)
    assert 'value="Storage"' in page and 'value="gb"' in page and 'value="1"' in page
    assert '<option selected value="sum_agg">' in page and '<option selected value="ceil">' in page
    assert "region: eu, us</textarea>" in page

    response = _submit(signed_in, "/admin/metrics/storage_gb/edit", name="Storage (GB)", code="storage_gb",
                       aggregation_type="max_agg", field_name="gb", rounding_function="", rounding_precision="",
                       filters="region: eu, us, asia")

    assert response.headers["HX-Redirect"] == "/admin/metrics"
    metric = get_billable_metric(organization_id=org.id, code="storage_gb")
    assert (metric.name, metric.aggregation_type, metric.rounding_function) == ("Storage (GB)", "max_agg", None)
    assert [(f.key, f.values) for f in metric.filters] == [("region", ["eu", "us", "asia"])]


def test_a_metric_in_use_keeps_its_aggregation_but_may_be_renamed(signed_in, org):
    metric = _metric(org.id)
    _plan_using(org.id, metric.id)
    page = signed_in.get("/admin/metrics/storage_gb/edit").get_data(as_text=True)
    assert "Used by startup" in page

    refused = _submit(signed_in, "/admin/metrics/storage_gb/edit", name="Storage", code="storage_gb",
                      aggregation_type="count_agg", field_name="gb")
    html = refused.get_data(as_text=True)
    assert _field_error(html, "aggregation_type") == "Used by a plan: cannot change"
    assert get_billable_metric(organization_id=org.id, code="storage_gb").aggregation_type == "sum_agg"

    renamed = _submit(signed_in, "/admin/metrics/storage_gb/edit", name="Disk", code="storage_gb",
                      aggregation_type="sum_agg", field_name="gb", filters="region: eu")
    assert renamed.headers["HX-Redirect"] == "/admin/metrics"
    metric = get_billable_metric(organization_id=org.id, code="storage_gb")
    assert metric.name == "Disk" and [(f.key, f.values) for f in metric.filters] == [("region", ["eu"])]


def test_an_edit_may_not_empty_the_name(signed_in, org):
    _metric(org.id)
    response = _submit(signed_in, "/admin/metrics/storage_gb/edit", name="", code="storage_gb",
                       aggregation_type="sum_agg", field_name="gb")
    assert _field_error(response.get_data(as_text=True), "name") == "Required"
    assert get_billable_metric(organization_id=org.id, code="storage_gb").name == "Storage"


# ---------------------------------------------------------------- delete


def test_delete_asks_first_then_removes_the_metric_and_its_charges(signed_in, org):
    metric = _metric(org.id)
    _plan_using(org.id, metric.id)

    confirm = signed_in.get("/admin/metrics/storage_gb/delete").get_data(as_text=True)
    assert "Delete “Storage”?" in confirm and "Used by startup" in confirm
    assert signed_in.post("/admin/metrics/storage_gb/delete").status_code == 400  # no CSRF token
    assert get_billable_metric(organization_id=org.id, code="storage_gb")

    response = signed_in.post("/admin/metrics/storage_gb/delete", data={"csrf_token": csrf_token_in(confirm)})

    assert response.status_code == 303 and response.headers["Location"] == "/admin/metrics"
    with pytest.raises(NotFound):
        get_billable_metric(organization_id=org.id, code="storage_gb")
    assert get_plan(organization_id=org.id, code="startup").charges == []
    assert "Metric “Storage” deleted." in signed_in.get("/admin/metrics").get_data(as_text=True)


# ---------------------------------------------------------------- scoping


def test_another_organizations_metric_is_not_found(signed_in, org, other_org):
    create_billable_metric(organization_id=other_org, data={"name": "Globex calls", "code": "globex_calls",
                                                            "aggregation_type": "count_agg"})
    token = csrf_token_in(signed_in.get("/admin/metrics/new").get_data(as_text=True))

    for path in ("/admin/metrics/globex_calls/edit", "/admin/metrics/globex_calls/delete", "/admin/metrics/nope/edit"):
        response = signed_in.get(path)
        assert response.status_code == 404 and "Globex" not in response.get_data(as_text=True), path
    edit = signed_in.post("/admin/metrics/globex_calls/edit", headers=HTMX,
                          data={**_form(name="Hijacked", code="globex_calls"), "csrf_token": token})
    delete = signed_in.post("/admin/metrics/globex_calls/delete", data={"csrf_token": token})

    assert edit.status_code == 404 and delete.status_code == 404
    assert get_billable_metric(organization_id=other_org, code="globex_calls").name == "Globex calls"


def test_the_same_code_in_another_organization_is_not_a_clash(signed_in, org, other_org):
    _metric(other_org)
    response = _submit(signed_in, "/admin/metrics/new", name="Storage", code="storage_gb", aggregation_type="sum_agg",
                       field_name="gb")
    assert response.headers["HX-Redirect"] == "/admin/metrics"


# ---------------------------------------------------------------- expression tester


def _try(client, expression: str, sample: str, code: str = "compute"):
    token = csrf_token_in(client.get("/admin/metrics/new").get_data(as_text=True))
    response = client.post("/admin/metrics/expression-test", headers={**HTMX, "X-CSRFToken": token},
                           data={"expression": expression, "sample_properties": sample, "code": code})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and "<form" not in html
    return html


def test_expression_test_evaluates_the_sample(signed_in):
    html = _try(signed_in, "ROUND((event.properties.ended_at - event.properties.started_at) * event.properties.cpus)",
                '{"started_at": 100, "ended_at": 160.5, "cpus": 2}')
    assert 'class="trial-value">121</strong>' in html and "(number)" in html

    text = _try(signed_in, "CONCAT(event.code, '-', event.properties.region)", '{"region": "eu"}')
    assert 'class="trial-value">compute-eu</strong>' in text and "Not a number" in text


@pytest.mark.parametrize(("expression", "sample", "message"), [
    ("event.properties.gb * (2", "{}", "Not a valid expression: expected &#39;)&#39;, found end of expression"),
    ("event.properties.gb * 2", '{"size": 1}', "The sample has no value for this property: gb"),
    ("event.properties.gb / 0", '{"gb": 1}', "Division by zero"),
    ("event.properties.gb + 1", '{"gb": "lots"}', "Not a number"),
    ("event.properties.gb", '{"gb": 1', "The sample properties are not valid JSON: line 1, column 9"),
    ("event.properties.gb", "[1, 2]", "The sample properties must be a JSON object"),
    ("event.properties.gb", "[" * 5000 + "]" * 5000, "The sample properties are not valid JSON"),
    ("event.properties.gb", "{}" + " " * 20_000 + "x", "The sample properties are too long"),
    ("   ", "{}", "Write an expression to test."),
])
def test_expression_test_explains_what_went_wrong(signed_in, expression, sample, message):
    html = _try(signed_in, expression, sample)
    assert 'class="trial trial-error"' in html and message in html


def test_expression_test_requires_the_csrf_token(signed_in):
    response = signed_in.post("/admin/metrics/expression-test", headers=HTMX, data={"expression": "1"})
    assert response.status_code == 400


# ---------------------------------------------------------------- escaping


def test_hostile_metric_names_and_values_are_escaped(signed_in, org):
    create_billable_metric(organization_id=org.id, data={
        "name": "<script>alert(1)</script>", "code": "x<b>y</b>", "aggregation_type": "count_agg",
        "filters": [{"key": "<i>k</i>", "values": ["<img src=x onerror=alert(1)>"]}]})

    listing = signed_in.get("/admin/metrics").get_data(as_text=True)
    edit = signed_in.get("/admin/metrics/x%3Cb%3Ey%3C/b%3E/edit")
    tried = _try(signed_in, "CONCAT(event.properties.name, '')", '{"name": "<script>alert(2)</script>"}')

    assert edit.status_code == 200
    for html in (listing, edit.get_data(as_text=True), tried):
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>y</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing and "&lt;img src=x onerror=alert(1)&gt;" in listing
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in tried
