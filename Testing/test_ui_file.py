"""The module's Qt Designer file is well formed and has every widget the module code uses."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

MODULE_DIR = Path(__file__).resolve().parents[1] / "UnsupervisedSegment"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "UnsupervisedSegment.ui"
MODULE_FILE = MODULE_DIR / "UnsupervisedSegment.py"
PARAMETERS_FILE = MODULE_DIR / "UnsupervisedSegmentLib" / "mrml" / "parameters.py"
#: Widget classes that Qt itself provides; any other class must be declared as a custom widget.
QT_CLASSES = {
    "QWidget", "QLabel", "QComboBox", "QSpinBox", "QDoubleSpinBox", "QCheckBox", "QPushButton", "QFormLayout",
    "QVBoxLayout", "QTableView",
}


@pytest.fixture(scope="module")
def ui() -> ElementTree.Element:
    return ElementTree.parse(UI_FILE).getroot()


@pytest.fixture(scope="module")
def widgets(ui) -> dict[str, str]:
    """Widget name -> class."""
    names = [(w.get("name"), w.get("class")) for w in ui.iter("widget")]
    assert len(names) == len(dict(names)), "duplicate widget names"
    return dict(names)


def test_designer_structure(ui, widgets):
    assert ui.tag == "ui" and ui.get("version") == "4.0"
    assert ui.findtext("class") == "UnsupervisedSegment"
    top = ui.find("widget")
    assert top.get("class") == "qMRMLWidget" and top.get("name") == "UnsupervisedSegment"
    custom = {c.findtext("class"): c for c in ui.iter("customwidget")}
    for name, cls in widgets.items():
        assert cls in QT_CLASSES or cls in custom, f"{name}: class {cls} is neither Qt's nor declared"
    for cls, declaration in custom.items():
        assert declaration.findtext("header") == f"{cls}.h" and declaration.findtext("extends")


def test_every_widget_used_by_the_module_exists(widgets):
    used = set(re.findall(r"self\.ui\.(\w+)", MODULE_FILE.read_text()))
    assert used, "the module uses no widget?"
    assert used <= set(widgets), f"missing in the .ui: {sorted(used - set(widgets))}"


def parameter_fields() -> set[str]:
    """Annotated fields of the module's parameter node class."""
    tree = ast.parse(PARAMETERS_FILE.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "UnsupervisedSegmentParameterNode")
    return {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)}


def test_parameter_names_match_the_parameter_node(ui):
    bound = {
        w.get("name"): w.find("property[@name='SlicerParameterName']/string").text
        for w in ui.iter("widget")
        if w.find("property[@name='SlicerParameterName']") is not None
    }
    fields = parameter_fields()
    assert set(bound.values()) <= fields
    # the volume lists and the mask segment have no connector: the widget syncs them by hand; the comparison's
    # output nodes are remembered without a control
    assert fields - set(bound.values()) == {"inputVolumes", "maskSegmentation", "maskSegmentID", "followUpVolumes",
                                            "changeSegmentation", "changeTable"}


def test_mrml_widgets_receive_the_scene(ui, widgets):
    receivers = {
        c.findtext("receiver")
        for c in ui.iter("connection")
        if c.findtext("signal") == "mrmlSceneChanged(vtkMRMLScene*)" and c.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"
    }
    mrml = {name for name, cls in widgets.items() if cls.startswith("qMRML") and cls != "qMRMLWidget"}
    assert receivers == mrml


def test_every_option_has_a_tooltip(ui):
    bound = [w for w in ui.iter("widget") if w.find("property[@name='SlicerParameterName']") is not None]
    missing = [w.get("name") for w in bound if not (w.findtext("property[@name='toolTip']/string") or "").strip()]
    assert not missing, f"options without a tooltip: {missing}"


def test_lesion_tooltip_explains_the_naming(ui):
    widget = next(w for w in ui.iter("widget") if w.get("name") == "findLesionCheckBox")
    tooltip = widget.findtext("property[@name='toolTip']/string")
    assert all(name in tooltip for name in ("flair", "t2", "t1c", "Lesion"))
