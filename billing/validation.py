"""Small checks shared by every service's input validation (reason codes are Lago's)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale

from billing.errors import NotFound, ValidationFailed
from billing.money import is_currency, parse_decimal

_TIMEZONES = frozenset(available_timezones()) | {"UTC"}
# ISO 3166 alpha-2 country codes (CLDR's two-letter regions, less its "unknown" and grouping codes).
_COUNTRIES = frozenset(code for code in Locale("en").territories
                       if len(code) == 2 and code.isalpha() and code not in {"ZZ", "QO", "EU", "EZ", "UN", "XA", "XB"})
# ISO 639-1 language codes (CLDR's two-letter languages), as Lago's document_locale.
_LANGUAGES = frozenset(code for code in Locale("en").languages if len(code) == 2 and code.isalpha())

# NOTE: the ranges every field of the API is held to (docs/billing.md, "Limits"). One table, read by
# the Checker below, the services and the OpenAPI document (api/openapi.py), so a limit is stated
# once. Amounts in minor units stay far enough below 2**63 that the sums of an invoice still fit a
# BIGINT; decimals fit NUMERIC(40, 15) with room for sums of many events.
MAX_AMOUNT_CENTS = 10**15 - 1           # any *_amount_cents: ten trillion euros, less a cent
MAX_DECIMAL = Decimal("1e15")           # exclusive bound on |unit price|, |credits|, |rate|, |event value|
MAX_DECIMAL_PLACES = 15                 # digits after the point a decimal may carry
MAX_DAYS = 3650                         # trial periods, grace periods, payment terms (ten years)
MAX_STRING = 255                        # names, codes, external ids: the columns' own width
MAX_TEXT = 1000                         # descriptions, invoice display names and other free text
MAX_METADATA_KEY = 20                   # Lago's customer metadata: key length
MAX_METADATA_VALUE = 100                # Lago's customer metadata: value length
MAX_METADATA_COUNT = 5                  # Lago's customer metadata: entries per customer
MAX_ITEM_METADATA_KEYS = 50             # Lago's item metadata (plans, wallets, credit notes): keys per item
MAX_ITEM_METADATA_KEY = 100             # ... key length
MAX_ITEM_METADATA_VALUE = 255           # ... value length (a value may also be null)
MAX_PAGE = 2**31 - 1                    # ?page= (a larger page is the last one that can exist: empty)
MAX_PER_PAGE = 100                      # ?per_page= (more is served as 100, not refused)
MAX_INTEGER = 2**31 - 1                 # any other integer (priorities, counts): an INTEGER column
MAX_PERIODS = 1000                      # ?periods_count= of past usage


class Checker:
    """Collects reasons per field, then raises one ValidationFailed with all of them."""

    def __init__(self, data: Mapping[str, object] | None):
        self.data = data if isinstance(data, Mapping) else {}
        self.errors: dict[str, list[str]] = {}

    def fail(self, field: str, reason: str) -> None:
        if reason == "value_is_mandatory" and field in self.errors:
            return  # it was sent, and refused: not missing
        self.errors.setdefault(field, []).append(reason)

    def string(self, field: str, *, required: bool = False, max_length: int = MAX_STRING) -> str | None:
        value = self.data.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(field, "value_is_mandatory")
            return None
        if not isinstance(value, str):
            self.fail(field, "invalid_type")
            return None
        if len(value) > max_length:
            self.fail(field, "value_is_too_long")
            return None
        return value.strip()

    def boolean(self, field: str) -> bool | None:
        value = self.data.get(field)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.fail(field, "invalid_type")
            return None
        return value

    def text(self, field: str) -> str | None:
        """Free text (descriptions): up to MAX_TEXT characters."""
        return self.string(field, max_length=MAX_TEXT)

    def integer(self, field: str, *, required: bool = False, minimum: int | None = 0,
                maximum: int = MAX_INTEGER) -> int | None:
        value = self.data.get(field)
        if value is None or value == "":
            if required:
                self.fail(field, "value_is_mandatory")
            return None
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                self.fail(field, "invalid_type")
                return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, "invalid_type")
            return None
        if (minimum is not None and value < minimum) or value > maximum or value < -maximum:
            self.fail(field, "value_is_out_of_range")
            return None
        return value

    def amount_cents(self, field: str, *, required: bool = False, minimum: int | None = 0) -> int | None:
        """An amount in minor units: minimum..MAX_AMOUNT_CENTS (and no less than -MAX_AMOUNT_CENTS)."""
        return self.integer(field, required=required, minimum=minimum, maximum=MAX_AMOUNT_CENTS)

    def days(self, field: str, *, fractional: bool = False) -> int | Decimal | None:
        """A number of days, 0..MAX_DAYS (whole unless `fractional`, as Lago's trial_period)."""
        if fractional:
            value = self.decimal(field)
            if value is not None and value > MAX_DAYS:
                self.fail(field, "value_is_out_of_range")
                return None
            return value
        return self.integer(field, maximum=MAX_DAYS)

    def decimal(self, field: str, *, required: bool = False, minimum: Decimal | None = Decimal(0)) -> Decimal | None:
        value = self.data.get(field)
        if value is None:
            if required:
                self.fail(field, "value_is_mandatory")
            return None
        parsed = parse_decimal(value)
        if parsed is None:
            self.fail(field, "invalid_value")
            return None
        if not decimal_in_range(parsed):
            self.fail(field, "value_is_out_of_range")
            return None
        parsed = parsed if parsed else Decimal(0)  # 0E-400 is 0, and is stored as such
        if minimum is not None and parsed < minimum:
            self.fail(field, "value_is_out_of_range")
            return None
        return parsed

    def choice(self, field: str, choices: tuple[str, ...], *, required: bool = False) -> str | None:
        value = self.data.get(field)
        if value is None or value == "":
            if required:
                self.fail(field, "value_is_mandatory")
            return None
        if value not in choices:
            self.fail(field, "value_is_invalid")
            return None
        return value

    def currency(self, field: str, *, required: bool = False) -> str | None:
        value = self.data.get(field)
        if value is None:
            if required:
                self.fail(field, "value_is_mandatory")
            return None
        if not is_currency(value):
            self.fail(field, "value_is_invalid")
            return None
        return value

    def numbers_in_range(self, field: str, value: object) -> None:
        """Hold every number inside `value` (charge properties: prices, tiers, rates...) to MAX_DECIMAL and
        MAX_DECIMAL_PLACES; a reason goes on the number's path (`properties.graduated_ranges.0.to_value`)."""
        stack: list[tuple[str, object]] = [(field, value)]
        while stack:
            path, item = stack.pop()
            if isinstance(item, Mapping):
                stack.extend((f"{path}.{key}", child) for key, child in item.items())
            elif isinstance(item, list):
                stack.extend((f"{path}.{index}", child) for index, child in enumerate(item))
            elif not isinstance(item, bool) and isinstance(item, int | float | str | Decimal):
                number = parse_decimal(item)
                if number is not None and not decimal_in_range(number):
                    self.fail(path, "value_is_out_of_range")

    def country(self, field: str) -> str | None:
        """An ISO 3166 alpha-2 code, upper-cased (Lago's reason: country_code_invalid)."""
        value = self.data.get(field)
        if value is None or value == "":
            return None
        if not isinstance(value, str) or value.strip().upper() not in _COUNTRIES:
            self.fail(field, "country_code_invalid")
            return None
        return value.strip().upper()

    def language(self, field: str) -> str | None:
        """An ISO 639-1 language code, lower-cased (Lago's document_locale)."""
        value = self.data.get(field)
        if value is None or value == "":
            return None
        if not isinstance(value, str) or value.strip().lower() not in _LANGUAGES:
            self.fail(field, "value_is_invalid")
            return None
        return value.strip().lower()

    def metadata(self, field: str = "metadata") -> list[dict] | None:
        """Lago's customer metadata: up to MAX_METADATA_COUNT `{key, value, display_in_invoice}`, unique keys of
        1..MAX_METADATA_KEY characters, values of 1..MAX_METADATA_VALUE (lago-api Metadata::CustomerMetadata)."""
        raw = self.data.get(field)
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(m, Mapping) for m in raw):
            self.fail(field, "invalid_type")
            return None
        if len(raw) > MAX_METADATA_COUNT:
            self.fail(field, "too_many_keys")
            return None
        items = []
        for item in raw:
            key, value = item.get("key"), item.get("value")
            key = str(key) if isinstance(key, str | int) and not isinstance(key, bool) else None
            value = str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
            if not key or not value:
                self.fail(field, "invalid_key_value_pair")
                return None
            if len(key) > MAX_METADATA_KEY or len(value) > MAX_METADATA_VALUE:
                self.fail(field, "value_is_too_long")
                return None
            items.append({"key": key, "value": value, "display_in_invoice": bool(item.get("display_in_invoice"))})
        if len({item["key"] for item in items}) != len(items):
            self.fail(field, "value_already_exist")
            return None
        return items

    def item_metadata(self, field: str = "metadata") -> dict[str, str | None] | None:
        """Lago's item metadata (plans, wallets, credit notes): an object of up to MAX_ITEM_METADATA_KEYS keys of
        1..MAX_ITEM_METADATA_KEY characters, each a text of up to MAX_ITEM_METADATA_VALUE or null (lago-api
        Metadata::ItemMetadata). None when absent or null."""
        raw = self.data.get(field)
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            self.fail(field, "invalid_type")
            return None
        if len(raw) > MAX_ITEM_METADATA_KEYS:
            self.fail(field, "too_many_keys")
            return None
        for key, value in raw.items():
            if not key or len(key) > MAX_ITEM_METADATA_KEY:
                self.fail(field, "key_too_long" if key else "invalid_key_value_pair")
                return None
            if value is not None and not isinstance(value, str):
                self.fail(field, "invalid_key_value_pair")
                return None
            if value is not None and len(value) > MAX_ITEM_METADATA_VALUE:
                self.fail(field, "value_too_long")
                return None
        return dict(raw)

    def timezone(self, field: str) -> str | None:
        value = self.data.get(field)
        if value is None:
            return None
        if not isinstance(value, str) or value not in _TIMEZONES:
            self.fail(field, "invalid_timezone")
            return None
        ZoneInfo(value)
        return value

    def datetime(self, field: str, *, required: bool = False) -> datetime | None:
        value = self.data.get(field)
        if value is None:
            if required:
                self.fail(field, "value_is_mandatory")
            return None
        parsed = parse_datetime(value)
        if parsed is None:
            self.fail(field, "invalid_date")
        return parsed

    def done(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


def decimal_in_range(value: Decimal) -> bool:
    """|value| < MAX_DECIMAL with at most MAX_DECIMAL_PLACES significant decimals (trailing zeros do not count).

    NOTE: on the ingestion path (an event's value): C-level Decimal calls only, no tuple of digits.
    """
    if not value.is_finite():
        return False
    if not value:
        return True  # 0E-400 is 0
    magnitude = value.adjusted()  # the power of ten of the leading digit
    if not -MAX_DECIMAL_PLACES <= magnitude < _MAX_MAGNITUDE:
        return False
    return value.quantize(_SMALLEST_PLACE, context=_PLACES_CONTEXT) == value


_MAX_MAGNITUDE = MAX_DECIMAL.adjusted()
_SMALLEST_PLACE = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)
_PLACES_CONTEXT = Context(prec=_MAX_MAGNITUDE + MAX_DECIMAL_PLACES + 2)


