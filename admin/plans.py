"""The plan editor: plan fields and charges (per-model properties, tiers, filters) as the catalog service's
Lago-shaped data and back, the service's reasons placed next to each input, and the price preview.

Charges, tiers and filters are identified in the form by short random keys rather than positions, so that
htmx can add or remove one without renumbering the others: a charge's inputs are named `c-<key>-<field>`,
its properties `c-<key>-p-<property>`, a tier `c-<key>-p-r-<row key>-<column>`, a filter's
`c-<key>-f-<filter key>-...`. The order of the hidden `charges` (and `...-ranges`, `...-filters`) inputs
is the order of the list sent to the service, so a reason for `charges.1` finds its charge again.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from werkzeug.datastructures import MultiDict

from admin.forms import PlanForm
from billing import pricing
from billing.money import (
    MAX_TYPED_LENGTH,
    decimal_str,
    format_money,
    is_currency,
    parse_decimal,
    to_major,
    to_minor,
    to_minor_exactly,
)
from billing.screens.catalog import ChargeView, MetricOption, PlanView
from wording import RANGE_COLUMNS, gettext, plan_reason, preview_words, price_text

KEY = re.compile(r"[a-z0-9]{1,16}\Z")
MAX_NUMBER_LENGTH = MAX_TYPED_LENGTH  # characters of a number typed in the editor
MAX_TRIAL_DAYS = Decimal(36_600)
MAX_PREVIEW_UNITS = Decimal(10) ** 15



@dataclass(frozen=True)
class EditorFields:
    """What the editor asks for one charge model: its scalar properties, or its tiers (their property and
    price column). The template `admin/_plan.html` lays them out per model."""

    scalars: tuple[str, ...] = ()
    ranges: str | None = None
    price: str | None = None


# Per charge model known to billing.pricing (tests/web/test_charge_models.py checks that every model is here).
EDITOR_FIELDS = {
    "standard": EditorFields(scalars=("amount",)),
    "package": EditorFields(scalars=("amount", "package_size", "free_units")),
    "graduated": EditorFields(ranges="graduated_ranges", price="per_unit_amount"),
    "volume": EditorFields(ranges="volume_ranges", price="per_unit_amount"),
    "percentage": EditorFields(scalars=("rate", "fixed_amount", "free_units_per_events",
                                        "free_units_per_total_aggregation", "per_transaction_min_amount",
                                        "per_transaction_max_amount")),
    "graduated_percentage": EditorFields(ranges="graduated_percentage_ranges", price="rate"),
    "dynamic": EditorFields(),  # each event carries its own amount: nothing to type
}
TIERED = {model: (f.ranges, f.price) for model, f in EDITOR_FIELDS.items() if f.ranges and f.price}
SCALARS = {model: f.scalars for model, f in EDITOR_FIELDS.items() if f.scalars}
ALL_SCALARS = tuple(dict.fromkeys(name for names in SCALARS.values() for name in names))
WHOLE_NUMBERS = frozenset({"package_size", "free_units", "free_units_per_events"})
RANGE_KEYS = frozenset(key for key, _price in TIERED.values())

# The service's field names, as the form's.
PLAN_FIELDS = {"amount_cents": "amount"}
CHARGE_FIELDS = {"billable_metric_id": "metric", "charge_model": "model", "min_amount_cents": "min_amount",
                 "invoice_display_name": "display_name", "id": "charge", "pay_in_advance": "charge"}


def new_key() -> str:
    return secrets.token_hex(4)


def valid_keys(values: list[str]) -> list[str]:
    """The keys sent back by the form, once each, ignoring anything that is not a key."""
    return [key for key in dict.fromkeys(values) if KEY.match(key)]


def _digits_or_text(text: str) -> int | str:
    """Whole numbers as integers (as Lago sends tiers and package sizes), anything else as typed."""
    return int(text) if re.fullmatch(r"\d{1,18}", text) else text


# ---------------------------------------------------------------- drafts: what the form holds


@dataclass
class RangeDraft:
    key: str
    from_value: str = ""
    to_value: str = ""
    price: str = ""
    flat_amount: str = ""
    invalid: set[str] = field(default_factory=set)  # columns to mark, after the service refused the tiers


@dataclass
class PropertiesDraft:
    """One set of charge properties: the charge's own, or one filter's."""

    prefix: str
    model: str
    values: dict[str, str] = field(default_factory=dict)
    ranges: list[RangeDraft] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def name(self, what: str) -> str:
        return f"{self.prefix}-{what}"

    def range_name(self, row: RangeDraft, column: str) -> str:
        return f"{self.prefix}-r-{row.key}-{column}"

    @property
    def tiered(self) -> bool:
        return self.model in TIERED

    @property
    def scalars(self) -> tuple[str, ...]:
        return SCALARS.get(self.model, ())

    def properties(self) -> dict[str, object]:
        """Lago's properties for the model; an empty input is left out (so the service says it is required)."""
        if self.tiered:
            key, price_key = TIERED[self.model]
            if not self.ranges:
                return {}
            rows = []
            for row in self.ranges:
                item: dict[str, object] = {
                    "from_value": _digits_or_text(row.from_value.strip()) if row.from_value.strip() else None,
                    "to_value": _digits_or_text(row.to_value.strip()) if row.to_value.strip() else None,
                    "flat_amount": row.flat_amount.strip() or "0"}
                if row.price.strip():
                    item[price_key] = row.price.strip()
                rows.append(item)
            return {key: rows}
        properties: dict[str, object] = {}
        for name in self.scalars:
            text = self.values.get(name, "").strip()
            if text:
                properties[name] = _digits_or_text(text) if name in WHOLE_NUMBERS else text
        return properties

    def ensure_a_range(self) -> None:
        if self.tiered and not self.ranges:
            self.ranges.append(RangeDraft(key=new_key(), from_value="0"))

    def add_range(self) -> None:
        last = self.ranges[-1] if self.ranges else None
        start = "0" if last is None else last.to_value.strip()
        self.ranges.append(RangeDraft(key=new_key(), from_value=start))

    def remove_range(self, key: str) -> None:
        self.ranges = [row for row in self.ranges if row.key != key]


