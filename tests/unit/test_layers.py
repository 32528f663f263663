"""The house rules of docs/architecture.md, checked on every import of the code: a service never
imports another service, ``shared`` never imports a service, nothing but the CLI imports the CLI,
and the contract and the client (the ``stoppoc-client`` distribution) import neither."""

import ast
from pathlib import Path

import pytest

from stoppoc.services.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]

# Each folder, the package it installs as, and the stoppoc packages it must not import.
LAYERS = {
    "client/stoppoc/contract": (
        "stoppoc.contract",
        ["stoppoc.client", "stoppoc.shared", "stoppoc.services", "stoppoc.cli"],
    ),
    "client/stoppoc/client": ("stoppoc.client", ["stoppoc.shared", "stoppoc.services", "stoppoc.cli"]),
    "shared": ("stoppoc.shared", ["stoppoc.services", "stoppoc.cli"]),
    **{
        f"services/{service}": (
            f"stoppoc.services.{service}",
            ["stoppoc.cli", *(f"stoppoc.services.{other}" for other in SERVICES if other != service)],
        )
        for service in SERVICES
    },
}


def imported_modules(path: Path, package: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's own package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                modules.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names if node.module)
    return modules


def forbidden_imports(folder: str) -> list[str]:
    package, forbidden = LAYERS[folder]
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for module in sorted(imported_modules(path, package)):
            if any(module == name or module.startswith(f"{name}.") for name in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {module}")
    return found


@pytest.mark.parametrize("folder", LAYERS)
def test_each_layer_imports_only_what_lies_beneath_it(folder):
    assert forbidden_imports(folder) == []


def test_the_check_sees_a_forbidden_import(tmp_path, monkeypatch):
    # The rule is only as good as its parser: a service importing another is caught.
    module = tmp_path / "services" / "checkout" / "leak.py"
    module.parent.mkdir(parents=True)
    module.write_text("from stoppoc.services.payment.domain import decide\nimport stoppoc.cli.main\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert forbidden_imports("services/checkout") == [
        "services/checkout/leak.py imports stoppoc.cli.main",
        "services/checkout/leak.py imports stoppoc.services.payment.domain",
        "services/checkout/leak.py imports stoppoc.services.payment.domain.decide",
    ]
