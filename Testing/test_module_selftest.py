"""The module's option handling, on the newest Slicer release's Python code (see test_slicer_releases.py
for every release, the widget and the self-test). Qt is emulated (Testing/qt_standins.py)."""

from __future__ import annotations

import numpy as np
import pytest
from slicer_release import SKIP_REASON, python_problem, releases, slicer_release

RELEASE = next((name for name in reversed(releases()) if not python_problem(name)), None)
pytestmark = pytest.mark.skipif(RELEASE is None, reason=SKIP_REASON)


@pytest.fixture
def module():
    with slicer_release(RELEASE) as loaded:
        yield loaded.module


def test_choices_are_the_engines(module):
    """Every value the GUI offers is one the engine accepts."""
    from UnsupervisedSegmentLib.core import options
    from UnsupervisedSegmentLib.engine import clustering, features, mrf, preprocessing

    assert {m.value for m in module.Method} == set(clustering.METHODS)
    assert {s.value for s in module.Scaling} == set(features.SCALINGS)
    assert {c.value for c in module.CovarianceType} == set(clustering.COVARIANCE_TYPES)
    assert {m.value for m in module.MaskSource} == {*options.MASK_RULES, "segment"}
    assert {d.value for d in module.Denoise} == {"none", *preprocessing.DENOISE_METHODS}
    assert {n.value for n in module.Neighbourhood} == set(mrf.NEIGHBOURHOODS)
    assert {t.value for t in module.LesionType} == set(options.LESION_TYPES)


def parameters(module, **changes):
    """A new parameter node (the release's real wrapper, defaults) with ``changes``."""
    import slicer

    node = module.UnsupervisedSegmentParameterNode(slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScriptedModuleNode"))
    for name, value in changes.items():
        setattr(node, name, value)
    return node


def test_quality_options_reach_the_engine(module):
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


def test_lesion_preset_is_the_command_lines():
    from UnsupervisedSegmentLib.core.options import LESION_PRESET

    assert LESION_PRESET == {"clusters": 6, "mrf_beta": 1.0}


def test_apply_refusals_explain_lesion_naming_and_cluster_range(module):
    import slicer

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
