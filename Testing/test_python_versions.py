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
LIB_MODULES = sorted(path.stem for path in (MODULE_DIR / "UnsupervisedSegmentLib").glob("*.py") if path.stem != "__init__")
NEEDS_SLICER = {"mrml_logic", "headless", "preview"}


@pytest.mark.parametrize("name", LIB_MODULES)
def test_lib_module_imports(name: str):
    if name in NEEDS_SLICER and importlib.util.find_spec("slicer") is None:
        pytest.skip(f"UnsupervisedSegmentLib.{name} needs slicer-core, not installed for Python {sys.version.split()[0]}")
    importlib.import_module(f"UnsupervisedSegmentLib.{name}")


@pytest.mark.parametrize("path", [MODULE_DIR / "UnsupervisedSegment.py", *sorted((MODULE_DIR / "UnsupervisedSegmentLib").glob("*.py"))],
                         ids=lambda path: path.name)
def test_compiles(path: Path, tmp_path: Path):
    """No syntax newer than this Python (``match``, parenthesised context managers, ...)."""
    py_compile.compile(str(path), cfile=str(tmp_path / "compiled.pyc"), doraise=True)
