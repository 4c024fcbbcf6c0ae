"""Admin forms; flask-wtf adds and checks the CSRF token of each."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from billing.i18n import LANGUAGES
from wording import AGGREGATIONS, INTERVALS, ROUNDINGS


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


class TaxForm(FlaskForm):
    """A tax; the tax service validates the values (rate, unique code)."""

    name = StringField("Name", validators=[DataRequired(), Length(max=255)])
    code = StringField("Code", validators=[DataRequired(), Length(max=255)])
    rate = StringField("Rate (%)", validators=[DataRequired(), Length(max=32)])
    description = StringField("Description", validators=[Length(max=1000)])
    applied_to_organization = BooleanField("Default for every customer (organization level)")


class CouponForm(FlaskForm):
    """A coupon; the coupon service validates the combination of fields."""

    name = StringField("Name", validators=[DataRequired(), Length(max=255)])
    code = StringField("Code", validators=[DataRequired(), Length(max=255)])
    coupon_type = SelectField("Type", choices=[SelectChoice("fixed_amount", "Fixed amount"),
                                               SelectChoice("percentage", "Percentage")])
    value = StringField("Amount or rate (%)", validators=[DataRequired(), Length(max=32)])
    currency = StringField("Currency (fixed amount)", validators=[Length(max=3)])
    frequency = SelectField("Applies", choices=[SelectChoice("once", "Once"),
                                                SelectChoice("recurring", "For some periods"),
                                                SelectChoice("forever", "Forever")])
    frequency_duration = StringField("Periods (recurring)", validators=[Length(max=6)])
    expiration_at = StringField("Expires at (ISO 8601, optional)", validators=[Length(max=40)])
    reusable = BooleanField("Reusable: may be applied to a customer more than once", default=True)

    def amount_cents(self) -> int | str | None:
        """The fixed amount in minor units, from the major units typed (the service refuses what is no amount)."""
        from billing.money import parse_decimal, to_minor

        amount = parse_decimal(self.value.data)
        currency = (self.currency.data or "").upper()
        if amount is None or len(currency) != 3:
            return self.value.data
        try:
            return to_minor(amount, currency)
        except Exception:  # an unknown currency: the service says so
            return self.value.data


class ApplyCouponForm(FlaskForm):
    """Apply one of the organization's coupons to the customer of the page."""

    coupon_code = StringField("Coupon", validators=[DataRequired(), Length(max=255)])


class AddOnForm(FlaskForm):
    """An add-on. The add-on service validates the fields: its reasons are shown next to each."""

    name = StringField("Name")
    code = StringField("Code")
    amount = StringField("Price")
    amount_currency = StringField("Currency")
    invoice_display_name = StringField("Name on invoices")
    description = TextAreaField("Description")
    tax_codes = SelectMultipleField("Taxes", validate_choice=False, choices=[])


class FeatureForm(FlaskForm):
    """A feature; its privileges are rows of the form read by admin.entitlements. The service validates them."""

    name = StringField("Name")
    code = StringField("Code")
    description = TextAreaField("Description")


class PaymentProviderForm(FlaskForm):
    """Stripe's settings; the payment core checks them (billing.payments.providers). Secrets are never shown
    back: left blank on an edit, the stored value stays."""

    KIND = "stripe"
    # The settings this form edits, in the order shown (billing.payments.secrets says which are secrets).
    SETTINGS: tuple[str, ...] = ("secret_key", "webhook_secret", "publishable_key", "api_base")

    name = StringField("Name", validators=[Length(max=255)])
    code = StringField("Code", validators=[Length(max=255)])
    secret_key = PasswordField("Secret key", validators=[Length(max=2000)])
    webhook_secret = PasswordField("Webhook signing secret", validators=[Length(max=2000)])
    publishable_key = StringField("Publishable key", validators=[Length(max=2000)])
    api_base = StringField("API base", validators=[Length(max=2000)])

    def settings(self) -> dict[str, str]:
        return {field: (getattr(self, field).data or "").strip() for field in self.SETTINGS}

    def cleared(self) -> tuple[str, ...]:
        """The settings sent blank: a shown one (an API base) is then removed, a secret kept."""
        return tuple(field for field, value in self.settings().items()
                     if not value and getattr(self, field).raw_data)


class AdyenProviderForm(PaymentProviderForm):
    """Adyen's settings (`flask payment-provider add adyen`'s options); the payment core checks them."""

    KIND = "adyen"
    SETTINGS = ("api_key", "merchant_account", "hmac_key", "live_prefix", "api_base")

    secret_key = webhook_secret = publishable_key = None  # Stripe's, not Adyen's
    api_key = PasswordField("API key", validators=[Length(max=2000)])
    merchant_account = StringField("Merchant account", validators=[Length(max=2000)])
    hmac_key = PasswordField("HMAC key", validators=[Length(max=2000)])
    live_prefix = StringField("Live URL prefix", validators=[Length(max=2000)])


class GoCardlessProviderForm(PaymentProviderForm):
    """GoCardless's settings (`flask payment-provider add gocardless`'s options); the payment core checks them."""

    KIND = "gocardless"
    SETTINGS = ("access_token", "webhook_secret", "environment", "api_base")

    secret_key = publishable_key = None  # Stripe's, not GoCardless's
    access_token = PasswordField("Access token", validators=[Length(max=2000)])
    webhook_secret = PasswordField("Webhook endpoint secret", validators=[Length(max=2000)])
    environment = SelectField("Environment", validate_choice=False, default="sandbox", choices=[
        SelectChoice("sandbox", "Sandbox (test)"), SelectChoice("live", "Live")])


