"""Admin plans: the list, the htmx editor (charges, tiers, filters, inline errors down to a tier), the price
preview of each charge model, deleting, and scoping to the signed-in manager's organization."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from billing.catalog.metrics import create_billable_metric
from billing.catalog.services import create_plan, get_plan
from billing.db import read_only
from billing.errors import NotFound
from billing.lifecycle import create_subscription
from billing.subscriptions.services import find_live_subscription
from tests.web.conftest import csrf_token_in

HTMX = {"HX-Request": "true"}


@pytest.fixture
def metrics(org):
    """A count metric, a sum metric with a region filter, and a sum metric for percentage and dynamic."""
    calls = create_billable_metric(organization_id=org.id, data={
        "name": "API calls", "code": "api_calls", "aggregation_type": "count_agg"})
    storage = create_billable_metric(organization_id=org.id, data={
        "name": "Storage", "code": "storage_gb", "aggregation_type": "sum_agg", "field_name": "gb",
        "filters": [{"key": "region", "values": ["eu", "us"]}]})
    payments = create_billable_metric(organization_id=org.id, data={
        "name": "Payment amount", "code": "payments", "aggregation_type": "sum_agg", "field_name": "amount"})
    return {"calls": calls.id, "storage": storage.id, "payments": payments.id}


def _startup(organization_id: str, metric_id: str, **data):
    return create_plan(organization_id=organization_id, data={
        "name": "Startup", "code": "startup", "interval": "monthly", "amount_cents": 2900, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": metric_id, "charge_model": "standard", "properties": {"amount": "0.01"}}],
        **data})


def charge(key: str, metric_id: str, model: str = "standard", *, ranges=(), filters=(), **fields) -> dict:
    """One charge's inputs as the editor names them; `fields` are properties, or `min_amount`, `display_name`..."""
    prefix = f"c-{key}"
    data: dict[str, object] = {f"{prefix}-metric": metric_id, f"{prefix}-model": model,
                               f"{prefix}-invoiceable": "y"}
    own = {"min_amount", "display_name", "id", "units"}
    for name, value in fields.items():
        data[f"{prefix}-{name}" if name in own else f"{prefix}-p-{name}"] = value
    data.update(_ranges(f"{prefix}-p", ranges))
    if filters:
        data[f"{prefix}-filters"] = [f"f{i}" for i in range(len(filters))]
        for i, (values, properties) in enumerate(filters):
            fp = f"{prefix}-f-f{i}"
            data[f"{fp}-vk"], data[f"{fp}-vv"] = list(values), list(values.values())
            data.update({f"{fp}-p-{name}": value for name, value in properties.items()})
    return data


def _ranges(prefix: str, ranges) -> dict:
    data: dict[str, object] = {}
    if ranges:
        data[f"{prefix}-ranges"] = [f"r{i}" for i in range(len(ranges))]
        for i, (start, end, price, flat) in enumerate(ranges):
            data.update({f"{prefix}-r-r{i}-from": start, f"{prefix}-r-r{i}-to": end, f"{prefix}-r-r{i}-price": price,
                         f"{prefix}-r-r{i}-flat": flat})
    return data


def plan_form(*charges: tuple[str, dict], **fields) -> dict:
    form = {"name": "Startup", "code": "startup", "interval": "monthly", "amount": "29.00", "amount_currency": "EUR",
            "trial_period": "0", "invoice_display_name": "", "description": ""}
    form.update(fields)
    form = {key: value for key, value in form.items() if value is not None}
    form["charges"] = [key for key, _inputs in charges]
    for _key, inputs in charges:
        form.update(inputs)
    return form


def _token(client) -> str:
    return csrf_token_in(client.get("/admin/plans/new").get_data(as_text=True))


def _submit(client, path: str, form: dict, *, htmx: bool = True):
    return client.post(path, data={**form, "csrf_token": _token(client)}, headers=HTMX if htmx else {})


def _fragment(client, path: str, form: dict):
    response = client.post(path, data=form, headers={**HTMX, "X-CSRFToken": _token(client)})
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    assert "<html" not in html
    return html


def _field_error(html: str, name: str) -> str:
    """The inline error text of the input named `name` (empty if none)."""
    block = re.search(rf'<div class="[^"]*field[^"]*" data-field="{re.escape(name)}">(.*?)</div>', html, re.S)
    assert block, f"no field {name} in the form"
    error = re.search(r'<p class="field-error"[^>]*>(.*?)</p>', block.group(1), re.S)
    return error.group(1).strip() if error else ""


def _ranges_error(html: str, prefix: str) -> str:
    block = re.search(rf'data-field="{re.escape(prefix)}-ranges">(.*?)Add tier', html, re.S)
    assert block, f"no tiers for {prefix}"
    error = re.search(r'<p class="field-error"[^>]*>(.*?)</p>', block.group(1), re.S)
    return error.group(1).strip() if error else ""


# ---------------------------------------------------------------- list


