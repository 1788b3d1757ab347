"""Run the Slicer module on the real Python code of one Slicer release, over slicer-core MRML.

``../shared/slicer-reference/<release>/`` holds Slicer's own files of each release the module
supports. :func:`slicer_release` imports ``UnsupervisedSegment/UnsupervisedSegment.py`` with:

Real, from that release's folder (unmodified Slicer code):
  * ``slicer.parameterNodeWrapper`` (wrapper, serializers, validators, GUI connectors),
    ``slicer.ScriptedLoadableModule``, ``slicer.i18n``, ``slicer.util``, ``slicer.testing`` and,
    from 5.12, ``slicer.packaging``: laid over the ``slicer`` package of the slicer-core wheel
    (its ``__path__`` gets the release folder first, so ``import slicer.util`` finds the release's);
  * the Segment Statistics module and its plugins.
Real, from slicer-core (the wheel's compiled classes, kept): every MRML, segmentation, volumes
and vtkITK class, ``slicer.mrmlScene`` and the application, colour, volumes and segmentations logics
wired as Slicer wires them at start-up (:class:`~UnsupervisedSegmentLib.mrml.headless.HeadlessSlicer`).
EMULATED (the Qt application cannot run here):
  * ``qt``, ``ctk`` and the qMRML widgets: :mod:`qt_standins` (strict stand-ins, .ui parsed into them);
  * ``slicer.app`` (:class:`EmulatedApplication`): testing mode, translation (returns the source
    text), module manager, cursor, layout manager (no views); its application logic is the real one;
  * running pip: :class:`EmulatedInstaller` records the command line instead of starting a process;
Blocked: every package a fresh Slicer lacks (:data:`FRESH_SLICER_LACKS`) is unimportable while the
module is loaded and used, as in a new Slicer install.
  * for speed only, 5.6's ``i18n.tr`` gets an ``inspect.stack()`` that skips reading source lines.
"""

from __future__ import annotations

import gc
import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
import tempfile
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import qt_standins
import slicer

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = ROOT / "UnsupervisedSegment"
MODULE_FILE = MODULE_DIR / "UnsupervisedSegment.py"
REFERENCE = ROOT.parent / "shared" / "slicer-reference"
#: The oldest release the README claims.
OLDEST_CLAIMED = "v5.6.0"
#: ``slicer`` submodules taken from the release folder.
OVERLAID = ("i18n", "util", "testing", "packaging", "parameterNodeWrapper", "ScriptedLoadableModule")
#: Compiled modules as Slicer names them -> the slicer-core wheel's.
COMPILED_MODULES = {"vtkITK": "slicer_core.vtkITK", "vtkSegmentationCorePython": "slicer_core.vtkSegmentationCore"}
#: Python packages a fresh Slicer does not have (it bundles numpy, scipy, SimpleITK, vtk and its own
#: packages; Pillow only in some releases): the module is loaded and run with all of them unimportable.
FRESH_SLICER_LACKS = ("sklearn", "threadpoolctl", "joblib", "nibabel", "dask", "distributed", "matplotlib", "psutil",
                      "PIL", "slicerio", "nrrd", "pandas")
#: Module files imported afresh for every release.
MODULE_NAMES = ("UnsupervisedSegment", "SegmentStatistics", "SegmentStatisticsPlugins")

if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))

from UnsupervisedSegmentLib.mrml.headless import HeadlessSlicer  # noqa: E402


def release_version(name: str) -> tuple[int, ...]:
    """``v5.6.2`` -> (5, 6, 2); ``main-...`` sorts after every release."""
    numbers = re.findall(r"\d+", name) if name.startswith("v") else []
    return tuple(int(n) for n in numbers) if numbers else (99,)


def releases() -> list[str]:
    """The release folders present, oldest first (empty without ../shared/slicer-reference)."""
    if not REFERENCE.is_dir():
        return []
    return sorted((p.name for p in REFERENCE.iterdir() if (p / "Base" / "Python" / "slicer").is_dir()), key=release_version)


SKIP_REASON = f"Slicer reference sources not found at {REFERENCE} (see the README: testing against Slicer releases)"


def python_problem(release: str) -> str:
    """Why this interpreter cannot run the release's Python code ("" if it can)."""
    if release_version(release) >= (5, 10) and sys.version_info < (3, 10):
        return f"Slicer {release} ships Python 3.12; its code needs Python >= 3.10 (this is {sys.version.split()[0]})"
    return ""


class EmulatedModuleManager:
    """``slicer.app.moduleManager()``: signal connections only."""

    def connect(self, signal, slot) -> None:
        pass

    def disconnect(self, signal, slot) -> None:
        pass


