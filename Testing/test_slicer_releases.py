"""The Slicer module on the real Python code of every Slicer release it supports.

For each folder of ``../shared/slicer-reference`` the module runs on that release's own
``parameterNodeWrapper``, ``ScriptedLoadableModule``, ``i18n``, ``util`` (and ``packaging`` from
5.12) and Segment Statistics, over real MRML (slicer-core). Qt IS EMULATED: the widgets are the
stand-ins of ``Testing/qt_standins.py``, built from the module's real .ui file; ``slicer.app`` and
running pip are emulated too (see ``Testing/slicer_release.py``).
"""

from __future__ import annotations

import enum
import importlib.util
import sys
import typing
import unittest

import numpy as np
import pytest
import qt_standins
import slicer
from qt_standins import Qt
from slicer_release import FRESH_SLICER_LACKS, SKIP_REASON, python_problem, releases, slicer_release

RELEASES = releases()
pytestmark = pytest.mark.skipif(not RELEASES, reason=SKIP_REASON)
#: Parameters the widget synchronises by hand (their widgets have no parameter node connector).
HAND_SYNCHRONISED = {"inputVolumes", "maskSegmentation", "maskSegmentID", "followUpVolumes"}
#: Output nodes of a comparison of two visits, remembered in the parameter node (no control: shown in the views).
REMEMBERED_OUTPUTS = {"changeSegmentation", "changeTable"}


@pytest.fixture(params=RELEASES or ["none"])
def release(request):
    """The module loaded on one release's Slicer code (testing mode, as ctest and "Reload and Test" run)."""
    problem = python_problem(request.param)
    if problem:
        pytest.skip(problem)
    with slicer_release(request.param) as loaded:
        yield loaded


def volume(name: str, values=(0.0, 40.0, 80.0)):
    """A small phantom volume: background, a box and a cube inside it."""
    voxels = np.full((12, 36, 40), values[0], np.float32)
    voxels[2:10, 4:32, 4:36] = values[1]
    voxels[4:8, 12:20, 14:22] = values[2]
    voxels += np.random.default_rng(len(name)).normal(0, 1, voxels.shape).astype(np.float32) * (voxels > 0)
    return slicer.util.addVolumeFromArray(voxels, np.diag([1.5, 1.5, 3.0, 1.0]), name)


def parameter_types(release) -> dict[str, object]:
    return typing.get_type_hints(release.module.UnsupervisedSegmentParameterNode, include_extras=True)


def base_type(hint):
    return typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint


def annotation(hint, validator):
    """The ``validator`` (a parameterNodeWrapper class) annotating ``hint``, else None."""
    return next((a for a in typing.get_args(hint)[1:] if isinstance(a, validator)), None)


def value_range(release, hint):
    """(minimum, maximum) of a ``WithinRange`` annotation, else None."""
    within = annotation(hint, slicer.parameterNodeWrapper.WithinRange)
    return (within.minimum, within.maximum) if within else None


def other_values(release, name: str, hint, current) -> list:
    """Values (not ``current``) a parameter of this type can take, made in the scene where needed."""
    kind = base_type(hint)
    choice = annotation(hint, slicer.parameterNodeWrapper.Choice)
    if choice:
        return [value for value in choice.choices if value != current]
    if typing.get_origin(kind) is list:
        return [[volume("a"), volume("b")]]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return [member for member in kind if member != current]
    if kind is bool:
        return [not current]
    if kind in (int, float):
        low, high = value_range(release, hint)
        return [value for value in (kind(low), kind(high)) if value != current]
    if kind is str:
        return ["Segment_2"]
    node_class = kind.__name__  # a node type
    concrete = {"vtkMRMLVolumeNode": "vtkMRMLScalarVolumeNode"}.get(node_class, node_class)
    return [release.scene.AddNewNodeByClass(concrete, f"{name} node")]


def same(a, b) -> bool:
    if isinstance(a, list):
        return len(a) == len(b) and all(x is y for x, y in zip(a, b))
    return a is b if hasattr(a, "GetID") else a == b