def test_the_plans_list_says_each_price_in_words(signed_in, org, other_org, metrics):
    _startup(org.id, metrics["calls"], trial_period=14, pay_in_advance=True)
    create_plan(organization_id=org.id, data={
        "name": "Scale", "code": "scale", "interval": "yearly", "amount_cents": 0, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": metrics["storage"], "charge_model": "package",
                     "properties": {"amount": "5", "package_size": 100, "free_units": 100}}]})
    create_subscription(organization_id=org.id, data={"external_customer_id": "alice", "plan_code": "startup"})
    other_metric = create_billable_metric(organization_id=other_org, data={
        "name": "Globex calls", "code": "calls", "aggregation_type": "count_agg"})
    _startup(other_org, other_metric.id, name="Globex plan")

    html = signed_in.get("/admin/plans").get_data(as_text=True)

    assert 'href="/admin/plans" aria-current="page">Plans</a>' in html
    startup = re.search(r'<tr data-plan="startup">.*?</tr>', html, re.S).group(0)
    assert "€29.00 per month, billed in advance" in startup and "14-day trial" in startup
    assert "<strong>API calls</strong>: €0.01 per API call" in startup
    assert re.search(r'<td class="num">1</td>', startup)
    scale = re.search(r'<tr data-plan="scale">.*?</tr>', html, re.S).group(0)
    assert "No subscription fee" in scale and "€5.00 per 100 units of storage (first 100 free)" in scale
    assert "Globex" not in html


def test_plan_screens_require_login(client, org, metrics):
    _startup(org.id, metrics["calls"])
    for path in ("/admin/plans", "/admin/plans/new", "/admin/plans/startup/edit", "/admin/plans/startup/delete"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"], path
    for path in ("/admin/plans/editor/charges", "/admin/plans/editor/charges/ab12",
                 "/admin/plans/editor/charges/ab12/preview"):
        assert client.post(path, headers=HTMX).status_code in (400, 401), path


# ---------------------------------------------------------------- creating


def test_create_a_plan_with_charges_of_several_models(signed_in, org, metrics):
    form = plan_form(
        ("a1", charge("a1", metrics["calls"], "graduated", min_amount="5",
                      ranges=[("0", "1000", "0", ""), ("1000", "", "0.0125", "2")])),
        ("b2", charge("b2", metrics["storage"], "package", amount="5", package_size="100", free_units="100",
                      display_name="Disk", filters=[({"region": "eu, us"}, {"amount": "4", "package_size": "100"})])),
        ("c3", charge("c3", metrics["payments"], "percentage", rate="2.5", fixed_amount="0.10",
                      free_units_per_events="1", per_transaction_min_amount="1", per_transaction_max_amount="5")),
        amount="29.90", trial_period="14", pay_in_advance="y", invoice_display_name="Startup (monthly)")

    response = _submit(signed_in, "/admin/plans/new", form)

    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/admin/plans", \
        response.get_data(as_text=True)
    plan = get_plan(organization_id=org.id, code="startup")
    assert (plan.amount_cents, plan.amount_currency, plan.interval) == (2990, "EUR", "monthly")
    assert (plan.trial_period, plan.pay_in_advance, plan.invoice_display_name) == (Decimal(14), True,
                                                                                  "Startup (monthly)")
    graduated, package, percentage = plan.charges
    assert graduated.charge_model == "graduated" and graduated.min_amount_cents == 500
    assert graduated.properties == {"graduated_ranges": [
        {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
        {"from_value": 1000, "to_value": None, "per_unit_amount": "0.0125", "flat_amount": "2"}]}
    assert package.properties == {"amount": "5", "package_size": 100, "free_units": 100}
    assert package.invoice_display_name == "Disk"
    [region] = package.filters
    assert region.values == {"region": ["eu", "us"]} and region.properties == {"amount": "4", "package_size": 100}
    assert percentage.properties == {"rate": "2.5", "fixed_amount": "0.10", "free_units_per_events": 1,
                                     "per_transaction_min_amount": "1", "per_transaction_max_amount": "5"}
    assert "Plan “Startup” created." in signed_in.get("/admin/plans").get_data(as_text=True)


def test_create_a_plan_without_javascript_redirects(signed_in, org, metrics):
    response = _submit(signed_in, "/admin/plans/new", plan_form(("a1", charge("a1", metrics["calls"], amount="0.01"))),
                       htmx=False)
    assert response.status_code == 303 and response.headers["Location"] == "/admin/plans"
    assert get_plan(organization_id=org.id, code="startup").charges[0].properties == {"amount": "0.01"}


def test_a_plan_form_without_csrf_token_is_refused(signed_in, org, metrics):
    response = signed_in.post("/admin/plans/new", data=plan_form(), headers=HTMX)
    assert response.status_code == 400
    with pytest.raises(NotFound):
        get_plan(organization_id=org.id, code="startup")


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"name": ""}, "name", "Required"),
    ({"interval": "daily"}, "interval", "Not one of the choices"),
    ({"amount_currency": "EURO"}, "amount_currency", "A currency code (ISO 4217), e.g. EUR"),
    ({"amount": "29.999"}, "amount", "Too many decimals for this currency"),
    ({"amount": "twenty"}, "amount", "Not a number"),
    ({"amount": "-1"}, "amount", "0 or more"),
    ({"amount": ""}, "amount", "Required"),
    ({"trial_period": "-2"}, "trial_period", "0 or more days"),
    ({"trial_period": "a week"}, "trial_period", "Not a number"),
])
def test_refused_plan_fields_are_explained_next_to_each_field(signed_in, org, metrics, fields, field, message):
    response = _submit(signed_in, "/admin/plans/new", plan_form(**fields))

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Redirect" not in response.headers
    assert "<html" not in html and "The plan was not saved" in html
    assert _field_error(html, field) == message
    with pytest.raises(NotFound):
        get_plan(organization_id=org.id, code="startup")