@dataclass
class FilterDraft:
    key: str
    prefix: str
    props: PropertiesDraft
    values: dict[str, str] = field(default_factory=dict)  # metric filter key -> "eu, us"
    display_name: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)

    def data(self) -> dict[str, object]:
        values = {key: list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
                  for key, text in self.values.items() if text.strip()}
        return {"values": values, "properties": self.props.properties(),
                "invoice_display_name": self.display_name.strip() or None}


@dataclass(frozen=True)
class Preview:
    """What N units cost with the charge as typed: an exact amount, or why it cannot say."""

    units: str
    amount: str | None = None  # exact
    invoiced: str | None = None  # rounded to the currency's minor unit, when that differs
    minimum: str | None = None  # the charge's minimum, when it raises the fee
    problem: str | None = None
    note: str | None = None


@dataclass
class ChargeDraft:
    key: str
    props: PropertiesDraft
    id: str = ""
    metric_id: str = ""
    min_amount: str = ""
    invoiceable: bool = True
    prorated: bool = False
    display_name: str = ""
    filters: list[FilterDraft] = field(default_factory=list)
    units: str = ""
    preview: Preview | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"c-{self.key}"

    @property
    def model(self) -> str:
        return self.props.model

    def name(self, what: str) -> str:
        return f"{self.prefix}-{what}"

    def metric(self, metrics: list[MetricOption]) -> MetricOption | None:
        return next((m for m in metrics if m.id == self.metric_id), None)

    def add_filter(self) -> None:
        key = new_key()
        prefix = f"{self.prefix}-f-{key}"
        props = PropertiesDraft(prefix=f"{prefix}-p", model=self.model, values=dict(self.props.values))
        props.ensure_a_range()
        self.filters.append(FilterDraft(key=key, prefix=prefix, props=props))

    def has_errors(self) -> bool:
        return bool(self.errors or self.props.errors or any(f.errors or f.props.errors for f in self.filters))


@dataclass
class ThresholdDraft:
    """One usage threshold of the plan's progressive billing, as typed (its amount in the currency's main unit)."""

    key: str
    amount: str = ""
    name: str = ""
    recurring: bool = False
    id: str = ""
    invalid: bool = False

    def name_of(self, what: str) -> str:
        return f"t-{self.key}-{what}"


def new_charge(metrics: list[MetricOption]) -> ChargeDraft:
    key = new_key()
    return ChargeDraft(key=key, props=PropertiesDraft(prefix=f"c-{key}-p", model="standard"),
                       metric_id=metrics[0].id if len(metrics) == 1 else "")


# ---------------------------------------------------------------- reading the form


