"""Request parsing and response helpers shared by the resource modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, g, jsonify, request
from werkzeug.exceptions import BadRequest

from billing.pagination import Page
from billing.validation import MAX_PAGE, MAX_PER_PAGE
from web.json_limits import UnreadableJSON


def organization_id() -> str:
    return g.organization_id


def read_json() -> Any:
    """The request's JSON document, None without a JSON body; 400 naming why one cannot be read."""
    raw = request.get_data(cache=True) if request.is_json else b""
    if not raw.strip():  # e.g. lago-python-client's DELETE: a JSON content type, no body
        return None
    try:
        return current_app.json.loads(raw)
    except UnreadableJSON as error:
        raise BadRequest(str(error)) from None
    except ValueError:  # not JSON at all, or not UTF-8
        raise BadRequest("the body is not valid JSON") from None


def body(root: str) -> dict[str, Any]:
    """The object under the request's root key (`{"customer": {...}}`); 400 if it is missing."""
    data = read_json()
    if not isinstance(data, dict) or not isinstance(data.get(root), dict):
        raise BadRequest(f"param is missing or the value is empty: {root}")
    return data[root]


def json_body() -> dict[str, Any]:
    data = read_json()
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def page_args() -> dict[str, int]:
    def number(name: str, default: int) -> int:
        raw = request.args.get(name)
        if raw is None or raw == "":
            return default
        try:
            return max(int(raw), 1)
        except ValueError:
            raise BadRequest(f"{name} must be a positive integer") from None

    # NOTE: past the limits (docs/billing.md, Limits) a page is served, not refused: per_page above
    # MAX_PER_PAGE as MAX_PER_PAGE, a page above MAX_PAGE as MAX_PAGE (empty, like any page past the end).
    return {"page": min(number("page", 1), MAX_PAGE), "per_page": min(number("per_page", 20), MAX_PER_PAGE)}


# NOTE: Lago reads a boolean filter as Rails casts one (ActiveModel::Type::Boolean): absent or empty is no filter,
# these are false, anything else is true.
_FALSE_WORDS = frozenset({"0", "f", "false", "off"})


def flag_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None or not raw.strip():
        return None
    return raw.strip().lower() not in _FALSE_WORDS


def one(root: str, payload: dict[str, Any]):
    return jsonify({root: payload})


def many(root: str, page: Page, serialize: Callable[[Any], dict[str, Any]]):
    return jsonify({root: [serialize(item) for item in page.items], "meta": page.meta})