def test_yen_amounts_have_no_decimals(signed_in, org, metrics):
    refused = _submit(signed_in, "/admin/plans/new", plan_form(amount="100.5", amount_currency="JPY"))
    assert _field_error(refused.get_data(as_text=True), "amount") == "Too many decimals for this currency"
    saved = _submit(signed_in, "/admin/plans/new", plan_form(amount="3000", amount_currency="jpy"))
    assert saved.headers["HX-Redirect"] == "/admin/plans"
    plan = get_plan(organization_id=org.id, code="startup")
    assert (plan.amount_cents, plan.amount_currency) == (3000, "JPY")


def test_a_plan_code_already_used_is_refused_and_what_was_typed_stays(signed_in, org, metrics):
    _startup(org.id, metrics["calls"])
    response = _submit(signed_in, "/admin/plans/new", plan_form(
        ("a1", charge("a1", metrics["calls"], "graduated", ranges=[("0", "10", "5", "200"), ("11", "", "1", "300")])),
        name="Startup 2"))
    html = response.get_data(as_text=True)
    assert _field_error(html, "code") == "Already used by another plan"
    assert 'value="Startup 2"' in html and 'name="c-a1-p-r-r1-flat" value="300"' in html


def test_nested_charge_and_tier_errors_are_shown_next_to_their_inputs(signed_in, org, metrics):
    form = plan_form(
        ("a1", charge("a1", metrics["calls"], "standard", amount="0.01")),
        ("b2", charge("b2", metrics["calls"], "graduated", ranges=[("0", "10", "5", ""), ("12", "20", "-1", ""),
                                                                   ("20", "30", "1", "x")])),
        ("c3", charge("c3", metrics["payments"], "percentage", rate="2.5", per_transaction_min_amount="5",
                      per_transaction_max_amount="1")),
        ("d4", charge("d4", "", "standard", amount="cheap")),
        ("e5", charge("e5", metrics["calls"], "dynamic")),
        ("f6", charge("f6", metrics["calls"], "package", amount="5", package_size="0", min_amount="1.001")),
    )

    response = _submit(signed_in, "/admin/plans/new", form)
    html = response.get_data(as_text=True)
    assert _field_error(html, "c-f6-min_amount") == "Too many decimals for this currency"  # found before the service

    form["c-f6-min_amount"] = "1"
    html = _submit(signed_in, "/admin/plans/new", form).get_data(as_text=True)

    assert "The plan was not saved" in html
    assert _field_error(html, "c-a1-p-amount") == ""
    tiers = _ranges_error(html, "c-b2-p")
    assert "The first range starts at 0, each next one where the previous one ends (or one above)" in tiers
    assert "Per unit: A number, 0 or more" in tiers and "Flat fee: A number, 0 or more" in tiers
    assert re.search(r'name="c-b2-p-r-r1-from" value="12" aria-label="Tier 2 from" aria-invalid="true"', html)
    assert re.search(r'name="c-b2-p-r-r1-price" value="-1" aria-label="Tier 2 price per unit" '
                     r'aria-invalid="true"', html)
    assert re.search(r'name="c-b2-p-r-r2-flat" value="x" aria-label="Tier 3 flat fee" placeholder="0" '
                     r'aria-invalid="true"', html)
    assert re.search(r'name="c-b2-p-r-r2-to" value="30" aria-label="Tier 3 to" placeholder="∞" aria-invalid="true"',
                     html)  # the last tier has no end
    assert 'name="c-b2-p-r-r0-from" value="0" aria-label="Tier 1 from">' in html
    assert _field_error(html, "c-c3-p-per_transaction_max_amount") == "Lower than the minimum"
    assert _field_error(html, "c-d4-metric") == "Required"
    assert _field_error(html, "c-d4-p-amount") == "A number, 0 or more"
    assert _field_error(html, "c-e5-model").startswith("Not possible with this metric: dynamic needs a Sum metric")
    assert _field_error(html, "c-f6-p-package_size") == "A whole number above 0"
    with pytest.raises(NotFound):
        get_plan(organization_id=org.id, code="startup")


def test_filter_values_not_of_the_metric_are_refused_on_the_filter(signed_in, org, metrics):
    form = plan_form(("a1", charge("a1", metrics["storage"], amount="0.1",
                                   filters=[({"region": "mars"}, {"amount": "0.2"}), ({"region": "eu"}, {})])))
    html = _submit(signed_in, "/admin/plans/new", form).get_data(as_text=True)
    first = re.search(r'data-filter="f0">(.*?)Remove filter', html, re.S).group(1)
    second = re.search(r'data-filter="f1">(.*?)Remove filter', html, re.S).group(1)
    assert "Not keys and values of the metric&#39;s filters" in first
    assert _field_error(second, "c-a1-f-f1-p-amount") == "Required"


def test_a_refused_plan_without_javascript_is_the_whole_page_with_422(signed_in, metrics):
    response = _submit(signed_in, "/admin/plans/new", plan_form(name=""), htmx=False)
    assert response.status_code == 422 and "<html" in response.get_data(as_text=True)


# ---------------------------------------------------------------- editing


