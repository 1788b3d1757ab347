"""Load the Slicer module file under ``slicer-core``: supply what Slicer's application would.

The desktop application cannot run here, but its MRML library can (the slicer-core wheel).
:func:`slicer_module` imports ``UnsupervisedSegment/UnsupervisedSegment.py`` with:

Real (from slicer-core):
  * ``slicer.mrmlScene``: a new ``vtkMRMLScene``, wired to application, colour, volumes and
    segmentations logics as Slicer does at start-up (:class:`HeadlessSlicer`);
  * ``slicer.modules.segmentations.logic()`` / ``slicer.modules.volumes.logic()``: those logics;
  * ``slicer.util``: the wheel's copy of Slicer's own ``slicer/util.py``.

Stand-ins for Slicer's ``Base/Python`` modules, which the wheel lacks because they are built
on Qt; the module's Test class does not exercise what they leave out:
  * ``qt``, ``ctk``: import stubs; touching any attribute raises (no GUI is tested here);
  * ``slicer.i18n``: ``tr``/``translate`` return the text untranslated;
  * ``slicer.parameterNodeWrapper``: the decorator returns the class unchanged and
    ``WithinRange`` is inert (the Test class passes options to the logic directly);
  * ``slicer.ScriptedLoadableModule``: the four base classes with the members the module uses;
    ``ScriptedLoadableModuleTest`` is ``unittest.TestCase`` whose ``delayDisplay`` logs.

Anything else the module reaches for (``slicer.app``, SegmentStatistics) is absent, as it is
from slicer-core; the Test class skips the Segment Statistics comparison then.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import types
import unittest
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import slicer

MODULE_DIR = Path(__file__).resolve().parents[1] / "UnsupervisedSegment"
MODULE_FILE = MODULE_DIR / "UnsupervisedSegment.py"

if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))

from UnsupervisedSegmentLib.headless import HeadlessSlicer  # noqa: E402


class _UnusedQtModule(types.ModuleType):
    """An importable ``qt``/``ctk`` whose attributes are not available: the GUI is not tested."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise RuntimeError(f"{self.__name__}.{name} is not available under slicer-core (no Qt): GUI code is not tested")


def _i18n_module() -> types.ModuleType:
    module = types.ModuleType("slicer.i18n")
    module.tr = lambda text: text
    module.translate = lambda context, text: text
    return module


def _parameter_node_wrapper_module() -> types.ModuleType:
    module = types.ModuleType("slicer.parameterNodeWrapper")
    module.parameterNodeWrapper = lambda cls: cls

    class WithinRange:
        def __init__(self, minimum, maximum):
            self.minimum, self.maximum = minimum, maximum

    module.WithinRange = WithinRange
    return module


def _scripted_loadable_module() -> types.ModuleType:
    module = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule:
        def __init__(self, parent):
            self.parent = parent

    class ScriptedLoadableModuleWidget:
        def __init__(self, parent=None):
            self.parent = parent

    class ScriptedLoadableModuleLogic:
        def __init__(self, parent=None):
            self.moduleName = type(self).__name__.removesuffix("Logic")

        def getParameterNode(self):
            node = slicer.mrmlScene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
            if node is None:
                node = slicer.vtkMRMLScriptedModuleNode()
                node.SetSingletonTag(self.moduleName)
                node.SetAttribute("ModuleName", self.moduleName)
                node = slicer.mrmlScene.AddNode(node)
            return node

    class ScriptedLoadableModuleTest(unittest.TestCase):
        def delayDisplay(self, message, requestedDelay=None, msec=None):
            logging.info(message)

    for cls in (ScriptedLoadableModule, ScriptedLoadableModuleWidget, ScriptedLoadableModuleLogic, ScriptedLoadableModuleTest):
        setattr(module, cls.__name__, cls)
    return module


@contextmanager
def slicer_module() -> Iterator[types.ModuleType]:
    """Import the module file in the stand-in application; undo everything afterwards."""
    app = HeadlessSlicer.create()
    modules = types.SimpleNamespace(
        segmentations=types.SimpleNamespace(logic=lambda: app.segmentations_logic),
        volumes=types.SimpleNamespace(logic=lambda: app.volumes_logic),
    )
    stand_ins = {
        "qt": _UnusedQtModule("qt"),
        "ctk": _UnusedQtModule("ctk"),
        "slicer.i18n": _i18n_module(),
        "slicer.parameterNodeWrapper": _parameter_node_wrapper_module(),
        "slicer.ScriptedLoadableModule": _scripted_loadable_module(),
    }
    attributes = {"mrmlScene": app.scene, "modules": modules}
    attributes.update({name.split(".", 1)[1]: module for name, module in stand_ins.items() if name.startswith("slicer.")})
    saved_modules = {name: sys.modules.get(name) for name in [*stand_ins, MODULE_FILE.stem]}
    saved_attributes = {name: getattr(slicer, name, None) for name in attributes}
    sys.modules.update(stand_ins)
    for name, value in attributes.items():
        setattr(slicer, name, value)
    try:
        spec = importlib.util.spec_from_file_location(MODULE_FILE.stem, MODULE_FILE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE_FILE.stem] = module
        spec.loader.exec_module(module)
        yield module
    finally:
        app.scene.Clear(True)
        for name, previous in saved_modules.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
        for name, previous in saved_attributes.items():
            if previous is None:
                delattr(slicer, name)
            else:
                setattr(slicer, name, previous)
