"""The names of the choices the screens offer: charge models, plan intervals, billing times, aggregations,
roundings, and the columns of a charge's tiers."""

from __future__ import annotations

from dataclasses import dataclass

from wording.i18n import DEFAULT_LOCALE, N_, gettext


@dataclass(frozen=True)
class ChargeModelWords:
    label: str
    description: str  # how it prices, in a few words

    def choice(self, locale: str | None = DEFAULT_LOCALE) -> str:
        """What a select offers: "Standard (price per unit)"."""
        return gettext("{label} ({description})", locale).format(label=gettext(self.label, locale),
                                                                 description=gettext(self.description, locale))


# Per charge model known to billing.pricing, in the order the plan editor offers them
# (tests/web/test_charge_models.py checks that every model has its words).
CHARGE_MODEL_WORDS = {
    "standard": ChargeModelWords(N_("Standard"), N_("price per unit")),
    "package": ChargeModelWords(N_("Package"), N_("price per package of units")),
    "graduated": ChargeModelWords(N_("Graduated"), N_("each tier priced on its own")),
    "volume": ChargeModelWords(N_("Volume"), N_("all units at the tier reached")),
    "percentage": ChargeModelWords(N_("Percentage"), N_("of an amount, per transaction")),
    "graduated_percentage": ChargeModelWords(N_("Graduated percentage"), N_("each tier's rate on its own part")),
    "dynamic": ChargeModelWords(N_("Dynamic"), N_("price sent with each event")),
}


def charge_model_choices(locale: str | None = DEFAULT_LOCALE) -> dict[str, str]:
    """Charge model -> what the plan editor's select shows for it."""
    return {model: words.choice(locale) for model, words in CHARGE_MODEL_WORDS.items()}


INTERVALS = {"weekly": N_("Weekly"), "monthly": N_("Monthly"), "quarterly": N_("Quarterly"),
             "semiannual": N_("Every six months"), "yearly": N_("Yearly")}

BILLING_TIMES = {"calendar": N_("Calendar (periods start on the 1st)"),
                 "anniversary": N_("Anniversary (periods start on the subscription day)")}

AGGREGATIONS = {
    "count_agg": N_("Count"),
    "sum_agg": N_("Sum"),
    "max_agg": N_("Max"),
    "unique_count_agg": N_("Unique count"),
    "latest_agg": N_("Latest value"),
    "weighted_sum_agg": N_("Weighted sum"),
    "custom_agg": N_("Custom (expression)"),
}

ROUNDINGS = {"round": N_("Round"), "ceil": N_("Round up (ceil)"), "floor": N_("Round down (floor)")}

# The columns of a charge's tiers, as the plan editor names them (a reason is told against its column).
RANGE_COLUMNS = {"from_value": N_("From"), "to_value": N_("To"), "per_unit_amount": N_("Per unit"), "rate": N_("Rate"),
                 "flat_amount": N_("Flat fee")}

# The step of the billing clock a subscription could not get through (billing.invoicing.failures' steps),
# as the "Could not bill" list names it.
BILLING_STEPS = {"billing": N_("Billing"), "activation": N_("Start"), "ending": N_("End")}
