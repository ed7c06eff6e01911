"""The package's layering: each stage imports only from the stages below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "growstack"

# Bottom to top. The foundation (errors, progress, project, deps) serves
# every stage; results is the data model the kernel stage fills; pipeline
# joins the stages; release and the CLI sit on top.
LAYERS = [
    {"__init__", "errors", "progress", "project", "deps"},
    {"source"},
    {"series"},
    {"results"},
    {"kernel"},
    {"engines"},
    {"pipeline"},
    {"release"},
    {"cli", "__main__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def unit_of(parts: tuple[str, ...]) -> str:
    """The layer name of a module path inside the package: its subpackage or its own name."""
    return parts[0].removesuffix(".py")


def imported_units(path: Path) -> set[str]:
    """The package units a module imports, resolved from its relative imports."""
    here = path.relative_to(PACKAGE).parent.parts
    units = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 0:
            if node.module and node.module.split(".")[0] == "growstack":
                raise AssertionError(f"{path}: import growstack modules relatively")
            continue
        base = list(here[: len(here) - (node.level - 1)])
        module = base + (node.module.split(".") if node.module else [])
        if module:
            units.add(module[0])
        else:  # `from . import a, b` at the top of the package
            units.update(alias.name for alias in node.names if alias.name != "__version__")
    return units


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(p.relative_to(PACKAGE).parts) for p in modules()}
    assert units <= set(RANK), f"give these a layer in LAYERS: {sorted(units - set(RANK))}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down(path: Path) -> None:
    mine = unit_of(path.relative_to(PACKAGE).parts)
    upward = sorted(u for u in imported_units(path) if u in RANK and RANK[u] > RANK[mine])
    assert not upward, f"{mine} imports upward from {upward}"


def test_the_checker_sees_an_upward_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "growstack"
    (fake / "results").mkdir(parents=True)
    module = fake / "results" / "sneaky.py"
    module.write_text("from ..kernel import kunit\nfrom . import ktap\nfrom .. import errors\n")
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    assert imported_units(module) == {"kernel", "results", "errors"}
