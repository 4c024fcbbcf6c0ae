"""A customer's subscriptions on the admin customer page: assigning a plan, changing it, terminating, and
one subscription's price overrides (Lago's `plan_overrides`) with their difference from the catalog plan.

The subscription services decide everything (upgrade now or downgrade at period end, what is billed);
this module turns the forms into their data, and their answers and reasons into sentences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from werkzeug.datastructures import MultiDict

from admin import plans
from billing.money import decimal_str, format_money, parse_decimal, to_minor_exactly
from billing.ports import runtime
from billing.screens import overview
from billing.screens.catalog import ChargeView, PlanView, plan_options
from billing.screens.overview import CustomerSummary, InvoiceRow, SubscriptionPlan
from billing.subscriptions.periods import local_date
from wording import BILLING_TIMES, charge_text, describe_charge, gettext, plan_reason
from wording import subscriptions as words

MAX_YEARS_BACK = 5
MAX_YEARS_AHEAD = 10


@dataclass(frozen=True)
class Result:
    """What a subscription action did, for the notice above the subscriptions."""

    message: str
    invoice: InvoiceRow | None = None  # e.g. the final invoice of a terminated subscription
    credit_note: object | None = None  # the credit note for the unused days of an advance fee




def read_terminate_form(form: MultiDict, *, pay_in_advance: bool) -> dict[str, str]:
    """The termination choices of the confirm form, as Lago's options (only what applies to the plan)."""
    # The box sends `generate` after a hidden `skip`: the last value wins; a form without it generates.
    sent = form.getlist("final_invoice")
    options = {"on_termination_invoice": (sent[-1] if sent else "generate")[:16]}
    if pay_in_advance:
        options["on_termination_credit_note"] = (form.get("on_termination_credit_note") or "credit")[:16]
    return options


@dataclass
class AssignForm:
    values: dict[str, str]
    errors: dict[str, list[str]] = field(default_factory=dict)


