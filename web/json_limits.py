"""What a JSON request body may hold beyond being valid JSON: the checks web.app.FastJSONProvider runs.

Each refusal is an `UnreadableJSON` (a ValueError, as for JSON that does not parse), which the API
answers with a 400 naming the reason.
"""

from __future__ import annotations

import re

# NOTE: Rails' JSON parser (Lago's) refuses documents nested deeper than 100 levels (`max_nesting`);
# Lago's deepest bodies (plan > charges > filters > properties > graduated ranges) use fewer than 10.
# Without a limit the standard library's parser hits Python's recursion limit near 1,000 levels.
MAX_JSON_DEPTH = 100

_OPENERS = (b"[", b"{")
# A \u escape of a surrogate (high D800-DBFF or low DC00-DFFF), in either case, maybe a lone one;
# or a surrogate itself, in a str read with "surrogatepass" (bytes holding one are not UTF-8).
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_NUL_ESCAPE = b"\\u0000"


class UnreadableJSON(ValueError):
    """Valid JSON that Tally refuses to read (too deep, a NUL character, a lone surrogate)."""


def too_deep() -> UnreadableJSON:
    return UnreadableJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")


def check_document(document: object, raw: bytes, *, surrogates_possible: bool) -> None:
    """Refuse `document` (read from `raw`) if it nests too deep or holds a string no database stores.

    A NUL character (PostgreSQL's text refuses it, SQLite's keeps it: refused for both) and a lone
    surrogate (no UTF-8 for it) can only arrive as escapes, so a body without such an escape, and
    with fewer brackets than the depth limit, is not walked at all.
    """
    deep = sum(raw.count(opener) for opener in _OPENERS) > MAX_JSON_DEPTH
    nul = _NUL_ESCAPE in raw
    surrogate = surrogates_possible and _SURROGATE.search(raw) is not None
    if deep or nul or surrogate:
        _walk(document, strings=nul or surrogate)


def _walk(document: object, *, strings: bool) -> None:
    # Level by level, keeping only the containers of the next one (a 100-event batch: ~200 of them
    # over 4 levels); the strings are looked at only when an escape says one may be refused.
    level = [document] if isinstance(document, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise too_deep()
        below: list[object] = []
        for node in level:
            children = node.values() if type(node) is dict else node
            below += [child for child in children if isinstance(child, dict | list)]
            if strings:
                _check_strings(node)
        level = below
    if strings and isinstance(document, str):
        _check_string(document)


def _check_strings(node: dict | list) -> None:
    if type(node) is dict:
        for key in node:
            _check_string(key)
        node = node.values()
    for child in node:
        if isinstance(child, str):
            _check_string(child)


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise UnreadableJSON("strings may not contain NUL characters (\\u0000)")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise UnreadableJSON("strings may not contain a lone surrogate (\\ud800-\\udfff)") from None
