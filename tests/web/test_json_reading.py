"""Request bodies read by orjson must mean what the standard library reads (web.app.FastJSONProvider)."""

from __future__ import annotations

import json
import math

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from web.app import FastJSONProvider
from web.json_limits import MAX_JSON_DEPTH, UnreadableJSON, _depth_from_bytes

provider = FastJSONProvider(Flask(__name__))

# Text without NUL characters or lone surrogates, which web.json_limits refuses (tested below).
alphabet = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
scalars = (st.none() | st.booleans() | st.text(alphabet)
           | st.integers(min_value=-(2**80), max_value=2**80)
           | st.floats(allow_nan=False, allow_infinity=False))
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                         | st.dictionaries(st.text(alphabet, max_size=8), inner, max_size=5),
                         max_leaves=30)


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
    b'{"escaped": "\\u00e9\\ud83d\\ude00", "pair": "\\uD83D\\uDE00"}',
    b'{"text": "a \\\\u0000 is six characters here, not a NUL"}',
    b'{"deep": ' + b"[" * 99 + b"]" * 99 + b"}",  # 100 levels with the object around them: the limit
    b'{"s": "' + b"[" * 300 + b'", "t": "\\"' + b"{" * 200 + b'", "deep": ' + b"[{}," * 98 + b"1" + b"]" * 98 + b"}",
    b'[' + b'{"a": [1, {"b": "]]"}], "c": "{{"},' * 200 + b'{}]',  # many brackets, 4 levels

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


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"deep": ' + b"[" * 100 + b"]" * 100 + b"}", "nested deeper than 100 levels"),
    (b"[" * 1500 + b"]" * 1500, "nested deeper than 100 levels"),  # beyond orjson's own limit
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 100 levels"),  # the standard library's RecursionError
    # Brackets inside strings must not hide the depth (the bytes' skeleton skips strings) ...
    (b'{"s": "]]]]]]]]]]", "deep": ' + b"[" * 100 + b"]" * 100 + b', "t": "[[[["}', "nested deeper than 100 levels"),
    # ... nor an escaped quote make the skeleton misread where strings end.
    (b'{"s": "\\"]]]]]]]]]]", "deep": ' + b"[" * 100 + b"]" * 100 + b"}", "nested deeper than 100 levels"),
    (b'{"s": "\\\\", "deep": ' + b"[" * 100 + b"]" * 100 + b"}", "nested deeper than 100 levels"),
    (b'{"k": "a\\u0000b"}', "NUL characters"),
    (b'{"a\\u0000": 1}', "NUL characters"),
    (b'{"big": 12345678901234567890123, "k": ["\\u0000"]}', "NUL characters"),  # the standard library's path
    (b'{"lone": "\\ud800"}', "lone surrogate"),
    (b'{"low": ["x\\uDFFF"]}', "lone surrogate"),
    (b'{"\\udbff": 1}', "lone surrogate"),
    ('{"str": "\ud800"}', "lone surrogate"),
])
def test_what_no_database_stores_is_refused_with_its_reason(body, reason):
    with pytest.raises(UnreadableJSON, match=reason):
        provider.loads(body)


def _depth(document) -> int:
    if isinstance(document, dict | list):
        children = document.values() if isinstance(document, dict) else document
        return 1 + max((_depth(child) for child in children), default=0)
    return 0


tricky = st.text(st.sampled_from('[]{}"\\ a:,'), max_size=6)  # strings that look like structure
tricky_documents = st.recursive(st.none() | st.integers() | tricky, lambda inner: st.lists(inner, max_size=4)
                                | st.dictionaries(tricky, inner, max_size=4), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(tricky_documents, st.integers(min_value=-2, max_value=2))
def test_the_depth_read_from_the_bytes_is_the_documents_depth(document, around_the_limit):
    wrap = max(MAX_JSON_DEPTH - _depth(document) + around_the_limit, 0)
    body = ("[" * wrap + json.dumps(document, ensure_ascii=False) + "]" * wrap).encode()
    # None: an escaped quote, the document is walked instead.
    assert _depth_from_bytes(body) in (None, wrap + _depth(document) <= MAX_JSON_DEPTH)
    if wrap + _depth(document) > MAX_JSON_DEPTH:
        with pytest.raises(UnreadableJSON, match="nested deeper"):
            provider.loads(body)
    else:
        assert _same(provider.loads(body), json.loads(body))