def sentences(details: Mapping[str, object], *, rename: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """A service's reasons (field -> codes) as form field -> sentences."""
    found: dict[str, list[str]] = {}
    for name, codes in details.items():
        form_field = (rename or {}).get(name, name)
        codes = codes if isinstance(codes, list | tuple) else [codes]
        found.setdefault(form_field, []).extend(plan_reason(form_field, str(code)) for code in codes)
    return found


def page_context(organization_id: str, customer: CustomerSummary, *, assign: AssignForm | None) -> dict[str, object]:
    """What the customer page's subscriptions block needs besides their usage: plans, forms, overrides."""
    subscription_plans = overview.subscription_plans(organization_id=organization_id, customer_id=customer.id,
                                                     live_only=False)
    choices = plan_options(organization_id=organization_id)
    if assign is None:
        assign = assign_form(external_id=overview.suggested_subscription_id(
            organization_id=organization_id, customer_id=customer.id), plans_available=choices)
    return {"plans_of": {s.id: s for s in subscription_plans}, "plan_choices": choices, "assign": assign,
            "diffs": {s.id: saved_diff(s) for s in subscription_plans if s.live}, "now": runtime.clock.now(),
            "billing_times": BILLING_TIMES}


# ---------------------------------------------------------------- assigning a plan


def assign_form(*, external_id: str, plans_available: list[PlanView]) -> AssignForm:
    return AssignForm(values={"plan_code": plans_available[0].code if len(plans_available) == 1 else "",
                              "external_id": external_id, "name": "", "start_date": "", "billing_time": "calendar"})


def read_assign_form(form: MultiDict) -> AssignForm:
    return AssignForm(values={name: (form.get(name) or "").strip()[:255]
                              for name in ("plan_code", "external_id", "name", "start_date", "billing_time")})


def assign_data(assign: AssignForm, customer: CustomerSummary, now: datetime) -> tuple[dict[str, object],
                                                                                       dict[str, list[str]]]:
    """`create_subscription` data, and the reasons found here first.

    A start date is midnight in the customer's timezone; today (or no date) means now; a later date
    makes the subscription pending until then.
    """
    values = assign.values
    data: dict[str, object] = {"external_customer_id": customer.external_id, "plan_code": values["plan_code"] or None,
                               "external_id": values["external_id"] or None, "name": values["name"] or None,
                               "billing_time": values["billing_time"] or "calendar"}
    reasons: dict[str, list[str]] = {}
    if values["start_date"]:
        try:
            day = date.fromisoformat(values["start_date"])
        except ValueError:
            reasons["start_date"] = ["invalid_date"]
        else:
            today = local_date(now, customer.timezone)
            # NOTE: a typo (0202 for 2026) would otherwise backdate the subscription by centuries, and
            # billing would catch up every period since: the form keeps to a plausible range.
            if not today - timedelta(days=366 * MAX_YEARS_BACK) <= day <= today + timedelta(days=366 * MAX_YEARS_AHEAD):
                reasons["start_date"] = ["start_out_of_range"]
            elif day != today:
                data["subscription_at"] = datetime.combine(day, time(0), ZoneInfo(customer.timezone)).isoformat()
    return data, reasons


ASSIGN_FIELDS = {"subscription_at": "start_date", "currency": "plan_code", "external_customer_id": "plan_code"}


# ---------------------------------------------------------------- overrides


@dataclass(frozen=True)
class DiffLine:
    label: str
    before: str
    after: str


@dataclass
class OverrideForm:
    """One subscription's prices as the override editor holds them (charges by their catalog charge's id)."""

    subscription: SubscriptionPlan
    amount: str
    trial_period: str
    charges: list[plans.ChargeDraft]
    errors: dict[str, list[str]] = field(default_factory=dict)
    other_errors: list[str] = field(default_factory=list)

    @property
    def base(self) -> PlanView:
        return self.subscription.base_plan

    @property
    def currency(self) -> str:
        return self.base.currency

    def base_charge(self, draft: plans.ChargeDraft) -> ChargeView | None:
        return next((c for c in self.base.charges if c.id == draft.id), None)

    @property
    def refused(self) -> bool:
        return bool(self.errors or self.other_errors or any(c.has_errors() for c in self.charges))


def override_form(subscription: SubscriptionPlan) -> OverrideForm:
    """The editor filled with what the subscription is billed by now (its overrides, or the plan's prices)."""
    current = subscription.plan
    drafts = []
    for charge in current.charges:
        draft = plans.charge_from_view(charge, current.currency)
        draft.id = charge.parent_id or charge.id  # overrides name the catalog plan's charge
        drafts.append(draft)
    return OverrideForm(subscription=subscription, amount=plans.major_text(current.amount_cents, current.currency),
                        trial_period=decimal_str(current.trial_period), charges=drafts)


def read_override_form(form: MultiDict, subscription: SubscriptionPlan) -> OverrideForm:
    """The submitted editor; a charge not of the catalog plan is dropped, and each keeps its plan's model."""
    base = {c.id: c for c in subscription.base_plan.charges}
    drafts = []
    for draft in plans.read_charges(form):
        charge = base.get(draft.id)
        if charge is None:
            continue
        draft.props.model = charge.charge_model
        draft.props.ensure_a_range()
        draft.metric_id = charge.billable_metric_id
        drafts.append(draft)
    return OverrideForm(subscription=subscription, amount=(form.get("amount") or "")[:plans.MAX_NUMBER_LENGTH],
                        trial_period=(form.get("trial_period") or "")[:plans.MAX_NUMBER_LENGTH], charges=drafts)


def override_data(editor: OverrideForm) -> tuple[dict[str, object], dict[str, object]]:
    """Lago's `plan_overrides`, and the reasons found here first (in the service's shape).

    Everything is sent: the service builds the subscription's prices from the catalog plan each time.
    """
    reasons: dict[str, object] = {}
    amount_cents, problem = to_minor_exactly(editor.amount, editor.currency)
    if problem or amount_cents is None:
        reasons["amount_cents"] = [problem or "value_is_mandatory"]
    trial = editor.trial_period.strip() or "0"
    trial_days = parse_decimal(trial)
    if trial_days is None:
        reasons["trial_period"] = ["not_a_number"]
    elif trial_days > plans.MAX_TRIAL_DAYS:
        reasons["trial_period"] = ["value_is_out_of_range"]
    charges = []
    for index, draft in enumerate(editor.charges):
        min_cents, problem = to_minor_exactly(draft.min_amount, editor.currency)
        if problem:
            reasons[f"charges.{index}"] = {"min_amount_cents": [problem]}
        charges.append({"id": draft.id, "properties": draft.props.properties(), "min_amount_cents": min_cents or 0})
    return {"amount_cents": amount_cents, "trial_period": trial, "charges": charges}, reasons


def place_override_errors(editor: OverrideForm, details: Mapping[str, object]) -> None:
    nested = details.get("plan_overrides")
    details = {**{k: v for k, v in details.items() if k != "plan_overrides"},
               **(nested if isinstance(nested, Mapping) else {})}
    if nested is not None and not isinstance(nested, Mapping):
        details["plan_overrides"] = nested
    editor.errors, editor.other_errors = plans.place_errors(details, editor.charges)


def _days(value: object) -> str:
    return words.trial_days(parse_decimal(value) if not isinstance(value, str) or value.strip() else None)


def override_diff(editor: OverrideForm) -> list[DiffLine]:
    """What the editor's prices change from the catalog plan, in words ("€29.00 → €19.00")."""
    base, currency = editor.base, editor.currency
    lines = []
    amount_cents, _ = to_minor_exactly(editor.amount, currency)
    if amount_cents is not None and amount_cents != base.amount_cents:
        lines.append(DiffLine(gettext(words.FEE_LINE), format_money(base.amount_cents, currency),
                              format_money(amount_cents, currency)))
    trial_before, trial_after = _days(base.trial_period), _days(editor.trial_period.strip() or "0")
    if trial_before != trial_after:
        lines.append(DiffLine(gettext(words.TRIAL_LINE), trial_before, trial_after))
    for draft in editor.charges:
        charge = editor.base_charge(draft)
        if charge is None:
            continue
        min_cents, _ = to_minor_exactly(draft.min_amount, currency)
        before = charge_text(charge, currency, base.interval)
        after = describe_charge({"charge_model": charge.charge_model, "properties": draft.props.properties(),
                                 "min_amount_cents": min_cents or 0}, currency, charge.metric_name,
                                interval=base.interval)
        if before != after:
            lines.append(DiffLine(charge.name, before, after))
    return lines


def saved_diff(subscription: SubscriptionPlan) -> list[DiffLine]:
    """How a subscription's saved overrides differ from its catalog plan."""
    if not subscription.overridden:
        return []
    return override_diff(override_form(subscription))
