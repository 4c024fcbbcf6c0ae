"""Request bodies read by orjson must mean what the standard library reads (web.app.FastJSONProvider)."""

from __future__ import annotations

import json
import math

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from web.app import FastJSONProvider

provider = FastJSONProvider(Flask(__name__))

scalars = (st.none() | st.booleans() | st.text()
           | st.integers(min_value=-(2**80), max_value=2**80)
           | st.floats(allow_nan=False, allow_infinity=False))
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                         | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=30)


def _same(left, right) -> bool:
    """Equal, with the types too (1 and 1.0 differ here: an integer must stay one)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return left == right


@settings(max_examples=300, deadline=None)
@given(documents)
def test_any_document_reads_as_the_standard_library_reads_it(document):
    body = json.dumps(document).encode()
    assert _same(provider.loads(body), json.loads(body))


@pytest.mark.parametrize("body", [
    b'{"n": 9223372036854775807, "m": -9223372036854775808, "u": 18446744073709551615}',
    b'{"big": 123456789012345678901234567890, "neg": -98765432109876543210}',
    b'{"f": 0.1, "g": 1e-7, "h": 1.7976931348623157e308, "i": 5e-324, "j": -0.0, "k": 1E400}',
    b'{"nan": NaN, "inf": Infinity}',
    b'{"dup": 1, "dup": 2}',
    b'{"escaped": "\\u00e9\\ud83d\\ude00", "lone": "\\ud800"}',
    '\ufeff{"bom": true}'.encode(),
    '{"utf16": "é"}'.encode("utf-16"),
    "{\"text\": \"é\"}",
])
def test_edge_cases_read_as_the_standard_library_reads_them(body):
    assert _same(provider.loads(body), json.loads(body))


def test_what_neither_reads_is_refused_by_both():
    with pytest.raises(ValueError):
        json.loads(b"{not json")
    with pytest.raises(ValueError):
        provider.loads(b"{not json")