def _text(form: Mapping[str, str], name: str, limit: int = 255) -> str:
    return (form.get(name) or "")[:limit]


def _read_properties(form: MultiDict, prefix: str, model: str) -> PropertiesDraft:
    values = {name: _text(form, f"{prefix}-{name}", MAX_NUMBER_LENGTH) for name in ALL_SCALARS
              if f"{prefix}-{name}" in form}
    ranges = [RangeDraft(key=key, from_value=_text(form, f"{prefix}-r-{key}-from", MAX_NUMBER_LENGTH),
                         to_value=_text(form, f"{prefix}-r-{key}-to", MAX_NUMBER_LENGTH),
                         price=_text(form, f"{prefix}-r-{key}-price", MAX_NUMBER_LENGTH),
                         flat_amount=_text(form, f"{prefix}-r-{key}-flat", MAX_NUMBER_LENGTH))
              for key in valid_keys(form.getlist(f"{prefix}-ranges"))]
    props = PropertiesDraft(prefix=prefix, model=model, values=values, ranges=ranges)
    props.ensure_a_range()
    return props


def read_charge(form: MultiDict, key: str) -> ChargeDraft:
    """One charge of the submitted form (its inputs, whatever else the form holds)."""
    prefix = f"c-{key}"
    model = _text(form, f"{prefix}-model", 32) or "standard"
    filters = []
    for filter_key in valid_keys(form.getlist(f"{prefix}-filters")):
        filter_prefix = f"{prefix}-f-{filter_key}"
        keys, texts = form.getlist(f"{filter_prefix}-vk"), form.getlist(f"{filter_prefix}-vv")
        filters.append(FilterDraft(
            key=filter_key, prefix=filter_prefix, props=_read_properties(form, f"{filter_prefix}-p", model),
            values={k[:255]: t[:2000] for k, t in zip(keys, texts, strict=False)},
            display_name=_text(form, f"{filter_prefix}-display_name")))
    return ChargeDraft(
        key=key, props=_read_properties(form, f"{prefix}-p", model), id=_text(form, f"{prefix}-id", 36),
        metric_id=_text(form, f"{prefix}-metric", 36),
        min_amount=_text(form, f"{prefix}-min_amount", MAX_NUMBER_LENGTH),
        invoiceable=f"{prefix}-invoiceable" in form, prorated=f"{prefix}-prorated" in form,
        display_name=_text(form, f"{prefix}-display_name"),
        filters=filters, units=_text(form, f"{prefix}-units", MAX_NUMBER_LENGTH))


def read_charges(form: MultiDict) -> list[ChargeDraft]:
    return [read_charge(form, key) for key in valid_keys(form.getlist("charges"))]


def read_thresholds(form: MultiDict) -> list[ThresholdDraft]:
    """The usage thresholds of the submitted form, in its order."""
    return [ThresholdDraft(key=key, amount=_text(form, f"t-{key}-amount", MAX_NUMBER_LENGTH),
                           name=_text(form, f"t-{key}-name"), recurring=f"t-{key}-recurring" in form,
                           id=_text(form, f"t-{key}-id", 36))
            for key in valid_keys(form.getlist("thresholds"))]


def apply_threshold_op(thresholds: list[ThresholdDraft], op: str) -> bool:
    """Add (`add_threshold`) or remove (`remove_threshold:<key>`) a usage threshold; False for another op."""
    verb, _, key = op.partition(":")
    if verb == "add_threshold":
        thresholds.append(ThresholdDraft(key=new_key()))
    elif verb == "remove_threshold":
        thresholds[:] = [t for t in thresholds if t.key != key]
    else:
        return False
    return True


def thresholds_from_view(plan: PlanView) -> list[ThresholdDraft]:
    return [ThresholdDraft(key=new_key(), amount=major_text(t.amount_cents, plan.currency),
                           name=t.threshold_display_name or "", recurring=t.recurring, id=t.id)
            for t in plan.usage_thresholds]