class EmulatedLayoutManager:
    """A layout manager without views (slicer-core has no Qt views)."""

    def __init__(self):
        self.layout = None

    def setLayout(self, layout) -> None:
        self.layout = layout

    def sliceViewNames(self) -> list:
        return []

    def mrmlSliceLogics(self):
        import vtk

        return vtk.vtkCollection()

    def threeDWidget(self, index):
        view = types.SimpleNamespace(resetFocalPoint=lambda: None)
        return types.SimpleNamespace(threeDView=lambda: view)


@dataclass
class EmulatedApplication:
    """EMULATED ``slicer.app``; its ``applicationLogic()`` is the real one of the headless scene."""

    headless: HeadlessSlicer
    testing: bool = True
    layout_manager: EmulatedLayoutManager = field(default_factory=EmulatedLayoutManager)
    applicationName: str = "Slicer"

    def testingEnabled(self) -> bool:
        return self.testing

    def translate(self, context: str, text: str) -> str:
        return text

    def moduleManager(self) -> EmulatedModuleManager:
        return EmulatedModuleManager()

    def applicationLogic(self):
        return self.headless.app_logic

    def layoutManager(self) -> EmulatedLayoutManager:
        return self.layout_manager

    def setOverrideCursor(self, cursor) -> None:
        qt_standins.QApplication.setOverrideCursor(cursor)

    def restoreOverrideCursor(self) -> None:
        qt_standins.QApplication.restoreOverrideCursor()

    @property
    def cursor_overrides(self) -> int:
        return len(qt_standins.QApplication.cursors)

    def processEvents(self) -> None:
        pass

    def topLevelWidgets(self) -> list:
        return []

    def thread(self):
        return qt_standins.QThread.MAIN

    def userSettings(self):
        return qt_standins.QSettings()

    settings = userSettings


@dataclass
class EmulatedInstaller:
    """Stands in for running ``PythonSlicer -m pip ...``: records the command and fails (nothing may be
    installed: the module needs no package beyond what Slicer bundles)."""

    commands: list[list[str]] = field(default_factory=list)

    def launchConsoleProcess(self, args, *unused_args, **unused_kwargs):
        self.commands.append([str(arg) for arg in args])
        return types.SimpleNamespace(returncode=1)

    def logProcessOutput(self, proc, *unused_args, **unused_kwargs) -> None:
        import subprocess

        raise subprocess.CalledProcessError(proc.returncode, "pip")


@dataclass
class Release:
    """One release's Slicer, loaded: the module file, the application and what was recorded."""

    name: str
    module: types.ModuleType
    app: EmulatedApplication
    headless: HeadlessSlicer
    installer: EmulatedInstaller
    widgets: list = field(default_factory=list)

    @property
    def scene(self):
        return self.headless.scene

    def create_widget(self):
        """The module panel as Slicer makes it: widget on a panel, ``setup()``, then entered."""
        panel = qt_standins.qSlicerModulePanel()
        panel.setMRMLScene(self.scene)
        widget = self.module.UnsupervisedSegmentWidget(panel)
        widget.setup()
        self.enter(widget)
        self.widgets.append(widget)
        return widget

    def close(self) -> None:
        """Unload the module panels as Slicer does (exit, cleanup), detach the widgets from the scene."""
        for widget in self.widgets:
            if widget.parent.isEntered:
                self.exit(widget)
            widget.cleanup()
            widget.parent.setMRMLScene(None)
            for child in widget.parent.findChildren(qt_standins.qMRMLWidget):
                child.setMRMLScene(None)
        self.widgets.clear()

    @staticmethod
    def enter(widget) -> None:
        widget.parent.isEntered = True
        widget.enter()

    @staticmethod
    def exit(widget) -> None:
        widget.exit()
        widget.parent.isEntered = False


