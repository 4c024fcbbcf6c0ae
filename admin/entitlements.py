"""The feature editors' forms, read back: a feature's privilege rows, and the features section of the plan editor
and of a subscription's override editor (a value per privilege, blank for none)."""

from __future__ import annotations

from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from billing.screens.entitlements import FeatureEditor
from wording import entitlements as words

BLANK_PRIVILEGE_ROWS = 2  # empty rows the feature form offers for new privileges


@dataclass
class PrivilegeDraft:
    """One privilege row of the feature form, as typed."""

    code: str = ""
    name: str = ""
    value_type: str = "string"
    options: str = ""  # a select's options, comma-separated
    existing: bool = False
    delete: bool = False


def privilege_drafts(privileges) -> list[PrivilegeDraft]:
    """The feature's privileges as rows, and blank rows for new ones."""
    rows = [PrivilegeDraft(code=p.code, name=p.name or "", value_type=p.value_type,
                           options=", ".join((p.config or {}).get("select_options") or ()), existing=True)
            for p in privileges]
    return rows + [PrivilegeDraft() for _ in range(BLANK_PRIVILEGE_ROWS)]


def read_privileges(form: MultiDict[str, str]) -> list[PrivilegeDraft]:
    rows = []
    index = 0
    while f"p-{index}-code" in form:
        def value(name: str, i: int = index) -> str:
            return (form.get(f"p-{i}-{name}") or "").strip()

        rows.append(PrivilegeDraft(code=value("code"), name=value("name"), value_type=value("value_type") or "string",
                                   options=value("options"), existing=value("existing") == "1",
                                   delete=value("delete") == "1"))
        index += 1
    return rows


def privileges_data(rows: list[PrivilegeDraft]) -> list[dict[str, object]]:
    """The rows as the feature service's `privileges` (the whole list: a row deleted or left blank is not in it)."""
    data = []
    for row in rows:
        if not row.code or row.delete:
            continue
        item: dict[str, object] = {"code": row.code, "name": row.name or None}
        if not row.existing:
            item["value_type"] = row.value_type
        if row.value_type == "select":
            item["config"] = {"select_options": [o.strip() for o in row.options.split(",") if o.strip()]}
        data.append(item)
    return data


@dataclass
class ValuesForm:
    """The features section of an editor: the rows shown, what was typed, and the reasons given."""

    editor: FeatureEditor
    typed: dict[tuple[str, str], str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)  # by privilege code, or "" for the section
    added: str = ""

    def shown(self, feature_code: str, privilege) -> str:
        key = (feature_code, privilege.code)
        return self.typed[key] if key in self.typed else words.form_value(privilege.value)


def read_values(form: MultiDict[str, str]) -> tuple[dict[str, dict[str, str]], dict[tuple[str, str], str], str]:
    """The section as `{feature_code: {privilege_code: value}}` (blank values left out, removed features too), what
    was typed by (feature, privilege), and the feature chosen to add."""
    entitlements: dict[str, dict[str, str]] = {}
    typed: dict[tuple[str, str], str] = {}
    index = 0
    while f"f-{index}-code" in form:
        feature_code = form[f"f-{index}-code"]
        values = {}
        slot = 0
        while f"f-{index}-p-{slot}-code" in form:
            privilege_code = form[f"f-{index}-p-{slot}-code"]
            value = (form.get(f"f-{index}-p-{slot}-value") or "").strip()
            typed[(feature_code, privilege_code)] = value
            if value:
                values[privilege_code] = value
            slot += 1
        if form.get(f"f-{index}-remove") != "1":
            entitlements[feature_code] = values
        index += 1
    added = (form.get("add_feature") or "").strip()
    if added and added not in entitlements:
        entitlements[added] = {}
    return entitlements, typed, added


def value_errors(details: dict) -> dict[str, list[str]]:
    """The service's reasons (`max_privilege_value`) by privilege code; others under ""."""
    errors: dict[str, list[str]] = {}
    for name, reasons in words.field_reasons(details).items():
        key = name.removesuffix("_privilege_value") if name.endswith("_privilege_value") else ""
        errors.setdefault(key, []).extend(reasons)
    return errors
