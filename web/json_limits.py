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


def check_document(document: object, raw: bytes, *, utf8: bool) -> None:
    """Refuse `document` (read from `raw`) if it nests too deep or holds a string no database stores.

    A NUL character (PostgreSQL's text refuses it, SQLite's keeps it: refused for both) and a lone
    surrogate (no UTF-8 for it) can only arrive as escapes, so a body without such an escape is not
    walked for them. Its depth is read from its bytes when they are UTF-8 (what orjson read) and
    hold no escaped quote; else the document is walked.
    """
    strings = _NUL_ESCAPE in raw or (not utf8 and _SURROGATE.search(raw) is not None)
    if utf8:
        shallow = _depth_from_bytes(raw)
    else:
        shallow = sum(raw.count(opener) for opener in _OPENERS) <= MAX_JSON_DEPTH or None
    if shallow is False:
        raise too_deep()
    if strings or not shallow:
        _walk(document, strings=strings)


_BRACKETS_AND_QUOTES = b'[]{}"'
_ALL_BUT_BRACKETS_AND_QUOTES = bytes(byte for byte in range(256) if byte not in _BRACKETS_AND_QUOTES)
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_QUOTED = re.compile(rb'"[^"]*"')


def _depth_from_bytes(raw: bytes) -> bool | None:
    """Whether valid UTF-8 JSON nests at most MAX_JSON_DEPTH levels, from its bytes at C speed; None
    when they cannot tell (an escaped quote: where strings end is then unclear without parsing).

    Its skeleton is its brackets outside strings, all of one kind; each pass takes away the innermost
    pairs, so the number of passes to empty it is the depth (a 100-event batch: 4 passes).
    """
    if b"\\" in raw and b'\\"' in raw:  # the first search is the fast one (a single byte)
        return None
    # Most strings hold no bracket: they are `""` in the skeleton, gone in one C pass (two strings side
    # by side merge into one: only `:` or `,` stood between them). The others go by pattern.
    skeleton = raw.translate(_ONE_KIND, _ALL_BUT_BRACKETS_AND_QUOTES).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = _QUOTED.sub(b"", skeleton)
    if len(skeleton) <= 2 * MAX_JSON_DEPTH:  # too few brackets to nest too deep
        return True
    for _ in range(MAX_JSON_DEPTH):
        if not skeleton:
            return True
        skeleton = skeleton.replace(b"[]", b"")
    return not skeleton


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
