"""The coverage of Lago's API by Tally: which operations it serves, which fields it refuses.

Reads the table derived from Lago's description (tools/lago_operations.json), the API's routes (the Flask
url_map of the `api` blueprint, so new routes count alone) and the refusal registry (api/refusals.py), and
writes the coverage section of docs/api.md between its markers. tests/api/test_api_coverage.py fails when
the section is not what this writes: after adding routes or refusals, run

    .venv/bin/python -m tools.api_coverage
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from flask import Flask

from api.refusals import REFUSED_FIELDS, REFUSED_QUERY, ROOTLESS, error_key, operation_key

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api.md"
BEGIN, END = "<!-- coverage:begin (tools/api_coverage.py writes this part) -->", "<!-- coverage:end -->"
LAGO = json.loads((Path(__file__).with_name("lago_operations.json")).read_text())

# Why Lago's operations are not served yet: the first fragment of the path (or tag) that matches.
NOT_SERVED_REASONS = (
    ("entitlements", "feature entitlements are not built yet"),
    ("/features", "feature entitlements are not built yet"),
    ("/alerts", "usage alerts are not built yet"),
    ("lifetime_usage", "lifetime usage is not built yet"),
    ("fixed_charges", "fixed charges are not built yet"),
    ("/charges", "charges are changed through their plan or plan_overrides, not on their own yet"),
    ("/metadata", "metadata is not built yet"),
    ("progressive_billing", "progressive billing is not built yet"),
    ("/activity_logs", "the audit trail is kept, but not served as Lago's activity logs yet"),
    ("/api_logs", "API request logs are not kept"),
    ("/billing_entities", "one billing entity per organization: billing entities are not built"),
    ("/organizations", "organization settings are managed in the admin screens"),
    ("/customers/{external_customer_id}/", "a customer's own lists are not served yet: the top-level lists take "
                                           "external_customer_id"),
    ("/wallets/{lago_id}/", "not built yet"),
    ("estimate", "estimates are not built yet"),
    ("preview", "invoice previews are not built yet"),
)
DEFAULT_REASON = "not built yet"


def _reason(op: dict) -> str:
    where = f"{op['path']} {op['tag']}"
    return next((reason for fragment, reason in NOT_SERVED_REASONS if fragment in where), DEFAULT_REASON)


@cache
def served_keys() -> frozenset[str]:
    """Every operation the API blueprint serves (`GET /customers/{}`), read from a bare app's url_map."""
    from api.blueprint import api_blueprint

    app = Flask("coverage")
    app.register_blueprint(api_blueprint, url_prefix="/api/v1")
    return frozenset(operation_key(method, rule.rule) for rule in app.url_map.iter_rules()
                     if rule.rule.startswith("/api/v1/") for method in rule.methods - {"HEAD", "OPTIONS"})


def section() -> str:
    served = served_keys()
    rows, count = [], 0
    for op in LAGO["operations"]:
        key = f"{op['method']} {op['path']}"
        if operation_key(op["method"], op["path"]) in served:
            count += 1
            refused = [error_key(path, key not in ROOTLESS) for path in REFUSED_FIELDS.get(key, ())]
            refused += [f"?{name}" for name in REFUSED_QUERY.get(key, ())]
            note = ("refuses " + ", ".join(f"`{name}`" for name in refused)) if refused else "every field"
            rows.append(f"| `{key}` | served | {note} |")
        else:
            rows.append(f"| `{key}` | not served | {_reason(op)} |")
    total = len(LAGO["operations"])
    lines = [
        BEGIN,
        f"Tally serves **{count} of the {total} operations** of Lago's API ({LAGO['source']}). A served",
        "operation honours every field of its request, or answers `422` `not_supported_yet` naming the ones",
        "listed here (`?name`: a query parameter). An operation not served answers Lago's JSON `404`",
        "(`route_not_found`) or `405` (`method_not_allowed`).",
        "",
        "| Operation | Status | Fields |",
        "|---|---|---|",
        *rows,
        END,
    ]
    return "\n".join(lines)


def write() -> None:
    text = DOC.read_text() if DOC.exists() else ""
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: section(), text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + section() + "\n"
    DOC.write_text(text)


if __name__ == "__main__":
    write()
    print(f"wrote {DOC}")