# Parameter node


def test_every_parameter_is_kept_and_ranges_are_enforced(release, tmp_path):
    """Every parameter set through the real wrapper reads back, out-of-range values are refused,
    and a saved scene reloads with the values (by node ID)."""
    logic = release.module.UnsupervisedSegmentLogic()
    parameters = logic.getParameterNode()
    chosen = {}
    for name, hint in parameter_types(release).items():
        for value in other_values(release, name, hint, getattr(parameters, name)):
            setattr(parameters, name, value)
            assert same(getattr(parameters, name), value), name
            chosen[name] = value
        limits = value_range(release, hint)
        if limits:
            step = 1 if base_type(hint) is int else 0.5
            for wrong in (limits[0] - step, limits[1] + step):
                with pytest.raises(ValueError):
                    setattr(parameters, name, wrong)
            assert same(getattr(parameters, name), chosen[name]), name

    def saved(value):
        if not isinstance(value, str) and hasattr(value, "__len__"):  # a list, or the wrapper's ObservedList
            return [node.GetID() for node in value]
        return value.GetID() if hasattr(value, "GetID") else value

    expected = {name: saved(value) for name, value in chosen.items()}
    scene_file = tmp_path / "scene.mrml"
    release.scene.SetURL(str(scene_file))
    release.scene.Commit()
    release.scene.Clear(True)
    assert saved(logic.getParameterNode().method) != expected["method"]  # cleared: defaults again
    release.scene.SetURL(str(scene_file))
    assert release.scene.Connect()
    reloaded = logic.getParameterNode()
    assert {name: saved(getattr(reloaded, name)) for name in chosen} == expected


def test_defaults_are_the_engines_defaults(release):
    from UnsupervisedSegmentLib.pipeline.segmentation import SegmentationOptions

    logic = release.module.UnsupervisedSegmentLogic()
    assert logic.segmentationOptions(logic.getParameterNode()) == SegmentationOptions()


# Widget (Qt emulated)


def connected_widgets(widget) -> dict[str, object]:
    """Parameter name -> widget, from the ``SlicerParameterName`` properties of the real .ui."""
    children = vars(widget.ui).values()
    return {child.property("SlicerParameterName"): child for child in children if child.property("SlicerParameterName")}


def gui_values(control) -> list:
    """Every value a user can put in ``control`` (emulated widget), in the widget's own terms."""
    if isinstance(control, qt_standins.QComboBox):
        return list(range(control.count()))
    if isinstance(control, qt_standins.QCheckBox):
        return [True, False]
    if isinstance(control, qt_standins._SpinBox):
        return [control.minimum, control.maximum, (control.minimum + control.maximum) / 2]
    raise AssertionError(f"no user input emulated for {type(control).__name__}")


def set_gui(control, value) -> None:
    if isinstance(control, qt_standins.QComboBox):
        control.currentIndex = value
    elif isinstance(control, qt_standins.QCheckBox):
        control.checked = value
    elif isinstance(control, qt_standins.qMRMLNodeComboBox):
        control.setCurrentNode(value)
    else:
        control.value = value


def read_gui(control):
    if isinstance(control, qt_standins.QComboBox):
        return control.currentText
    if isinstance(control, qt_standins.QCheckBox):
        return control.checked
    if isinstance(control, qt_standins.qMRMLNodeComboBox):
        return control.currentNode()
    return control.value


def shown(value):
    """What a widget shows for a parameter value (enums by their translated label)."""
    return value.label() if isinstance(value, enum.Enum) and hasattr(value, "label") else value


def test_every_parameter_has_a_control(release):
    widget = release.create_widget()
    assert set(parameter_types(release)) == set(connected_widgets(widget)) | HAND_SYNCHRONISED | REMEMBERED_OUTPUTS