def apply_op(charges: list[ChargeDraft], op: str, *, metrics: list[MetricOption], currency: str) -> None:
    """Do what a button of the editor asked (add or remove a charge, a tier, a filter; preview a charge).

    `op` is `add_charge`, `remove_charge:<charge>`, `add_range:<charge>:<filter or ->`,
    `remove_range:<charge>:<filter or ->:<row>`, `add_filter:<charge>`, `remove_filter:<charge>:<filter>`
    or `preview:<charge>`; anything else (or a key not in the form) changes nothing.
    """
    verb, _, rest = op.partition(":")
    args = rest.split(":") if rest else []
    if verb == "add_charge":
        charges.append(new_charge(metrics))
        return
    charge = next((c for c in charges if args and c.key == args[0]), None)
    if charge is None:
        return
    if verb == "remove_charge":
        charges.remove(charge)
    elif verb == "add_filter":
        charge.add_filter()
    elif verb == "remove_filter" and len(args) == 2:
        charge.filters = [f for f in charge.filters if f.key != args[1]]
    elif verb in ("add_range", "remove_range") and len(args) >= 2:
        props = charge.props if args[1] == "-" else next((f.props for f in charge.filters if f.key == args[1]), None)
        if props is None:
            return
        if verb == "add_range":
            props.add_range()
        elif len(args) == 3:
            props.remove_range(args[2])
            props.ensure_a_range()
    elif verb == "preview":
        charge.preview = preview(charge, currency)


# ---------------------------------------------------------------- from a saved plan


def _plain(value: object) -> str:
    return "" if value is None else str(value)


def _properties_from(prefix: str, model: str, properties: Mapping[str, object]) -> PropertiesDraft:
    values = {name: _plain(properties.get(name)) for name in ALL_SCALARS if properties.get(name) is not None}
    ranges = []
    if model in TIERED:
        key, price_key = TIERED[model]
        for item in properties.get(key) or []:
            if isinstance(item, Mapping):
                ranges.append(RangeDraft(key=new_key(), from_value=_plain(item.get("from_value")),
                                         to_value=_plain(item.get("to_value")), price=_plain(item.get(price_key)),
                                         flat_amount=_plain(item.get("flat_amount"))))
    props = PropertiesDraft(prefix=prefix, model=model, values=values, ranges=ranges)
    props.ensure_a_range()
    return props


def major_text(minor: int, currency: str) -> str:
    """An amount in minor units as the form shows it ("29.00")."""
    return str(to_major(minor, currency if is_currency(currency) else "EUR"))


def charge_from_view(charge: ChargeView, currency: str) -> ChargeDraft:
    key = new_key()
    prefix = f"c-{key}"
    filters = []
    for item in charge.filters:
        filter_key = new_key()
        filter_prefix = f"{prefix}-f-{filter_key}"
        filters.append(FilterDraft(
            key=filter_key, prefix=filter_prefix,
            props=_properties_from(f"{filter_prefix}-p", charge.charge_model, item.properties),
            values={k: ", ".join(str(v) for v in values) for k, values in item.values.items()},
            display_name=item.invoice_display_name or ""))
    return ChargeDraft(
        key=key, props=_properties_from(f"{prefix}-p", charge.charge_model, charge.properties), id=charge.id,
        metric_id=charge.billable_metric_id,
        min_amount=major_text(charge.min_amount_cents, currency) if charge.min_amount_cents else "",
        invoiceable=charge.invoiceable, prorated=bool(charge.prorated),
        display_name=charge.invoice_display_name or "", filters=filters)


def initial_data(plan: PlanView) -> dict[str, object]:
    """What the edit form shows for `plan`."""
    return {"name": plan.name, "code": plan.code, "interval": plan.interval,
            "amount": major_text(plan.amount_cents, plan.currency), "amount_currency": plan.currency,
            "pay_in_advance": plan.pay_in_advance, "trial_period": decimal_str(plan.trial_period),
            "invoice_display_name": plan.invoice_display_name or "", "description": plan.description or ""}


