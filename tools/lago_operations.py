"""Derive Tally's table of Lago's API operations (tools/lago_operations.json) from Lago's openapi.yaml.

Lago's OpenAPI description (getlago/lago-openapi) is AGPL: Tally does not vendor it. What it keeps is a
table of facts derived from it: each operation's method, path, operationId and tag, its query
parameters, and the request body's root key and field paths, each with its type and one value that fits
the schema (built here from the type, enum and format; no text of the description is carried over).

    .venv/bin/python -m tools.lago_operations /path/to/openapi.yaml
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

TABLE = Path(__file__).with_name("lago_operations.json")
METHODS = ("get", "post", "put", "patch", "delete")
MAX_DEPTH = 6


def _resolve(spec: dict, schema: dict | None) -> dict:
    """The schema with $ref followed and allOf merged (properties and required of every part)."""
    schema = schema or {}
    seen = 0
    while "$ref" in schema and seen < 20:
        target: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    if "allOf" in schema:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _resolve(spec, part)
            for key, value in part.items():
                if key == "properties":
                    merged.setdefault("properties", {}).update(value)
                elif key == "required":
                    merged["required"] = sorted({*merged.get("required", []), *value})
                else:
                    merged.setdefault(key, value)
        schema = merged
    if "oneOf" in schema or "anyOf" in schema:
        choices = [_resolve(spec, s) for s in schema.get("oneOf") or schema.get("anyOf")]
        objects = [c for c in choices if c.get("type") == "object" or "properties" in c]
        schema = objects[0] if objects else choices[0]
    return schema


def _type(schema: dict) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind is None and "properties" in schema:
        kind = "object"
    return kind or "string"


def _example(schema: dict) -> Any:
    """A value that fits the schema: its own example when that is a plain value, else one made from its type,
    enum and format (no prose is carried over)."""
    example = schema.get("example")
    if isinstance(example, str | int | float | bool) and not (isinstance(example, str) and len(example) > 60):
        return example
    if schema.get("enum"):
        choices = [value for value in schema["enum"] if value is not None]
        return choices[0] if choices else None
    kind, fmt = _type(schema), schema.get("format")
    if kind == "boolean":
        return True
    if kind == "integer":
        return max(int(schema.get("minimum", 1) or 1), 1)
    if kind == "number":
        return 1
    if kind == "array":
        return []
    if kind == "object":
        return {}
    if fmt == "date-time":
        return "2026-01-01T00:00:00Z"
    if fmt == "date":
        return "2026-01-01"
    if fmt == "uuid":
        return "1a901a90-1a90-1a90-1a90-1a901a901a90"
    if fmt == "email":
        return "someone@example.com"
    if fmt == "uri" or fmt == "url":
        return "https://example.com/x"
    return "x1"


def _fields(spec: dict, schema: dict, prefix: str, depth: int = 0) -> list[dict]:
    """Every field path under an object schema: `a`, `a.b`, `a[].b` (arrays of objects)."""
    out: list[dict] = []
    schema = _resolve(spec, schema)
    required = set(schema.get("required", []))
    for name, sub in sorted((schema.get("properties") or {}).items()):
        sub = _resolve(spec, sub)
        path = f"{prefix}{name}"
        kind = _type(sub)
        entry: dict[str, Any] = {"path": path, "type": kind, "required": name in required}
        if sub.get("enum"):
            entry["enum"] = [value for value in sub["enum"] if value is not None]
        items = _resolve(spec, sub.get("items")) if kind == "array" else {}
        if kind == "array":
            entry["items"] = _type(items)
        if sub.get("readOnly"):
            continue
        entry["example"] = _example(sub)
        if kind == "array" and _type(items) not in ("object", "array"):
            entry["example"] = [_example(items)]
        out.append(entry)
        if depth >= MAX_DEPTH:
            continue
        if kind == "object" and sub.get("properties"):
            out.extend(_fields(spec, sub, f"{path}.", depth + 1))
        elif kind == "array" and _type(items) == "object" and items.get("properties"):
            out.extend(_fields(spec, items, f"{path}[].", depth + 1))
    return out


def _body(spec: dict, operation: dict) -> dict | None:
    """The request body's root key (when it has exactly one) and its fields, as paths from the body's top."""
    content = (operation.get("requestBody") or {}).get("content") or {}
    schema = (content.get("application/json") or {}).get("schema")
    if schema is None:
        return None
    schema = _resolve(spec, schema)
    properties = schema.get("properties") or {}
    root = next(iter(properties)) if len(properties) == 1 else None
    return {"root": root, "fields": _fields(spec, schema, "")}


def _query(spec: dict, parameters: list[dict]) -> list[dict]:
    out = []
    for parameter in parameters:
        parameter = _resolve(spec, parameter)
        if parameter.get("in") != "query":
            continue
        schema = _resolve(spec, parameter.get("schema"))
        name = parameter["name"]
        example = _example(schema)
        if _type(schema) == "array":
            example = _example(_resolve(spec, schema.get("items")))
        out.append({"name": name, "type": _type(schema), "example": example})
    return out


def derive(spec: dict) -> dict:
    operations = []
    for path, item in spec["paths"].items():
        shared = item.get("parameters") or []
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            operations.append({
                "method": method.upper(), "path": path, "operation_id": operation.get("operationId"),
                "tag": (operation.get("tags") or ["other"])[0],
                "query": _query(spec, [*shared, *(operation.get("parameters") or [])]),
                "body": _body(spec, operation),
            })
    return {"source": f"getlago/lago-openapi openapi.yaml {spec['info']['version']}",
            "operations": sorted(operations, key=lambda op: (op["path"], op["method"]))}


def main(argv: list[str]) -> int:
    spec = yaml.safe_load(Path(argv[1]).read_text())
    TABLE.write_text(json.dumps(derive(spec), indent=1, sort_keys=True) + "\n")
    table = json.loads(TABLE.read_text())
    print(f"{len(table['operations'])} operations written to {TABLE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