def test_gui_and_parameter_node_follow_each_other(release):
    """Every connected control: user input reaches the parameter node, parameter changes reach the control."""
    widget = release.create_widget()
    parameters = widget._parameterNode
    for name, control in connected_widgets(widget).items():
        if isinstance(control, qt_standins.qMRMLNodeComboBox):
            values = [None, *other_values(release, name, parameter_types(release)[name], None)]
        else:
            values = gui_values(control)
        for value in values[::-1] + values:
            set_gui(control, value)
            assert same(shown(getattr(parameters, name)), read_gui(control)), (name, value)
        for value in other_values(release, name, parameter_types(release)[name], getattr(parameters, name)):
            setattr(parameters, name, value)
            assert same(read_gui(control), shown(value)), (name, value)


def test_dependent_options_and_apply_state(release):
    widget = release.create_widget()
    ui, parameters, module = widget.ui, widget._parameterNode, release.module
    assert not ui.applyButton.enabled and "Select at least one input volume" in ui.applyButton.toolTip
    t1 = volume("t1")
    parameters.inputVolumes = [t1]
    assert ui.applyButton.enabled
    parameters.method = module.Method.KMeans
    parameters.automaticClusters = True
    assert not ui.automaticClustersCheckBox.enabled and ui.numberOfClustersSpinBox.enabled
    assert not ui.covarianceTypeComboBox.enabled and not ui.minimumClustersSpinBox.enabled
    ui.methodComboBox.currentIndex = list(module.Method).index(module.Method.GMM)
    assert ui.minimumClustersSpinBox.enabled and not ui.numberOfClustersSpinBox.enabled
    assert not ui.mrfNeighbourhoodComboBox.enabled
    ui.mrfBetaSpinBox.value = 0.5
    assert ui.mrfNeighbourhoodComboBox.enabled
    ui.findLesionCheckBox.checked = True
    assert not ui.applyButton.enabled and "named like FLAIR" in ui.applyButton.toolTip


def test_ticking_lesion_finding_applies_the_preset(release):
    widget = release.create_widget()
    ui, parameters = widget.ui, widget._parameterNode
    ui.automaticClustersCheckBox.checked = True
    ui.findLesionCheckBox.checked = True
    assert (parameters.findLesion, parameters.automaticClusters, parameters.numberOfClusters, parameters.mrfBeta) == (
        True, False, 6, 1.0)
    assert (ui.automaticClustersCheckBox.checked, ui.numberOfClustersSpinBox.value, ui.mrfBetaSpinBox.value) == (False, 6, 1.0)
    ui.findLesionCheckBox.checked = False
    ui.mrfBetaSpinBox.value = 0.5
    ui.findLesionCheckBox.checked = True
    assert parameters.mrfBeta == 0.5  # a chosen MRF strength is kept


def test_checking_volumes(release):
    t1, flair = volume("t1"), volume("flair")
    release.scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "labels")
    widget = release.create_widget()
    selector, parameters = widget.ui.inputVolumesSelector, widget._parameterNode
    assert list(parameters.inputVolumes) == [t1, flair]  # the loaded scalar volumes, preselected
    assert selector.checkedNodes() == [t1, flair] and selector.nodeCount() == 2  # no label maps offered
    selector.setCheckState(t1, Qt.Unchecked)
    assert list(parameters.inputVolumes) == [flair]
    parameters.inputVolumes = [t1]
    assert selector.checkedNodes() == [t1]
    assert "another voxel grid" not in widget.ui.inputNotesLabel.text


def test_grid_rule_is_what_the_tooltip_says(release):
    """The output grid is the one the GUI names, whatever the order volumes were checked in."""
    widget = release.create_widget()
    first, second = volume("first"), volume("second")
    second.SetSpacing(3.0, 3.0, 3.0)
    selector = widget.ui.inputVolumesSelector
    selector.setCheckState(second, Qt.Checked)
    selector.setCheckState(first, Qt.Checked)
    assert "first checked volume in the list (the top-most) defines the output grid" in selector.toolTip
    assert selector.nodeFromIndex(0) is first
    expected_note = "second is on another voxel grid: it will be resampled (linear) onto the grid of first."
    assert widget.ui.inputNotesLabel.text == expected_note
    widget._parameterNode.inputVolumes = [second, first]  # set from Python in another order: the same rule
    assert widget.logic.orderedInputVolumes(widget._parameterNode) == [first, second]
    assert widget.ui.inputNotesLabel.text == expected_note