def parse_datetime(value: object) -> datetime | None:
    """An aware UTC datetime from ISO 8601 (a naive one is taken as UTC) or Unix seconds."""
    if type(value) is int:  # whole Unix seconds, the usual form: no Decimal needed
        try:
            return _in_range(datetime.fromtimestamp(value, UTC))
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return _in_range(_from_unix(Decimal(str(value))))
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    numeric = parse_decimal(text)
    if numeric is not None:
        return _in_range(_from_unix(numeric))
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return _in_range(parsed)


def _in_range(moment: datetime | None) -> datetime | None:
    # Billing before the Unix epoch or past year 9999 is a typo, not a date (and would make the
    # clock catch up centuries of periods).
    return moment if moment is not None and EARLIEST <= moment < LATEST else None


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _from_unix(seconds: Decimal) -> datetime | None:
    try:
        whole = int(seconds)
        micros = int(((seconds - whole) * 1_000_000).to_integral_value())
        return datetime.fromtimestamp(whole, UTC).replace(microsecond=0) + timedelta(microseconds=micros)
    except (OverflowError, OSError, ValueError):
        return None



def changed_item_metadata(current: Mapping[str, str | None] | None, sent: Mapping[str, str | None] | None, *,
                          partial: bool) -> dict[str, str | None] | None:
    """An item's metadata after a change, as Lago's Metadata::UpdateItemService makes it. Pure.

    Replace (not `partial`): what was sent, none when null was sent. Merge (`partial`): the sent keys added to or
    over the current ones; nothing sent leaves the item as it is (none stays none).
    """
    if not partial:
        return None if sent is None else dict(sent)
    if current is None and not sent:
        return None
    return {**(current or {}), **(sent or {})}


def item_metadata_change(data: Mapping[str, object] | None, *,
                         partial: bool) -> Callable[[dict | None], dict | None]:
    """The change `{"metadata": {...}}` asks of an item's metadata, checked now and applied to the stored value.

    A merge that would hold more than MAX_ITEM_METADATA_KEYS keys is refused (`too_many_keys`) when applied.
    """
    check = Checker(data)
    sent = check.item_metadata("metadata")
    check.done()

    def apply(current: dict | None) -> dict | None:
        changed = changed_item_metadata(current, sent, partial=partial)
        if changed is not None and len(changed) > MAX_ITEM_METADATA_KEYS:
            raise ValidationFailed({"metadata": ["too_many_keys"]})
        return changed
    return apply


def item_metadata_key_removal(key: str) -> Callable[[dict | None], dict | None]:
    """The change that removes one key of an item's metadata (404 `metadata_not_found` when it has none)."""
    def apply(current: dict | None) -> dict | None:
        if current is None:
            raise NotFound("metadata")
        return {name: value for name, value in current.items() if name != key}
    return apply