def test_edit_shows_the_plan_and_saves_changes_keeping_charge_ids(signed_in, org, metrics):
    plan = _startup(org.id, metrics["calls"], trial_period=7, description="For small teams")
    create_plan(organization_id=org.id, data={"name": "Other", "code": "other", "interval": "monthly",
                                              "amount_cents": 0, "amount_currency": "EUR"})
    [old_charge] = plan.charges

    page = signed_in.get("/admin/plans/startup/edit").get_data(as_text=True)
    assert 'value="Startup"' in page and 'value="29.00"' in page and 'value="7"' in page
    assert "For small teams</textarea>" in page and '<option selected value="monthly">' in page
    assert f'-id" value="{old_charge.id}"' in page and re.search(r'-p-amount" value="0.01"', page)
    key = re.search(r'name="charges" value="([a-z0-9]+)"', page).group(1)

    form = plan_form(
        (key, charge(key, metrics["calls"], "volume", id=old_charge.id,
                     ranges=[("0", "10", "2", ""), ("11", "", "1.5", "")])),
        ("n1", charge("n1", metrics["storage"], amount="0.1")),
        amount="19", trial_period="", description="")
    response = _submit(signed_in, "/admin/plans/startup/edit", form)

    assert response.headers["HX-Redirect"] == "/admin/plans", response.get_data(as_text=True)
    plan = get_plan(organization_id=org.id, code="startup")
    assert (plan.amount_cents, plan.trial_period, plan.description) == (1900, Decimal(0), None)
    volume, storage = plan.charges
    assert volume.id == old_charge.id and volume.charge_model == "volume"
    assert storage.properties == {"amount": "0.1"}

    _submit(signed_in, "/admin/plans/startup/edit", plan_form(("n1", charge("n1", metrics["storage"], amount="0.1",
                                                                             id=storage.id)), amount="19"))
    assert [c.id for c in get_plan(organization_id=org.id, code="startup").charges] == [storage.id]


def test_a_plan_in_use_keeps_its_interval(signed_in, org, metrics):
    _startup(org.id, metrics["calls"])
    create_subscription(organization_id=org.id, data={"external_customer_id": "alice", "plan_code": "startup"})
    page = signed_in.get("/admin/plans/startup/edit").get_data(as_text=True)
    assert "1 live subscription on this plan" in page

    html = _submit(signed_in, "/admin/plans/startup/edit", plan_form(interval="yearly")).get_data(as_text=True)

    assert _field_error(html, "interval") == "Subscribed customers use this plan: cannot change"
    assert get_plan(organization_id=org.id, code="startup").interval == "monthly"


def test_an_edit_may_not_empty_the_name(signed_in, org, metrics):
    _startup(org.id, metrics["calls"])
    html = _submit(signed_in, "/admin/plans/startup/edit", plan_form(name=" ")).get_data(as_text=True)
    assert _field_error(html, "name") == "Required"
    assert get_plan(organization_id=org.id, code="startup").name == "Startup"


# ---------------------------------------------------------------- the editor's fragments


def test_add_charge_returns_a_new_empty_charge(signed_in, metrics):
    html = _fragment(signed_in, "/admin/plans/editor/charges", {"amount_currency": "EUR"})

    key = re.search(r'<fieldset class="charge" id="c-([a-z0-9]+)"', html).group(1)
    assert f'<input type="hidden" name="charges" value="{key}">' in html
    assert f'name="c-{key}-p-amount" value=""' in html and "Price per unit (EUR)" in html
    assert f'hx-post="/admin/plans/editor/charges/{key}"' in html and 'hx-swap="delete"' in html
    assert html.count("<fieldset") == 1 and "API calls (api_calls)" in html and "<form" not in html


def test_switching_the_model_shows_its_fields_and_keeps_what_was_typed(signed_in, metrics):
    base = charge("k1", metrics["calls"], "package", amount="5", package_size="100", units="250")

    package = _fragment(signed_in, "/admin/plans/editor/charges/k1", {**base, "amount_currency": "EUR"})
    assert 'name="c-k1-p-package_size" value="100"' in package and 'name="c-k1-p-free_units"' in package

    graduated = _fragment(signed_in, "/admin/plans/editor/charges/k1", {**base, "c-k1-model": "graduated"})
    assert graduated.count("<tr data-range=") == 1 and 'aria-label="Tier 1 from"' in graduated
    assert re.search(r'name="c-k1-p-r-[a-z0-9]+-from" value="0"', graduated)
    assert "package_size" not in graduated and 'name="c-k1-units" value="250"' in graduated

    standard = _fragment(signed_in, "/admin/plans/editor/charges/k1", {**base, "c-k1-model": "standard"})
    assert 'name="c-k1-p-amount" value="5"' in standard and "package_size" not in standard

    percentage = _fragment(signed_in, "/admin/plans/editor/charges/k1", {**base, "c-k1-model": "percentage"})
    for name in ("rate", "fixed_amount", "free_units_per_events", "free_units_per_total_aggregation",
                 "per_transaction_min_amount", "per_transaction_max_amount"):
        assert f'name="c-k1-p-{name}"' in percentage

    dynamic = _fragment(signed_in, "/admin/plans/editor/charges/k1", {**base, "c-k1-model": "dynamic"})
    assert "each event carries its own amount" in dynamic and 'name="c-k1-p-' not in dynamic


