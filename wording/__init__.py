"""Every sentence and label the admin and the portal show that is built in Python, in one package outside
billing/ (which returns codes and numbers, never sentences): reasons for refusals, names of choices,
prices in words, the portal's notices. Each function takes the read model's data and a `locale`;
sentences go through `wording.i18n` (gettext, in the render's language) and numbers through babel.

The admin and the portal import it; billing/, api/ and jobs/ never do (.importlinter).
"""

from wording.i18n import DEFAULT_LOCALE, N_, gettext, ngettext
from wording.labels import (
    AGGREGATIONS,
    BILLING_STEPS,
    BILLING_TIMES,
    CHARGE_MODEL_WORDS,
    INTERVALS,
    RANGE_COLUMNS,
    ROUNDINGS,
    charge_model_choices,
)
from wording.prices import (
    adjustment_text,
    charge_text,
    describe_charge,
    describe_fee,
    fee_text,
    filter_label,
    filter_prices,
    preview_words,
    price_text,
)
from wording.reasons import (
    add_on_reason,
    event_problems,
    expression_problem,
    field_errors,
    invoice_reason,
    plan_reason,
    reason,
    wallet_reason,
)
from wording.subscriptions import CREDIT_NOTE_CHOICES

__all__ = [
    "AGGREGATIONS", "BILLING_STEPS", "BILLING_TIMES", "CHARGE_MODEL_WORDS", "CREDIT_NOTE_CHOICES", "DEFAULT_LOCALE",
    "INTERVALS", "N_", "RANGE_COLUMNS", "ROUNDINGS", "add_on_reason", "adjustment_text", "charge_model_choices",
    "charge_text", "describe_charge", "describe_fee", "event_problems", "expression_problem", "fee_text",
    "field_errors", "filter_label", "filter_prices", "gettext", "invoice_reason", "ngettext", "plan_reason",
    "preview_words", "price_text", "reason", "wallet_reason",
]
