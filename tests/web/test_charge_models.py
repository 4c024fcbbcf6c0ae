"""Every charge model billing.pricing knows has all its knowledge: its pricing and validation, its fields in
the plan editor (admin/plans.py and the editor's template), its label and description, and its price in
words (the wording package). A model added to pricing alone fails here, by name."""

from __future__ import annotations

from decimal import Decimal

import pytest

from admin import plans
from billing import pricing
from billing.catalog.metrics import create_billable_metric
from tests.web.conftest import csrf_token_in
from wording.labels import CHARGE_MODEL_WORDS, charge_model_choices
from wording.prices import DESCRIBERS, describe_charge

MODELS = sorted(pricing.CHARGE_MODELS)


def _typed(model: str) -> dict[str, object]:
    """Properties as the editor sends them when every one of the model's fields holds a sample value."""
    fields = plans.EDITOR_FIELDS[model]
    draft = plans.PropertiesDraft(prefix="p", model=model, values={name: "1" for name in fields.scalars},
                                  ranges=[plans.RangeDraft(key="r0", from_value="0", price="1")])
    return draft.properties()


def test_every_model_has_its_pricing_editor_fields_label_and_words():
    known = set(pricing.CHARGE_MODELS)
    assert set(pricing.VALIDATORS) == known
    assert set(plans.EDITOR_FIELDS) == known, "add the model's fields to admin/plans.py EDITOR_FIELDS"
    assert set(CHARGE_MODEL_WORDS) == known, "add the model's label and description to wording/labels.py"
    assert set(DESCRIBERS) == known, "add the model's price in words to wording/prices.py DESCRIBERS"
    labels = [words.label for words in CHARGE_MODEL_WORDS.values()]
    assert all(labels) and len(set(labels)) == len(labels)
    assert all(words.description for words in CHARGE_MODEL_WORDS.values())


@pytest.mark.parametrize("model", MODELS)
def test_what_the_editor_asks_for_is_what_pricing_needs(model):
    properties = _typed(model)
    assert pricing.validate_properties(model, properties) == {}
    result = pricing.price(model, Decimal(10), properties, event_values=[Decimal(10)],
                           event_amounts_cents=[Decimal(100)], currency="EUR")
    assert isinstance(result.amount, Decimal)
    words = describe_charge({"charge_model": model, "properties": properties}, "EUR", "API calls")
    assert words and not words.startswith("Priced by the"), words


@pytest.mark.parametrize("model", MODELS)
def test_the_editor_shows_each_model_with_its_fields(signed_in, org, model):
    metric = create_billable_metric(organization_id=org.id, data={
        "name": "Payment amount", "code": "payments", "aggregation_type": "sum_agg", "field_name": "amount"})
    token = csrf_token_in(signed_in.get("/admin/plans/new").get_data(as_text=True))
    response = signed_in.post("/admin/plans/editor/charges/k1", headers={"HX-Request": "true", "X-CSRFToken": token},
                              data={"c-k1-metric": metric.id, "c-k1-model": model, "amount_currency": "EUR"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<option value="{model}" selected>{charge_model_choices()[model]}</option>'.replace("'", "&#39;") in html
    fields = plans.EDITOR_FIELDS[model]
    for name in fields.scalars:
        assert f'name="c-k1-p-{name}"' in html, name
    assert ('aria-label="Tier 1 from"' in html) == bool(fields.ranges)