def test_add_and_remove_tiers(signed_in, metrics):
    base = {**charge("k1", metrics["calls"], "graduated", ranges=[("0", "10", "5", "200")]), "amount_currency": "EUR"}

    added = _fragment(signed_in, "/admin/plans/editor/charges/k1", {**base, "op": "add_range:k1:-"})
    rows = re.findall(r'<tr data-range="([a-z0-9]+)">', added)
    assert rows[0] == "r0" and len(rows) == 2
    assert f'name="c-k1-p-r-{rows[1]}-from" value="10"' in added  # starts where the last one ended
    assert 'name="c-k1-p-r-r0-flat" value="200"' in added
    assert 'aria-label="Remove tier 2"' in added

    two = {**base, **_ranges("c-k1-p", [("0", "10", "5", "200"), ("10", "", "1", "300")])}
    removed = _fragment(signed_in, "/admin/plans/editor/charges/k1", {**two, "op": "remove_range:k1:-:r0"})
    assert re.findall(r'<tr data-range="([a-z0-9]+)">', removed) == ["r1"]
    assert 'name="c-k1-p-r-r1-price" value="1"' in removed and "Remove tier" not in removed

    last = _fragment(signed_in, "/admin/plans/editor/charges/k1", {**base, "op": "remove_range:k1:-:r0"})
    assert len(re.findall(r'<tr data-range=', last)) == 1  # a tiered charge always keeps one tier


def test_add_and_remove_filters_with_their_own_tiers(signed_in, metrics):
    base = {**charge("k1", metrics["storage"], "graduated", ranges=[("0", "", "1", "")]), "amount_currency": "EUR"}
    added = _fragment(signed_in, "/admin/plans/editor/charges/k1", {**base, "op": "add_filter:k1"})
    filter_key = re.search(r'data-filter="([a-z0-9]+)"', added).group(1)
    assert 'placeholder="eu, us"' in added and "Any of eu, us" in added
    assert added.count("<tr data-range=") == 2  # the charge's tier, and the filter's own

    form = {**base, "c-k1-filters": [filter_key], f"c-k1-f-{filter_key}-vk": ["region"],
            f"c-k1-f-{filter_key}-vv": ["eu"], **_ranges(f"c-k1-f-{filter_key}-p", [("0", "", "2", "")])}
    more = _fragment(signed_in, "/admin/plans/editor/charges/k1", {**form, "op": f"add_range:k1:{filter_key}"})
    assert len(re.findall(rf'name="c-k1-f-{filter_key}-p-ranges"', more)) == 2
    assert f'name="c-k1-f-{filter_key}-vv" value="eu"' in more

    gone = _fragment(signed_in, "/admin/plans/editor/charges/k1", {**form, "op": f"remove_filter:k1:{filter_key}"})
    assert "data-filter=" not in gone and "Add filter" in gone

    no_filters = _fragment(signed_in, "/admin/plans/editor/charges/k1", {**form, "c-k1-metric": metrics["calls"]})
    assert "Add filter" not in no_filters  # API calls has no filter keys


def test_remove_charge_answers_nothing_for_htmx_to_delete(signed_in, metrics):
    response = signed_in.post("/admin/plans/editor/charges/k1", headers={**HTMX, "X-CSRFToken": _token(signed_in)},
                              data={**charge("k1", metrics["calls"]), "op": "remove_charge:k1"})
    assert response.status_code == 200 and response.get_data(as_text=True) == ""


def test_the_editor_buttons_work_without_javascript(signed_in, org, metrics):
    form = plan_form(("k1", charge("k1", metrics["calls"], "graduated", ranges=[("0", "10", "5", "200")])))

    added = _submit(signed_in, "/admin/plans/new", {**form, "op": "add_charge"}, htmx=False)
    html = added.get_data(as_text=True)
    assert added.status_code == 200 and "<html" in html and html.count('<fieldset class="charge"') == 2

    tier = _submit(signed_in, "/admin/plans/new", {**form, "op": "add_range:k1:-"}, htmx=False).get_data(as_text=True)
    assert tier.count("<tr data-range=") == 2

    priced = _submit(signed_in, "/admin/plans/new", {**form, **_ranges("c-k1-p", [("0", "", "5", "200")]),
                                                     "c-k1-units": "10", "op": "preview:k1"}, htmx=False)
    assert '<strong class="preview-amount">€250.00</strong>' in priced.get_data(as_text=True)

    gone = _submit(signed_in, "/admin/plans/new", {**form, "op": "remove_charge:k1"}, htmx=False)
    assert '<fieldset class="charge"' not in gone.get_data(as_text=True)
    with pytest.raises(NotFound):
        get_plan(organization_id=org.id, code="startup")  # none of these saved the plan


def test_a_fragment_key_that_is_not_a_key_is_not_found(signed_in, metrics):
    headers = {**HTMX, "X-CSRFToken": _token(signed_in)}
    response = signed_in.post("/admin/plans/editor/charges/NOT-A-KEY", headers=headers)
    assert response.status_code == 404


# ---------------------------------------------------------------- the preview


def _preview(client, metric_id: str, model: str, units: str, *, ranges=(), currency="EUR", **properties) -> str:
    form = {**charge("k1", metric_id, model, ranges=ranges, units=units, **properties), "amount_currency": currency}
    return _fragment(client, "/admin/plans/editor/charges/k1/preview", form)


def _amount(html: str) -> str:
    found = re.search(r'<strong class="preview-amount">(.*?)</strong>', html)
    assert found, html
    return found.group(1)


GRADUATED = [("0", "10", "5", "200"), ("11", "", "1", "300")]


