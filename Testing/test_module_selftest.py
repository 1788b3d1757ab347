"""The module's own Test class (what Slicer's "Reload and Test" runs) and its option handling, under slicer-core."""

from __future__ import annotations

import typing
import unittest
from types import SimpleNamespace

import numpy as np
import pytest
from slicer_harness import slicer_module

with slicer_module() as _module:
    TEST_NAMES = sorted(name for name in dir(_module.UnsupervisedSegmentTest) if name.startswith("test_"))


def test_run_test_calls_every_test_method():
    """``runTest`` (what Slicer calls) runs every ``test_*`` method of the Test class."""
    with slicer_module() as module:
        source = module.UnsupervisedSegmentTest.runTest.__code__.co_names
    assert set(TEST_NAMES) <= set(source)


@pytest.mark.parametrize("name", TEST_NAMES)
def test_self_test(name: str):
    with slicer_module() as module:
        result = unittest.TestResult()
        case = module.UnsupervisedSegmentTest(name)
        case.run(result)
    problems = [text for _, text in result.errors + result.failures]
    assert not problems, "\n".join(problems)
    if result.skipped:
        pytest.skip(result.skipped[0][1])


def test_parameter_node_annotations_resolve():
    """What Slicer's parameterNodeWrapper reads: resolvable type hints, defaults of the right type."""
    with slicer_module() as module:
        cls = module.UnsupervisedSegmentParameterNode
        hints = typing.get_type_hints(cls, include_extras=True)
        assert set(hints) >= {"inputVolumes", "maskSource", "method", "numberOfClusters", "outputSegmentation", "outputTable"}
        for name, hint in hints.items():
            if hasattr(cls, name):
                base = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
                assert isinstance(getattr(cls, name), base), name
        enums = (module.Method, module.MaskSource, module.Scaling, module.CovarianceType, module.Denoise, module.Neighbourhood,
                 module.LesionType)
        for enum_type in enums:
            assert all(isinstance(member.label(), str) for member in enum_type)


def test_choices_are_the_engines():
    """Every value the GUI offers is one the engine accepts."""
    from UnsupervisedSegmentLib import clustering, features, lesion, masking, mrf, preprocessing

    with slicer_module() as module:
        assert {m.value for m in module.Method} == set(clustering.METHODS)
        assert {s.value for s in module.Scaling} == set(features.SCALINGS)
        assert {c.value for c in module.CovarianceType} == set(clustering.COVARIANCE_TYPES)
        assert {m.value for m in module.MaskSource} == {*masking.MASK_RULES, "segment"}
        assert {d.value for d in module.Denoise} == {"none", *preprocessing.DENOISE_METHODS}
        assert {n.value for n in module.Neighbourhood} == set(mrf.NEIGHBOURHOODS)
        assert {t.value for t in module.LesionType} == set(lesion.LESION_TYPES)


def parameters(module, **changes) -> SimpleNamespace:
    """The parameter node's defaults (what the wrapper would hold), with ``changes``."""
    cls = module.UnsupervisedSegmentParameterNode
    defaults = {name: getattr(cls, name) for name in typing.get_type_hints(cls) if hasattr(cls, name)}
    unset = {"inputVolumes": [], "maskSegmentation": None, "outputSegmentation": None, "outputTable": None}
    return SimpleNamespace(**{**unset, **defaults, **changes})


def test_default_parameters_are_the_engines_defaults():
    """A fresh parameter node asks for what the lesson does (and the command line by default)."""
    from UnsupervisedSegmentLib.pipeline import SegmentationOptions

    with slicer_module() as module:
        assert module.UnsupervisedSegmentLogic().segmentationOptions(parameters(module)) == SegmentationOptions()


def test_quality_options_reach_the_engine():
    with slicer_module() as module:
        logic = module.UnsupervisedSegmentLogic()
        chosen = parameters(module, automaticClusters=True, minimumClusters=3, maximumClusters=7, biasCorrection=True,
                            denoise=module.Denoise.Curvature, mrfBeta=1.5, mrfNeighbourhood=module.Neighbourhood.All,
                            findLesion=True, lesionType=module.LesionType.Stroke)
        options = logic.segmentationOptions(chosen)
        assert options.lesion_type == "stroke"
        assert (options.auto_clusters, options.bias_correction, options.denoise) == ((3, 7), True, "curvature")
        assert (options.mrf_beta, options.mrf_neighbourhood, options.lesion) == (1.5, 26, True)
        chosen.method = module.Method.KMeans  # the automatic number of clusters is the mixture's (BIC)
        assert not logic.usesAutomaticClusters(chosen)
        assert logic.segmentationOptions(chosen).auto_clusters is None