def test_mask_segment_selector(release):
    widget = release.create_widget()
    ui, parameters, module = widget.ui, widget._parameterNode, release.module
    segmentation = release.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "mask")
    for name in ("brain", "lesion"):
        segmentation.GetSegmentation().AddEmptySegment(name, name)
    assert not ui.maskSegmentSelector.enabled
    ui.maskSourceComboBox.currentIndex = list(module.MaskSource).index(module.MaskSource.Segment)
    assert ui.maskSegmentSelector.enabled
    parameters.inputVolumes = [volume("t1")]
    assert "Select the segment to use as mask" in ui.applyButton.toolTip
    ui.maskSegmentSelector.setCurrentNode(segmentation)
    assert (parameters.maskSegmentation, parameters.maskSegmentID) == (segmentation, "brain")
    ui.maskSegmentSelector.setCurrentSegmentID("lesion")
    assert parameters.maskSegmentID == "lesion" and ui.applyButton.enabled
    parameters.maskSegmentID = "brain"
    assert ui.maskSegmentSelector.currentSegmentID() == "brain"


def test_exit_disconnects_and_enter_reconnects(release):
    widget = release.create_widget()
    ui, parameters = widget.ui, widget._parameterNode
    release.exit(widget)
    ui.numberOfClustersSpinBox.value = 9
    assert parameters.numberOfClusters == 3
    parameters.seed = 7
    release.enter(widget)
    assert ui.seedSpinBox.value == 7
    ui.numberOfClustersSpinBox.value = 4
    assert widget._parameterNode.numberOfClusters == 4


def test_scene_close_gives_a_fresh_parameter_node(release):
    t1 = volume("t1")
    widget = release.create_widget()
    widget.ui.numberOfClustersSpinBox.value = 9
    assert list(widget._parameterNode.inputVolumes) == [t1]
    release.scene.Clear(False)
    assert widget._parameterNode is not None and widget._parameterNode.numberOfClusters == 3
    assert widget.ui.numberOfClustersSpinBox.value == 3 and not widget.ui.applyButton.enabled
    widget.ui.numberOfClustersSpinBox.value = 5
    assert widget._parameterNode.numberOfClusters == 5


def test_deleting_a_checked_volume_keeps_the_panel_working(release):
    t1, flair = volume("t1"), volume("flair", (0.0, 60.0, 140.0))
    widget = release.create_widget()
    ui = widget.ui
    release.scene.RemoveNode(flair)
    widget.updateGUIFromParameterNode()  # raised AttributeError on None before the fix
    assert ui.applyButton.enabled
    ui.findLesionCheckBox.checked = True
    assert not ui.applyButton.enabled and "named like FLAIR" in ui.applyButton.toolTip
    ui.findLesionCheckBox.checked = False
    assert ui.applyButton.enabled
    assert widget.logic.orderedInputVolumes(widget._parameterNode) == [t1]


def test_apply_button_segments_and_shows_the_results(release):
    volume("t1"), volume("flair", (0.0, 60.0, 140.0))
    widget = release.create_widget()
    ui, parameters = widget.ui, widget._parameterNode
    ui.numberOfClustersSpinBox.value = 2
    ui.applyButton.click()
    segmentation = parameters.outputSegmentation
    assert segmentation is not None and segmentation.GetSegmentation().GetNumberOfSegments() == 2
    assert ui.outputSegmentationSelector.currentNode() is segmentation
    assert ui.statisticsTableView.mrmlTableNode() is parameters.outputTable
    assert ui.resultLabel.text.startswith("Done: 2 segments")
    assert release.app.layout_manager.layout == slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpTableView
    assert release.app.cursor_overrides == 0
    ui.applyButton.click()  # again: into the same nodes
    assert parameters.outputSegmentation is segmentation


