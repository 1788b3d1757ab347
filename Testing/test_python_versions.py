"""The module and the Lib work on the Python of every supported Slicer release (5.6/5.8: 3.9, 5.10+: 3.12).

``make test`` runs this file and the engine tests under Python 3.9 and 3.12 as well (``.venv39``,
``.venv312``). Under any Python: every Lib module imports (those that need Slicer's MRML only where
slicer-core is installed), and the Slicer-facing files compile.
"""

from __future__ import annotations

import importlib
import importlib.util
import py_compile
import sys
from pathlib import Path

import pytest

MODULE_DIR = Path(__file__).resolve().parents[1] / "UnsupervisedSegment"
LIB = MODULE_DIR / "UnsupervisedSegmentLib"
LIB_FILES = sorted(LIB.rglob("*.py"))
#: Every module and package of the Lib, dotted below ``UnsupervisedSegmentLib``.
LIB_MODULES = sorted(".".join(path.relative_to(LIB).with_suffix("").parts).removesuffix(".__init__").removesuffix("__init__")
                     for path in LIB_FILES)
#: The MRML layer's modules and what they need: slicer-core outside Slicer, or Slicer's own Python layer
#: (``slicer.i18n``, ``slicer.parameterNodeWrapper``: tested on every release by test_slicer_releases.py).
NEEDS_SLICER = {"mrml.logic": "slicer", "mrml.headless": "slicer", "mrml.preview": "slicer", "mrml.visits": "slicer",
                "mrml.parameters": "slicer.parameterNodeWrapper", "mrml.input_checks": "slicer.parameterNodeWrapper"}


@pytest.mark.parametrize("name", LIB_MODULES)
def test_lib_module_imports(name: str):
    needed = NEEDS_SLICER.get(name)
    if needed and (importlib.util.find_spec("slicer") is None or importlib.util.find_spec(needed) is None):
        pytest.skip(f"UnsupervisedSegmentLib.{name} needs {needed}, not importable here (Python {sys.version.split()[0]})")
    importlib.import_module(".".join(filter(None, ("UnsupervisedSegmentLib", name))))


@pytest.mark.parametrize("path", [MODULE_DIR / "UnsupervisedSegment.py", *LIB_FILES],
                         ids=lambda path: str(path.relative_to(MODULE_DIR)))
def test_compiles(path: Path, tmp_path: Path):
    """No syntax newer than this Python (``match``, parenthesised context managers, ...)."""
    py_compile.compile(str(path), cfile=str(tmp_path / "compiled.pyc"), doraise=True)
