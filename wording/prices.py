"""Prices in plain words, shared by the admin and the portal: a plan's subscription fee and a charge's price
("First 1,000 API calls free, then €0.01 each"). Amounts are shown exactly: a unit price may be finer
than the currency's minor unit (house rule 1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from babel.numbers import format_decimal

from billing.money import decimal_str, format_money, format_price, parse_decimal
from billing.screens.catalog import ChargeFilterView, ChargeView, PlanView
from billing.screens.overview import InvoiceAdjustment
from wording.i18n import DEFAULT_LOCALE, N_, babel_locale, gettext, ngettext

# The period a fee or a minimum is counted per, by plan interval.
PER_INTERVAL = {"weekly": N_("week"), "monthly": N_("month"), "quarterly": N_("quarter"),
                "semiannual": N_("half-year"), "yearly": N_("year")}


def price_text(amount: Decimal, currency: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """A price with all its digits and at least the currency's: "€0.005", "€5.00", "¥5"."""
    return format_price(amount, currency, babel_locale(locale))


def describe_fee(*, amount_cents: int, currency: str, interval: str, pay_in_advance: bool,
                 locale: str | None = DEFAULT_LOCALE) -> str:
    """The subscription fee in words: "€29.00 per month, billed in advance"."""
    period = gettext(PER_INTERVAL[interval], locale) if interval in PER_INTERVAL else interval
    if not amount_cents:
        return gettext("No subscription fee", locale)
    amount = format_money(amount_cents, currency, babel_locale(locale))
    if pay_in_advance:
        return gettext("{amount} per {period}, billed in advance", locale).format(amount=amount, period=period)
    return gettext("{amount} per {period}, billed at the end of the {period}", locale).format(amount=amount,
                                                                                             period=period)


def fee_text(plan: PlanView, locale: str | None = DEFAULT_LOCALE) -> str:
    """A plan's subscription fee in words."""
    return describe_fee(amount_cents=plan.amount_cents, currency=plan.currency, interval=plan.interval,
                        pay_in_advance=plan.pay_in_advance, locale=babel_locale(locale))


def charge_text(charge: ChargeView, currency: str, interval: str | None = None,
                locale: str | None = DEFAULT_LOCALE) -> str:
    """A plan's charge priced in words, its minimum and proration included."""
    return describe_charge({"charge_model": charge.charge_model, "properties": charge.properties,
                            "min_amount_cents": charge.min_amount_cents, "prorated": charge.prorated},
                           currency, charge.metric_name, interval=interval, locale=babel_locale(locale))


def filter_label(item: ChargeFilterView) -> str:
    """A charge filter's name: its display name, else its values ("region: eu, us · tier: pro")."""
    return item.invoice_display_name or " · ".join(
        f"{key}: {', '.join(values)}" for key, values in sorted(item.values.items()))


def filter_prices(charge: ChargeView, currency: str, locale: str | None = DEFAULT_LOCALE) -> list[tuple[str, str]]:
    """(label, price in words) per filter of the charge."""
    return [(filter_label(item), describe_charge({"charge_model": charge.charge_model, "properties": item.properties,
                                                  "prorated": charge.prorated}, currency, charge.metric_name,
                                                 locale=babel_locale(locale)))
            for item in charge.filters]


# What the plan editor's price preview says instead of, or next to, an amount.
PREVIEW_WORDS = {
    "priced_per_event": N_("Depends on the events: each one is priced by the amount it carries."),
    "no_units": N_("Type a number of units."),
    "negative_units": N_("Type a number of units, 0 or more."),
    "too_many_units": N_("Too many units to preview."),
    "no_currency": N_("Set the plan's currency first."),
    "no_model": N_("Choose a charge model."),
    "invalid_charge": N_("Fix the charge first ({problems})."),
    "cannot_compute": N_("Cannot compute this price: try fewer units."),
    "as_one_event": N_("As one event of this value."),
}