def test_compare_button_compares_two_visits(release):
    """Baseline = the input volumes, follow-up = as many others, paired by name; the change segmentation,
    the lesion table and the registered follow-up appear, and a second Compare reuses the output nodes."""
    import sys as _sys

    _sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from lesion_phantoms import visit_pair

    (base, base_affine), (follow, follow_affine), _, _ = visit_pair()
    baseline = [slicer.util.addVolumeFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)), base_affine, f"visit1 {name}")
                for name, data in base.items()]
    widget = release.create_widget()
    ui, parameters = widget.ui, widget._parameterNode
    assert list(parameters.inputVolumes) == baseline
    assert not ui.compareButton.enabled and "follow-up" in ui.compareButton.toolTip
    follow_up = [slicer.util.addVolumeFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)), follow_affine,
                                                f"visit2 {name}") for name, data in reversed(follow.items())]
    ui.followUpVolumesSelector.setCheckState(follow_up[0], Qt.Checked)
    assert not ui.compareButton.enabled and "as many follow-up volumes" in ui.compareButton.toolTip
    ui.followUpVolumesSelector.setCheckState(follow_up[1], Qt.Checked)
    assert list(parameters.followUpVolumes) == follow_up and ui.compareButton.enabled
    ui.compareButton.click()
    segmentation = parameters.changeSegmentation
    names = [segmentation.GetSegmentation().GetNthSegment(n).GetName()
             for n in range(segmentation.GetSegmentation().GetNumberOfSegments())]
    assert names == ["New or enlarging", "Shrinking or resolved", "Stable lesion"]
    assert ui.statisticsTableView.mrmlTableNode() is parameters.changeTable
    assert ui.compareResultLabel.text.startswith("Done:") and "1 new" in ui.compareResultLabel.text
    assert release.scene.GetFirstNodeByName("visit2 flair registered") is not None  # the follow-up's FLAIR
    assert release.app.cursor_overrides == 0
    ui.compareButton.click()
    assert parameters.changeSegmentation is segmentation


# A fresh Slicer: every package Slicer does not bundle is unimportable (slicer_release.FRESH_SLICER_LACKS)


def loaded_lacking_packages() -> list[str]:
    return sorted(name for name in FRESH_SLICER_LACKS if sys.modules.get(name) is not None)


def test_the_module_runs_in_a_fresh_slicer_without_installing_anything(release):
    """Opened with volumes loaded, every option toggled, Apply: nothing Slicer lacks is imported, pip never runs."""
    with pytest.raises(ImportError):
        import sklearn  # noqa: F401
    volume("t1"), volume("flair", (0.0, 60.0, 140.0))
    widget = release.create_widget()
    ui = widget.ui
    ui.numberOfClustersSpinBox.value = 2
    ui.applyButton.click()
    assert ui.resultLabel.text.startswith("Done: 2 segments"), ui.resultLabel.text
    assert not release.installer.commands and not loaded_lacking_packages()


FRESH_SLICER_RUNS = {
    "automatic k": {"automaticClusters": True, "minimumClusters": 2, "maximumClusters": 3},
    "k-means, robust scaling": {"method": "KMeans", "scaling": "Robust"},
    "MRF, 26 neighbours": {"mrfBeta": 1.0, "mrfNeighbourhood": "All"},
    "denoising and bias-field correction": {"denoise": "Median", "biasCorrection": True},
    "lesion, automatic type": {"findLesion": True},
    "lesion, MS": {"findLesion": True, "lesionType": "MS"},
    "mask by segment": {"maskSource": "Segment"},
    "brain tissue classes with the lesion": {"tissueClasses": True, "findLesion": True},
}


