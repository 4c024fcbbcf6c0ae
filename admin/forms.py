"""Admin forms; flask-wtf adds and checks the CSRF token of each."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from admin.wording import AGGREGATIONS, INTERVALS, ROUNDINGS


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=255)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class MetricForm(FlaskForm):
    """A billable metric. The catalog service validates the fields: its reasons are shown next to each."""

    name = StringField("Name")
    code = StringField("Code")
    description = TextAreaField("Description")
    aggregation_type = SelectField("Aggregation", validate_choice=False, choices=[
        SelectChoice(code, label) for code, label in AGGREGATIONS.items()])
    field_name = StringField("Field")
    expression = TextAreaField("Expression")
    recurring = BooleanField("Recurring: usage carries over to the next period")
    rounding_function = SelectField("Rounding", validate_choice=False, choices=[
        SelectChoice("", "None"), *(SelectChoice(code, label) for code, label in ROUNDINGS.items())])
    rounding_precision = StringField("Decimals")
    filters = TextAreaField("Filters")
    # Not part of the metric: what the expression "Test" button evaluates it on.
    sample_properties = TextAreaField("Sample event properties (JSON)")


class PlanForm(FlaskForm):
    """A plan's own fields; its charges are read from the same request by `admin.plans` (their inputs come and
    go with htmx). The catalog service validates everything: its reasons are shown next to each input."""

    name = StringField("Name")
    code = StringField("Code")
    interval = SelectField("Billing interval", validate_choice=False, choices=[
        SelectChoice(code, label) for code, label in INTERVALS.items()])
    amount = StringField("Subscription fee")
    amount_currency = StringField("Currency")
    pay_in_advance = BooleanField("Bill the fee in advance, at the start of each period")
    trial_period = StringField("Free trial (days)")
    invoice_display_name = StringField("Name on invoices")
    description = TextAreaField("Description")
    # Not part of the plan: whether this edit also reaches the subscriptions' overridden copies of it.
    cascade_updates = BooleanField("Apply to customers' overridden plans")