# ---------------------------------------------------------------- to the service


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def plan_data(form: PlanForm, charges: list[ChargeDraft], *, editing: bool,
              thresholds: list[ThresholdDraft] | None = None) -> tuple[dict[str, object], dict[str, object]]:
    """The form as `create_plan` / `update_plan` data, and the reasons found here first (in the service's shape).

    Every field is sent, so that emptying one clears it (an empty trial is 0 days).
    """
    reasons: dict[str, object] = {}
    currency = (form.amount_currency.data or "").strip().upper()
    amount_cents, problem = to_minor_exactly(form.amount.data, currency)
    if problem:
        reasons["amount_cents"] = [problem]
    trial = (form.trial_period.data or "").strip() or "0"
    trial_days = parse_decimal(trial) if len(trial) <= MAX_NUMBER_LENGTH else None
    if trial_days is None:
        reasons["trial_period"] = ["not_a_number"]
    elif trial_days > MAX_TRIAL_DAYS:
        reasons["trial_period"] = ["value_is_out_of_range"]
    data: dict[str, object] = {
        "name": _clean(form.name.data), "code": _clean(form.code.data), "interval": _clean(form.interval.data),
        "amount_cents": amount_cents, "amount_currency": currency or None,
        "pay_in_advance": bool(form.pay_in_advance.data), "trial_period": trial,
        "invoice_display_name": _clean(form.invoice_display_name.data), "description": _clean(form.description.data),
        "charges": [],
    }
    if editing:
        # NOTE: on update the service keeps a field it is not sent; the form says these are required.
        for name in ("name", "code", "interval", "amount_cents", "amount_currency"):
            if data[name] is None and name not in reasons:
                reasons[name] = ["value_is_mandatory"]
    for index, charge in enumerate(charges):
        min_cents, problem = to_minor_exactly(charge.min_amount, currency)
        if problem:
            reasons[f"charges.{index}"] = {"min_amount_cents": [problem]}
        item: dict[str, object] = {
            "billable_metric_id": charge.metric_id or None, "charge_model": charge.model,
            "properties": charge.props.properties(), "min_amount_cents": min_cents or 0,
            "invoiceable": charge.invoiceable, "prorated": charge.prorated,
            "invoice_display_name": _clean(charge.display_name), "filters": [f.data() for f in charge.filters]}
        if charge.id:
            item["id"] = charge.id
        data["charges"].append(item)
    if thresholds is not None:
        data["usage_thresholds"] = []
        for index, threshold in enumerate(thresholds):
            cents, problem = to_minor_exactly(threshold.amount, currency)
            if problem:
                reasons[f"usage_thresholds.{index}.amount_cents"] = [problem]
            item = {"amount_cents": cents, "threshold_display_name": _clean(threshold.name),
                    "recurring": threshold.recurring}
            if threshold.id:
                item["id"] = threshold.id
            data["usage_thresholds"].append(item)
    return data, reasons


# ---------------------------------------------------------------- reasons, next to their inputs


def _sentences(name: str, codes: object) -> list[str]:
    codes = codes if isinstance(codes, list | tuple) else [codes]
    return [plan_reason(name, str(code)) for code in codes]


def _add(errors: dict[str, list[str]], name: str, sentences: list[str]) -> None:
    known = errors.setdefault(name, [])
    known.extend(s for s in sentences if s not in known)


def _place_property(props: PropertiesDraft, name: str, codes: object) -> None:
    if name in RANGE_KEYS:
        _add(props.errors, "ranges", _sentences(name, codes))
        _mark_bounds(props.ranges)
    elif props.tiered and name in RANGE_COLUMNS:
        _add(props.errors, "ranges", [f"{gettext(RANGE_COLUMNS[name])}: {s}" for s in _sentences(name, codes)])
        column = "price" if name in ("per_unit_amount", "rate") else "flat"
        for row in props.ranges:
            value = row.price if column == "price" else (row.flat_amount or "0")
            number = parse_decimal(value.strip())
            if number is None or number < 0:
                row.invalid.add(column)
    else:
        _add(props.errors, name, _sentences(name, codes))


def _mark_bounds(rows: list[RangeDraft]) -> None:
    """Mark the tier bounds that break the chain (a hint; the service's reason says the rule)."""
    previous_to: Decimal | None = Decimal(0)
    for index, row in enumerate(rows):
        start = parse_decimal(row.from_value.strip())
        end = parse_decimal(row.to_value.strip()) if row.to_value.strip() else None
        last = index == len(rows) - 1
        expected = (Decimal(0),) if index == 0 else (
            (previous_to, previous_to + 1) if previous_to is not None else ())
        if start is None or start not in expected:
            row.invalid.add("from")
        if (last and row.to_value.strip()) or (not last and (end is None or start is None or end <= start)):
            row.invalid.add("to")
        previous_to = end


