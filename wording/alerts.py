"""What the screens say of alerts: a crossed threshold's notice, an alert's type and thresholds."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_decimal

from billing.money import format_money, round_minor
from wording.i18n import DEFAULT_LOCALE, N_, babel_locale, gettext

ALERT_TYPES = {
    "current_usage_amount": N_("Usage amount"),
    "billable_metric_current_usage_amount": N_("Amount of a metric"),
    "billable_metric_current_usage_units": N_("Units of a metric"),
    "lifetime_usage_amount": N_("Lifetime usage"),
    "wallet_balance_amount": N_("Balance"),
    "wallet_credits_balance": N_("Credits"),
    "wallet_ongoing_balance_amount": N_("Ongoing balance"),
    "wallet_credits_ongoing_balance": N_("Ongoing credits"),
}
_AMOUNTS = ("current_usage_amount", "billable_metric_current_usage_amount", "lifetime_usage_amount",
            "wallet_balance_amount", "wallet_ongoing_balance_amount")


def alert_type(code: str, locale: str = DEFAULT_LOCALE) -> str:
    return gettext(ALERT_TYPES.get(code, code), locale)


def measure_text(value: Decimal, alert_type_code: str, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """A threshold's value as its alert measures it: money (minor units) or a number of units or credits."""
    if alert_type_code in _AMOUNTS:
        return format_money(round_minor(value), currency, babel_locale(locale))
    return format_decimal(value, locale=babel_locale(locale), decimal_quantization=False)


def crossed_notice(crossed, locale: str = DEFAULT_LOCALE) -> str:
    """A screens.alerts.CrossedAlert: "Usage passed 1,000 API calls (alert: API calls)"."""
    alert = crossed.alert_name or crossed.alert_code
    value = measure_text(crossed.value, crossed.alert_type, crossed.currency, locale)
    if crossed.alert_type == "billable_metric_current_usage_units":
        text = gettext("Usage passed {value} {metric} (alert: {alert})", locale)
        return text.format(value=value, metric=crossed.metric_name, alert=alert)
    if crossed.alert_type == "billable_metric_current_usage_amount":
        text = gettext("{metric} usage passed {value} (alert: {alert})", locale)
        return text.format(value=value, metric=crossed.metric_name, alert=alert)
    return gettext("Usage passed {value} (alert: {alert})", locale).format(value=value, alert=alert)


def threshold_text(value: Decimal, recurring: bool, alert_type_code: str, currency: str,
                   locale: str = DEFAULT_LOCALE) -> str:
    text = measure_text(value, alert_type_code, currency, locale)
    return gettext("every {value}", locale).format(value=text) if recurring else text
