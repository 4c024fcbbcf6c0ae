"""Times in answers: ISO 8601 UTC with a Z; event timestamps keep milliseconds (billing.serializers)."""

from datetime import UTC, datetime

import pytest

from billing.serializers import iso, iso_precise


@pytest.mark.parametrize(("moment", "whole", "precise"), [
    (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05Z", "2026-01-02T03:04:05Z"),
    (datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.678Z"),
    (datetime(2026, 1, 2, 3, 4, 5, 999, tzinfo=UTC), "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.000Z"),
    (datetime(2026, 12, 31, 23, 59, 59, 1000), "2026-12-31T23:59:59Z", "2026-12-31T23:59:59.001Z"),  # naive: UTC
])
def test_times_are_written_as_lago_writes_them(moment, whole, precise):
    assert iso(moment) == whole
    assert iso_precise(moment) == precise
    assert iso(moment) == moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_no_time_is_none():
    assert iso(None) is None