def place_errors(details: Mapping[str, object], charges: list[ChargeDraft],
                 thresholds: list[ThresholdDraft] | None = None) -> tuple[dict[str, list[str]], list[str]]:
    """Put each reason of `details` (the service's, or `plan_data`'s) next to its input.

    Returns the plan fields' sentences by form field, and the sentences no input shows; the charges'
    (and their tiers' and filters') are set on the drafts.
    """
    plan_errors: dict[str, list[str]] = {}
    other: list[str] = []
    for name, codes in details.items():
        head, _, index = name.partition(".")
        if head == "usage_thresholds":
            # Every threshold's reason goes under the section; the threshold it names is marked.
            position, _, what = index.partition(".")
            if position.isdigit() and thresholds and int(position) < len(thresholds):
                thresholds[int(position)].invalid = True
                words = _sentences("threshold_amount" if what == "amount_cents" else what, codes)
                _add(plan_errors, "usage_thresholds", [f"Threshold {int(position) + 1}: {s}" for s in words])
            else:
                _add(plan_errors, "usage_thresholds", _sentences("usage_thresholds", codes))
            continue
        if head == "charges" and index:
            charge = charges[int(index)] if index.isdigit() and int(index) < len(charges) else None
            if charge is None:
                other.extend(f"Charge {index}: {s}" for s in _sentences("charge", codes))
            else:
                _place_charge(charge, codes)
            continue
        form_field = PLAN_FIELDS.get(name, name)
        _add(plan_errors, form_field, _sentences(form_field, codes))
    return plan_errors, other


def _place_charge(charge: ChargeDraft, codes: object) -> None:
    if not isinstance(codes, Mapping):
        _add(charge.errors, "charge", _sentences("charge", codes))
        return
    for name, reasons in codes.items():
        if name.startswith("properties."):
            _place_property(charge.props, name.removeprefix("properties."), reasons)
        elif name == "properties":
            _add(charge.props.errors, "properties", _sentences(name, reasons))
        elif name.startswith("filters"):
            _, _, rest = name.partition(".")
            index, _, what = rest.partition(".")
            item = charge.filters[int(index)] if index.isdigit() and int(index) < len(charge.filters) else None
            if item is None:
                _add(charge.errors, "filters", _sentences("filters", reasons))
            elif what.startswith("properties."):
                _place_property(item.props, what.removeprefix("properties."), reasons)
            else:
                _add(item.errors, "values", _sentences("filter_values", reasons))
        else:
            form_field = CHARGE_FIELDS.get(name, name)
            _add(charge.errors, form_field, _sentences(form_field, reasons))


# ---------------------------------------------------------------- the preview


def preview(charge: ChargeDraft, currency: str) -> Preview:
    """What `charge.units` units cost with the charge as typed (percentage: one event of that value)."""
    units_text = charge.units.strip()
    if charge.model == "dynamic":
        return Preview(units=units_text, note=preview_words("priced_per_event"))
    if not units_text:
        return Preview(units=units_text, problem=preview_words("no_units"))
    units = parse_decimal(units_text)
    if units is None or units < 0:
        return Preview(units=units_text, problem=preview_words("negative_units"))
    if units >= MAX_PREVIEW_UNITS:
        return Preview(units=units_text, problem=preview_words("too_many_units"))
    if not is_currency(currency):
        return Preview(units=units_text, problem=preview_words("no_currency"))
    if charge.model not in pricing.CHARGE_MODELS:
        return Preview(units=units_text, problem=preview_words("no_model"))
    properties = charge.props.properties()
    invalid = pricing.validate_properties(charge.model, properties)
    if invalid:
        problems = "; ".join(f"{_label(name)}: {plan_reason(name, codes[0])}" for name, codes in invalid.items())
        return Preview(units=units_text, problem=preview_words("invalid_charge", problems=problems))
    event_values = [units] if charge.model == "percentage" else None
    try:
        result = pricing.price(charge.model, units, properties, event_values=event_values, currency=currency)
        cents = to_minor(result.amount, currency)
    except (ArithmeticError, pricing.PricingError):
        return Preview(units=units_text, problem=preview_words("cannot_compute"))
    minimum, _ = to_minor_exactly(charge.min_amount, currency)
    invoiced = format_money(cents, currency)
    exact = price_text(result.amount, currency)
    note = preview_words("as_one_event") if charge.model == "percentage" else None
    return Preview(units=units_text, amount=exact, invoiced=invoiced if invoiced != exact else None,
                   minimum=format_money(minimum, currency) if minimum and minimum > cents else None, note=note)


def _label(name: str) -> str:
    if name in RANGE_KEYS:
        return gettext("Tiers")
    return gettext(RANGE_COLUMNS[name]) if name in RANGE_COLUMNS else name.replace("_", " ").capitalize()