def preview_words(code: str, locale: str | None = DEFAULT_LOCALE, **values: object) -> str:
    """One of the price preview's sentences (`PREVIEW_WORDS`), with its {placeholders} filled."""
    text = gettext(PREVIEW_WORDS[code], locale)
    return text.format(**values) if values else text


# What changed an invoice's total after its fees (billing.screens.overview.InvoiceAdjustment.kind).
ADJUSTMENTS = {"coupon": N_("coupon"), "credit note": N_("credit note"), "prepaid credits": N_("prepaid credits"),
               "tax": N_("tax"), "already billed": N_("already billed this period")}


def adjustment_text(adjustment: InvoiceAdjustment, locale: str | None = DEFAULT_LOCALE) -> str:
    """An invoice's coupon, credit note, prepaid credits or tax, named: "coupon Welcome", "tax VAT 20 %"."""
    kind = gettext(ADJUSTMENTS[adjustment.kind], locale) if adjustment.kind in ADJUSTMENTS else adjustment.kind
    if adjustment.rate is None:
        return f"{kind} {adjustment.label}"
    return gettext("{kind} {name} {rate} %", locale).format(kind=kind, name=adjustment.label,
                                                           rate=decimal_str(adjustment.rate))


def describe_charge(charge: Mapping[str, object], currency: str, metric_name: str, *,
                    interval: str | None = None, locale: str | None = DEFAULT_LOCALE) -> str:
    """A charge's price in plain words, e.g. "First 1,000 API calls free, then €0.01 each".

    `charge` is Lago-shaped (`charge_model`, `properties`, optional `min_amount_cents` and `prorated`);
    amounts are shown exactly (no rounding to the currency's minor unit: unit prices may be finer).
    """
    model = str(charge.get("charge_model") or "")
    properties = charge.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    words = _Words(currency, metric_name, locale)
    try:
        text = DESCRIBERS[model](words, properties)
    except (KeyError, TypeError, ValueError, ArithmeticError):
        text = words.say("Priced by the {model} model", model=model.replace("_", " ") or "unknown")
    minimum = charge.get("min_amount_cents")
    if isinstance(minimum, int) and not isinstance(minimum, bool) and minimum > 0:
        per = words.say(PER_INTERVAL.get(interval or "", N_("billing period")))
        text += words.say("; at least {amount} per {period}",
                          amount=format_money(minimum, currency, babel_locale(locale)), period=per)
    if charge.get("prorated") is True:
        text += words.say(", prorated: each {unit} is billed for the days it is held in the period", unit=words.one)
    return text[:1].upper() + text[1:]


class _Words:
    """Numbers, prices and the metric's name as a countable noun, for one currency, metric and locale.

    NOTE: a metric's name is the account manager's free text, in one form: "API calls" is read as the
    plural of "API call", a name in capitals ("GB") as a unit of measure, anything else as a mass noun
    ("units of storage"). A translation catalog words the sentences around it, never the name itself.
    """

    def __init__(self, currency: str, metric_name: str, locale: str):
        self.currency = currency
        self.locale = locale
        name = " ".join((metric_name or "").split())
        if len(name) > 1 and name[0].isupper() and name[1].islower():
            name = name[0].lower() + name[1:]  # "Storage" -> "storage", "API calls" stays
        self.name = name or self.say("units")
        last = name.rsplit(" ", 1)[-1]
        if name.isupper() and " " not in name:
            self.many = self.one = name  # a unit of measure: "GB", "TB"
        elif len(last) > 2 and last.endswith("s") and not last.endswith("ss"):
            self.many, self.one = name, name[:-1]  # "API calls" / "API call"
        elif name:
            self.many, self.one = self.say("units of {name}", name=name), self.say("unit of {name}", name=name)
        else:
            self.many, self.one = self.say("units"), self.say("unit")

    def say(self, text: str, **values: object) -> str:
        """`text` in the locale's words, with `values` put in its {placeholders}."""
        return gettext(text, self.locale).format(**values) if values else gettext(text, self.locale)

    def money(self, amount: Decimal) -> str:
        return price_text(amount, self.currency, self.locale)

    def number(self, value: Decimal | int) -> str:
        return format_decimal(value, locale=babel_locale(self.locale), decimal_quantization=False)

    def percent(self, rate: Decimal) -> str:
        return self.say("{rate}%", rate=self.number(rate))

    def count(self, value: Decimal | int, *, one: str | None = None, many: str | None = None) -> str:
        """ "1,000 API calls", "API call" """
        one, many = one or self.one, many or self.many
        form = ngettext("{one}", "{number} {many}", value, self.locale)
        return form.format(one=one, many=many, number=self.number(value))

    def first(self, value: Decimal | int, *, one: str | None = None, many: str | None = None) -> str:
        """ "first 1,000 API calls", "first API call" """
        return self.say("first {count}", count=self.count(value, one=one, many=many))

    def plus_flat(self, flat: Decimal) -> str:
        return self.say(" + {amount} flat", amount=self.money(flat)) if flat else ""

    def flat(self, flat: Decimal) -> str:
        return self.say("{amount} flat", amount=self.money(flat))

    def per_one(self, amount: Decimal) -> str:
        return self.say("{price} per {unit}", price=self.money(amount), unit=self.one)

    def all_free(self) -> str:
        return self.say("{units} are free", units=self.many)


