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


# The modules of billing/payments/ that are not adapters: the port, the registry (and, with the Stripe
# issue, the payment services and models). Every other module there is an adapter.
PAYMENTS_OWN_MODULES = {"billing.payments", "billing.payments.interface", "billing.payments.registry",
                        "billing.payments.models", "billing.payments.secrets", "billing.payments.providers",
                        "billing.payments.customers", "billing.payments.collection", "billing.payments.inbound",
                        "billing.payments.refunds", "billing.payments.handlers", "billing.payments.events",
                        "billing.payments.queries", "billing.payments.checkout", "billing.payments.requests"}


def test_payment_interface_imports_only_the_standard_library(billing_graph):
    imported = billing_graph.find_modules_directly_imported_by("billing.payments.interface")
    offending = {module for module in imported if module.split(".")[0] not in sys.stdlib_module_names}
    assert not offending, f"billing.payments.interface must stand alone: {sorted(offending)}"


def test_payment_contracts_forbid_every_other_billing_module(billing_graph):
    """A new billing module must be added to both payment contracts (or the port or an adapter could import it)."""
    others = billing_graph.find_children("billing") - {"billing.payments"}
    for name in ("payment-interface-stands-alone", "payment-adapters-use-only-the-interface"):
        forbidden = _lines(_contract(name)["forbidden_modules"])
        assert others <= forbidden, f"add to .importlinter [{name}]: {sorted(others - forbidden)}"


def test_every_payment_adapter_is_held_to_the_interface(billing_graph):
    """Each module of billing/payments/ but the package's own is an adapter listed in the contract."""
    adapters = _lines(_contract("payment-adapters-use-only-the-interface")["source_modules"])
    modules = {"billing.payments"} | billing_graph.find_descendants("billing.payments")
    unlisted = modules - PAYMENTS_OWN_MODULES - adapters
    assert not unlisted, (f"add to .importlinter [payment-adapters-use-only-the-interface] source_modules, "
                          f"or to PAYMENTS_OWN_MODULES if it is not an adapter: {sorted(unlisted)}")
    assert adapters <= modules, f"adapters listed but not written: {sorted(adapters - modules)}"


def test_modules_allowed_a_payment_sdk_are_adapters():
    allowed = _lines(_contract("payment-sdks-in-adapters-only").get("ignore_imports", ""))
    importers = {line.split("->")[0].strip() for line in allowed}
    adapters = _lines(_contract("payment-adapters-use-only-the-interface")["source_modules"])
    assert importers <= adapters, f"an SDK may be imported only by an adapter: {sorted(importers - adapters)}"


def test_contracts_cover_every_root_package():
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    roots = _lines(parser["importlinter"]["root_packages"])
    assert roots == {"billing", "api", "portal", "admin", "jobs", "web", "wording"}
    assert parser["importlinter"].getboolean("include_external_packages")
    for package in roots:
        assert (ROOT / package / "__init__.py").exists()


def test_the_one_way_contract_ignores_no_new_import():
    """The layers of billing/ list their known exceptions; a new one is a circle coming back: move the read instead."""
    ignored = {line for line in _lines(_contract("billing-one-way")["ignore_imports"]) if not line.startswith("#")}
    assert ignored == {
        "billing.models -> billing.**",
        "billing.catalog.services -> billing.subscriptions.models",
        "billing.catalog.child_plans -> billing.subscriptions.models",
        "billing.catalog.charges -> billing.invoicing.models",
        "billing.catalog.charges -> billing.metering.store",
        "billing.catalog.metrics -> billing.metering.aggregation",
        "billing.catalog.metrics -> billing.metering.expression",
        "billing.catalog.metrics -> billing.metering.rollups",
        "billing.catalog.coupons -> billing.customers.models",
        "billing.catalog.coupons -> billing.customers.services",
        "billing.catalog.models -> billing.customers.models",
        "billing.customers.services -> billing.subscriptions.models",
        "billing.metering.period_usage -> billing.invoicing.models",
    }


# Every deferred import in billing/ says why (the read models for screens moved to billing/screens/, on top).
_DEFERRED_IMPORTS_LEFT: set[str] = set()


def test_no_deferred_import_dodges_a_circle_without_saying_why():
    """An import inside a function or a TYPE_CHECKING block in billing/ carries a comment saying why."""
    unexplained = []
    for path in sorted((ROOT / "billing").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if not line.startswith((" ", "\t")) or not line.strip().startswith(("from billing", "import billing")):
                continue
            if relative in _DEFERRED_IMPORTS_LEFT or "#" in line or "#" in lines[number - 1]:
                continue
            unexplained.append(f"{relative}:{number + 1}: {line.strip()}")
    assert not unexplained, "say why (a comment) or import at the top:\n" + "\n".join(unexplained)