def _load_file(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _ShallowInspect(types.ModuleType):
    """``inspect`` for Slicer 5.6's ``i18n.tr``, which calls ``inspect.stack()`` only for its caller's
    file name: the same frames and file names, without reading source lines of the whole (deep, under
    pytest) stack, which takes ~0.1 s a call here (Slicer 5.8 made the same change in ``tr`` itself)."""

    def __init__(self):
        super().__init__("inspect")
        import inspect

        self._inspect = inspect

    def __getattr__(self, name: str):
        return getattr(self._inspect, name)

    def stack(self, context: int = 1) -> list:
        frames, frame = [], sys._getframe(1)
        while frame is not None:
            frames.append((frame, frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, None, None))
            frame = frame.f_back
        return frames


def _python_slicer_stub(folder: Path) -> None:
    """A ``PythonSlicer`` on PATH for Slicer's pip code to find (emulated: it is never run)."""
    stub = folder / "PythonSlicer"
    stub.write_text("#!/bin/sh\necho 'emulated PythonSlicer: not runnable' >&2\nexit 1\n")
    stub.chmod(0o755)


def _is_replaced(name: str) -> bool:
    top = name.split(".", 1)[0]
    return (name in ("qt", "ctk", *COMPILED_MODULES) or top in MODULE_NAMES
            or any(name == f"slicer.{sub}" or name.startswith(f"slicer.{sub}.") for sub in OVERLAID))


@contextmanager
def slicer_release(release: str, testing: bool = True) -> Iterator[Release]:
    """Import the module on ``release``'s Slicer Python code, in a fresh Slicer (none of
    :data:`FRESH_SLICER_LACKS` importable); undo everything afterwards."""
    with fresh_slicer_packages(), _slicer_release(release, testing) as loaded:
        yield loaded


@contextmanager
def _slicer_release(release: str, testing: bool) -> Iterator[Release]:
    folder = REFERENCE / release
    headless = HeadlessSlicer.create()
    app = EmulatedApplication(headless, testing)
    installer = EmulatedInstaller()
    qt_standins.QApplication.cursors = []
    module_path = types.SimpleNamespace(path=str(MODULE_FILE))
    statistics_file = folder / "Modules" / "Scripted" / "SegmentStatistics" / "SegmentStatistics.py"
    modules = types.SimpleNamespace(
        segmentations=types.SimpleNamespace(logic=lambda: headless.segmentations_logic),
        volumes=types.SimpleNamespace(logic=lambda: headless.volumes_logic),
        unsupervisedsegment=module_path,
        segmentstatistics=types.SimpleNamespace(path=str(statistics_file)),
    )
    attributes = {"app": app, "mrmlScene": headless.scene, "modules": modules, "selfTests": {},
                  "__getattr__": qt_standins.slicer_widget_getattr, **qt_standins.SLICER_WIDGETS}
    saved_modules = {name: module for name, module in sys.modules.items() if _is_replaced(name)}
    saved_attributes = {name: getattr(slicer, name) for name in [*attributes, *OVERLAID] if hasattr(slicer, name)}
    saved_path, saved_sys_path, saved_env_path = list(slicer.__path__), list(sys.path), os.environ.get("PATH", "")
    stub_dir = tempfile.TemporaryDirectory()
    _python_slicer_stub(Path(stub_dir.name))
    os.environ["PATH"] = stub_dir.name + os.pathsep + saved_env_path
    for name in saved_modules:
        del sys.modules[name]
    sys.modules.update(qt=qt_standins.qt_module(), ctk=qt_standins.ctk_module())
    for name, wheel_name in COMPILED_MODULES.items():  # Slicer's import names for the wheel's modules
        sys.modules[name] = importlib.import_module(wheel_name)
    slicer.__path__.insert(0, str(folder / "Base" / "Python" / "slicer"))
    sys.path.insert(0, str(statistics_file.parent))
    for name, value in attributes.items():
        setattr(slicer, name, value)
    loaded = None
    try:
        for name in OVERLAID:
            if (folder / "Base" / "Python" / "slicer" / f"{name}.py").exists() or name == "parameterNodeWrapper":
                importlib.import_module(f"slicer.{name}")
        i18n = sys.modules["slicer.i18n"]
        if "inspect.stack()" in Path(i18n.__file__).read_text():
            i18n.inspect = _ShallowInspect()
        util = sys.modules["slicer.util"]
        util.launchConsoleProcess, util.logProcessOutput = installer.launchConsoleProcess, installer.logProcessOutput
        module = _load_file(MODULE_FILE.stem, MODULE_FILE)
        loaded = Release(release, module, app, headless, installer)
        yield loaded
    finally:
        if loaded is not None:
            loaded.close()
        headless.scene.Clear(True)
        gc.collect()
        for name in [name for name in sys.modules if _is_replaced(name)]:
            del sys.modules[name]
        sys.modules.update(saved_modules)
        slicer.__path__[:] = saved_path
        os.environ["PATH"] = saved_env_path
        stub_dir.cleanup()
        sys.path[:] = saved_sys_path
        for name in [*attributes, *OVERLAID]:
            if name in saved_attributes:
                setattr(slicer, name, saved_attributes[name])
            elif hasattr(slicer, name):
                delattr(slicer, name)


def _lib_or_lacking(module_name: str) -> bool:
    return module_name.split(".", 1)[0] in ("UnsupervisedSegmentLib", *FRESH_SLICER_LACKS)


@contextmanager
def fresh_slicer_packages() -> Iterator[None]:
    """The packages of :data:`FRESH_SLICER_LACKS` unimportable (``import`` raises ImportError,
    ``importlib.util.find_spec`` gives None), and the Lib imported afresh under that condition;
    everything restored afterwards."""
    saved = {name: module for name, module in sys.modules.items() if _lib_or_lacking(name)}
    for name in saved:
        del sys.modules[name]
    sys.modules.update(dict.fromkeys(FRESH_SLICER_LACKS))
    try:
        yield
    finally:
        for name in [name for name in sys.modules if _lib_or_lacking(name)]:
            del sys.modules[name]
        sys.modules.update(saved)