def _amount(properties: Mapping[str, object], key: str) -> Decimal:
    value = parse_decimal(properties.get(key, 0) if properties.get(key) is not None else 0)
    if value is None or isinstance(properties.get(key), bool | float):
        raise ValueError(key)
    return value


def _tiers(properties: Mapping[str, object], key: str, price_key: str) -> list[tuple[Decimal, Decimal | None,
                                                                                       Decimal, Decimal]]:
    """(from, to or None, price, flat) per range."""
    ranges = properties[key]
    if not isinstance(ranges, list) or not ranges:
        raise ValueError(key)
    tiers = []
    for item in ranges:
        to = None if item.get("to_value") is None else _amount(item, "to_value")
        tiers.append((_amount(item, "from_value"), to, _amount(item, price_key), _amount(item, "flat_amount")))
    return tiers


def _standard(words: _Words, properties: Mapping[str, object]) -> str:
    amount = _amount(properties, "amount")
    return words.per_one(amount) if amount else words.all_free()


def _package(words: _Words, properties: Mapping[str, object]) -> str:
    amount, size = _amount(properties, "amount"), _amount(properties, "package_size")
    free = _amount(properties, "free_units")
    text = words.say("{price} per {package}", price=words.money(amount), package=words.count(size))
    if free:
        text += words.say(" (first {number} free)", number=words.number(free))
    return text


def _graduated(words: _Words, properties: Mapping[str, object]) -> str:
    tiers = _tiers(properties, "graduated_ranges", "per_unit_amount")
    if len(tiers) == 1:
        _from, _to, price, flat = tiers[0]
        if not price and not flat:
            return words.all_free()
        return (words.per_one(price) + words.plus_flat(flat)) if price else words.flat(flat)

    def cost(price: Decimal, flat: Decimal, *, at: bool) -> str:
        if not price and not flat:
            return words.say("free")
        if not price:
            return words.flat(flat)
        each = words.say(N_("at {price} each") if at else N_("{price} each"), price=words.money(price))
        return each + words.plus_flat(flat)

    first_to = tiers[0][1]
    parts = [words.say("{first} {cost}", first=words.first(first_to), cost=cost(*tiers[0][2:], at=True))]
    for _from, to, price, flat in tiers[1:]:
        part = words.say("then {cost}", cost=cost(price, flat, at=False))
        parts.append(part if to is None else words.say("{part} up to {number}", part=part, number=words.number(to)))
    return words.say(", ").join(parts)


