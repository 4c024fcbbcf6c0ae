"""The dependency rule of ARCHITECTURE.md, enforced: import-linter's contracts (.importlinter) must hold."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"


def _contract(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    return parser[f"importlinter:contract:{name}"]


def _lines(value: str) -> set[str]:
    return {line.strip() for line in value.splitlines() if line.strip()}


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    command = [str(lint_imports)] if lint_imports.exists() else [sys.executable, "-m", "importlinter.cli"]
    result = subprocess.run([*command, "--config", str(CONFIG), "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"import contracts broken:\n{result.stdout}\n{result.stderr}"
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def billing_graph() -> grimp.ImportGraph:
    sys.path.insert(0, str(ROOT))
    try:
        return grimp.build_graph("billing", include_external_packages=True, cache_dir=None)
    finally:
        sys.path.remove(str(ROOT))


def test_pricing_imports_only_money_and_the_standard_library(billing_graph):
    allowed_internal = {"billing.money"}
    pricing = {"billing.pricing"} | billing_graph.find_descendants("billing.pricing")
    offending = set()
    for module in pricing:
        for imported in billing_graph.find_modules_directly_imported_by(module):
            top = imported.split(".")[0]
            if imported in pricing or imported in allowed_internal or top in sys.stdlib_module_names:
                continue
            offending.add(f"{module} -> {imported}")
    assert not offending, f"billing.pricing must stay pure: {sorted(offending)}"


def test_pricing_contract_forbids_every_other_billing_module(billing_graph):
    """A new billing module must be added to the pure-pricing contract (or pricing could import it)."""
    forbidden = _lines(_contract("pure-pricing")["forbidden_modules"])
    others = billing_graph.find_children("billing") - {"billing.pricing", "billing.money"}
    assert others <= forbidden, f"add to .importlinter [pure-pricing]: {sorted(others - forbidden)}"


def test_screens_contract_covers_every_other_billing_module(billing_graph):
    """A new billing module must be a source of the screens-on-top contract (or it could import billing.screens)."""
    sources = _lines(_contract("screens-on-top")["source_modules"])
    others = billing_graph.find_children("billing") - {"billing.screens"}
    assert others <= sources, f"add to .importlinter [screens-on-top]: {sorted(others - sources)}"


def test_contracts_cover_every_root_package():
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    roots = _lines(parser["importlinter"]["root_packages"])
    assert roots == {"billing", "api", "portal", "admin", "jobs", "web", "wording"}
    assert parser["importlinter"].getboolean("include_external_packages")
    for package in roots:
        assert (ROOT / package / "__init__.py").exists()
