"""Small checks shared by every service's input validation (reason codes are Lago's)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, available_timezones

from billing.errors import ValidationFailed
from billing.money import is_currency, parse_decimal

_TIMEZONES = frozenset(available_timezones()) | {"UTC"}

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
MAX_PAGE = 2**31 - 1                    # ?page=
MAX_PER_PAGE = 100                      # ?per_page=


class Checker:
    """Collects reasons per field, then raises one ValidationFailed with all of them."""

    def __init__(self, data: Mapping[str, object] | None):
        self.data = data if isinstance(data, Mapping) else {}
        self.errors: dict[str, list[str]] = {}

    def fail(self, field: str, reason: str) -> None:
        self.errors.setdefault(field, []).append(reason)

    def string(self, field: str, *, required: bool = False, max_length: int = 255) -> str | None:
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

    def integer(self, field: str, *, required: bool = False, minimum: int | None = 0) -> int | None:
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
        if minimum is not None and value < minimum:
            self.fail(field, "value_is_out_of_range")
            return None
        return value

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