def _volume(words: _Words, properties: Mapping[str, object]) -> str:
    tiers = _tiers(properties, "volume_ranges", "per_unit_amount")

    def cost(price: Decimal, flat: Decimal) -> str:
        if not price and not flat:
            return words.say("free")
        if not price:
            return words.flat(flat)
        return words.per_one(price) + words.plus_flat(flat)

    if len(tiers) == 1:
        return cost(*tiers[0][2:]) if any(tiers[0][2:]) else words.all_free()
    parts = [words.say("{cost} up to {number}", cost=cost(*tiers[0][2:]), number=words.number(tiers[0][1]))]
    lower = tiers[0][1]
    for _from, to, price, flat in tiers[1:]:
        above = dict(cost=cost(price, flat), units=words.many, lower=words.number(lower))
        parts.append(words.say("{cost} for all {units} above {lower}", **above) if to is None else
                     words.say("{cost} for all {units} above {lower} up to {upper}", **above,
                               upper=words.number(to)))
        lower = to
    return words.say("; ").join(parts)


def _graduated_percentage(words: _Words, properties: Mapping[str, object]) -> str:
    tiers = _tiers(properties, "graduated_percentage_ranges", "rate")
    _from, first_to, rate, flat = tiers[0]
    text = words.say("{rate}{flat} of {name}", rate=words.percent(rate), flat=words.plus_flat(flat), name=words.name)
    if len(tiers) == 1:
        return text
    parts = [words.say("{part} up to {number}", part=text, number=words.number(first_to))]
    lower = first_to
    for _from, to, rate, flat in tiers[1:]:
        then = dict(rate=words.percent(rate), flat=words.plus_flat(flat))
        parts.append(words.say("then {rate}{flat} above {number}", **then, number=words.number(lower)) if to is None
                     else words.say("then {rate}{flat} up to {number}", **then, number=words.number(to)))
        lower = to
    return words.say(", ").join(parts)


def _percentage(words: _Words, properties: Mapping[str, object]) -> str:
    text = words.say("{rate} of {name}", rate=words.percent(_amount(properties, "rate")), name=words.name)
    fixed = _amount(properties, "fixed_amount")
    if fixed:
        text += words.say(" + {amount} per transaction", amount=words.money(fixed))
    free_events = _amount(properties, "free_units_per_events")
    free_total = _amount(properties, "free_units_per_total_aggregation")
    if free_events:
        first = words.first(free_events, one=words.say("transaction"), many=words.say("transactions"))
        text += (words.say(" ({first} free, up to {number})", first=first, number=words.number(free_total))
                 if free_total else words.say(" ({first} free)", first=first))
    elif free_total:
        text += words.say(" (first {number} free)", number=words.number(free_total))
    limits = []
    if properties.get("per_transaction_min_amount") is not None:
        limits.append(words.say("min {amount}", amount=words.money(_amount(properties, "per_transaction_min_amount"))))
    if properties.get("per_transaction_max_amount") is not None:
        limits.append(words.say("max {amount}", amount=words.money(_amount(properties, "per_transaction_max_amount"))))
    if limits:
        text += words.say(", {limits} per transaction", limits=words.say(", ").join(limits))
    return text


def _dynamic(words: _Words, properties: Mapping[str, object]) -> str:
    return words.say("priced per event by the amount sent")


# Per charge model known to billing.pricing: its price in words (tests/web/test_charge_models.py checks
# that every model has one).
DESCRIBERS: dict[str, Callable[[_Words, Mapping[str, object]], str]] = {
    "standard": _standard, "package": _package, "graduated": _graduated, "volume": _volume,
    "graduated_percentage": _graduated_percentage, "percentage": _percentage, "dynamic": _dynamic}


def coupon_frequency(frequency: str, periods: int | None = None, locale: str | None = DEFAULT_LOCALE) -> str:
    """How long a coupon applies, in words: "once", "for 3 periods", "forever" (Lago's frequency)."""
    if frequency == "recurring":
        return ngettext("for %(num)d period", "for %(num)d periods", periods or 0, locale) % {"num": periods or 0}
    words = {"once": N_("once"), "forever": N_("forever")}.get(frequency)
    return gettext(words, locale) if words else frequency.replace("_", " ")
