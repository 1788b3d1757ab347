"""Every MRML/segmentation method the Slicer-facing code calls exists in the oldest Slicer release the
README claims (5.6.0), read from that release's C++ headers in ``../shared/slicer-reference``.

Python sees the methods a header declares plus those its macros generate (``vtkSetMacro(Name, ...)``
-> ``SetName``, ``vtkBooleanMacro(Name, ...)`` -> ``NameOn``/``NameOff``, ...). A call is checked when
the slicer-core wheel (a newer Slicer) defines the method on a Slicer class: it must then be declared
by that class, or a Slicer base class of it, in 5.6.0. Calls feature-detected with
``hasattr(node, "Name")`` are exempt (their fallback is checked like any call).
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import pytest
import slicer
import vtk
from slicer_release import MODULE_DIR, OLDEST_CLAIMED, REFERENCE, SKIP_REASON

HEADERS = REFERENCE / OLDEST_CLAIMED
#: The code that runs inside Slicer and calls MRML (the rest of the Lib never imports slicer).
SLICER_FACING = [MODULE_DIR / "UnsupervisedSegment.py",
                 *(MODULE_DIR / "UnsupervisedSegmentLib" / "mrml" / name for name in ("logic.py", "input_checks.py"))]
pytestmark = pytest.mark.skipif(not HEADERS.is_dir(), reason=SKIP_REASON)

MACRO = re.compile(r"\bvtk(Set|Get)\w*Macro\(\s*(\w+)")
BOOLEAN_MACRO = re.compile(r"\bvtkBooleanMacro\(\s*(\w+)")
DECLARED = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
CLASS = re.compile(r"\bclass\s+(?:\w+_EXPORT\s+)?(\w+)\s*(?::\s*public\s+(\w+))?\s*\{")


def strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", "", text, flags=re.S))


@lru_cache(maxsize=None)
def release_classes() -> dict[str, tuple[str | None, frozenset[str]]]:
    """Class -> (base class, names Python sees: declared methods, macro-generated ones, enum values)."""
    classes = {}
    for header in HEADERS.rglob("*.h"):
        text = strip_comments(header.read_text(errors="replace"))
        for match in CLASS.finditer(text):
            names = set(DECLARED.findall(text)) | set(re.findall(r"\b(\w+)\s*[=,}]", text))
            names |= {prefix + name for prefix, name in MACRO.findall(text)}
            names |= {name + suffix for name in BOOLEAN_MACRO.findall(text) for suffix in ("On", "Off")}
            classes.setdefault(match.group(1), (match.group(2), frozenset(names)))
    return classes


def declared_in_release(class_name: str, name: str) -> bool:
    classes = release_classes()
    while class_name in classes:
        base, names = classes[class_name]
        if name in names:
            return True
        class_name = base
    return False


def slicer_classes_defining(name: str) -> list[str]:
    """Slicer (not VTK) classes of the wheel whose own methods include ``name`` (none for vtkObject's)."""
    if hasattr(vtk.vtkObject, name):  # IsA, AddObserver, ...: every class's, from VTK (vtkTypeMacro)
        return []
    return [class_name for class_name, cls in vars(slicer).items()
            if isinstance(cls, type) and class_name.startswith(("vtkMRML", "vtkSlicer", "vtkSegment", "vtkOrientedImage"))
            and name in vars(cls)]


def used_api(source: str) -> tuple[list[tuple[str, str | None, int]], set[str]]:
    """(name, class if written as ``slicer.vtkClass.name``, line) of CamelCase calls and class attributes,
    and the names feature-detected with ``hasattr``."""
    used, guarded = [], set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hasattr" \
                and len(node.args) == 2 and isinstance(node.args[1], ast.Constant):
            guarded.add(node.args[1].value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr[:1].isupper():
            used.append((node.func.attr, None, node.lineno))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "slicer" \
                and node.value.attr.startswith("vtk"):
            used.append((node.attr, node.value.attr, node.lineno))
    return used, guarded


def missing_in_release(source: str) -> list[str]:
    """What ``source`` uses of Slicer's C++ API that the oldest claimed release lacks."""
    used, guarded = used_api(source)
    missing = []
    for name, class_name, line in used:
        if name in guarded:
            continue
        candidates = [class_name] if class_name else slicer_classes_defining(name)
        if candidates and not any(declared_in_release(candidate, name) for candidate in candidates):
            missing.append(f"line {line}: {name} ({' or '.join(candidates)})")
    return missing


def test_headers_are_read():
    """The parser sees methods, macro-generated names and inheritance of the release's headers."""
    assert declared_in_release("vtkMRMLTableNode", "SetUseColumnNameAsColumnHeader")  # vtkSetMacro
    assert declared_in_release("vtkMRMLTableNode", "GetName")  # from vtkMRMLNode
    assert declared_in_release("vtkMRMLSegmentationDisplayNode", "SetVisibility2DFill")
    assert declared_in_release("vtkMRMLNode", "HideFromEditorsOn")  # vtkBooleanMacro
    assert not declared_in_release("vtkMRMLTableNode", "SetUseColumnTitleAsColumnHeader")  # came in 5.6.1


def test_an_unguarded_newer_method_is_found():
    """What mrml_logic called before it was fixed (every Apply failed on 5.6.0), and its fix."""
    assert missing_in_release("table.SetUseColumnTitleAsColumnHeader(True)") == [
        "line 1: SetUseColumnTitleAsColumnHeader (vtkMRMLTableNode)"]
    assert missing_in_release(
        'if hasattr(table, "SetUseColumnTitleAsColumnHeader"):\n    table.SetUseColumnTitleAsColumnHeader(True)\n'
        "else:\n    table.SetUseColumnNameAsColumnHeader(True)\n") == []


def test_the_checker_sees_the_calls():
    assert sum(len(used_api(path.read_text())[0]) for path in SLICER_FACING) > 30


@pytest.mark.parametrize("path", SLICER_FACING, ids=lambda path: path.name)
def test_slicer_facing_code_uses_only_the_oldest_releases_api(path: Path):
    assert missing_in_release(path.read_text()) == [], f"not in Slicer {OLDEST_CLAIMED}"


def test_class_names_in_strings_exist_in_the_oldest_release():
    """Nodes created by class name (``AddNewNodeByClass("vtkMRML...")``) exist in the oldest release."""
    names = {name for path in SLICER_FACING for name in re.findall(r"[\"'](vtkMRML\w+)[\"']", path.read_text())}
    assert names and not names - set(release_classes())