@pytest.mark.parametrize(("model", "units", "ranges", "properties", "expected"), [
    ("standard", "250", (), {"amount": "0.01"}, "€2.50"),
    ("package", "7.5", (), {"amount": "5", "package_size": "10", "free_units": "0"}, "€5.00"),
    ("package", "0", (), {"amount": "5", "package_size": "10"}, "€0.00"),
    ("package", "250", (), {"amount": "5", "package_size": "100", "free_units": "100"}, "€10.00"),
    ("graduated", "15", GRADUATED, {}, "€555.00"),
    ("graduated", "0", GRADUATED, {}, "€200.00"),
    ("graduated", "15", [("0", "10", "1", "0"), ("11", "", "0.5", "10")], {}, "€22.50"),
    ("volume", "12", [("0", "10", "2", ""), ("11", "", "1.5", "")], {}, "€18.00"),
    ("volume", "150", [("0", "100", "2", "1"), ("101", "", "1", "")], {}, "€150.00"),
    ("volume", "100", [("0", "100", "2", "1"), ("101", "", "1", "")], {}, "€201.00"),
    ("graduated_percentage", "1500", [("0", "1000", "2", ""), ("1001", "", "1", "5")], {}, "€30.00"),
    ("percentage", "100", (), {"rate": "2.5", "fixed_amount": "0.10"}, "€2.60"),
    ("percentage", "300", (), {"rate": "2.5", "fixed_amount": "0.10", "per_transaction_min_amount": "1",
                               "per_transaction_max_amount": "5"}, "€5.00"),
    ("percentage", "20", (), {"rate": "2.5", "fixed_amount": "0.10", "per_transaction_min_amount": "1"}, "€1.00"),
    ("percentage", "100", (), {"rate": "2.5", "fixed_amount": "0.10", "free_units_per_events": "1"}, "€0.00"),
])
def test_preview_prices_the_worked_examples_exactly(signed_in, metrics, model, units, ranges, properties, expected):
    html = _preview(signed_in, metrics["payments"], model, units, ranges=ranges, **properties)
    assert _amount(html) == expected
    assert f"{units} units cost" in html
    assert ("As one event of this value." in html) == (model == "percentage")


def test_preview_keeps_sub_cent_amounts_and_says_what_is_invoiced(signed_in, metrics):
    html = _preview(signed_in, metrics["calls"], "standard", "3", amount="0.0125")
    assert _amount(html) == "€0.0375" and "(invoiced as €0.04)" in html
    assert _amount(_preview(signed_in, metrics["calls"], "standard", "7", currency="JPY", amount="3")) == "¥21"


def test_preview_shows_the_minimum_that_raises_the_fee(signed_in, metrics):
    html = _preview(signed_in, metrics["calls"], "standard", "10", amount="0.01", min_amount="5")
    assert _amount(html) == "€0.10" and "Raised to the charge's minimum of €5.00 a period." in html


@pytest.mark.parametrize(("model", "units", "properties", "problem"), [
    ("dynamic", "5", {}, "Depends on the events: each one is priced by the amount it carries."),
    ("standard", "", {"amount": "1"}, "Type a number of units."),
    ("standard", "lots", {"amount": "1"}, "Type a number of units, 0 or more."),
    ("standard", "-3", {"amount": "1"}, "Type a number of units, 0 or more."),
    ("standard", "1e20", {"amount": "1"}, "Too many units to preview."),
    ("standard", "3", {"amount": "free"}, "Fix the charge first (Amount: A number, 0 or more)."),
    ("package", "3", {"amount": "1", "package_size": "0"},
     "Fix the charge first (Package size: A whole number above 0)."),
    ("graduated", "3", {}, "Fix the charge first (Per unit: A number, 0 or more; Tiers: The first range starts at 0"),
])
def test_preview_says_why_it_cannot_price(signed_in, metrics, model, units, properties, problem):
    ranges = [("0", "10", "", "")] if model == "graduated" else ()
    html = _preview(signed_in, metrics["payments"], model, units, ranges=ranges, **properties)
    assert problem in html and "preview-amount" not in html


def test_preview_needs_the_plans_currency(signed_in, metrics):
    html = _preview(signed_in, metrics["calls"], "standard", "3", currency="", amount="1")
    assert "Set the plan&#39;s currency first." in html


# ---------------------------------------------------------------- deleting


def test_delete_asks_first_then_removes_the_plan(signed_in, org, metrics):
    _startup(org.id, metrics["calls"])
    confirm = signed_in.get("/admin/plans/startup/delete").get_data(as_text=True)
    assert "Delete “Startup”?" in confirm and "No customer is subscribed to it" in confirm
    assert signed_in.post("/admin/plans/startup/delete").status_code == 400  # no CSRF token

    response = signed_in.post("/admin/plans/startup/delete", data={"csrf_token": csrf_token_in(confirm)})

    assert response.status_code == 303 and response.headers["Location"] == "/admin/plans"
    with pytest.raises(NotFound):
        get_plan(organization_id=org.id, code="startup")
    assert "Plan “Startup” deleted." in signed_in.get("/admin/plans").get_data(as_text=True)


def test_a_plan_with_live_subscriptions_is_not_deleted_and_the_page_says_why(signed_in, org, metrics):
    _startup(org.id, metrics["calls"])
    create_subscription(organization_id=org.id, data={"external_customer_id": "alice", "plan_code": "startup"})
    confirm = signed_in.get("/admin/plans/startup/delete").get_data(as_text=True)
    assert "1 live subscription on this plan" in confirm

    response = signed_in.post("/admin/plans/startup/delete", data={"csrf_token": csrf_token_in(confirm)})

    assert response.status_code == 422
    assert ("Not deleted: Customers are still subscribed to this plan: terminate their subscriptions first."
            in response.get_data(as_text=True))
    assert get_plan(organization_id=org.id, code="startup").name == "Startup"


