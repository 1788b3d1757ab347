"""The Lib's layers, read from the source (no import runs): imports go only downward, there is no
import circle, only the MRML layer imports ``slicer``/``vtk``, nothing imports ``qt``/``ctk``, and
the layers the Slicer module reaches import at module scope only what Slicer bundles.

The layers, lowest first (see ``UnsupervisedSegmentLib/__init__.py``); ``io`` and ``engine`` share a
rank and must not import each other.
"""

from __future__ import annotations

import ast
import sys
from functools import lru_cache
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "UnsupervisedSegment" / "UnsupervisedSegmentLib"
PACKAGE = "UnsupervisedSegmentLib"
RANKS = {"core": 0, "io": 1, "engine": 1, "tissue": 2, "lesion": 3, "pipeline": 4, "change": 4, "mrml": 5, "report": 6, "cohort": 7,
         "cli": 8}
#: What a fresh Slicer has: the layers the module reaches import nothing else at module scope.
BUNDLED_WITH_SLICER = {"numpy", "scipy", "SimpleITK", "vtk", "slicer"}
#: The layers the Slicer module reaches.
REACHED_BY_THE_MODULE = {"core", "engine", "tissue", "lesion", "pipeline", "change", "mrml"}


def module_name(path: Path) -> str:
    """``core/errors.py`` -> ``core.errors``; a package's ``__init__.py`` -> the package."""
    parts = path.relative_to(LIB).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    return module.split(".")[0]


@lru_cache(maxsize=None)
def parsed() -> dict[str, ast.Module]:
    return {module_name(path): ast.parse(path.read_text(), str(path)) for path in sorted(LIB.rglob("*.py"))}


def resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """The Lib modules an ``from ... import ...`` names (relative or absolute), without the package prefix."""
    if node.level:
        is_package = (LIB / module.replace(".", "/") / "__init__.py").exists()
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    elif node.module and (node.module == PACKAGE or node.module.startswith(PACKAGE + ".")):
        target = node.module[len(PACKAGE) + 1:]
    else:
        return []
    modules = parsed()
    named = [f"{target}.{alias.name}".lstrip(".") for alias in node.names]
    return [name for name in named if name in modules] or ([target] if target in modules or target == "" else [target])


def lib_imports(module: str) -> set[str]:
    """Every Lib module ``module`` imports, at any scope (a function-level import is still a dependency)."""
    found = set()
    for node in ast.walk(parsed()[module]):
        if isinstance(node, ast.ImportFrom):
            found.update(target for target in resolve(module, node) if target)
        elif isinstance(node, ast.Import):
            found.update(alias.name[len(PACKAGE) + 1:] for alias in node.names if alias.name.startswith(PACKAGE + "."))
    return found


def module_scope_packages(module: str) -> set[str]:
    """Top-level names of the outside packages imported at module scope (not under TYPE_CHECKING), and of those
    a module-scope ``lazy_module("name")`` stands for: it raises ImportError at once when the package is absent."""
    found = set()
    for node in parsed()[module].body:
        call = node.value if isinstance(node, ast.Assign) else None
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "lazy_module" and call.args:
            found.add(call.args[0].value.split(".")[0])
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found - {PACKAGE, "__future__"}


def test_every_module_belongs_to_a_layer():
    assert {layer(module) for module in parsed() if module} <= set(RANKS)


@pytest.mark.parametrize("module", sorted(m for m in parsed() if m))
def test_imports_go_only_downward(module: str):
    """A module imports its own layer's modules or lower layers' (never a higher one, never a sibling of its rank)."""
    own = layer(module)
    upward = sorted(target for target in lib_imports(module)
                    if target and layer(target) != own and RANKS[layer(target)] >= RANKS[own])
    assert not upward, f"{module} imports {upward}: move what it needs down, or the module up"


def test_no_import_circle():
    graph = {module: lib_imports(module) - {module} for module in parsed()}
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                circle = path[path.index(target):] + [target] if target in path else [module, target]
                pytest.fail("import circle: " + " -> ".join(circle))
            if target in graph and not state.get(target):
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if not state.get(module):
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(m for m in parsed() if m))
def test_slicer_only_in_the_mrml_layer_and_no_qt(module: str):
    imported = set()
    for node in ast.walk(parsed()[module]):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"qt", "ctk", "PythonQt"}, f"{module} imports Qt: the widget lives in the module file"
    if layer(module) != "mrml":
        assert not imported & {"slicer", "vtk"}, f"{module} imports Slicer/VTK outside the mrml layer"


@pytest.mark.parametrize("module", sorted(m for m in parsed() if layer(m) in REACHED_BY_THE_MODULE))
def test_what_the_module_reaches_imports_only_what_slicer_bundles(module: str):
    if not hasattr(sys, "stdlib_module_names"):
        pytest.skip("needs Python 3.10+ to tell the standard library apart")
    outside = module_scope_packages(module) - set(sys.stdlib_module_names)
    assert outside <= BUNDLED_WITH_SLICER, (
        f"{module} imports {sorted(outside - BUNDLED_WITH_SLICER)} at module scope: a fresh Slicer lacks it; "
        "import it inside the function that needs it, or make it optional")


def test_review_does_not_load_the_batch_runner_or_the_engine():
    """``review`` turns a CSV into HTML: it must not pull in the batch runner (and with it the engine)."""
    assert "cohort.batch" not in lib_imports("cohort.review")
    assert not any(layer(target) in {"engine", "pipeline", "lesion"} for target in lib_imports("cohort.review"))


@pytest.mark.parametrize("module", sorted(m for m in parsed() if layer(m) in REACHED_BY_THE_MODULE))
def test_what_the_module_reaches_reaches_no_other_layer(module: str):
    """The layers the module reaches import only each other: a layer outside (io, report, cohort) may need
    packages a fresh Slicer lacks (io reads NIfTI with nibabel)."""
    outside = sorted(target for target in lib_imports(module) if target and layer(target) not in REACHED_BY_THE_MODULE)
    assert not outside, f"{module} imports {outside}, outside the layers the Slicer module reaches"