def test_ticking_lesion_finding_applies_the_command_lines_preset():
    from UnsupervisedSegmentLib.lesion import LESION_PRESET

    with slicer_module() as module:
        chosen = parameters(module, automaticClusters=True)
        module.UnsupervisedSegmentLogic.applyLesionPreset(chosen)
        assert (chosen.automaticClusters, chosen.numberOfClusters, chosen.mrfBeta) == (False, 6, 1.0)
        assert LESION_PRESET == {"clusters": 6, "mrf_beta": 1.0}
        kept = parameters(module, mrfBeta=0.5)
        module.UnsupervisedSegmentLogic.applyLesionPreset(kept)
        assert kept.mrfBeta == 0.5


def test_apply_refusals_explain_lesion_naming_and_cluster_range():
    import slicer

    with slicer_module() as module:
        logic = module.UnsupervisedSegmentLogic()
        volumes = [slicer.util.addVolumeFromArray(np.ones((4, 5, 6), np.float32), name=name) for name in ("t1", "adc")]
        assert logic.checkInputs(parameters(module, inputVolumes=volumes)) == ("", [])
        problem, _ = logic.checkInputs(parameters(module, inputVolumes=volumes, findLesion=True))
        assert problem == ""  # auto: ADC can show a stroke
        tumour = parameters(module, inputVolumes=volumes, findLesion=True, lesionType=module.LesionType.Tumour)
        assert "named like FLAIR (or T2 with T1)" in logic.checkInputs(tumour)[0]
        assert "Tumour" in logic.checkInputs(tumour)[0]
        volumes[1].SetName("T2_FLAIR")
        assert logic.checkInputs(tumour) == ("", ["Lesion finding uses T2_FLAIR (flair)."])
        backwards = parameters(module, inputVolumes=volumes, automaticClusters=True, minimumClusters=5, maximumClusters=3)
        assert "minimum number of clusters" in logic.checkInputs(backwards)[0]


class FakeWidget(SimpleNamespace):
    """Stands in for a Qt widget: keeps the properties set on it; every method returns 0."""

    def __getattr__(self, name: str):
        return lambda *args: 0


class FakeUi:
    """Stands in for the loaded .ui: a FakeWidget for every name asked."""

    def __getattr__(self, name: str) -> FakeWidget:
        setattr(self, name, FakeWidget())
        return getattr(self, name)


def test_widget_enables_dependent_options_and_says_why_apply_is_off():
    import slicer

    with slicer_module() as module:
        widget = module.UnsupervisedSegmentWidget()
        widget.ui, widget.logic = FakeUi(), module.UnsupervisedSegmentLogic()
        volumes = [slicer.util.addVolumeFromArray(np.ones((4, 5, 6), np.float32), name="t1")]
        widget._parameterNode = parameters(module, inputVolumes=volumes, method=module.Method.KMeans, automaticClusters=True)
        widget.updateGUIFromParameterNode()
        ui = widget.ui
        assert not ui.automaticClustersCheckBox.enabled and ui.numberOfClustersSpinBox.enabled
        assert not ui.minimumClustersSpinBox.enabled and not ui.mrfNeighbourhoodComboBox.enabled
        assert ui.applyButton.enabled
        widget._parameterNode = parameters(module, inputVolumes=volumes, automaticClusters=True, mrfBeta=1.0, findLesion=True)
        widget.updateGUIFromParameterNode()
        assert ui.automaticClustersCheckBox.enabled and not ui.numberOfClustersSpinBox.enabled
        assert ui.minimumClustersSpinBox.enabled and ui.maximumClustersSpinBox.enabled and ui.mrfNeighbourhoodComboBox.enabled
        assert not ui.applyButton.enabled and "named like FLAIR" in ui.applyButton.toolTip
        assert ui.lesionTypeComboBox.enabled