# ---------------------------------------------------------------- scoping and escaping


def test_another_organizations_plan_is_not_found(signed_in, org, other_org, metrics):
    other_metric = create_billable_metric(organization_id=other_org, data={
        "name": "Globex calls", "code": "calls", "aggregation_type": "count_agg"})
    _startup(other_org, other_metric.id, name="Globex plan")
    token = _token(signed_in)

    for path in ("/admin/plans/startup/edit", "/admin/plans/startup/delete", "/admin/plans/nope/edit"):
        response = signed_in.get(path)
        assert response.status_code == 404 and "Globex" not in response.get_data(as_text=True), path
    edit = signed_in.post("/admin/plans/startup/edit", headers=HTMX, data={**plan_form(name="Hijacked"),
                                                                          "csrf_token": token})
    delete = signed_in.post("/admin/plans/startup/delete", data={"csrf_token": token})

    assert edit.status_code == 404 and delete.status_code == 404
    assert get_plan(organization_id=other_org, code="startup").name == "Globex plan"
    # Another organization's metric cannot be charged for, nor shown.
    html = _submit(signed_in, "/admin/plans/new", plan_form(("a1", charge("a1", other_metric.id, amount="1"))))
    assert _field_error(html.get_data(as_text=True), "c-a1-metric") == "Choose one of the metrics"
    assert "Globex calls" not in _fragment(signed_in, "/admin/plans/editor/charges", {})


def test_hostile_names_are_escaped(signed_in, org):
    metric = create_billable_metric(organization_id=org.id, data={
        "name": "<script>alert(1)</script>", "code": "x<b>y</b>", "aggregation_type": "sum_agg", "field_name": "v",
        "filters": [{"key": "<i>k</i>", "values": ["<img src=x onerror=alert(1)>"]}]})
    create_plan(organization_id=org.id, data={
        "name": "<script>alert(2)</script>", "code": "p<b>", "interval": "monthly", "amount_cents": 0,
        "amount_currency": "EUR", "charges": [{"billable_metric_id": metric.id, "charge_model": "standard",
                                               "properties": {"amount": "1"}}]})

    listing = signed_in.get("/admin/plans").get_data(as_text=True)
    edit = signed_in.get("/admin/plans/p%3Cb%3E/edit")
    fragment = _fragment(signed_in, "/admin/plans/editor/charges/k1", {
        **charge("k1", metric.id, filters=[({"<i>k</i>": "<img src=x>"}, {"amount": "<b>1</b>"})]),
        "amount_currency": "<EU"})
    refused = _submit(signed_in, "/admin/plans/new", plan_form(name="<script>alert(3)</script>", amount="<b>"))

    assert edit.status_code == 200
    for html in (listing, edit.get_data(as_text=True), fragment, refused.get_data(as_text=True)):
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>" not in html
        assert "<i>k</i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing and "&lt;script&gt;alert(2)&lt;/script&gt;" in listing


def test_an_edit_reaches_overridden_plans_only_when_asked(signed_in, org, metrics):
    plan = _startup(org.id, metrics["calls"])
    [calls] = plan.charges
    create_subscription(organization_id=org.id, data={"external_customer_id": "alice", "plan_code": "startup",
                                                      "plan_overrides": {"amount_cents": 1900}})
    create_subscription(organization_id=org.id, data={"external_customer_id": "bob", "plan_code": "startup",
                                                      "plan_overrides": {"name": "Startup for Bob"}})
    page = signed_in.get("/admin/plans/startup/edit").get_data(as_text=True)
    assert "2 live subscriptions have their own overridden copy of this plan" in page
    assert 'name="cascade_updates"' in page and 'checked' not in re.search(r'<input[^>]*cascade_updates[^>]*>',
                                                                          page).group(0)

    def terms(customer: str) -> tuple[int, dict]:
        with read_only() as session:
            plan = find_live_subscription(session, org.id, customer).plan
            return plan.amount_cents, plan.charges[0].properties

    edited = plan_form(("k1", charge("k1", metrics["calls"], id=calls.id, amount="0.02")), amount="39.00",
                       cascade_updates="y")
    assert _submit(signed_in, "/admin/plans/startup/edit", edited).headers["HX-Redirect"] == "/admin/plans"
    # Alice's own fee stays; Bob had the plan's fee and follows it; both follow the price of calls.
    assert terms("alice") == (1900, {"amount": "0.02"}) and terms("bob") == (3900, {"amount": "0.02"})

    edited = plan_form(("k1", charge("k1", metrics["calls"], id=calls.id, amount="0.03")), amount="49.00")
    assert _submit(signed_in, "/admin/plans/startup/edit", edited).headers["HX-Redirect"] == "/admin/plans"
    assert terms("alice") == (1900, {"amount": "0.02"}) and terms("bob") == (3900, {"amount": "0.02"})
    assert get_plan(organization_id=org.id, code="startup").amount_cents == 4900


def test_the_cascade_box_is_not_offered_without_overridden_plans(signed_in, org, metrics):
    _startup(org.id, metrics["calls"])
    create_subscription(organization_id=org.id, data={"external_customer_id": "alice", "plan_code": "startup"})
    assert 'name="cascade_updates"' not in signed_in.get("/admin/plans/startup/edit").get_data(as_text=True)