@pytest.mark.parametrize("run", sorted(FRESH_SLICER_RUNS))
def test_every_option_applies_in_a_fresh_slicer(release, run):
    """Each option through the GUI's parameter node, Apply, and the result read back from the scene."""
    flair, _t1 = volume("flair", (0.0, 60.0, 140.0)), volume("t1")
    widget = release.create_widget()
    parameters, module = widget._parameterNode, release.module
    parameters.numberOfClusters = 2
    for name, value in FRESH_SLICER_RUNS[run].items():
        hint = typing.get_type_hints(module.UnsupervisedSegmentParameterNode)[name]
        setattr(parameters, name, getattr(hint, value) if isinstance(value, str) else value)
    if parameters.maskSource == module.MaskSource.Segment:
        mask = release.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "brain")
        labels = (slicer.util.arrayFromVolume(flair) > 30).astype(np.uint8)
        slicer.util.updateSegmentBinaryLabelmapFromArray(labels, mask, mask.GetSegmentation().AddEmptySegment("brain"), flair)
        parameters.maskSegmentation, parameters.maskSegmentID = mask, "brain"
    assert widget.ui.applyButton.enabled, widget.ui.applyButton.toolTip
    widget.ui.applyButton.click()
    assert widget.ui.resultLabel.text.startswith("Done:"), widget.ui.resultLabel.text
    segmentation, table = parameters.outputSegmentation, parameters.outputTable
    segments = segmentation.GetSegmentation().GetNumberOfSegments()
    assert segments >= 2 and table.GetNumberOfRows() == segments
    voxels = sum(int(table.GetCellText(row, 2)) for row in range(table.GetNumberOfRows()))
    assert voxels == int(np.count_nonzero(slicer.util.arrayFromVolume(flair) > 30))  # the brain, every voxel once
    if parameters.findLesion:
        assert table.GetCellText(segments - 1, 0) == "Lesion"
    if parameters.tissueClasses:
        assert [table.GetCellText(row, 0) for row in range(3)] == ["CSF", "Grey matter", "White matter"]
    assert not release.installer.commands and not loaded_lacking_packages()


def test_reload_reloads_the_lib(release, monkeypatch):
    """Slicer's reload button re-reads the module file only: onReload drops the Lib first, so it is read again."""
    widget = release.create_widget()
    before = sys.modules["UnsupervisedSegmentLib.mrml.parameters"]
    reloaded = []

    def reload_module_file(name):  # what slicer.util.reloadScriptedModule does first (the rest needs Qt views)
        spec = importlib.util.spec_from_file_location(name, release.module.__file__)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        reloaded.append(name)

    monkeypatch.setattr(sys.modules["slicer.util"], "reloadScriptedModule", reload_module_file)
    widget.onReload()
    assert reloaded == ["UnsupervisedSegment"]
    assert sys.modules["UnsupervisedSegmentLib.mrml.parameters"] is not before


# The module's own self-test (Testing/Python/UnsupervisedSegmentSelfTest.py)


def self_test_class(release):
    return release.module.selfTestModule().UnsupervisedSegmentSelfTest


def self_test_names(release) -> list[str]:
    return sorted(name for name in dir(self_test_class(release)) if name.startswith("test_"))


def test_reload_and_test_runs_every_test_for_real(release):
    """What "Reload and Test" runs (the module's UnsupervisedSegmentTest.runTest), Segment Statistics
    comparison included, on the release's real Segment Statistics module."""
    release.module.UnsupervisedSegmentTest().runTest()
    called = self_test_class(release).runTest.__code__.co_names
    assert self_test_names(release) and set(self_test_names(release)) <= set(called)


def test_registered_ctest_passes_in_a_fresh_slicer(release):
    """``slicer_add_python_unittest`` runs the self-test's test_* methods through unittest's loader
    (runTest is never called), in a Slicer without any package it does not bundle."""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(self_test_class(release))
    result = unittest.TestResult()
    suite.run(result)
    problems = [text for _, text in result.errors + result.failures]
    assert not problems, "\n".join(problems)
    assert result.testsRun == len(self_test_names(release)) and not result.skipped
    assert not release.installer.commands and not loaded_lacking_packages()
