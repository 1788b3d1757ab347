"""Modules imported on first use: SimpleITK alone adds about 100 MB of memory and a few tenths of
a second to every run, while a run on NIfTI files without N4 or denoising never calls it."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for a module until one of its attributes is read, then imports it (once, under a
    lock: inputs are read on several threads, and a module half-imported by one thread must
    not be seen by another) and hands out its attributes."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    def __getattr__(self, attribute: str) -> Any:
        if self._module is None:
            with self._lock:
                if self._module is None:
                    self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)


def lazy_module(name: str) -> Any:
    """The module ``name`` if already imported, else a :class:`LazyModule` standing for it.

    ImportError at once when its top-level package is not installed (looking further, e.g. for
    ``scipy.ndimage``, would import the package)."""
    if sys.modules.get(name) is not None:
        return sys.modules[name]
    package = name.split(".")[0]
    if sys.modules.get(package) is None and importlib.util.find_spec(package) is None:
        raise ImportError(f"No module named {package!r}")
    return LazyModule(name)