def test_the_prorated_box_is_offered_only_where_lago_allows_it_and_saved(signed_in, org, metrics):
    seats = create_billable_metric(organization_id=org.id, data={
        "name": "Seats", "code": "seats", "aggregation_type": "unique_count_agg", "field_name": "seat_id",
        "recurring": True}).id
    standard = _fragment(signed_in, "/admin/plans/editor/charges/k1",
                         {**charge("k1", seats, "standard", amount="30"), "amount_currency": "EUR"})
    assert 'name="c-k1-prorated"' in standard and "billed for the days it is held" in standard
    package = _fragment(signed_in, "/admin/plans/editor/charges/k1",
                        {**charge("k1", seats, "package", amount="5", package_size="10"), "amount_currency": "EUR"})
    assert 'name="c-k1-prorated"' not in package
    metered = _fragment(signed_in, "/admin/plans/editor/charges/k1",
                        {**charge("k1", metrics["calls"], "standard", amount="1"), "amount_currency": "EUR"})
    assert 'name="c-k1-prorated"' not in metered

    response = _submit(signed_in, "/admin/plans/new",
                       plan_form(("s1", {**charge("s1", seats, "standard", amount="30"), "c-s1-prorated": "y"})))
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/admin/plans"
    [seat_charge] = get_plan(organization_id=org.id, code="startup").charges
    assert seat_charge.prorated is True
    listing = signed_in.get("/admin/plans").get_data(as_text=True)
    assert "prorated: each seat is billed for the days it is held in the period" in listing
    edit = signed_in.get("/admin/plans/startup/edit")
    assert re.search(r'name="c-[a-z0-9]+-prorated" value="y"[^>]*checked', edit.get_data(as_text=True))


# ---------------------------------------------------------------- progressive billing


def test_usage_thresholds_are_added_saved_shown_and_removed(signed_in, org, metrics):
    form = plan_form(("k1", charge("k1", metrics["calls"], amount="0.01")))
    added = _submit(signed_in, "/admin/plans/new", {**form, "op": "add_threshold"}).get_data(as_text=True)
    assert "Progressive billing" in added and added.count("<tr data-threshold=") == 1
    key = re.search(r'name="thresholds" value="([a-z0-9]+)"', added).group(1)

    thresholds = {"thresholds": [key, "t2"], f"t-{key}-amount": "100.00", f"t-{key}-name": "First",
                  "t-t2-amount": "50", "t-t2-recurring": "1"}
    response = _submit(signed_in, "/admin/plans/new", {**form, **thresholds})
    assert response.headers["HX-Redirect"] == "/admin/plans", response.get_data(as_text=True)
    plan = get_plan(organization_id=org.id, code="startup")
    assert [(t.amount_cents, t.recurring, t.threshold_display_name) for t in plan.usage_thresholds] == [
        (10000, False, "First"), (5000, True, None)]

    page = signed_in.get("/admin/plans/startup/edit").get_data(as_text=True)
    assert page.count("<tr data-threshold=") == 2 and 'value="100.00"' in page and 'value="50.00"' in page
    keys = re.findall(r'name="thresholds" value="([a-z0-9]+)"', page)
    removed = _submit(signed_in, "/admin/plans/startup/edit",
                      {**form, "thresholds": keys, **{f"t-{k}-amount": a for k, a in zip(keys, ("100", "50"))},
                       "op": f"remove_threshold:{keys[0]}"}).get_data(as_text=True)
    assert removed.count("<tr data-threshold=") == 1  # not saved yet: the form comes back without it

    saved_form = {**form, "thresholds": [keys[1]], f"t-{keys[1]}-amount": "50",
                  f"t-{keys[1]}-recurring": "1"}
    assert _submit(signed_in, "/admin/plans/startup/edit", saved_form).headers["HX-Redirect"] == "/admin/plans"
    plan = get_plan(organization_id=org.id, code="startup")
    assert [(t.amount_cents, t.recurring) for t in plan.usage_thresholds] == [(5000, True)]


def test_refused_usage_thresholds_are_explained_in_their_section(signed_in, org, metrics):
    form = plan_form(("k1", charge("k1", metrics["calls"], amount="0.01")),
                     thresholds=["a", "b"], **{"t-a-amount": "5", "t-b-amount": "0"})
    response = _submit(signed_in, "/admin/plans/new", form)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Redirect" not in response.headers
    assert "The plan was not saved" in html
    error = _field_error(html, "usage_thresholds")
    assert error == "Threshold 2: Above 0"
    assert re.search(r'name="t-b-amount" value="0"[^>]*aria-invalid="true"', html)
    typed = plan_form(("k1", charge("k1", metrics["calls"], amount="0.01")), thresholds=["a"], **{"t-a-amount": "a"})
    assert _field_error(_submit(signed_in, "/admin/plans/new", typed).get_data(as_text=True),
                        "usage_thresholds") == "Threshold 1: Not a number"
    two = plan_form(("k1", charge("k1", metrics["calls"], amount="0.01")), thresholds=["a", "b"],
                    **{"t-a-amount": "1", "t-a-recurring": "1", "t-b-amount": "2", "t-b-recurring": "1"})
    assert "Only one threshold can repeat" in _field_error(
        _submit(signed_in, "/admin/plans/new", two).get_data(as_text=True), "usage_thresholds")
    with pytest.raises(NotFound):
        get_plan(organization_id=org.id, code="startup")