PROVIDER_FORMS: dict[str, type[PaymentProviderForm]] = {
    "stripe": PaymentProviderForm, "adyen": AdyenProviderForm, "gocardless": GoCardlessProviderForm}


class CustomerPaymentForm(FlaskForm):
    """The customer's payment provider (Lago's billing_configuration), saved through upsert_customer."""

    provider_code = SelectField("Payment provider", validate_choice=False, choices=[])
    link = SelectField("Customer at the provider", validate_choice=False, choices=[
        SelectChoice("create", "Create one at the provider"),
        SelectChoice("existing", "Link an existing customer")])
    provider_customer_id = StringField("Provider customer id", validators=[Length(max=255)])


class CustomerForm(CustomerPaymentForm):
    """A customer's details, taxes and payment provider, saved through upsert_customer as the API's are: its
    reasons are shown next to each field. The external id is typed on creation only."""

    external_id = StringField("External id")
    name = StringField("Name")
    legal_name = StringField("Legal name")
    legal_number = StringField("Legal number")
    tax_identification_number = StringField("Tax identification number")
    email = StringField("Email", render_kw={"type": "email", "autocomplete": "off"})
    phone = StringField("Phone", render_kw={"type": "tel", "autocomplete": "off"})
    currency = StringField("Currency", render_kw={"maxlength": 3, "autocapitalize": "characters"})
    timezone = StringField("Time zone")
    # The languages Tally ships; the API takes any ISO 639-1 code (as Lago), which the form keeps as it is.
    document_locale = SelectField("Language of documents", validate_choice=False,
                                  choices=[SelectChoice("", "The organization's"),
                                           *(SelectChoice(code, name) for code, name in LANGUAGES.items())])
    invoice_grace_period = StringField("Grace period (days)", render_kw={"inputmode": "numeric"})
    net_payment_term = StringField("Payment term (days)", render_kw={"inputmode": "numeric"})
    address_line1 = StringField("Address line 1")
    address_line2 = StringField("Address line 2")
    zipcode = StringField("Postal code")
    city = StringField("City")
    state = StringField("State or region")
    country = StringField("Country", render_kw={"maxlength": 2, "autocapitalize": "characters"})
    shipping_address_line1 = StringField("Address line 1")
    shipping_address_line2 = StringField("Address line 2")
    shipping_zipcode = StringField("Postal code")
    shipping_city = StringField("City")
    shipping_state = StringField("State or region")
    shipping_country = StringField("Country", render_kw={"maxlength": 2, "autocapitalize": "characters"})
    tax_codes = SelectMultipleField("Taxes", validate_choice=False, choices=[])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        code = self.document_locale.data or ""
        if code and code not in LANGUAGES:  # set through the API: kept, and said to fall back
            self.document_locale.choices = [*self.document_locale.choices,
                                            SelectChoice(code, f"{code} (not shipped: the organization's is used)")]


class WebhookEndpointForm(FlaskForm):
    """A webhook endpoint (Lago's webhook_endpoint); the webhook service checks the address and the types."""

    webhook_url = StringField("URL", render_kw={"type": "url", "autocomplete": "off"})
    name = StringField("Name")
    signature_algo = SelectField("Signature", validate_choice=False, choices=[
        SelectChoice("hmac", "HMAC (X-Lago-Signature: base64 HMAC-SHA256 of the body)"),
        SelectChoice("jwt", "JWT (RS256, verified with the organization's public key)")])
    event_types = TextAreaField("Webhook types")


class RecordPaymentForm(FlaskForm):
    """A payment received outside the provider (a transfer, a cheque): collection.record_manual_payment."""

    amount = StringField("Amount", validators=[Length(max=32)], render_kw={"inputmode": "decimal"})
    reference = StringField("Reference", validators=[Length(max=255)])
    paid_on = StringField("Paid on", validators=[Length(max=32)], render_kw={"type": "date"})


class MemberForm(FlaskForm):
    """A new account manager: their email and role (a temporary password is made for them)."""

    email = EmailField("Email", validators=[Length(max=255)])
    role = SelectField("Role", validate_choice=False, choices=[
        SelectChoice("manager", "Manager"), SelectChoice("finance", "Finance"), SelectChoice("admin", "Admin")])


class PasswordChangeForm(FlaskForm):
    """A member's own new password (My account). The organizations service checks the rules (the current password,
    the strength rule, the two entries alike): its reasons are shown next to each field."""

    current_password = PasswordField("Current password", validators=[Length(max=1024)],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField("New password", validators=[Length(max=1024)],
                                 render_kw={"autocomplete": "new-password"})
    new_password_again = PasswordField("New password again", validators=[Length(max=1024)],
                                       render_kw={"autocomplete": "new-password"})


class MemberRoleForm(FlaskForm):
    role = SelectField("Role", validate_choice=False, choices=[
        SelectChoice("admin", "Admin"), SelectChoice("manager", "Manager"), SelectChoice("finance", "Finance")])


class ApiKeyRotateForm(FlaskForm):
    """A new key; the organization's other live keys stop working after the grace chosen (or keep working)."""

    grace = SelectField("The other keys", validate_choice=False, choices=[
        SelectChoice("0", "stop working now"), SelectChoice("3600", "keep working for 1 hour"),
        SelectChoice("86400", "keep working for 1 day"), SelectChoice("604800", "keep working for 7 days"),
        SelectChoice("2592000", "keep working for 30 days")])
