"""Tier ranges shared by graduated, graduated_percentage and volume: validation and the walk through tiers.

A list of ranges `{from_value, to_value, <price field>, flat_amount}` is valid when the first starts at
0, each next one starts at the previous `to_value` (adjacent: 0–10, 10–∞) or one above it (Lago's
older style: 0–10, 11–∞), every `to_value` but the last is above its `from_value`, and the last is
null (open-ended).

Units are counted by the previous tier's `to_value` ("lower"), which covers both styles at once:
a tier holds `clamp(u, lower, to_value) − lower` units. That is docs/billing.md's
`min(u, to) − from + 1` for 0–10, 11–∞ ranges and `min(u, to) − from` for adjacent ones, and it puts a
fractional `u` that falls between two non-adjacent tiers (10.5 with 0–10, 11–∞) into the upper one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from billing.pricing.core import ZERO, add_error, per_unit, read_amount

# NOTE: the bounds rules are Lago's `Validators::RangeBoundsValidator` (from_value equal to the
# previous to_value, or to it + 1; to_value above from_value; last to_value null), except that Tally
# requires the first range to start at exactly 0 (Lago's check would also let it start at 1, which
# leaves unit 0–1 unpriced) — docs/billing.md, Pricing; Lago API docs ("first range from_value 0").


@dataclass(frozen=True)
class Tier:
    from_value: Decimal
    to_value: Decimal | None
    unit_price: Decimal  # major units per unit (per_unit_amount, or rate ÷ 100)
    flat_amount: Decimal
    raw_price: Decimal  # the property as written (per_unit_amount, or the rate in percent)


@dataclass(frozen=True)
class TierUse:
    tier: Tier
    units: Decimal
    per_unit_total: Decimal
    flat_amount: Decimal

    @property
    def total(self) -> Decimal:
        return self.per_unit_total + self.flat_amount


def validate_ranges(errors: dict[str, list[str]], properties: Mapping[str, object], *, key: str, price_field: str,
                    price_reason: str) -> None:
    """Lago's reasons: `missing_<key>`, `invalid_<key>` (bounds), `<price_field>`/`flat_amount` invalid."""
    ranges = properties.get(key)
    if ranges is None or (isinstance(ranges, list | tuple) and not ranges):
        add_error(errors, key, f"missing_{key}")
        return
    if not isinstance(ranges, list | tuple) or not all(isinstance(item, Mapping) for item in ranges):
        add_error(errors, key, f"invalid_{key}")
        return
    bounds_valid = True
    previous_to: Decimal | None = ZERO
    last = len(ranges) - 1
    for index, item in enumerate(ranges):
        if read_amount(item.get(price_field)) is None:
            add_error(errors, price_field, price_reason)
        if read_amount(item.get("flat_amount")) is None:
            add_error(errors, "flat_amount", "invalid_amount")
        from_value = read_amount(item.get("from_value"))
        raw_to = item.get("to_value")
        to_value = None if raw_to is None else read_amount(raw_to)
        if from_value is None or (raw_to is not None and to_value is None):
            bounds_valid = False
        elif index == 0:
            bounds_valid &= from_value == 0
        else:
            bounds_valid &= previous_to is not None and from_value in (previous_to, previous_to + 1)
        if index == last:
            bounds_valid &= raw_to is None
        else:
            bounds_valid &= to_value is not None and from_value is not None and to_value > from_value
        previous_to = to_value
    if not bounds_valid:
        add_error(errors, key, f"invalid_{key}")


def read_tiers(properties: Mapping[str, object], *, key: str, price_field: str, percent: bool) -> list[Tier]:
    """The validated ranges as Tiers (a rate in percent becomes a price per unit: rate ÷ 100)."""
    ranges = properties[key]
    if not isinstance(ranges, list | tuple):
        raise TypeError(f"{key} must be a list")
    tiers = []
    for item in ranges:
        raw_price = _valid(item.get(price_field))
        raw_to = item.get("to_value")
        tiers.append(Tier(from_value=_valid(item.get("from_value")),
                          to_value=None if raw_to is None else _valid(raw_to),
                          unit_price=per_unit(raw_price) if percent else raw_price,
                          flat_amount=_valid(item.get("flat_amount")), raw_price=raw_price))
    return tiers


def _valid(value: object) -> Decimal:
    amount = read_amount(value)
    if amount is None:
        raise ValueError(f"not a non-negative decimal: {value!r}")  # validate_ranges refuses it first
    return amount


def graduate(units: Decimal, tiers: list[Tier]) -> list[TierUse]:
    """The tiers that `units` reaches, each pricing only its own units plus its flat amount.

    The first tier is always reached, so its flat amount is due even at 0 units; a later tier is
    reached when units exceed the previous tier's `to_value`. Negative units count as 0.
    """
    # NOTE: first tier's flat amount at 0 units: docs/billing.md, Pricing ("charged even at 0 units"), and
    # Lago since getlago/lago-api#5760 ("apply flat fee even when usage is zero", graduated, volume and
    # graduated_percentage alike).
    units = max(units, ZERO)
    used = []
    lower = ZERO
    for tier in tiers:
        upper = units if tier.to_value is None else min(units, tier.to_value)
        in_tier = max(upper - lower, ZERO)
        used.append(TierUse(tier=tier, units=in_tier, per_unit_total=in_tier * tier.unit_price,
                            flat_amount=tier.flat_amount))
        if tier.to_value is None or units <= tier.to_value:
            break
        lower = tier.to_value
    return used


def volume_tier(units: Decimal, tiers: list[Tier]) -> Tier:
    """The tier `units` falls in: the first whose `to_value` is null or ≥ units (negative units: the first)."""
    for tier in tiers:
        if tier.to_value is None or units <= tier.to_value:
            return tier
    return tiers[-1]  # unreachable for validated ranges (the last to_value is null)
